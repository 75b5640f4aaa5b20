//! GitHub-flavoured Markdown: pastes into a pull-request comment or a model card.

use std::io::{self, Write};

use super::sections::{Document, Section};
use super::DocumentRenderer;

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

impl DocumentRenderer for Markdown {
    fn write_doc(&self, doc: &Document, out: &mut dyn Write) -> io::Result<()> {
        let mark = match doc.passed {
            Some(true) => "✅ ",
            Some(false) => "❌ ",
            None => "",
        };
        writeln!(out, "### {mark}paramaudit: {}", cell(&doc.title))?;
        if !doc.lines.is_empty() {
            writeln!(out)?;
            for line in &doc.lines {
                writeln!(out, "- {}", cell(line))?;
            }
        }
        for s in &doc.sections {
            write_section(s, "####", out)?;
        }
        if !doc.notes.is_empty() {
            writeln!(out)?;
            for n in &doc.notes {
                writeln!(out, "> note: {n}")?;
            }
        }
        Ok(())
    }
}
