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
pub mod dtype;
pub mod error;
pub mod family;
pub mod fastmap;
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
use reconcile::{Chosen, SelectedBy};
use source::Resolved;

/// Choices that change how a checkpoint is read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--family`: the family to use whatever the config or the tensors say.
    pub family: Option<String>,
}

/// An opened, classified checkpoint.
#[derive(Debug)]
pub struct Opened {
    /// Files and index (its tensors moved into `tensors`).
    pub checkpoint: Checkpoint,
    /// The config, if any.
    pub config: Option<ModelConfig>,
    /// The family used, and how it was chosen.
    pub family: Option<Chosen>,
    /// Every tensor with its class.
    pub tensors: Vec<classify::Classified>,
    /// Notes so far (how the family was chosen, when it was not by the config).
    pub notes: Vec<String>,
    /// Whether the family may take a formula (not when the config names an unknown type).
    pub formula_allowed: bool,
}

/// Choose the family: `--family`, else the config's `model_type`, else the family whose
/// rules explain the most tensors (said in a note).
fn choose_family(
    names: &[&str],
    config: Option<&ModelConfig>,
    options: &Options,
    notes: &mut Vec<String>,
) -> Result<(Option<Chosen>, bool)> {
    if let Some(name) = options.family.as_deref() {
        let family = family::by_name(name).ok_or_else(|| formula::unknown_family(name))?;
        return Ok((
            Some(Chosen {
                family,
                by: SelectedBy::Flag,
            }),
            true,
        ));
    }
    let model_type = config.and_then(|c| c.model_type.as_deref());
    if let Some(t) = model_type {
        if let Some(family) = family::by_model_type(t) {
            return Ok((
                Some(Chosen {
                    family,
                    by: SelectedBy::Config,
                }),
                true,
            ));
        }
        notes.push(format!(
            "no formula for model_type `{t}` yet (supported: {}); tensors are bucketed but not reconciled",
            family::names()
        ));
    }
    let best = family::REGISTRY
        .iter()
        .map(|&f| (classify::recognised(f, names), f))
        .filter(|(n, _)| *n > 0)
        .fold(
            None::<(usize, &'static family::Family)>,
            |best, (n, f)| match best {
                Some((m, _)) if m >= n => best,
                _ => Some((n, f)),
            },
        );
    match best {
        Some((n, f)) => {
            if model_type.is_none() {
                notes.push(format!(
                    "family inferred from tensor names: {} ({n} of {} tensors recognised); --family overrides",
                    f.name,
                    names.len()
                ));
            }
            Ok((
                Some(Chosen {
                    family: f,
                    by: SelectedBy::Tensors,
                }),
                model_type.is_none(),
            ))
        }
        None => Ok((None, false)),
    }
}

/// Open and validate a resolved source, choose its family and classify its tensors.
pub fn open_classified(resolved: &Resolved, options: &Options) -> Result<Opened> {
    let given = resolved
        .config
        .as_deref()
        .map(ModelConfig::read)
        .transpose()?;
    let mut checkpoint = Checkpoint::open(&resolved.layout)?;
    let mut notes = Vec::new();
    let config = match given {
        Some(c) => Some(c),
        None => embedded_config(&checkpoint, &mut notes)?,
    };
    checkpoint.tensors = format::quant::to_logical(
        std::mem::take(&mut checkpoint.tensors),
        &checkpoint.files,
        config.as_ref(),
        &mut notes,
    )?;
    let names: Vec<&str> = checkpoint.tensors.iter().map(|t| t.name.as_str()).collect();
    let (family, formula_allowed) = choose_family(&names, config.as_ref(), options, &mut notes)?;
    checkpoint.tensors = format::pytorch::tied::untie(
        std::mem::take(&mut checkpoint.tensors),
        &mut checkpoint.files,
        family.map(|c| c.family),
        &mut notes,
    );
    let tensors = classify::classify(
        std::mem::take(&mut checkpoint.tensors),
        family.map(|c| c.family),
    );
    Ok(Opened {
        checkpoint,
        config,
        family,
        tensors,
        notes,
        formula_allowed,
    })
}

/// The config a format reader derived from the file's own metadata (GGUF), when no
/// config.json was given.
fn embedded_config(
    checkpoint: &Checkpoint,
    notes: &mut Vec<String>,
) -> Result<Option<ModelConfig>> {
    let Some((path, value)) = checkpoint.embedded_config() else {
        return Ok(None);
    };
    let config = ModelConfig::from_value(path, value.clone())?;
    notes.push(format!(
        "dimensions from the metadata of {}, translated to transformers' config keys",
        source::file_name(path)
    ));
    Ok(Some(config))
}

/// Run the whole pipeline on a resolved source and return the report.
pub fn inspect(resolved: &Resolved) -> Result<Report> {
    inspect_with(resolved, &Options::default())
}

/// [`inspect`] with options.
pub fn inspect_with(resolved: &Resolved, options: &Options) -> Result<Report> {
    inspect_keeping(resolved, options).map(|(report, _sources)| report)
}

/// What a report was built from: the mapped files and the expected tensors. Dropping it
/// unmaps every file and frees every expected name, milliseconds on a model of hundreds
/// of shards; a process about to exit may leave that to the system
/// (`std::mem::forget`).
pub struct Sources {
    _checkpoint: Checkpoint,
    _formula: Option<formula::Formula>,
}

/// [`inspect_with`], handing back what the report was built from as well.
pub fn inspect_keeping(resolved: &Resolved, options: &Options) -> Result<(Report, Sources)> {
    let Opened {
        checkpoint,
        config,
        family,
        tensors,
        mut notes,
        formula_allowed,
    } = open_classified(resolved, options)?;
    let formula = match family {
        Some(c) if formula_allowed => {
            formula::build(c.family, config.as_ref(), &tensors, &mut notes)?
        }
        _ => None,
    };
    if family.is_none() {
        notes.push(format!(
            "no family recognises these tensors (known: {}): they are bucketed by dtype only",
            family::names()
        ));
    }
    let report = reconcile::reconcile(reconcile::Inputs {
        spec: &resolved.spec,
        checkpoint: &checkpoint,
        tensors,
        family,
        config: config.as_ref(),
        formula: formula.as_ref(),
        notes,
    })?;
    let sources = Sources {
        _checkpoint: checkpoint,
        _formula: formula,
    };
    Ok((report, sources))
}
