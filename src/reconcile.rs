//! Put what is stored next to what the formula expects and itemise the difference.
//!
//! Stored tensors are matched to expected ones by canonical key. Every parameter of the
//! gap lands in exactly one finding (missing, unexpected, wrong shape), so the findings
//! add up to `differences.unexplained`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::classify::{
    Bucket, Classified, Component, HeadKind, Role, DECODER_BIAS, DECODER_WEIGHT,
};
use crate::count::{self, difference, signed};
use crate::error::{Error, Result};
use crate::formula::{Derivation, Dims, DimsSource, Formula, ModelConfig};

/// Version of every JSON document's layout (inspect, check, diff, verify, formula);
/// bumped on any incompatible change. 2: signed figures are exact (any size), drift
/// values are typed, every document carries it.
pub const SCHEMA_VERSION: u32 = 2;

/// The whole report: every figure the renderers show, computed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of this JSON layout.
    pub schema_version: u32,
    /// What was read.
    pub source: SourceReport,
    /// Whole-checkpoint totals.
    pub totals: Totals,
    /// Per-bucket figures, every bucket present.
    pub buckets: Buckets,
    /// Per-dtype totals, largest first.
    pub dtypes: Vec<DtypeRow>,
    /// What the parameters take in memory, as stored and at common precisions.
    pub memory: Memory,
    /// Heads stored, in a fixed order.
    pub heads: Vec<HeadRow>,
    /// The formula, when a family formula applies (`null` otherwise).
    pub formula: Option<FormulaReport>,
    /// The gap between the hand derivation and the stored total (`null` without formula).
    pub differences: Option<Differences>,
    /// The ladder from the hand derivation to the stored total, one row per cause.
    pub ladder: Vec<LadderRow>,
    /// Each tensor-level reason for a non-zero `unexplained`; they add up to it.
    pub findings: Vec<Finding>,
    /// Remarks that change no figure (inferred dimensions, advisory index values...).
    pub notes: Vec<String>,
    /// Every tensor, sorted by name.
    pub tensors: Vec<TensorRow>,
}

/// Where the checkpoint came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// What the user asked for (a path).
    pub spec: String,
    /// `single` or `sharded`.
    pub layout: String,
    /// The safetensors files read.
    pub files: Vec<FileReport>,
    /// The shard index, for sharded checkpoints.
    pub index: Option<String>,
    /// The config used, if any.
    pub config: Option<String>,
    /// True when only headers were available (data-dependent checks skipped).
    pub header_only: bool,
}

/// One file read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Path.
    pub path: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// JSON header length.
    pub header_bytes: u64,
    /// Tensors in this file.
    pub tensors: usize,
}

/// Whole-checkpoint totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Parameters, each stored tensor counted once, buffers excluded.
    pub parameters: u64,
    /// Elements of buffer tensors (not parameters).
    pub buffers: u64,
    /// Every stored element, buffers included (what "sum of stored elements" tools print).
    pub stored_elements: u64,
    /// Number of tensors.
    pub tensors: u64,
    /// Bytes of tensor data.
    pub bytes: u64,
    /// Bytes of the files on disk (headers included).
    pub file_bytes: u64,
}

/// The memory the parameters (buffers excluded) take, as stored and at common precisions:
/// the "will it fit?" figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Bytes of the parameter tensors at their stored dtypes.
    pub stored_bytes: u64,
    /// At 4 bytes per parameter (fp32).
    pub fp32_bytes: u64,
    /// At 2 bytes per parameter (bf16 / fp16).
    pub bf16_bytes: u64,
    /// At 1 byte per parameter (int8 / fp8).
    pub int8_bytes: u64,
    /// At half a byte per parameter (4-bit), rounded up; quantization scales not included.
    pub int4_bytes: u64,
}

impl Memory {
    fn of(parameters: u64, stored_bytes: u64) -> Option<Memory> {
        Some(Memory {
            stored_bytes,
            fp32_bytes: parameters.checked_mul(4)?,
            bf16_bytes: parameters.checked_mul(2)?,
            int8_bytes: parameters,
            int4_bytes: parameters.div_ceil(2),
        })
    }
}

