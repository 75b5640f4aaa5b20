//! The commands: resolve the source, run the pipeline, render, return the exit code.
//! Diagnostics go to `diag` (stderr); only reports go to `out` (stdout). A closed `out`
//! ends the output, never the verdict: the exit code is computed before rendering.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::batch::{Failure, Item};
use crate::cli::{
    CheckArgs, Cli, ColorChoice, Command, CompletionsArgs, DiffArgs, FetchArgs, FormulaArgs,
    InspectArgs, VerifyArgs,
};
use crate::compare::{self, Expected};
use crate::error::{Error, Result};
use crate::formula::ModelConfig;
use crate::render::{renderer, Format, Options, Style};
use crate::source::{Request, Resolved};

/// Exit code: the command did what was asked and found nothing wrong.
pub const EXIT_OK: u8 = 0;
/// Exit code: `check` found drift, or `verify` a mismatch or NaN/Inf.
pub const EXIT_DRIFT: u8 = 1;

/// Run a parsed command line, writing the report to `out` and diagnostics to `diag`. Made
/// for `main`: once per process (a large report is left for the system to reclaim).
pub fn run(cli: Cli, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    let style = Style {
        color: color_enabled(cli.color),
    };
    match cli.command {
        Command::Inspect(args) => inspect(args, style, out, diag),
        Command::Check(args) => check(args, style, out, diag),
        Command::Diff(args) => diff(args, style, out, diag),
        Command::Verify(args) => verify(args, style, out, diag),
        Command::Formula(args) => formula(args, style, out),
        Command::Families(args) => families(args, style, out),
        Command::Completions(args) => completions(args, out),
        Command::Man => man(out),
    }
}

/// Colour for stdout: `always`, `never`, or (auto) what anstream decides from the
/// terminal and NO_COLOR / CLICOLOR / CLICOLOR_FORCE.
fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !matches!(
            anstream::AutoStream::choice(&io::stdout()),
            anstream::ColorChoice::Never
        ),
    }
}

/// The exit code once the output is written: a closed pipe (`| head`) ends the output
/// early but keeps the verdict; any other write error is reported.
fn emit(code: u8, written: io::Result<()>) -> Result<u8> {
    match written {
        Ok(()) => Ok(code),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(code),
        Err(e) => Err(Error::Output(e)),
    }
}

/// How to read a model: the shared `--family`.
fn read_options(fetch: &FetchArgs) -> crate::Options {
    crate::Options {
        family: fetch.family.clone(),
    }
}

/// The request the shared flags make (and the request limit they set).
fn request<'a>(
    fetch: &'a FetchArgs,
    header_only: bool,
    config: Option<&'a Path>,
    progress: bool,
) -> Request<'a> {
    if let Some(n) = fetch.concurrency {
        crate::source::net::set_concurrency(usize::from(n));
    }
    Request {
        revision: fetch.revision.as_deref(),
        offline: fetch.offline,
        header_only,
        config,
        // hf-hub draws its progress bar on stderr, only when stderr is a terminal.
        progress: progress && !fetch.quiet && io::stderr().is_terminal(),
        notes: !fetch.quiet,
    }
}

fn inspect(
    args: InspectArgs,
    style: Style,
    out: &mut dyn Write,
    diag: &mut dyn Write,
) -> Result<u8> {
    let format: Format = args.format.get().into();
    let options = Options {
        tensors: args.tensors,
    };
    let render = renderer(format, style);
    if let [model] = args.models.as_slice() {
        let req = request(&args.fetch, args.header_only, args.config.as_deref(), true);
        let resolved = crate::source::resolve(model, &req)?;
        let (report, sources) = crate::inspect_keeping(&resolved, &read_options(&args.fetch))?;
        if let Some(dir) = &args.save_header {
            save_header(&resolved, dir, args.fetch.quiet, diag)?;
        }
        let written = render.report(&report, options, out);
        // Only `main` runs this, and the process ends next: the system takes the memory
        // and the maps back at once, where freeing tens of thousands of rows and unmapping
        // every shard one by one would cost milliseconds on a large model.
        std::mem::forget((report, sources));
        return emit(EXIT_OK, written);
    }
    if args.save_header.is_some() {
        return Err(Error::Usage(
            "--save-header takes one model; give one model at a time".to_string(),
        ));
    }
    let req = request(&args.fetch, args.header_only, args.config.as_deref(), false);
    let options_read = read_options(&args.fetch);
    // Models run concurrently, as many as requests may be in flight: their Hub requests
    // share the one limit; local reads are as fast as the disk.
    let workers = crate::source::net::requests().size();
    let items: Vec<Item> =
        crate::source::net::map(&args.models, workers, |model| match crate::source::resolve(
            model, &req,
        )
        .and_then(|r| crate::inspect_with(&r, &options_read))
        {
            Ok(report) => Item::Report(Box::new(report)),
            Err(e) => Item::Failed(Failure::new(model, &e)),
        });
    for item in &items {
        if let Item::Failed(f) = item {
            let _ = writeln!(diag, "paramaudit: error: {}", f.error);
        }
    }
    emit(
        crate::batch::exit_code(&items),
        render.batch(&items, options, out),
    )
}

