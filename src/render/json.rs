//! The JSON contract: each result serialised as is (see the README and `docs/schema/`).
//! Every document carries `schema_version`.

use std::io::{self, Write};

use serde::Serialize;

use super::{Options, Render};
use crate::batch::Item;
use crate::compare::{CheckOutcome, Diff};
use crate::formula::FormulaDoc;
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// JSON: pretty-printed, one document; or JSON Lines (`lines`): compact, one per line.
pub struct Json {
    /// One compact document per line.
    pub lines: bool,
}

impl Json {
    fn write(&self, value: &impl Serialize, out: &mut dyn Write) -> io::Result<()> {
        if self.lines {
            serde_json::to_writer(&mut *out, value).map_err(io::Error::from)?;
        } else {
            serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)?;
        }
        writeln!(out)
    }
}

/// `check`'s JSON: the verdict first, then the outcome.
#[derive(Serialize)]
struct CheckJson<'a> {
    passed: bool,
    #[serde(flatten)]
    outcome: &'a CheckOutcome,
}

impl Render for Json {
    fn report(&self, report: &Report, _options: Options, out: &mut dyn Write) -> io::Result<()> {
        self.write(report, out)
    }

    fn batch(&self, items: &[Item], _options: Options, out: &mut dyn Write) -> io::Result<()> {
        if self.lines {
            items.iter().try_for_each(|item| self.write(item, out))
        } else {
            self.write(&items, out)
        }
    }

    fn derivation(&self, doc: &FormulaDoc, out: &mut dyn Write) -> io::Result<()> {
        self.write(doc, out)
    }

    fn families(&self, list: &[crate::family::Listed], out: &mut dyn Write) -> io::Result<()> {
        if self.lines {
            list.iter().try_for_each(|f| self.write(f, out))
        } else {
            self.write(&list, out)
        }
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        self.write(diff, out)
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        let doc = CheckJson {
            passed: outcome.passed(),
            outcome,
        };
        self.write(&doc, out)
    }

    fn verify(
        &self,
        report: &VerifyReport,
        _options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.write(report, out)
    }
}
