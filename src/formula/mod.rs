//! What the analytic formula predicts: dimensions from `config.json` (or, without one,
//! from tensor shapes), the closed-form derivation, and the exact tensors expected for
//! the parts the checkpoint actually stores (pooler, each head).
//!
//! One file per architecture family; today the BERT family ([`bert`]).

pub mod bert;
pub mod config;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::classify::{Classified, Component, DECODER_WEIGHT, WORD_EMBEDDINGS};
use crate::error::Result;
pub use bert::{Derivation, Dims, Expected, ExpectedTensor, Step};
pub use config::ModelConfig;

/// Where the dimensions came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DimsSource {
    /// Read from a `config.json`.
    Config {
        /// The config file.
        path: PathBuf,
        /// Fields absent from it that took transformers' defaults.
        defaulted: Vec<String>,
    },
    /// Inferred from tensor shapes: the formula then checks internal consistency only.
    Inferred {
        /// Dimensions no tensor revealed, which took transformers' defaults.
        defaulted: Vec<String>,
    },
}

/// The formula for one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    /// Architecture family (`bert`).
    pub family: &'static str,
    /// Dimensions used.
    pub dims: Dims,
    /// Where they came from.
    pub source: DimsSource,
    /// Closed-form derivation.
    pub derivation: Derivation,
    /// Parts beyond the backbone that the checkpoint stores (pooler, heads).
    pub components: Vec<Component>,
    /// Tensors expected for the backbone and those parts.
    pub expected: Expected,
}

/// The families with a formula, for messages.
pub const FAMILIES: &[&str] = &["bert"];

/// What the `formula` command prints: a family's derivation for one config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormulaDoc {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
    /// Architecture family.
    pub family: String,
    /// Dimensions used.
    pub dims: Dims,
    /// Where they came from, with the fields that took defaults.
    pub dims_source: DimsSource,
    /// The derivation.
    #[serde(flatten)]
    pub derivation: Derivation,
}

/// The `formula` command's document for a config.
pub fn explain(config: &ModelConfig) -> Result<FormulaDoc> {
    if let Some(t) = config.model_type.as_deref() {
        if !FAMILIES.contains(&t) {
            return Err(crate::Error::Config {
                path: config.path.clone(),
                message: format!(
                    "no formula for model_type `{t}` (supported: {})",
                    FAMILIES.join(", ")
                ),
            });
        }
    }
    let (dims, defaulted) = Dims::from_config(config)?;
    Ok(FormulaDoc {
        schema_version: crate::reconcile::SCHEMA_VERSION,
        family: "bert".to_string(),
        derivation: bert::derive(&dims),
        dims,
        dims_source: DimsSource::Config {
            path: config.path.clone(),
            defaulted: defaulted.iter().map(|s| s.to_string()).collect(),
        },
    })
}

/// Build the formula for `tensors`, from `config` when given. Returns `None` (with the
/// reason pushed to `notes`) when no family formula applies.
pub fn build(
    config: Option<&ModelConfig>,
    tensors: &[Classified],
    notes: &mut Vec<String>,
) -> Result<Option<Formula>> {
    let (dims, source) = match config {
        Some(c) => {
            if let Some(t) = c.model_type.as_deref() {
                if !FAMILIES.contains(&t) {
                    notes.push(format!(
                        "no formula for model_type `{t}` yet (supported: {}); tensors are bucketed but not reconciled",
                        FAMILIES.join(", ")
                    ));
                    return Ok(None);
                }
            }
            let (dims, defaulted) = Dims::from_config(c)?;
            if let Some(kind) = c.string("position_embedding_type") {
                if kind != "absolute" {
                    notes.push(format!(
                        "position_embedding_type `{kind}` adds relative-distance embeddings the formula does not model"
                    ));
                }
            }
            let source = DimsSource::Config {
                path: c.path.clone(),
                defaulted: defaulted.iter().map(|s| s.to_string()).collect(),
            };
            (dims, source)
        }
        None => match infer(tensors) {
            Some((dims, defaulted)) => {
                notes.push(
                    "no config.json: dimensions inferred from tensor shapes, so the formula checks the checkpoint's internal consistency only"
                        .to_string(),
                );
                (dims, DimsSource::Inferred { defaulted })
            }
            None => {
                notes.push(format!(
                    "no config.json and no `{WORD_EMBEDDINGS}` to infer dimensions from: no formula"
                ));
                return Ok(None);
            }
        },
    };
    if !dims.in_range() {
        notes.push(format!(
            "inferred dimensions are out of the supported range (at most {} layers, width {}): no formula",
            bert::MAX_LAYERS,
            bert::MAX_WIDTH
        ));
        return Ok(None);
    }
    let mut components: Vec<Component> = tensors
        .iter()
        .filter_map(|t| t.class.component)
        .filter(|c| matches!(c, Component::Pooler | Component::Head(_)))
        .collect();
    components.sort();
    components.dedup();
    let expected = bert::expected_tensors(&dims, &components);
    Ok(Some(Formula {
        family: "bert",
        derivation: bert::derive(&dims),
        dims,
        source,
        components,
        expected,
    }))
}

/// Infer BERT dimensions from stored shapes. `None` without a word-embedding matrix.
fn infer(tensors: &[Classified]) -> Option<(Dims, Vec<String>)> {
    let shape = |key: &str| {
        tensors
            .iter()
            .find(|t| t.class.key.as_deref() == Some(key))
            .map(|t| t.tensor.shape.as_slice())
    };
    let first_layer_shape = |suffix: &str| {
        tensors
            .iter()
            .filter(|t| t.class.layer.is_some())
            .find(|t| t.class.key.as_deref().is_some_and(|k| k.ends_with(suffix)))
            .map(|t| t.tensor.shape.as_slice())
    };
    let [vocab, hidden] = shape(WORD_EMBEDDINGS)? else {
        return None;
    };
    let mut defaulted = Vec::new();
    let mut rows = |found: Option<&[u64]>, name: &str, default: u64| match found {
        Some([n, ..]) => *n,
        _ => {
            defaulted.push(name.to_string());
            default
        }
    };
    let positions = rows(
        shape("embeddings.position_embeddings.weight"),
        "max_position_embeddings",
        512,
    );
    let token_types = rows(
        shape("embeddings.token_type_embeddings.weight"),
        "type_vocab_size",
        2,
    );
    let intermediate = rows(
        first_layer_shape(".intermediate.dense.weight"),
        "intermediate_size",
        3072,
    );
    let labels = rows(
        shape("classifier.weight").or_else(|| shape("qa_outputs.weight")),
        "num_labels",
        2,
    );
    // A layer index near u64::MAX has no successor: the count is then out of range and
    // `in_range` refuses the formula.
    let layers = tensors
        .iter()
        .filter_map(|t| t.class.layer)
        .max()
        .map_or(0, |l| l.saturating_add(1));
    let decoder_stored = shape(DECODER_WEIGHT).is_some();
    Some((
        Dims {
            vocab_size: *vocab,
            hidden_size: *hidden,
            num_hidden_layers: layers,
            num_attention_heads: None,
            intermediate_size: intermediate,
            max_position_embeddings: positions,
            type_vocab_size: token_types,
            num_labels: labels,
            tie_word_embeddings: !decoder_stored,
        },
        defaulted,
    ))
}