/// Figures for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketRow {
    /// Parameters stored (weights + biases).
    pub parameters: u64,
    /// Of which weights (matrices, embedding tables, LayerNorm gamma).
    pub weights: u64,
    /// Of which biases (and LayerNorm beta).
    pub biases: u64,
    /// Buffer elements (only the `buffer` bucket has any).
    pub buffers: u64,
    /// Tensors.
    pub tensors: u64,
    /// Bytes of tensor data.
    pub bytes: u64,
    /// Parameters the formula expects (`null` without formula).
    pub expected: Option<u64>,
    /// `parameters - expected` (`null` without formula).
    pub difference: Option<i128>,
}

impl BucketRow {
    /// Add one tensor; `None` when a figure would exceed 64 bits.
    fn add(&mut self, t: &Classified) -> Option<()> {
        let n = t.tensor.elements;
        let role = match t.class.role {
            Role::Weight => &mut self.weights,
            Role::Bias => &mut self.biases,
            Role::Buffer => &mut self.buffers,
        };
        *role = role.checked_add(n)?;
        if t.class.role != Role::Buffer {
            self.parameters = self.parameters.checked_add(n)?;
        }
        self.tensors = self.tensors.checked_add(1)?;
        self.bytes = self.bytes.checked_add(t.tensor.bytes)?;
        Some(())
    }
}

/// Every bucket, always present, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Buckets {
    /// Embedding tables.
    pub embedding: BucketRow,
    /// Attention projections.
    pub attention: BucketRow,
    /// Feed-forward layers.
    pub ffn: BucketRow,
    /// Backbone LayerNorms.
    pub layernorm: BucketRow,
    /// Pooler.
    pub pooler: BucketRow,
    /// Heads.
    pub head: BucketRow,
    /// Buffers.
    pub buffer: BucketRow,
    /// Unrecognised tensors.
    pub other: BucketRow,
}

impl Buckets {
    /// The row of `bucket`.
    pub fn get(&self, bucket: Bucket) -> &BucketRow {
        match bucket {
            Bucket::Embedding => &self.embedding,
            Bucket::Attention => &self.attention,
            Bucket::Ffn => &self.ffn,
            Bucket::LayerNorm => &self.layernorm,
            Bucket::Pooler => &self.pooler,
            Bucket::Head => &self.head,
            Bucket::Buffer => &self.buffer,
            Bucket::Other => &self.other,
        }
    }

    fn get_mut(&mut self, bucket: Bucket) -> &mut BucketRow {
        match bucket {
            Bucket::Embedding => &mut self.embedding,
            Bucket::Attention => &mut self.attention,
            Bucket::Ffn => &mut self.ffn,
            Bucket::LayerNorm => &mut self.layernorm,
            Bucket::Pooler => &mut self.pooler,
            Bucket::Head => &mut self.head,
            Bucket::Buffer => &mut self.buffer,
            Bucket::Other => &mut self.other,
        }
    }
}

/// Totals for one dtype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtypeRow {
    /// Dtype name as in the header (`F32`, `BF16`...).
    pub dtype: String,
    /// Tensors.
    pub tensors: u64,
    /// Elements (buffers included).
    pub elements: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One stored head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRow {
    /// Head kind.
    pub head: HeadKind,
    /// Tensors stored for it.
    pub tensors: u64,
    /// Parameters stored for it.
    pub parameters: u64,
    /// Parameters the formula expects for it (`null` without formula).
    pub expected: Option<u64>,
}

/// The formula's side of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormulaReport {
    /// Architecture family.
    pub family: String,
    /// Dimensions used.
    pub dims: Dims,
    /// Where they came from.
    pub dims_source: DimsSource,
    /// The hand derivation (docs/reference.md §1): weights only.
    pub weights_only: u64,
    /// Exactly what should be stored for the parts present, tied weights once.
    pub expected_total: u64,
    /// Parts beyond the backbone found in the file.
    pub components: Vec<Component>,
    /// The derivation step by step.
    pub derivation: Derivation,
}

