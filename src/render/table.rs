//! Aligned text tables (tabled) for a terminal.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use super::sections::{Document, Section};
use super::DocumentRenderer;

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

impl DocumentRenderer for Table {
    fn write_doc(&self, doc: &Document, out: &mut dyn Write) -> io::Result<()> {
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
}
