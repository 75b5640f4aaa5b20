//! The JSON contract: the [`Report`] serialised as is (see the README for the keys).

use std::io::{self, Write};

use serde::Serialize;

use super::{Options, Render};
use crate::compare::{CheckOutcome, Diff};
use crate::formula::{Derivation, Dims};
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// Pretty-printed JSON, one document, newline-terminated.
pub struct Json;

/// The `formula` command's JSON.
#[derive(Serialize)]
struct DerivationJson<'a> {
    dims: &'a Dims,
    #[serde(flatten)]
    derivation: &'a Derivation,
}

fn write_json(value: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
    writeln!(out)
}

impl Render for Json {
    fn report(&self, report: &Report, _options: Options, out: &mut dyn Write) -> io::Result<()> {
        write_json(report, out)
    }

    fn derivation(
        &self,
        dims: &Dims,
        derivation: &Derivation,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_json(&DerivationJson { dims, derivation }, out)
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        write_json(diff, out)
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        #[derive(Serialize)]
        struct CheckJson<'a> {
            passed: bool,
            #[serde(flatten)]
            outcome: &'a CheckOutcome,
        }
        write_json(
            &CheckJson {
                passed: outcome.passed(),
                outcome,
            },
            out,
        )
    }

    fn verify(
        &self,
        report: &VerifyReport,
        _options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_json(report, out)
    }
}