/// The gap from the hand derivation to the stored total, item by item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Differences {
    /// Linear biases of the encoder (attention and FFN), left out of the derivation.
    pub biases: u64,
    /// Pooler (0 when not stored).
    pub pooler: u64,
    /// Heads stored, tied weights excluded.
    pub heads: u64,
    /// Tied weights expected and not stored (the MLM decoder): explained, not counted.
    pub tied_not_stored: u64,
    /// Buffer elements: stored, not parameters.
    pub buffers: u64,
    /// Stored parameters minus what the formula explains; 0 when file and config agree.
    pub unexplained: i128,
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LadderRow {
    /// What this rung is.
    pub step: String,
    /// Its size.
    pub parameters: i128,
    /// Whether it adds to the parameter total (tied weights and buffers do not).
    pub counted: bool,
    /// Running total after this rung.
    pub total: i128,
}

/// What kind of tensor-level difference a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Expected by the formula, not stored.
    Missing,
    /// Stored, not expected.
    Unexpected,
    /// Stored with another shape than expected.
    ShapeMismatch,
}

/// One tensor-level difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Kind.
    pub kind: FindingKind,
    /// The stored name, or the canonical key of a missing tensor.
    pub tensor: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Its contribution to `unexplained`.
    pub parameters: i128,
    /// Plain-language explanation.
    pub detail: String,
}

/// One tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRow {
    /// Name as stored.
    pub name: String,
    /// File holding it (file name only).
    pub file: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Role.
    pub role: Role,
    /// Dtype.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Elements.
    pub elements: u64,
    /// Bytes.
    pub bytes: u64,
}

/// What `architectures` implies beyond the backbone, for the "claims" note.
const CLAIMS: &[(&str, &[Component])] = &[
    ("BertModel", &[Component::Pooler]),
    (
        "BertForPreTraining",
        &[
            Component::Pooler,
            Component::Head(HeadKind::MaskedLm),
            Component::Head(HeadKind::NextSentence),
        ],
    ),
    ("BertForMaskedLM", &[Component::Head(HeadKind::MaskedLm)]),
    ("BertLMHeadModel", &[Component::Head(HeadKind::MaskedLm)]),
    (
        "BertForNextSentencePrediction",
        &[Component::Pooler, Component::Head(HeadKind::NextSentence)],
    ),
    (
        "BertForSequenceClassification",
        &[Component::Pooler, Component::Head(HeadKind::Classifier)],
    ),
    (
        "BertForMultipleChoice",
        &[Component::Pooler, Component::Head(HeadKind::Classifier)],
    ),
    (
        "BertForTokenClassification",
        &[Component::Head(HeadKind::Classifier)],
    ),
    (
        "BertForQuestionAnswering",
        &[Component::Head(HeadKind::QuestionAnswering)],
    ),
];

fn component_name(c: Component) -> &'static str {
    match c {
        Component::Embeddings => "embeddings",
        Component::Layer => "layers",
        Component::Pooler => "pooler",
        Component::Head(h) => h.name(),
        Component::Buffer => "buffers",
    }
}

/// Everything reconcile needs, produced by the earlier stages.
pub struct Inputs<'a> {
    /// What the user asked for.
    pub spec: &'a str,
    /// The opened checkpoint (files and index; its tensors are in `tensors`).
    pub checkpoint: &'a Checkpoint,
    /// Classified tensors, sorted by name.
    pub tensors: &'a [Classified],
    /// The config, if any.
    pub config: Option<&'a ModelConfig>,
    /// The formula, if one applies.
    pub formula: Option<&'a Formula>,
    /// Notes gathered so far.
    pub notes: Vec<String>,
}

