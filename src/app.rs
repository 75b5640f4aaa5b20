//! The commands: parse nothing, print nothing of their own, return the exit code.

use std::io::Write;

use crate::cli::{Cli, Command, FormulaArgs, InspectArgs};
use crate::error::{Error, Result};
use crate::formula::{bert, ModelConfig, FAMILIES};
use crate::render::{renderer, Options};
use crate::source::local;

/// Run a parsed command line, writing the report to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8> {
    match cli.command {
        Command::Inspect(args) => inspect(args, out),
        Command::Formula(args) => formula(args, out),
    }
}

fn inspect(args: InspectArgs, out: &mut dyn Write) -> Result<u8> {
    let resolved = local::resolve(&args.path, args.config.as_deref())?;
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
