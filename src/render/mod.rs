//! Turn a computed [`Report`] into text. Renderers only format: every figure was computed
//! by [`crate::reconcile`]. Each writes to any `io::Write`.

pub mod json;
pub mod markdown;
pub mod sections;
pub mod table;

use std::io::{self, Write};

use crate::compare::{CheckOutcome, Diff};
use crate::formula::{Derivation, Dims};
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables for a terminal.
    Table,
    /// The stable JSON contract (see the README).
    Json,
    /// GitHub-flavoured Markdown, for pull requests and model cards.
    Markdown,
}

/// What to include beyond the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// List every tensor.
    pub tensors: bool,
}

/// A renderer of reports and derivations.
pub trait Render {
    /// Write `report`.
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()>;
    /// Write a derivation (the `formula` command).
    fn derivation(
        &self,
        dims: &Dims,
        derivation: &Derivation,
        out: &mut dyn Write,
    ) -> io::Result<()>;
    /// Write a structural diff (the `diff` command).
    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()>;
    /// Write a check outcome (the `check` command).
    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()>;
    /// Write a verify report (the `verify` command).
    fn verify(
        &self,
        report: &VerifyReport,
        options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()>;
}

/// A renderer that styles the [`sections::Document`] every command builds (text,
/// Markdown); [`Render`] follows for free.
pub trait DocumentRenderer {
    /// Write one document.
    fn write_doc(&self, doc: &sections::Document, out: &mut dyn Write) -> io::Result<()>;
}

impl<T: DocumentRenderer> Render for T {
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()> {
        self.write_doc(&sections::report_doc(report, options), out)
    }

    fn derivation(
        &self,
        dims: &Dims,
        derivation: &Derivation,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.write_doc(&sections::derivation_doc(dims, derivation), out)
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        self.write_doc(&sections::diff_doc(diff), out)
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        self.write_doc(&sections::check_doc(outcome), out)
    }

    fn verify(
        &self,
        report: &VerifyReport,
        options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.write_doc(&sections::verify_doc(report, options), out)
    }
}

/// The renderer for `format`.
pub fn renderer(format: Format) -> &'static dyn Render {
    match format {
        Format::Table => &table::Table,
        Format::Json => &json::Json,
        Format::Markdown => &markdown::Markdown,
    }
}

/// `1234567` -> `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Signed count with an explicit sign: `+1,234`, `-1,234`, `0`.
pub fn signed(n: i64) -> String {
    match n {
        0 => "0".to_string(),
        n if n > 0 => format!("+{}", count(n.unsigned_abs())),
        n => format!("-{}", count(n.unsigned_abs())),
    }
}

/// A signed count with separators, a sign only when negative: `-1,234`, `1,234`.
pub fn int(n: i64) -> String {
    if n < 0 {
        format!("-{}", count(n.unsigned_abs()))
    } else {
        count(n.unsigned_abs())
    }
}

/// A count, or `-` when absent.
pub fn maybe(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), count)
}

/// A signed count, or `-` when absent.
pub fn maybe_signed(n: Option<i64>) -> String {
    n.map_or_else(|| "-".to_string(), signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(110_106_428), "110,106,428");
        assert_eq!(signed(-23_440_896), "-23,440,896");
        assert_eq!(signed(82_944), "+82,944");
    }
}