fn save_header(resolved: &Resolved, dir: &Path, quiet: bool, diag: &mut dyn Write) -> Result<()> {
    let written = crate::save::save_headers(resolved, dir)?;
    if !quiet {
        let bytes = crate::count::sum(
            written
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len()),
        )
        .unwrap_or(u64::MAX);
        // Diagnostics are best effort: a closed stderr must not stop the report.
        let _ = writeln!(
            diag,
            "paramaudit: saved {} ({bytes} bytes) to {}",
            crate::render::plural(crate::count::len(written.len()), "file"),
            dir.display()
        );
    }
    Ok(())
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

fn check(args: CheckArgs, style: Style, out: &mut dyn Write, _diag: &mut dyn Write) -> Result<u8> {
    let expected = Expected::read(&args.expect)?;
    let req = request(&args.fetch, args.header_only, args.config.as_deref(), true);
    let resolved = crate::source::resolve(&args.model, &req)?;
    let report = crate::inspect_with(&resolved, &read_options(&args.fetch))?;
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
    let code = if outcome.passed() {
        EXIT_OK
    } else {
        EXIT_DRIFT
    };
    emit(
        code,
        renderer(args.format.get().into(), style).check(&outcome, out),
    )
}

fn diff(args: DiffArgs, style: Style, out: &mut dyn Write, _diag: &mut dyn Write) -> Result<u8> {
    let req = request(&args.fetch, args.header_only, None, true);
    let read = read_options(&args.fetch);
    let a = crate::inspect_with(&crate::source::resolve(&args.a, &req)?, &read)?;
    let b = crate::inspect_with(&crate::source::resolve(&args.b, &req)?, &read)?;
    let d = compare::diff(&args.a, &a, &args.b, &b);
    emit(
        EXIT_OK,
        renderer(args.format.get().into(), style).diff(&d, out),
    )
}

/// Expected hashes from `--sha256` and `--expect`, by file name. A bare HEX names the
/// single file of the checkpoint.
fn expected_hashes(
    args: &VerifyArgs,
    files: &[PathBuf],
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

fn progress_bar(total: u64, quiet: bool) -> indicatif::ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "verify {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn verify(
    args: VerifyArgs,
    style: Style,
    out: &mut dyn Write,
    _diag: &mut dyn Write,
) -> Result<u8> {
    let req = request(&args.fetch, false, None, true);
    let resolved = crate::source::resolve(&args.model, &req)?;
    let opened = crate::open_classified(&resolved, &read_options(&args.fetch))?;
    let (checkpoint, tensors) = (&opened.checkpoint, &opened.tensors);
    let paths: Vec<PathBuf> = checkpoint.files.iter().map(|f| f.path.clone()).collect();
    let expected = expected_hashes(&args, &paths)?;
    let total = crate::count::sum(checkpoint.files.iter().map(|f| f.file_bytes)).unwrap_or(0);
    let bar = progress_bar(total, args.fetch.quiet);
    let report = crate::verify::verify(crate::verify::Inputs {
        spec: &args.model,
        checkpoint,
        tensors,
        norm: opened.family.map(|c| c.family.norm),
        expected,
        allow_nonfinite: args.allow_nonfinite,
        progress: &|n| bar.inc(n),
    })?;
    bar.finish_and_clear();
    let code = if report.passed { EXIT_OK } else { EXIT_DRIFT };
    let options = Options {
        tensors: args.tensors,
    };
    emit(
        code,
        renderer(args.format.get().into(), style).verify(&report, options, out),
    )
}

/// The config `formula` reads: the argument itself, or `config.json` in a directory. A
/// checkpoint (or any other non-JSON file) is named, with what `formula` wants instead.
fn formula_config(path: &Path) -> Result<ModelConfig> {
    let file = if path.is_dir() {
        path.join(crate::source::local::CONFIG_FILE)
    } else {
        path.to_path_buf()
    };
    let mut head = [0u8; crate::format::SNIFF_BYTES];
    let n = std::fs::File::open(&file)
        .and_then(|mut f| io::Read::read(&mut f, &mut head))
        .map_err(|e| Error::io(&file, e))?;
    let head = &head[..n];
    let what = match crate::format::sniff(head) {
        crate::format::Kind::Json | crate::format::Kind::Text => None,
        // A safetensors header starts right after its 8-byte length.
        crate::format::Kind::Safetensors => {
            (head.get(8) == Some(&b'{')).then_some("a checkpoint, not a config")
        }
        other => Some(other.describe()),
    };
    if let Some(what) = what {
        return Err(Error::Config {
            path: file,
            message: format!(
                "this is {what}; `formula` reads a config.json (give the config, or the model directory holding it)"
            ),
        });
    }
    ModelConfig::read(&file)
}

fn formula(args: FormulaArgs, style: Style, out: &mut dyn Write) -> Result<u8> {
    let config = formula_config(&args.config)?;
    let doc = crate::formula::explain(&config, args.family.as_deref())?;
    emit(
        EXIT_OK,
        renderer(args.format.get().into(), style).derivation(&doc, out),
    )
}

fn families(args: crate::cli::FamiliesArgs, style: Style, out: &mut dyn Write) -> Result<u8> {
    let list = crate::family::listing();
    emit(
        EXIT_OK,
        renderer(args.format.get().into(), style).families(&list, out),
    )
}

fn completions(args: CompletionsArgs, out: &mut dyn Write) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "paramaudit", out);
    Ok(EXIT_OK)
}

fn man(out: &mut dyn Write) -> Result<u8> {
    let written = clap_mangen::Man::new(Cli::command()).render(out);
    emit(EXIT_OK, written)
}
