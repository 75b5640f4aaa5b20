//! paramaudit: check a model checkpoint's parameter counts against its real weights.
//!
//! Data flows one way, one module per stage:
//! [`source`] (where the files are) → [`checkpoint`] (validated safetensors headers, shards
//! merged) → [`classify`] (bucket and role per tensor) → [`formula`] (what `config.json`
//! predicts) → [`reconcile`] (the itemised gap, a [`Report`]) → [`render`] (table, JSON,
//! Markdown).
//!
//! ```no_run
//! let request = paramaudit::source::Request::default();
//! let resolved = paramaudit::source::resolve("bert-base-uncased", &request)?;
//! let report = paramaudit::inspect(&resolved)?;
//! println!("{} parameters, unexplained {:?}",
//!     report.totals.parameters,
//!     report.differences.map(|d| d.unexplained));
//! # Ok::<(), paramaudit::Error>(())
//! ```
#![deny(missing_docs)]

pub mod app;
pub mod batch;
pub mod checkpoint;
pub mod classify;
pub mod cli;
pub mod compare;
pub mod count;
pub mod error;
pub mod format;
pub mod formula;
pub mod hash;
pub mod reconcile;
pub mod render;
pub mod save;
pub mod source;
pub mod verify;

pub use error::{Error, HeaderProblem, Result};
pub use reconcile::Report;

use checkpoint::Checkpoint;
use formula::ModelConfig;
use source::Resolved;

/// Open and validate a resolved source and classify its tensors (the checkpoint's own
/// tensor list is moved into the classified list).
pub fn open_classified(resolved: &Resolved) -> Result<(Checkpoint, Vec<classify::Classified>)> {
    let mut checkpoint = Checkpoint::open(&resolved.layout)?;
    let tensors = classify::classify(std::mem::take(&mut checkpoint.tensors));
    Ok((checkpoint, tensors))
}

/// Run the whole pipeline on a resolved source and return the report.
pub fn inspect(resolved: &Resolved) -> Result<Report> {
    let config = resolved
        .config
        .as_deref()
        .map(ModelConfig::read)
        .transpose()?;
    let (checkpoint, tensors) = open_classified(resolved)?;
    let mut notes = Vec::new();
    let formula = formula::build(config.as_ref(), &tensors, &mut notes)?;
    reconcile::reconcile(reconcile::Inputs {
        spec: &resolved.spec,
        checkpoint: &checkpoint,
        tensors: &tensors,
        config: config.as_ref(),
        formula: formula.as_ref(),
        notes,
    })
}
