//! The commands: resolve the source, run the pipeline, render, return the exit code.
//! Diagnostics go to `diag` (stderr); only reports go to `out` (stdout).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::cli::{
    CheckArgs, Cli, Command, DiffArgs, FetchArgs, FormulaArgs, InspectArgs, VerifyArgs,
};
use crate::compare::{self, Expected};
use crate::error::{Error, Result};
use crate::formula::{bert, ModelConfig, FAMILIES};
use crate::render::{renderer, Options};
use crate::source::hub::{self, HubEnv, RepoId};
use crate::source::{local, Resolved};

/// Exit code: the command did what was asked and found nothing wrong.
pub const EXIT_OK: u8 = 0;
/// Exit code: `check` found drift.
pub const EXIT_DRIFT: u8 = 1;

/// Run a parsed command line, writing the report to `out` and diagnostics to `diag`.
pub fn run(cli: Cli, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    match cli.command {
        Command::Inspect(args) => inspect(args, out, diag),
        Command::Check(args) => check(args, out, diag),
        Command::Diff(args) => diff(args, out, diag),
        Command::Verify(args) => verify(args, out, diag),
        Command::Formula(args) => formula(args, out),
    }
}

/// A path that exists is a path; otherwise a valid model id goes to the Hub (or its cache).
fn resolve(
    model: &str,
    fetch: &FetchArgs,
    config: Option<&Path>,
    diag: &mut dyn Write,
) -> Result<Resolved> {
    let path = Path::new(model);
    let repo = RepoId::parse(model);
    if path.exists() {
        if fetch.header_only {
            return Err(Error::Usage(format!(
                "--header-only reads a Hub model's headers remotely; the local path `{model}` is already read header-only"
            )));
        }
        if repo.is_some() && !fetch.quiet {
            // Diagnostics are best effort: a closed stderr must not stop the report.
            let _ = writeln!(
                diag,
                "paramaudit: `{model}` exists here, reading the local path (use ./{model} to silence this, or run elsewhere for the Hub model)"
            );
        }
        return local::resolve(path, config);
    }
    match repo {
        Some(repo) => {
            let options = hub::Fetch {
                header_only: fetch.header_only,
                // hf-hub draws its progress bar on stderr, only when stderr is a terminal.
                progress: !fetch.quiet && std::io::stderr().is_terminal(),
            };
            let env = HubEnv::from_env(fetch.offline);
            hub::resolve(&env, &repo, &fetch.revision, config, options)
        }
        None => Err(Error::NotFound {
            path: path.to_path_buf(),
        }),
    }
}

fn inspect(args: InspectArgs, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    let resolved = resolve(&args.model, &args.fetch, args.config.as_deref(), diag)?;
    let report = crate::inspect(&resolved)?;
    if let Some(dir) = &args.save_header {
        let written = crate::save::save_headers(&resolved, dir)?;
        if !args.fetch.quiet {
            let bytes: u64 = written
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            let _ = writeln!(
                diag,
                "paramaudit: saved {} files ({bytes} bytes) to {}",
                written.len(),
                dir.display()
            );
        }
    }
    renderer(args.format.into())
        .report(
            &report,
            Options {
                tensors: args.tensors,
            },
            out,
        )
        .map_err(Error::Output)?;
    Ok(EXIT_OK)
}

/// sha256 of every file of a report, by file name (reads the whole files).
fn file_hashes(report: &crate::Report) -> Result<BTreeMap<String, String>> {
    if report.source.header_only {
        return Err(Error::Usage(
            "the expectations pin sha256, which needs the whole files; this source is header-only"
                .to_string(),
        ));
    }
    report
        .source
        .files
        .iter()
        .map(|f| {
            let path = Path::new(&f.path);
            let name = crate::source::file_name(path);
            crate::hash::sha256_file(path)
                .map(|h| (name, h))
                .map_err(|e| Error::io(path, e))
        })
        .collect()
}

fn check(args: CheckArgs, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    let expected = Expected::read(&args.expect)?;
    let resolved = resolve(&args.model, &args.fetch, args.config.as_deref(), diag)?;
    let report = crate::inspect(&resolved)?;
    let hashes = match &expected {
        Expected::Pins(p) if p.sha256.is_some() => file_hashes(&report)?,
        _ => BTreeMap::new(),
    };
    let outcome = compare::check(
        &args.model,
        &args.expect.display().to_string(),
        &expected,
        &report,
        &hashes,
    );
    renderer(args.format.into())
        .check(&outcome, out)
        .map_err(Error::Output)?;
    Ok(if outcome.passed() {
        EXIT_OK
    } else {
        EXIT_DRIFT
    })
}

