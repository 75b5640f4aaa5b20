//! What the analytic formula predicts for a checkpoint: its family's dimensions (from
//! `config.json`, or inferred from tensor shapes), the closed-form derivation, and the
//! exact tensors expected for the parts the checkpoint stores. Families live in
//! [`crate::family`]; this module only applies one.

pub mod config;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::classify::Classified;
use crate::error::{Error, Result};
use crate::family::compiled::Expanded;
use crate::family::{dims, Cond, Derivation, Dims, Family, RowKind, BACKBONE};
pub use config::ModelConfig;

/// Where the dimensions came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DimsSource {
    /// Read from a `config.json`.
    Config {
        /// The config file.
        path: PathBuf,
        /// Fields absent from it that took transformers' defaults (config keys).
        defaulted: Vec<String>,
    },
    /// Inferred from tensor shapes: the formula then checks internal consistency only.
    Inferred {
        /// Dimensions no tensor revealed, which took transformers' defaults.
        defaulted: Vec<String>,
    },
}

impl DimsSource {
    /// The dimensions that took defaults.
    pub fn defaulted(&self) -> &[String] {
        match self {
            DimsSource::Config { defaulted, .. } | DimsSource::Inferred { defaulted } => defaulted,
        }
    }
}

/// The formula for one checkpoint.
#[derive(Debug, Clone)]
pub struct Formula {
    /// The family.
    pub family: &'static Family,
    /// Dimensions used.
    pub dims: Dims,
    /// Where they came from.
    pub source: DimsSource,
    /// Closed-form derivation.
    pub derivation: Derivation,
    /// Parts beyond the backbone that the checkpoint stores (pooler, heads), sorted.
    pub parts: Vec<&'static str>,
    /// Every tensor expected for the backbone and those parts, in table order.
    pub expected: Vec<Expanded>,
}

/// What the `formula` command prints: a family's derivation for one config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormulaDoc {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
    /// Family name.
    pub family: String,
    /// Family display name.
    pub title: String,
    /// Dimensions used, by config key.
    pub dims: BTreeMap<String, serde_json::Value>,
    /// `L=12 H=768 ...`: the dimensions on one line.
    pub dims_line: String,
    /// Where they came from, with the fields that took defaults.
    pub dims_source: DimsSource,
    /// The derivation.
    #[serde(flatten)]
    pub derivation: Derivation,
}

/// The dimensions by config key, as reports show them.
pub fn dims_map(family: &Family, dims: &Dims) -> BTreeMap<String, serde_json::Value> {
    dims.by_key(family).into_iter().collect()
}

fn impossible(path: &std::path::Path, family: &Family) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        message: format!(
            "the {} formula overflows 64 bits for these dimensions",
            family.name
        ),
    }
}

/// The family for a config alone (the `formula` command): `--family`, else
/// `model_type`, else the family whose dimension keys the config sets most.
pub fn family_for_config(config: &ModelConfig, flag: Option<&str>) -> Result<&'static Family> {
    if let Some(name) = flag {
        return crate::family::by_name(name).ok_or_else(|| unknown_family(name));
    }
    if let Some(t) = config.model_type.as_deref() {
        return crate::family::by_model_type(t).ok_or_else(|| Error::Config {
            path: config.path.clone(),
            message: format!(
                "no formula for model_type `{t}` (supported: {}; see `paramaudit families`)",
                crate::family::names()
            ),
        });
    }
    let keys_set = |f: &Family| {
        f.dims
            .iter()
            .filter(|d| d.identifying && d.keys.iter().any(|k| config.fields.contains_key(*k)))
            .count()
    };
    crate::family::REGISTRY
        .iter()
        .copied()
        .max_by_key(|f| (keys_set(f), std::cmp::Reverse(f.name)))
        .filter(|f| keys_set(f) > 0)
        .ok_or_else(|| Error::Config {
            path: config.path.clone(),
            message:
                "no `model_type` and no family's dimensions: not a model config (or pass --family)"
                    .to_string(),
        })
}

/// An unknown `--family`.
pub fn unknown_family(name: &str) -> Error {
    Error::Usage(format!(
        "unknown family `{name}` (known: {}; see `paramaudit families`)",
        crate::family::names()
    ))
}

/// The `formula` command's document for a config.
pub fn explain(config: &ModelConfig, flag: Option<&str>) -> Result<FormulaDoc> {
    let family = family_for_config(config, flag)?;
    let (dims, defaulted) = dims::from_config(family, config)?;
    let derivation = (family.derive)(&dims).ok_or_else(|| impossible(&config.path, family))?;
    Ok(FormulaDoc {
        schema_version: crate::reconcile::SCHEMA_VERSION,
        family: family.name.to_string(),
        title: family.title.to_string(),
        dims: dims_map(family, &dims),
        dims_line: dims.line(family),
        dims_source: DimsSource::Config {
            path: config.path.clone(),
            defaulted: dims::keys(family, &defaulted),
        },
        derivation,
    })
}

