//! The commands: parse nothing, print nothing of their own, return the exit code.

use std::io::Write;

use crate::cli::{Cli, Command, FormulaArgs, InspectArgs};
use crate::error::{Error, Result};
use crate::formula::{bert, ModelConfig, FAMILIES};
use crate::render::{renderer, Options};
use crate::source::hub::{self, HubEnv, RepoId};
use crate::source::{local, Resolved};
use std::io::IsTerminal;
use std::path::Path;

/// Run a parsed command line, writing the report to `out` and diagnostics to `diag`.
pub fn run(cli: Cli, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    match cli.command {
        Command::Inspect(args) => inspect(args, out, diag),
        Command::Formula(args) => formula(args, out),
    }
}

/// A path that exists is a path; otherwise a valid model id goes to the Hub (or its cache).
fn resolve(args: &InspectArgs, diag: &mut dyn Write) -> Result<Resolved> {
    let path = Path::new(&args.model);
    let repo = RepoId::parse(&args.model);
    if path.exists() {
        if repo.is_some() && !args.quiet {
            // Diagnostics are best effort: a closed stderr must not stop the report.
            let _ = writeln!(
                diag,
                "paramaudit: `{}` exists here, reading the local path (use ./{} to silence this, or run elsewhere for the Hub model)",
                args.model, args.model
            );
        }
        if args.header_only {
            return Err(Error::Usage(format!(
                "--header-only reads a Hub model's headers remotely; the local path `{}` is already read header-only",
                args.model
            )));
        }
        return local::resolve(path, args.config.as_deref());
    }
    match repo {
        Some(repo) => {
            // hf-hub draws its progress bar on stderr, only when stderr is a terminal.
            let fetch = hub::Fetch {
                header_only: args.header_only,
                progress: !args.quiet && std::io::stderr().is_terminal(),
            };
            let env = HubEnv::from_env(args.offline);
            hub::resolve(&env, &repo, &args.revision, args.config.as_deref(), fetch)
        }
        None => Err(Error::NotFound {
            path: path.to_path_buf(),
        }),
    }
}

fn inspect(args: InspectArgs, out: &mut dyn Write, diag: &mut dyn Write) -> Result<u8> {
    let resolved = resolve(&args, diag)?;
    let report = crate::inspect(&resolved)?;
    renderer(args.format.into())
        .report(
            &report,
            Options {
                tensors: args.tensors,
            },
            out,
        )
        .map_err(Error::Output)?;
    Ok(0)
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
    Ok(0)
}