fn diff(args: DiffArgs, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    let a = crate::inspect(&resolve(&args.a, &args.fetch, None, diag)?)?;
    let b = crate::inspect(&resolve(&args.b, &args.fetch, None, diag)?)?;
    let d = compare::diff(&args.a, &a, &args.b, &b);
    renderer(args.format.into())
        .diff(&d, out)
        .map_err(Error::Output)?;
    Ok(EXIT_OK)
}

/// Expected hashes from `--sha256` and `--expect`, by file name. A bare HEX names the
/// single file of the checkpoint.
fn expected_hashes(
    args: &VerifyArgs,
    files: &[std::path::PathBuf],
) -> Result<BTreeMap<String, (String, crate::verify::HashSource)>> {
    use crate::verify::HashSource;
    let names: Vec<String> = files.iter().map(|p| crate::source::file_name(p)).collect();
    let single = |hex: &str, source| -> Result<(String, (String, HashSource))> {
        match names.as_slice() {
            [one] => Ok((one.clone(), (hex.to_string(), source))),
            _ => Err(Error::Usage(format!(
                "{} has {} files: give each sha256 as FILE=HEX",
                args.model,
                names.len()
            ))),
        }
    };
    let valid = |hex: &str| {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "`{hex}` is not a sha256 (64 hex digits)"
            )))
        }
    };
    let mut out = BTreeMap::new();
    if let Some(path) = &args.expect {
        match Expected::read(path)? {
            Expected::Pins(compare::Expectations {
                sha256: Some(pin), ..
            }) => match pin {
                compare::Sha256Pin::One(h) => {
                    let (k, v) = single(&h, HashSource::Expectations)?;
                    out.insert(k, v);
                }
                compare::Sha256Pin::ByFile(m) => {
                    for (k, h) in m {
                        out.insert(k, (h, HashSource::Expectations));
                    }
                }
            },
            _ => {
                return Err(Error::Expectations {
                    path: path.clone(),
                    message: "has no `sha256` to verify against".to_string(),
                })
            }
        }
    }
    for spec in &args.sha256 {
        let (k, v) = match spec.split_once('=') {
            Some((file, hex)) => {
                valid(hex)?;
                (file.to_string(), (hex.to_string(), HashSource::Flag))
            }
            None => {
                valid(spec)?;
                single(spec, HashSource::Flag)?
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

fn verify(args: VerifyArgs, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    if args.fetch.header_only {
        return Err(Error::Usage(
            "verify reads every byte: --header-only cannot be used with it".to_string(),
        ));
    }
    let resolved = resolve(&args.model, &args.fetch, None, diag)?;
    let (checkpoint, tensors) = crate::open_classified(&resolved)?;
    let paths: Vec<std::path::PathBuf> = checkpoint.files.iter().map(|f| f.path.clone()).collect();
    let expected = expected_hashes(&args, &paths)?;
    let total: u64 = checkpoint.files.iter().map(|f| f.file_bytes).sum();
    let bar = if !args.fetch.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "verify {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let report = crate::verify::verify(crate::verify::Inputs {
        spec: &args.model,
        checkpoint: &checkpoint,
        tensors: &tensors,
        expected,
        allow_nonfinite: args.allow_nonfinite,
        progress: &|n| bar.inc(n),
    })?;
    bar.finish_and_clear();
    renderer(args.format.into())
        .verify(
            &report,
            Options {
                tensors: args.tensors,
            },
            out,
        )
        .map_err(Error::Output)?;
    Ok(if report.passed { EXIT_OK } else { EXIT_DRIFT })
}

fn formula(args: FormulaArgs, out: &mut dyn Write) -> Result<u8> {
    let config = ModelConfig::read(&args.config)?;
    if let Some(t) = config.model_type.as_deref() {
        if !FAMILIES.contains(&t) {
            return Err(Error::Config {
                path: args.config.clone(),
                message: format!(
                    "no formula for model_type `{t}` (supported: {})",
                    FAMILIES.join(", ")
                ),
            });
        }
    }
    let (dims, _) = bert::Dims::from_config(&config)?;
    let derivation = bert::derive(&dims);
    renderer(args.format.into())
        .derivation(&dims, &derivation, out)
        .map_err(Error::Output)?;
    Ok(EXIT_OK)
}