/// Build the report. Counts that would exceed 64 bits (possible only in a crafted header)
/// are an [`Error::Impossible`], never a wrapped figure.
pub fn reconcile(input: Inputs<'_>) -> Result<Report> {
    let Inputs {
        spec,
        checkpoint,
        tensors,
        config,
        formula,
        mut notes,
    } = input;
    notes.extend(checkpoint.warnings.iter().cloned());
    if checkpoint.header_only {
        notes.push(
            "header only: the weights were not read; sizes are checked against the declared file sizes, contents and hashes are not"
                .to_string(),
        );
    }

    let impossible = |what: &str| Error::Impossible {
        path: PathBuf::from(spec),
        message: format!("{what} exceeds 2^64: the header's shapes cannot be real"),
    };
    let mut buckets = Buckets::default();
    for t in tensors {
        buckets
            .get_mut(t.class.bucket)
            .add(t)
            .ok_or_else(|| impossible(&format!("the {} bucket's total", t.class.bucket.name())))?;
    }
    let parameters = count::sum(Bucket::ALL.iter().map(|&b| buckets.get(b).parameters))
        .ok_or_else(|| impossible("the parameter total"))?;
    let buffers = count::sum(Bucket::ALL.iter().map(|&b| buckets.get(b).buffers))
        .ok_or_else(|| impossible("the buffer total"))?;
    let parameter_bytes = count::sum(
        tensors
            .iter()
            .filter(|t| t.class.role != Role::Buffer)
            .map(|t| t.tensor.bytes),
    )
    .ok_or_else(|| impossible("the parameter bytes"))?;
    let totals = Totals {
        parameters,
        buffers,
        stored_elements: parameters
            .checked_add(buffers)
            .ok_or_else(|| impossible("the stored elements"))?,
        tensors: count::len(tensors.len()),
        bytes: count::sum(tensors.iter().map(|t| t.tensor.bytes))
            .ok_or_else(|| impossible("the tensor bytes"))?,
        file_bytes: count::sum(checkpoint.files.iter().map(|f| f.file_bytes))
            .ok_or_else(|| impossible("the file sizes"))?,
    };
    let memory =
        Memory::of(parameters, parameter_bytes).ok_or_else(|| impossible("the fp32 footprint"))?;

    let mut dtypes: BTreeMap<String, DtypeRow> = BTreeMap::new();
    for t in tensors {
        let name = t.tensor.dtype.to_string();
        let row = dtypes.entry(name.clone()).or_insert(DtypeRow {
            dtype: name,
            tensors: 0,
            elements: 0,
            bytes: 0,
        });
        row.tensors = row
            .tensors
            .checked_add(1)
            .ok_or_else(|| impossible("a dtype's tensors"))?;
        row.elements = row
            .elements
            .checked_add(t.tensor.elements)
            .ok_or_else(|| impossible("a dtype's elements"))?;
        row.bytes = row
            .bytes
            .checked_add(t.tensor.bytes)
            .ok_or_else(|| impossible("a dtype's bytes"))?;
    }
    let mut dtypes: Vec<DtypeRow> = dtypes.into_values().collect();
    dtypes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.dtype.cmp(&b.dtype)));

    if let Some(index) = &checkpoint.index {
        if let Some(declared) = index.total_parameters {
            if declared != totals.parameters && declared != totals.stored_elements {
                notes.push(format!(
                    "{}: metadata.total_parameters says {declared}, but the shards hold {} parameters ({} elements with buffers)",
                    index.path.display(),
                    totals.parameters,
                    totals.stored_elements
                ));
            }
        }
    }

    let mut findings = Vec::new();
    let mut formula_report = None;
    let mut differences = None;
    let mut ladder = Vec::new();
    let mut heads = Vec::new();
    for h in HeadKind::ALL {
        let mine: Vec<&Classified> = tensors
            .iter()
            .filter(|t| t.class.component == Some(Component::Head(h)))
            .collect();
        if !mine.is_empty() {
            heads.push(HeadRow {
                head: h,
                tensors: count::len(mine.len()),
                parameters: count::sum(mine.iter().map(|t| t.tensor.elements))
                    .ok_or_else(|| impossible("a head's parameters"))?,
                expected: None,
            });
        }
    }

    if let Some(f) = formula {
        findings = match_tensors(tensors, f);
        // The formula's own figures are bounded by its dimension limits; checked anyway.
        let sum = |pred: &dyn Fn(&crate::formula::ExpectedTensor) -> bool| -> Result<u64> {
            count::sum(
                f.expected
                    .tensors
                    .iter()
                    .filter(|e| pred(e))
                    .map(|e| e.elements),
            )
            .ok_or_else(|| impossible("the formula's total"))
        };
        let expected_total = sum(&|_| true)?;
        for b in Bucket::ALL {
            let expected = sum(&|e| e.bucket == b)?;
            let row = buckets.get_mut(b);
            row.expected = Some(expected);
            row.difference = Some(difference(row.parameters, expected));
        }
        for h in &mut heads {
            h.expected = Some(sum(&|e| e.component == Component::Head(h.head))?);
        }
        let stored_keys: HashSet<&str> = tensors
            .iter()
            .filter_map(|t| t.class.key.as_deref())
            .collect();
        let d = Differences {
            biases: sum(&|e| {
                e.component == Component::Layer
                    && e.role == Role::Bias
                    && e.bucket != Bucket::LayerNorm
            })?,
            pooler: sum(&|e| e.component == Component::Pooler)?,
            heads: sum(&|e| matches!(e.component, Component::Head(_)))?,
            tied_not_stored: count::sum(
                f.expected
                    .tied
                    .iter()
                    .filter(|e| !stored_keys.contains(e.key.as_str()))
                    .map(|e| e.elements),
            )
            .ok_or_else(|| impossible("the tied total"))?,
            buffers,
            unexplained: difference(parameters, expected_total),
        };
        ladder = build_ladder(f, &d, parameters, tensors);
        differences = Some(d);
        formula_report = Some(FormulaReport {
            family: f.family.to_string(),
            dims: f.dims,
            dims_source: f.source.clone(),
            weights_only: f.derivation.weights_only,
            expected_total,
            components: f.components.clone(),
            derivation: f.derivation.clone(),
        });
        if let Some(c) = config {
            claims_note(c, f, &mut notes);
        }
    }

    let mut rows: Vec<TensorRow> = tensors
        .iter()
        .map(|t| TensorRow {
            name: t.tensor.name.clone(),
            file: checkpoint
                .files
                .get(t.tensor.file)
                .map(|f| crate::source::file_name(&f.path))
                .unwrap_or_default(),
            bucket: t.class.bucket,
            role: t.class.role,
            dtype: t.tensor.dtype.to_string(),
            shape: t.tensor.shape.clone(),
            elements: t.tensor.elements,
            bytes: t.tensor.bytes,
        })
        .collect();
    rows.sort_by(|a, b| count::natural_cmp(&a.name, &b.name));

    Ok(Report {
        schema_version: SCHEMA_VERSION,
        source: SourceReport {
            spec: spec.to_string(),
            layout: if checkpoint.index.is_some() {
                "sharded"
            } else {
                "single"
            }
            .to_string(),
            files: checkpoint
                .files
                .iter()
                .map(|f| FileReport {
                    path: f.path.display().to_string(),
                    bytes: f.file_bytes,
                    header_bytes: f.header_bytes,
                    tensors: f.tensors,
                })
                .collect(),
            index: checkpoint
                .index
                .as_ref()
                .map(|i| i.path.display().to_string()),
            config: config.map(|c| c.path.display().to_string()),
            header_only: checkpoint.header_only,
        },
        totals,
        buckets,
        dtypes,
        memory,
        heads,
        formula: formula_report,
        differences,
        ladder,
        findings,
        notes,
        tensors: rows,
    })
}