/// What the stored tensors reveal: shapes and capture counts, plus the flags the rows
/// present imply (a row that exists only when a flag is set, a tied tensor stored).
fn revealed(family: &'static Family, tensors: &[Classified]) -> BTreeMap<&'static str, u64> {
    let table = family.compiled();
    let matches: Vec<(crate::family::compiled::Match, &[u64])> = tensors
        .iter()
        .filter_map(|t| {
            let c = &t.class;
            Some((
                crate::family::compiled::Match {
                    row: c.row?,
                    key: c.key.clone()?,
                    captures: c.captures,
                },
                t.tensor.shape.as_slice(),
            ))
        })
        .collect();
    let mut known = table.reveal(matches.iter().map(|(m, s)| (m, *s)));
    for (m, _) in &matches {
        let row = table.rows[m.row].row;
        match (row.cond, row.kind) {
            (Cond::If(f), _) => {
                known.entry(f).or_insert(1);
            }
            (Cond::Unless(f), _) => {
                known.entry(f).or_insert(0);
            }
            _ => {}
        }
        if let RowKind::Tied { flag, .. } = row.kind {
            known.insert(flag, 0);
        }
    }
    known
}

/// The parts beyond the backbone to expect: those the file stores a parameter of, and
/// those `architectures` claims whose parameter rows are all tied (so the file cannot
/// show them). Buffer rows are left out of that test, as they are left out of "stores a
/// parameter of": a tied LM head with a bias buffer beside it (BART's and Marian's
/// `final_logits_bias`) is still a head whose parameters are all tied.
fn present_parts(
    family: &'static Family,
    dims: &Dims,
    tensors: &[Classified],
    config: Option<&ModelConfig>,
) -> Vec<&'static str> {
    let table = family.compiled();
    let mut parts: BTreeSet<&'static str> = tensors
        .iter()
        .filter(|t| t.class.role.is_parameter())
        .filter_map(|t| t.class.part)
        .filter(|p| *p != BACKBONE)
        .collect();
    for arch in config.map_or(&[][..], |c| c.architectures.as_slice()) {
        for part in family.claim(arch).unwrap_or(&[]) {
            let rows: Vec<_> = table
                .rows
                .iter()
                .filter(|r| {
                    r.row.part == *part && r.row.kind != RowKind::Buffer && r.row.cond.holds(dims)
                })
                .collect();
            let all_tied = !rows.is_empty()
                && rows.iter().all(|r| match r.row.kind {
                    RowKind::Alias { flag, .. } => flag.is_none_or(|f| dims.flag(f)),
                    RowKind::Tied { flag, .. } => dims.flag(flag),
                    _ => false,
                });
            if all_tied {
                parts.insert(part);
            }
        }
    }
    parts.into_iter().collect()
}

/// Build the formula for `tensors` of `family`, from `config` when given. Returns `None`
/// (with the reason pushed to `notes`) when the dimensions cannot be known.
pub fn build(
    family: &'static Family,
    config: Option<&ModelConfig>,
    tensors: &[Classified],
    notes: &mut Vec<String>,
) -> Result<Option<Formula>> {
    let (dims, source) = match config {
        Some(c) => {
            let (dims, defaulted) = dims::from_config(family, c)?;
            let source = DimsSource::Config {
                path: c.path.clone(),
                defaulted: dims::keys(family, &defaulted),
            };
            (dims, source)
        }
        None => {
            if !tensors.iter().any(|t| t.class.row.is_some()) {
                notes.push(format!(
                    "no config.json and no tensor the {} family recognises: no formula",
                    family.name
                ));
                return Ok(None);
            }
            match dims::from_shapes(family, &revealed(family, tensors)) {
                Ok((dims, defaulted)) => {
                    notes.push(
                        "no config.json: dimensions inferred from tensor shapes, so the formula checks the checkpoint's internal consistency only"
                            .to_string(),
                    );
                    let defaulted = dims::keys(family, &defaulted);
                    (dims, DimsSource::Inferred { defaulted })
                }
                Err(why) => {
                    notes.push(format!(
                        "no config.json, and the dimensions inferred from tensor shapes cannot make a {} formula: {why} (give the config with --config)",
                        family.name
                    ));
                    return Ok(None);
                }
            }
        }
    };
    let path = config.map_or_else(PathBuf::new, |c| c.path.clone());
    let derivation = (family.derive)(&dims).ok_or_else(|| impossible(&path, family))?;
    let parts = present_parts(family, &dims, tensors, config);
    let expected = family
        .compiled()
        .expand(&dims, &parts)
        .ok_or_else(|| impossible(&path, family))?;
    Ok(Some(Formula {
        family,
        dims,
        source,
        derivation,
        parts,
        expected,
    }))
}
