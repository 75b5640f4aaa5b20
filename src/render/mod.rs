//! Turn computed results into text. Renderers only format: every figure was computed
//! upstream ([`crate::reconcile`], [`crate::compare`], [`crate::verify`], [`crate::batch`]).
//! Each writes to any `io::Write`.

pub mod json;
pub mod markdown;
pub mod sections;
pub mod table;

use std::io::{self, Write};

use crate::batch::Item;
use crate::compare::{CheckOutcome, Diff};
use crate::formula::FormulaDoc;
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables for a terminal.
    Table,
    /// The stable JSON contract (see the README and docs/schema/).
    Json,
    /// JSON Lines: one compact document per line.
    Jsonl,
    /// GitHub-flavoured Markdown, for pull requests and model cards.
    Markdown,
}

/// What to include beyond the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// List every tensor.
    pub tensors: bool,
}

/// How to style text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Colour verdicts, drift and flagged rows with ANSI escapes (text tables only).
    pub color: bool,
}

/// A renderer of every command's result.
pub trait Render {
    /// Write one `inspect` report.
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()>;
    /// Write several `inspect` results (reports or failures) and their summary.
    fn batch(&self, items: &[Item], options: Options, out: &mut dyn Write) -> io::Result<()>;
    /// Write a derivation (the `formula` command).
    fn derivation(&self, doc: &FormulaDoc, out: &mut dyn Write) -> io::Result<()>;
    /// Write the family registry (the `families` command).
    fn families(&self, list: &[crate::family::Listed], out: &mut dyn Write) -> io::Result<()>;
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

    fn batch(&self, items: &[Item], options: Options, out: &mut dyn Write) -> io::Result<()> {
        for item in items {
            if let Item::Report(report) = item {
                self.report(report, options, out)?;
                writeln!(out)?;
            }
        }
        self.write_doc(&sections::summary_doc(items), out)
    }

    fn derivation(&self, doc: &FormulaDoc, out: &mut dyn Write) -> io::Result<()> {
        self.write_doc(&sections::derivation_doc(doc), out)
    }

    fn families(&self, list: &[crate::family::Listed], out: &mut dyn Write) -> io::Result<()> {
        self.write_doc(&sections::families_doc(list), out)
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
pub fn renderer(format: Format, style: Style) -> Box<dyn Render> {
    match format {
        Format::Table => Box::new(table::Table { style }),
        Format::Json => Box::new(json::Json { lines: false }),
        Format::Jsonl => Box::new(json::Json { lines: true }),
        Format::Markdown => Box::new(markdown::Markdown),
    }
}

/// `1234567` -> `1,234,567`.
pub fn count(n: u64) -> String {
    grouped(&n.to_string())
}

fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Signed count with an explicit sign: `+1,234`, `-1,234`, `0`.
pub fn signed(n: i128) -> String {
    match n {
        0 => "0".to_string(),
        n if n > 0 => format!("+{}", grouped(&n.unsigned_abs().to_string())),
        n => format!("-{}", grouped(&n.unsigned_abs().to_string())),
    }
}

/// A signed count with separators, a sign only when negative: `-1,234`, `1,234`.
pub fn int(n: i128) -> String {
    let magnitude = grouped(&n.unsigned_abs().to_string());
    if n < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
    }
}

/// A count, or `-` when absent.
pub fn maybe(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), count)
}

/// A signed count, or `-` when absent.
pub fn maybe_signed(n: Option<i128>) -> String {
    n.map_or_else(|| "-".to_string(), signed)
}

/// A count in short form with one decimal: `110.1M`, `8.0B`, `1.2T`, `950`.
pub fn human_count(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "K"),
    ];
    for (scale, unit) in UNITS {
        if n >= scale {
            return format!("{:.1}{unit}", n as f64 / scale as f64);
        }
    }
    n.to_string()
}

/// An exact count followed by its short form: `110,106,428 (110.1M)`.
pub fn count_human(n: u64) -> String {
    if n < 1_000 {
        count(n)
    } else {
        format!("{} ({})", count(n), human_count(n))
    }
}

/// Bytes in binary units with one decimal: `420.0 MiB`, `1.5 GiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1 tensor`, `2 tensors`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{} {noun}", count(n))
    } else if let Some(stem) = noun.strip_suffix('y') {
        format!("{} {stem}ies", count(n))
    } else {
        format!("{} {noun}s", count(n))
    }
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
        assert_eq!(int(-(1i128 << 64)), "-18,446,744,073,709,551,616");
    }

    #[test]
    fn human_figures_sit_beside_exact_ones() {
        assert_eq!(count_human(110_106_428), "110,106,428 (110.1M)");
        assert_eq!(count_human(671_026_404_352), "671,026,404,352 (671.0B)");
        assert_eq!(count_human(999), "999");
        assert_eq!(human_bytes(440_449_768), "420.0 MiB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(16_060_522_496), "15.0 GiB");
    }

    #[test]
    fn plurals_are_right() {
        assert_eq!(plural(1, "file"), "1 file");
        assert_eq!(plural(0, "tensor"), "0 tensors");
        assert_eq!(plural(2_000, "tensor"), "2,000 tensors");
        assert_eq!(plural(6, "family"), "6 families");
    }
}