fn build_ladder(
    f: &Formula,
    d: &Differences,
    parameters: u64,
    tensors: &[Classified],
) -> Vec<LadderRow> {
    let mut rows = Vec::new();
    let mut total = 0i128;
    let mut push = |step: String, parameters: i128, counted: bool| {
        if counted {
            total += parameters;
        }
        rows.push(LadderRow {
            step,
            parameters,
            counted,
            total,
        });
    };
    push(
        "hand derivation, weights only".into(),
        signed(f.derivation.weights_only),
        true,
    );
    push(
        "+ linear biases (attention, FFN)".into(),
        signed(d.biases),
        true,
    );
    push("+ pooler".into(), signed(d.pooler), true);
    let head_names: Vec<&str> = f
        .components
        .iter()
        .filter_map(|c| match c {
            Component::Head(h) => Some(h.name()),
            _ => None,
        })
        .collect();
    let heads = if head_names.is_empty() {
        "+ heads (none stored)".to_string()
    } else {
        format!("+ heads ({})", head_names.join(", "))
    };
    push(heads, signed(d.heads), true);
    if !f.expected.tied.is_empty() {
        let keys: Vec<&str> = f.expected.tied.iter().map(|e| e.key.as_str()).collect();
        push(
            format!("  tied, not stored: {}", keys.join(", ")),
            signed(d.tied_not_stored),
            false,
        );
    }
    let buffer_count = tensors
        .iter()
        .filter(|t| t.class.role == Role::Buffer)
        .count();
    push(
        format!(
            "  buffers, not parameters ({buffer_count} tensor{})",
            if buffer_count == 1 { "" } else { "s" }
        ),
        signed(d.buffers),
        false,
    );
    push("+ unexplained".into(), d.unexplained, true);
    push("= stored parameters".into(), signed(parameters), false);
    rows
}

