//! Several models in one `inspect`: each one's report or failure, in the order given, and
//! the summary table computed from them.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::reconcile::{Report, SCHEMA_VERSION};

/// A model that could not be inspected, in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Version of the JSON layout.
    pub schema_version: u32,
    /// The model as given.
    pub spec: String,
    /// Why it failed (the line printed on stderr).
    pub error: String,
    /// The exit code this failure alone would give.
    pub exit_code: u8,
}

impl Failure {
    /// The failure of `spec` with `error`.
    pub fn new(spec: &str, error: &Error) -> Failure {
        Failure {
            schema_version: SCHEMA_VERSION,
            spec: spec.to_string(),
            error: error.to_string(),
            exit_code: error.exit_code(),
        }
    }
}

/// One model's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Item {
    /// Inspected.
    Report(Box<Report>),
    /// Failed.
    Failed(Failure),
}

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The model as given.
    pub model: String,
    /// Its figures, or why there are none.
    pub figures: Result<SummaryFigures, String>,
}

/// The figures the summary shows for an inspected model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryFigures {
    /// Parameters.
    pub parameters: u64,
    /// Buffer elements.
    pub buffers: u64,
    /// `differences.unexplained` (`None` without a formula).
    pub unexplained: Option<i128>,
    /// What the formula expects for what is stored (`None` without a formula).
    pub formula_total: Option<u64>,
    /// Bytes on disk.
    pub bytes: u64,
}

/// The summary rows, in input order.
pub fn summary(items: &[Item]) -> Vec<SummaryRow> {
    items
        .iter()
        .map(|item| match item {
            Item::Report(r) => SummaryRow {
                model: r.source.spec.clone(),
                figures: Ok(SummaryFigures {
                    parameters: r.totals.parameters,
                    buffers: r.totals.buffers,
                    unexplained: r.differences.as_ref().map(|d| d.unexplained),
                    formula_total: r.formula.as_ref().map(|f| f.expected_total),
                    bytes: r.totals.file_bytes,
                }),
            },
            Item::Failed(f) => SummaryRow {
                model: f.spec.clone(),
                figures: Err(f.error.clone()),
            },
        })
        .collect()
}

/// The exit code of a batch: the worst of its models (2 > 1 > 0).
pub fn exit_code(items: &[Item]) -> u8 {
    items
        .iter()
        .map(|i| match i {
            Item::Report(_) => 0,
            Item::Failed(f) => f.exit_code,
        })
        .max()
        .unwrap_or(0)
}
