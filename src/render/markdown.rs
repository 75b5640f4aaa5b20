//! GitHub-flavoured Markdown: pastes into a pull-request comment or a model card.

use std::io::{self, Write};

use super::sections::{self, Section};
use super::{Options, Render};
use crate::compare::{CheckOutcome, Diff};
use crate::formula::{Derivation, Dims};
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// Markdown tables with right-aligned number columns.
pub struct Markdown;

/// Escape what would break a table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

fn write_section(s: &Section, level: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\n{level} {}\n", s.title)?;
    writeln!(out, "| {} |", s.headers.join(" | "))?;
    let rule: Vec<&str> = s
        .numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for r in &s.rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                // Names are code; TOTAL rows are bold.
                if i == 0 && c == "TOTAL" {
                    "**TOTAL**".to_string()
                } else if s.headers.get(i) == Some(&"tensor") && !c.is_empty() {
                    format!("`{}`", cell(c))
                } else {
                    cell(c)
                }
            })
            .collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

impl Render for Markdown {
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()> {
        let mut heading = sections::heading(report).into_iter();
        if let Some(first) = heading.next() {
            writeln!(out, "### paramaudit: {}\n", cell(&first))?;
        }
        for line in heading {
            writeln!(out, "- {line}")?;
        }
        for s in sections::all(report, options) {
            write_section(&s, "####", out)?;
        }
        if !report.notes.is_empty() {
            writeln!(out)?;
            for n in &report.notes {
                writeln!(out, "> note: {n}")?;
            }
        }
        Ok(())
    }

    fn derivation(
        &self,
        dims: &Dims,
        derivation: &Derivation,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        writeln!(out, "### BERT family: {}", sections::dims_line(dims))?;
        for s in sections::derivation(derivation) {
            write_section(&s, "####", out)?;
        }
        Ok(())
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "### paramaudit diff: `{}` → `{}`",
            cell(&diff.a),
            cell(&diff.b)
        )?;
        for s in sections::diff(diff) {
            write_section(&s, "####", out)?;
        }
        Ok(())
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        let mark = if outcome.passed() { "✅" } else { "❌" };
        writeln!(
            out,
            "### {mark} {}",
            cell(&sections::check_verdict(outcome))
        )?;
        for s in sections::check(outcome) {
            write_section(&s, "####", out)?;
        }
        Ok(())
    }

    fn verify(
        &self,
        report: &VerifyReport,
        options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let mark = if report.passed { "✅" } else { "❌" };
        writeln!(
            out,
            "### {mark} {}",
            cell(&sections::verify_verdict(report))
        )?;
        for s in sections::verify(report, options) {
            write_section(&s, "####", out)?;
        }
        Ok(())
    }
}
