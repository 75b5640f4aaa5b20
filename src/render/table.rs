//! Aligned text tables (tabled) for a terminal, coloured when [`Style::color`] is on:
//! verdicts green or red, drifted and failed rows red, rows worth a look yellow.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style as Ansi};
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style as TableStyle};

use super::sections::{Document, Section, Tone};
use super::{DocumentRenderer, Style};

/// The human-readable default format.
pub struct Table {
    /// Colour or not.
    pub style: Style,
}

fn ansi(tone: Tone) -> Ansi {
    let color = match tone {
        Tone::Good => AnsiColor::Green,
        Tone::Bad => AnsiColor::Red,
        Tone::Warn => AnsiColor::Yellow,
    };
    Ansi::new().fg_color(Some(color.into()))
}

impl Table {
    fn paint(&self, text: &str, tone: Option<Tone>, bold: bool) -> String {
        match tone {
            Some(t) if self.style.color => {
                let style = if bold { ansi(t).bold() } else { ansi(t) };
                format!("{style}{text}{style:#}")
            }
            _ => text.to_string(),
        }
    }

    fn write_section(&self, s: &Section, out: &mut dyn Write) -> io::Result<()> {
        let mut b = Builder::default();
        b.push_record(s.headers.iter().copied());
        for r in &s.rows {
            b.push_record(r.iter().cloned());
        }
        let mut t = b.build();
        t.with(TableStyle::psql());
        for (i, numeric) in s.numeric.iter().enumerate() {
            if *numeric {
                t.modify(Columns::new(i..=i), Alignment::right());
            }
        }
        writeln!(out, "\n{}", s.title)?;
        // psql style: a header line and a rule, then one line per row. Colour is applied
        // to whole lines after layout, so escapes never disturb the column widths.
        for (i, line) in t.to_string().lines().enumerate() {
            let tone = i
                .checked_sub(2)
                .and_then(|row| s.tones.iter().find(|(r, _)| *r == row))
                .map(|(_, tone)| *tone);
            writeln!(out, "{}", self.paint(line, tone, false))?;
        }
        Ok(())
    }
}

impl DocumentRenderer for Table {
    fn write_doc(&self, doc: &Document, out: &mut dyn Write) -> io::Result<()> {
        let verdict = doc.passed.map(|p| if p { Tone::Good } else { Tone::Bad });
        writeln!(out, "{}", self.paint(&doc.title, verdict, true))?;
        for line in &doc.lines {
            writeln!(out, "{line}")?;
        }
        for s in &doc.sections {
            self.write_section(s, out)?;
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