fn claims_note(c: &ModelConfig, f: &Formula, notes: &mut Vec<String>) {
    for arch in &c.architectures {
        let Some((_, claimed)) = CLAIMS.iter().find(|(name, _)| name == arch) else {
            continue;
        };
        let mut claimed: Vec<Component> = claimed.to_vec();
        claimed.sort();
        if claimed != f.components {
            let stored: Vec<&str> = f.components.iter().map(|&c| component_name(c)).collect();
            let stored = if stored.is_empty() {
                "no pooler and no head".to_string()
            } else {
                stored.join(", ")
            };
            notes.push(format!(
                "config.json claims {arch}, but the file stores {stored} beyond the encoder: counted as stored"
            ));
        }
    }
}

/// Match stored tensors to expected ones by canonical key; every difference becomes a
/// finding. Findings add up to `unexplained`.
fn match_tensors(tensors: &[Classified], f: &Formula) -> Vec<Finding> {
    let mut findings = Vec::new();
    let expected: BTreeMap<&str, &crate::formula::ExpectedTensor> = f
        .expected
        .tensors
        .iter()
        .chain(&f.expected.buffers)
        .map(|e| (e.key.as_str(), e))
        .collect();
    let tied: HashSet<&str> = f.expected.tied.iter().map(|e| e.key.as_str()).collect();
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for t in tensors {
        let is_parameter = t.class.role != Role::Buffer;
        let stored = if is_parameter {
            signed(t.tensor.elements)
        } else {
            0
        };
        let unexpected = |detail: String| Finding {
            kind: FindingKind::Unexpected,
            tensor: t.tensor.name.clone(),
            bucket: t.class.bucket,
            parameters: stored,
            detail,
        };
        let Some(key) = t.class.key.as_deref() else {
            if is_parameter {
                findings.push(unexpected("no rule recognises this name".to_string()));
            }
            continue;
        };
        if let Some(first) = seen.get(key) {
            findings.push(unexpected(format!(
                "a second tensor for `{key}` (first: `{first}`)"
            )));
            continue;
        }
        seen.insert(key, &t.tensor.name);
        match expected.get(key) {
            Some(e) => {
                if e.shape != t.tensor.shape {
                    findings.push(Finding {
                        kind: FindingKind::ShapeMismatch,
                        tensor: t.tensor.name.clone(),
                        bucket: t.class.bucket,
                        parameters: if is_parameter { stored - signed(e.elements) } else { 0 },
                        detail: format!("shape {:?}, the config implies {:?}", t.tensor.shape, e.shape),
                    });
                }
            }
            None if tied.contains(key) => findings.push(unexpected(
                "tied to embeddings.word_embeddings.weight (tie_word_embeddings), yet stored as a separate tensor".to_string(),
            )),
            None if key == DECODER_BIAS => findings.push(unexpected(
                "a second copy of cls.predictions.bias, to which transformers ties it".to_string(),
            )),
            None if key == DECODER_WEIGHT => findings.push(unexpected("not expected".to_string())),
            None if !is_parameter => {}
            None => {
                let detail = match t.class.layer {
                    Some(l) if l >= f.dims.num_hidden_layers => format!(
                        "layer {l}, but the config has {} layers",
                        f.dims.num_hidden_layers
                    ),
                    _ => "not expected by the formula".to_string(),
                };
                findings.push(unexpected(detail));
            }
        }
    }
    for e in &f.expected.tensors {
        if !seen.contains_key(e.key.as_str()) {
            findings.push(Finding {
                kind: FindingKind::Missing,
                tensor: e.key.clone(),
                bucket: e.bucket,
                parameters: -signed(e.elements),
                detail: format!("expected with shape {:?}, not stored", e.shape),
            });
        }
    }
    findings
}
