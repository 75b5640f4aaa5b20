//! Aligned text tables (tabled) for a terminal.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use super::sections::{self, Document, Section};
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

fn write_doc(doc: &Document, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}", doc.title)?;
    for line in &doc.lines {
        writeln!(out, "{line}")?;
    }
    for s in &doc.sections {
        write_section(s, out)?;
    }
    if !doc.notes.is_empty() {
        writeln!(out)?;
        for n in &doc.notes {
            writeln!(out, "note: {n}")?;
        }
    }
    Ok(())
}

impl Render for Table {
    fn report(&self, report: &Report, options: Options, out: &mut dyn Write) -> io::Result<()> {
        write_doc(&sections::report_doc(report, options), out)
    }

    fn derivation(
        &self,
        dims: &Dims,
        derivation: &Derivation,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_doc(&sections::derivation_doc(dims, derivation), out)
    }

    fn diff(&self, diff: &Diff, out: &mut dyn Write) -> io::Result<()> {
        write_doc(&sections::diff_doc(diff), out)
    }

    fn check(&self, outcome: &CheckOutcome, out: &mut dyn Write) -> io::Result<()> {
        write_doc(&sections::check_doc(outcome), out)
    }

    fn verify(
        &self,
        report: &VerifyReport,
        options: Options,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        write_doc(&sections::verify_doc(report, options), out)
    }
}
