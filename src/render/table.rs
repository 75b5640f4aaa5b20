//! Aligned text tables (tabled) for a terminal.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use super::sections::{self, Section};
use super::{Options, Render};
use crate::compare::{CheckOutcome, Diff};
use crate::formula::{Derivation, Dims};
use crate::reconcile::Report;
use crate::verify::VerifyReport;

/// The human-readable default format.
pub struct Table;

fn write_section(s: &Section, out: &mut dyn Write) -> io::Result<()> {
    let mut b = Builder::default();
    b.push_record(s.headers.iter().copied());
    for r in &s.rows {
        b.push_record(r.iter().cloned());
    }
    let mut t = b.build();
    t.with(Style::psql());
    for (i, numeric) in s.numeric.iter().enumerate() {
        if *numeric {
            t.modify(Columns::new(i..=i), Alignment::right());
        }
    }
    writeln!(out, "\n{}", s.title)?;
    writeln!(out, "{t}")
}

impl Render for Table {
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()> {
        for line in sections::heading(report) {
            writeln!(out, "{line}")?;
        }
        for s in sections::all(report, options) {
            write_section(&s, out)?;
        }
        if !report.notes.is_empty() {
            writeln!(out)?;
            for n in &report.notes {
                writeln!(out, "note: {n}")?;
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
        writeln!(out, "BERT family, {}", sections::dims_line(dims))?;
        for s in sections::derivation(derivation) {
            write_section(&s, out)?;
        }
        Ok(())
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "diff: a = {}, b = {}", diff.a, diff.b)?;
        for s in sections::diff(diff) {
            write_section(&s, out)?;
        }
        Ok(())
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", sections::check_verdict(outcome))?;
        for s in sections::check(outcome) {
            write_section(&s, out)?;
        }
        Ok(())
    }

    fn verify(
        &self,
        report: &VerifyReport,
        options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        writeln!(out, "{}", sections::verify_verdict(report))?;
        for s in sections::verify(report, options) {
            write_section(&s, out)?;
        }
        Ok(())
    }
}
