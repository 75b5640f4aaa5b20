//! Put what is stored next to what the formula expects and itemise the difference, the
//! same way for every family.
//!
//! Stored tensors are matched to expected ones by canonical key. Every parameter of the
//! gap lands in exactly one finding (missing, unexpected, wrong shape), so the findings
//! add up to `differences.unexplained`. The ladder climbs from the family's hand
//! derivation to the stored total through the steps the family declares.

use std::collections::BTreeMap;

use crate::fastmap::Map;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::classify::{Bucket, Classified, Role};
use crate::count::{self, difference, signed};
use crate::error::{Error, Result};
use crate::family::compiled::Expanded;
use crate::family::{Derivation, Family, Row, RowKind, Step};
use crate::formula::{DimsSource, Formula, ModelConfig};

/// Version of every JSON document's layout (inspect, check, diff, verify, formula);
/// bumped on any incompatible change. 3: families (buckets `norm`, `router`,
/// `routed_experts`, `shared_experts`; `differences` keyed by ladder step; `heads[].head`
/// a part name; `formula.parts`) and formats (`source.files[].format`; the
/// `quantization` bucket and `overhead` role; `totals.overhead`; `memory.overhead_bytes`
/// and `bits_per_weight`; `tensors[].stored_as` / `stored_elements` when they differ).
pub const SCHEMA_VERSION: u32 = 3;

/// The whole report: every figure the renderers show, computed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of this JSON layout.
    pub schema_version: u32,
    /// What was read.
    pub source: SourceReport,
    /// The family the tensors were classified with (`null` when none recognises them).
    pub family: Option<FamilyReport>,
    /// Whole-checkpoint totals.
    pub totals: Totals,
    /// Per-bucket figures, every bucket present.
    pub buckets: BTreeMap<Bucket, BucketRow>,
    /// Per-dtype totals, largest first.
    pub dtypes: Vec<DtypeRow>,
    /// What the parameters take in memory, as stored and at common precisions.
    pub memory: Memory,
    /// Heads stored, by part name.
    pub heads: Vec<HeadRow>,
    /// The formula, when the family's dimensions are known (`null` otherwise).
    pub formula: Option<FormulaReport>,
    /// The gap between the hand derivation and the stored total (`null` without formula).
    pub differences: Option<Differences>,
    /// The ladder from the hand derivation to the stored total, one row per cause.
    pub ladder: Vec<LadderRow>,
    /// Each tensor-level reason for a non-zero `unexplained`; they add up to it.
    pub findings: Vec<Finding>,
    /// Remarks that change no figure (inferred dimensions, advisory index values...).
    pub notes: Vec<String>,
    /// Every tensor, in natural name order.
    pub tensors: Vec<TensorRow>,
}

/// Where the checkpoint came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// What the user asked for (a path or a Hub id).
    pub spec: String,
    /// `single` or `sharded`.
    pub layout: String,
    /// The files read.
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
    /// Container format: `safetensors`, `gguf` or `pytorch`.
    #[serde(default = "safetensors_format")]
    pub format: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// Header length.
    pub header_bytes: u64,
    /// Tensors in this file.
    pub tensors: usize,
}

/// Reports written before formats were named read only safetensors.
fn safetensors_format() -> String {
    "safetensors".to_string()
}

/// How the family was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectedBy {
    /// `model_type` in config.json.
    Config,
    /// `--family`.
    Flag,
    /// The family whose rules explain the most tensors.
    Tensors,
}

/// The family used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyReport {
    /// Name (`bert`).
    pub name: String,
    /// Display name (`BERT`).
    pub title: String,
    /// How it was chosen.
    pub selected_by: SelectedBy,
    /// The norm it uses (`LayerNorm`, `RMSNorm`).
    pub norm: String,
    /// Tensors its rules recognise.
    pub recognised: u64,
}

/// Whole-checkpoint totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Parameters, each stored tensor counted once, buffers excluded.
    pub parameters: u64,
    /// Elements of buffer tensors (not parameters).
    pub buffers: u64,
    /// Elements of quantization overhead tensors: scales, zero points, group indices
    /// (not parameters).
    #[serde(default)]
    pub overhead: u64,
    /// Every element physically stored, buffers and overhead included, packed weights as
    /// stored (what "sum of stored elements" tools print).
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Bytes of the parameter tensors at their stored dtypes (packed quantized weights
    /// as packed, GGUF blocks with their in-block scales).
    pub stored_bytes: u64,
    /// Bytes of the quantization overhead tensors (scales, zero points, group indices).
    #[serde(default)]
    pub overhead_bytes: u64,
    /// Bits per parameter as stored: (stored + overhead bytes) · 8 / parameters, to two
    /// decimals (`null` without parameters).
    #[serde(default)]
    pub bits_per_weight: Option<f64>,
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
    fn of(parameters: u64, stored_bytes: u64, overhead_bytes: u64) -> Option<Memory> {
        let bits = u128::from(stored_bytes.checked_add(overhead_bytes)?) * 8;
        Some(Memory {
            stored_bytes,
            overhead_bytes,
            bits_per_weight: (parameters > 0)
                .then(|| (bits as f64 / parameters as f64 * 100.0).round() / 100.0),
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
    /// Of which weights (matrices, embedding tables, norm weights).
    pub weights: u64,
    /// Of which biases (and LayerNorm beta).
    pub biases: u64,
    /// Buffer elements (only the `buffer` bucket has any).
    pub buffers: u64,
    /// Quantization overhead elements: scales, zero points, group indices (only the
    /// `quantization` bucket has any).
    #[serde(default)]
    pub overhead: u64,
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
            Role::Overhead => &mut self.overhead,
        };
        *role = role.checked_add(n)?;
        if t.class.role.is_parameter() {
            self.parameters = self.parameters.checked_add(n)?;
        }
        self.tensors = self.tensors.checked_add(1)?;
        self.bytes = self.bytes.checked_add(t.tensor.bytes)?;
        Some(())
    }
}

/// Totals for one dtype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DtypeRow {
    /// Dtype name as in the header (`F32`, `BF16`...).
    pub dtype: String,
    /// Tensors.
    pub tensors: u64,
    /// Elements as stored (buffers and overhead included, packed weights as packed).
    pub elements: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One stored head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRow {
    /// The head's part name (`masked_lm`, `lm_head`, `classifier`...).
    pub head: String,
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
    /// Family name.
    pub family: String,
    /// Dimensions used, by config key.
    pub dims: BTreeMap<String, serde_json::Value>,
    /// The dimensions on one line (`L=12 H=768 ...`).
    pub dims_line: String,
    /// Where they came from.
    pub dims_source: DimsSource,
    /// The hand derivation: the family's classic count (BERT: weights only).
    pub weights_only: u64,
    /// Exactly what should be stored for the parts present, tied weights once.
    pub expected_total: u64,
    /// What transformers' `num_parameters()` reports for the model these tensors make:
    /// the expected stored parameters, plus what it counts that the file omits
    /// (`not_stored`), minus layers stored past the model's own (`extra_layers`).
    pub num_parameters: u64,
    /// Parameters one token uses.
    pub active: Active,
    /// Parts beyond the backbone found in the file (pooler, heads).
    pub parts: Vec<String>,
    /// The derivation step by step.
    pub derivation: Derivation,
}

/// Parameters one token uses, with the definition applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    /// The count.
    pub parameters: u64,
    /// How it was computed.
    pub definition: String,
}

/// Active parameters from the expected tensors: all of them for a dense family; for a
/// mixture of experts, `num_parameters` minus the routed experts a token does not use.
fn active_of(x: &Expect, num_parameters: u64, s: &Sums) -> Result<Active> {
    let f = x.formula;
    let Some(moe) = f.family.moe else {
        return Ok(Active {
            parameters: num_parameters,
            definition: "dense: every parameter is used for every token".to_string(),
        });
    };
    let routed = x.counted(s, "the routed experts", |row| {
        row.bucket == Bucket::RoutedExperts && row.step != Some(Step::ExtraLayers)
    })?;
    let (experts, per_token) = (f.dims.v(moe.experts), f.dims.v(moe.per_token));
    let parameters = crate::family::active_parameters(num_parameters, routed, experts, per_token)
        .ok_or_else(|| s.impossible("the active parameters"))?;
    Ok(Active {
        parameters,
        definition: format!(
            "total minus the routed experts a token does not use: {} routed-expert parameters · ({experts} - {per_token}) / {experts} (E = {experts} routed experts per MoE layer, k = {per_token} per token); shared experts, routers, attention, embeddings and head always count; layers past the model's own (multi-token prediction) and buffers excluded",
            crate::render::count(routed)
        ),
    })
}

/// The gap from the hand derivation to the stored total, item by item: every ladder step
/// of every family (0 where a family has none), then what stays unexplained. Counted
/// steps add up from the hand derivation to the stored parameters; `tied_not_stored`,
/// `not_stored` and `buffers` are explained, not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Differences {
    /// Linear biases the hand derivation leaves out.
    pub biases: i128,
    /// Norm parameters it leaves out.
    pub norms: i128,
    /// Relative-position tables and other position parameters outside it.
    pub position_tables: i128,
    /// Layers stored once for several depths (negative).
    pub shared_layers: i128,
    /// The pooler.
    pub pooler: i128,
    /// Heads stored.
    pub heads: i128,
    /// Layers stored past the model's own (multi-token prediction).
    pub extra_layers: i128,
    /// Tied tensors expected and not stored.
    pub tied_not_stored: i128,
    /// Tensors transformers counts that the file does not store.
    pub not_stored: i128,
    /// Buffer elements stored.
    pub buffers: i128,
    /// Stored parameters minus what the formula explains; 0 when file and config agree.
    pub unexplained: i128,
}

impl Differences {
    fn slot(&mut self, step: Step) -> &mut i128 {
        match step {
            Step::Biases => &mut self.biases,
            Step::Norms => &mut self.norms,
            Step::PositionTables => &mut self.position_tables,
            Step::SharedLayers => &mut self.shared_layers,
            Step::Pooler => &mut self.pooler,
            Step::Heads => &mut self.heads,
            Step::ExtraLayers => &mut self.extra_layers,
            Step::TiedNotStored => &mut self.tied_not_stored,
            Step::NotStored => &mut self.not_stored,
            Step::Buffers => &mut self.buffers,
        }
    }

    /// The count of `step`.
    pub fn get(&self, step: Step) -> i128 {
        let mut copy = *self;
        *copy.slot(step)
    }

    /// Add to the count of `step`.
    pub fn add(&mut self, step: Step, n: i128) {
        *self.slot(step) += n;
    }
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LadderRow {
    /// `hand_derivation`, a step key, `unexplained` or `stored`.
    pub key: String,
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

/// One tensor. The file and dtype names are shared by every row that has them (tens of
/// thousands of rows name a few files and dtypes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorRow {
    /// Name as stored.
    pub name: String,
    /// File holding it (file name only).
    pub file: Arc<str>,
    /// Bucket.
    pub bucket: Bucket,
    /// Role.
    pub role: Role,
    /// Dtype.
    pub dtype: Arc<str>,
    /// Shape.
    pub shape: Vec<u64>,
    /// Elements (logical: a packed quantized weight counts the weights it holds).
    pub elements: u64,
    /// Elements physically stored, when they differ from `elements` (packed weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_elements: Option<u64>,
    /// The stored name or form, when the reader translated it (a GGUF name, one expert of
    /// a stacked tensor, a packed quantized weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
    /// Bytes.
    pub bytes: u64,
}

/// The family chosen for a checkpoint, and how.
#[derive(Debug, Clone, Copy)]
pub struct Chosen {
    /// The family.
    pub family: &'static Family,
    /// How it was chosen.
    pub by: SelectedBy,
}

/// Everything reconcile needs, produced by the earlier stages.
pub struct Inputs<'a> {
    /// What the user asked for.
    pub spec: &'a str,
    /// The opened checkpoint (files and index; its tensors are in `tensors`).
    pub checkpoint: &'a Checkpoint,
    /// Classified tensors (moved into the report's rows).
    pub tensors: Vec<Classified>,
    /// The family, if one was chosen.
    pub family: Option<Chosen>,
    /// The config, if any.
    pub config: Option<&'a ModelConfig>,
    /// The formula, if one applies.
    pub formula: Option<&'a Formula>,
    /// Notes gathered so far.
    pub notes: Vec<String>,
}

/// Checked sums for one report, failing with the checkpoint named.
struct Sums<'a> {
    spec: &'a str,
}

impl Sums<'_> {
    fn impossible(&self, what: &str) -> Error {
        Error::Impossible {
            path: PathBuf::from(self.spec),
            message: format!("{what} exceeds 2^64: the header's shapes cannot be real"),
        }
    }

    fn sum(&self, what: &str, values: impl IntoIterator<Item = u64>) -> Result<u64> {
        count::sum(values).ok_or_else(|| self.impossible(what))
    }
}

/// What the stored tensors add up to, before any formula.
struct Summary {
    buckets: BTreeMap<Bucket, BucketRow>,
    totals: Totals,
    memory: Memory,
    dtypes: Vec<DtypeRow>,
    heads: Vec<HeadRow>,
}

fn summary_of(tensors: &[Classified], checkpoint: &Checkpoint, s: &Sums) -> Result<Summary> {
    let buckets = buckets_of(tensors, s)?;
    let (totals, memory) = totals_of(tensors, &buckets, checkpoint, s)?;
    Ok(Summary {
        dtypes: dtypes_of(tensors, s)?,
        heads: heads_of(tensors, s)?,
        buckets,
        totals,
        memory,
    })
}

fn buckets_of(tensors: &[Classified], s: &Sums) -> Result<BTreeMap<Bucket, BucketRow>> {
    let mut buckets: BTreeMap<Bucket, BucketRow> = Bucket::ALL
        .iter()
        .map(|&b| (b, BucketRow::default()))
        .collect();
    for t in tensors {
        let row = buckets.entry(t.class.bucket).or_default();
        row.add(t).ok_or_else(|| {
            s.impossible(&format!("the {} bucket's total", t.class.bucket.name()))
        })?;
    }
    Ok(buckets)
}

fn totals_of(
    tensors: &[Classified],
    buckets: &BTreeMap<Bucket, BucketRow>,
    checkpoint: &Checkpoint,
    s: &Sums,
) -> Result<(Totals, Memory)> {
    let parameters = s.sum(
        "the parameter total",
        buckets.values().map(|b| b.parameters),
    )?;
    let buffers = s.sum("the buffer total", buckets.values().map(|b| b.buffers))?;
    let overhead = s.sum("the overhead total", buckets.values().map(|b| b.overhead))?;
    let overhead_bytes = s.sum(
        "the overhead bytes",
        tensors
            .iter()
            .filter(|t| t.class.role == Role::Overhead)
            .map(|t| t.tensor.bytes),
    )?;
    let parameter_bytes = s.sum(
        "the parameter bytes",
        tensors
            .iter()
            .filter(|t| t.class.role.is_parameter())
            .map(|t| t.tensor.bytes),
    )?;
    let totals = Totals {
        parameters,
        buffers,
        overhead,
        stored_elements: s.sum(
            "the stored elements",
            tensors.iter().map(|t| t.tensor.stored_elements),
        )?,
        tensors: count::len(tensors.len()),
        bytes: s.sum("the tensor bytes", tensors.iter().map(|t| t.tensor.bytes))?,
        file_bytes: s.sum(
            "the file sizes",
            checkpoint.files.iter().map(|f| f.file_bytes),
        )?,
    };
    let memory = Memory::of(parameters, parameter_bytes, overhead_bytes)
        .ok_or_else(|| s.impossible("the fp32 footprint"))?;
    Ok((totals, memory))
}

fn dtypes_of(tensors: &[Classified], s: &Sums) -> Result<Vec<DtypeRow>> {
    // One row per dtype name; each dtype value (a few) finds its row once.
    let mut dtypes: Vec<DtypeRow> = Vec::new();
    let mut row_of: Vec<(crate::dtype::DType, usize)> = Vec::new();
    for t in tensors {
        let dtype = t.tensor.dtype;
        let slot = match row_of.iter().find(|(d, _)| *d == dtype) {
            Some(&(_, slot)) => slot,
            None => {
                let name = dtype.to_string();
                let slot = match dtypes.iter().position(|r| r.dtype == name) {
                    Some(slot) => slot,
                    None => {
                        dtypes.push(DtypeRow {
                            dtype: name,
                            tensors: 0,
                            elements: 0,
                            bytes: 0,
                        });
                        dtypes.len() - 1
                    }
                };
                row_of.push((dtype, slot));
                slot
            }
        };
        let row = &mut dtypes[slot];
        row.tensors = row
            .tensors
            .checked_add(1)
            .ok_or_else(|| s.impossible("a dtype's tensors"))?;
        row.elements = row
            .elements
            .checked_add(t.tensor.stored_elements)
            .ok_or_else(|| s.impossible("a dtype's elements"))?;
        row.bytes = row
            .bytes
            .checked_add(t.tensor.bytes)
            .ok_or_else(|| s.impossible("a dtype's bytes"))?;
    }
    dtypes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.dtype.cmp(&b.dtype)));
    Ok(dtypes)
}

fn heads_of(tensors: &[Classified], s: &Sums) -> Result<Vec<HeadRow>> {
    let mut heads: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for t in tensors {
        match t.class.part {
            Some(p) if Family::is_head(p) && t.class.role.is_parameter() => {
                let e = heads.entry(p).or_default();
                e.0 += 1;
                e.1 =
                    e.1.checked_add(t.tensor.elements)
                        .ok_or_else(|| s.impossible("a head's parameters"))?;
            }
            _ => {}
        }
    }
    Ok(heads
        .into_iter()
        .map(|(head, (tensors, parameters))| HeadRow {
            head: head.to_string(),
            tensors,
            parameters,
            expected: None,
        })
        .collect())
}

/// The row behind an expected tensor.
fn row_of(f: &Formula, e: &Expanded) -> &'static Row {
    f.family.compiled().rows[e.row].row
}

/// Which expected tensors count toward what should be stored: parameters that are not
/// tied, and tensors transformers counts but may omit, and layers past the model's own
/// (`extra_layers`), when the file has them (`stored`).
fn counts_as_stored(row: &Row, e: &Expanded, stored: bool) -> bool {
    match row.kind {
        _ if is_extra_layer(row) => !e.tied && stored,
        RowKind::Param | RowKind::Tied { .. } | RowKind::Alias { .. } => !e.tied,
        RowKind::MaybeStored => stored,
        RowKind::Buffer => false,
    }
}

/// The stored tensors by canonical key: the first to have each key, and every later one
/// with the key of an earlier one.
struct StoredKeys<'t> {
    /// Key -> index of the first tensor with it.
    first: Map<&'t str, usize>,
    /// `(tensor, first tensor with its key)`, in tensor order.
    repeats: Vec<(usize, usize)>,
}

impl<'t> StoredKeys<'t> {
    fn of(tensors: &'t [Classified]) -> StoredKeys<'t> {
        use std::collections::hash_map::Entry;
        let mut first: Map<&str, usize> =
            Map::with_capacity_and_hasher(tensors.len(), Default::default());
        let mut repeats = Vec::new();
        for (i, t) in tensors.iter().enumerate() {
            if let Some(key) = t.class.key.as_deref() {
                match first.entry(key) {
                    Entry::Occupied(o) => repeats.push((i, *o.get())),
                    Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
            }
        }
        StoredKeys { first, repeats }
    }
}

/// The expected tensors with what the stored ones say of them, worked out once: each
/// one's row, the stored tensor holding its key, and whether it counts toward what
/// should be stored.
struct Expect<'f> {
    formula: &'f Formula,
    rows: Vec<&'static Row>,
    /// Index of the (first) stored tensor with the expected key.
    holder: Vec<Option<usize>>,
    counts: Vec<bool>,
}

impl<'f> Expect<'f> {
    fn of(f: &'f Formula, keys: &StoredKeys) -> Expect<'f> {
        let rows: Vec<&'static Row> = f.expected.iter().map(|e| row_of(f, e)).collect();
        // A hash lookup per expected tensor, on every core for large models.
        let find = |e: &Expanded| keys.first.get(e.key.as_str()).copied();
        let holder: Vec<Option<usize>> = if f.expected.len() >= crate::classify::PARALLEL_FROM {
            use rayon::prelude::*;
            f.expected.par_iter().map(find).collect()
        } else {
            f.expected.iter().map(find).collect()
        };
        let counts = f
            .expected
            .iter()
            .zip(&rows)
            .zip(&holder)
            .map(|((e, row), h)| counts_as_stored(row, e, h.is_some()))
            .collect();
        Expect {
            formula: f,
            rows,
            holder,
            counts,
        }
    }

    /// Each expected tensor with its row, whether it is stored and whether it counts.
    fn each(&self) -> impl Iterator<Item = (&'f Expanded, &'static Row, bool, bool)> + '_ {
        self.formula
            .expected
            .iter()
            .zip(&self.rows)
            .zip(self.holder.iter().zip(&self.counts))
            .map(|((e, row), (h, c))| (e, *row, h.is_some(), *c))
    }

    /// The sum of the counted expected tensors that `pick` selects.
    fn counted(&self, s: &Sums, what: &str, pick: impl Fn(&Row) -> bool) -> Result<u64> {
        s.sum(
            what,
            self.each()
                .filter(|&(_, row, _, counts)| counts && pick(row))
                .map(|(e, ..)| e.elements),
        )
    }
}

/// A parameter of a layer stored past the model's own (DeepSeek's multi-token
/// prediction): transformers neither builds nor counts it, so a file may or may not have
/// it; stored, it is the `extra_layers` step, absent, nothing.
fn is_extra_layer(row: &crate::family::Row) -> bool {
    row.step == Some(Step::ExtraLayers) && row.kind != RowKind::Buffer
}

/// The ladder steps' counts from the expected tensors.
fn step_counts(x: &Expect, buffers: u64, s: &Sums) -> Result<(Differences, u64, i128)> {
    let f = x.formula;
    let mut steps = Differences::default();
    let mut expected_total = 0u64;
    let mut base = 0i128;
    for (e, row, stored, counts) in x.each() {
        let n = signed(e.elements);
        if counts {
            expected_total = expected_total
                .checked_add(e.elements)
                .ok_or_else(|| s.impossible("the formula's total"))?;
            match row.step {
                Some(step) => steps.add(step, n),
                None => base += n,
            }
        } else if e.tied && !e.alias && !stored {
            steps.add(Step::TiedNotStored, n);
        } else if row.kind == RowKind::MaybeStored {
            steps.add(Step::NotStored, n);
        }
    }
    // Layers stored once for several depths (ALBERT): the table holds what is stored, the
    // hand derivation counts every depth; the difference is the step.
    steps.shared_layers = base - signed(f.derivation.weights_only);
    steps.buffers = signed(buffers);
    Ok((steps, expected_total, base))
}

/// The ladder rows, in the family's order.
fn ladder_rows(
    x: &Expect,
    d: &Differences,
    parameters: u64,
    tensors: &[Classified],
) -> Vec<LadderRow> {
    let f = x.formula;
    let mut rows = Vec::new();
    let mut total = 0i128;
    let mut push = |key: &str, step: String, parameters: i128, counted: bool| {
        if counted {
            total += parameters;
        }
        rows.push(LadderRow {
            key: key.to_string(),
            step,
            parameters,
            counted,
            total,
        });
    };
    push(
        "hand_derivation",
        "hand derivation, weights only".to_string(),
        signed(f.derivation.weights_only),
        true,
    );
    let declared: Vec<Step> = f.family.ladder.iter().map(|(s, _)| *s).collect();
    for (step, label) in f.family.ladder {
        let value = d.get(*step);
        let text = match step {
            Step::Heads => {
                let heads: Vec<&str> = f
                    .parts
                    .iter()
                    .copied()
                    .filter(|p| Family::is_head(p))
                    .collect();
                if heads.is_empty() {
                    format!("+ {label} (none stored)")
                } else {
                    format!("+ {label} ({})", heads.join(", "))
                }
            }
            Step::TiedNotStored | Step::NotStored => {
                let keys: Vec<&str> = x
                    .each()
                    .filter(|&(e, row, stored, _)| {
                        if *step == Step::TiedNotStored {
                            e.tied && !e.alias && !stored
                        } else {
                            row.kind == RowKind::MaybeStored && !stored
                        }
                    })
                    .map(|(e, ..)| e.key.as_str())
                    .collect();
                if keys.is_empty() {
                    continue;
                }
                format!("  {label}: {}", abbreviate(&keys))
            }
            Step::Buffers => {
                let n = count::len(
                    tensors
                        .iter()
                        .filter(|t| t.class.role == Role::Buffer)
                        .count(),
                );
                format!("  {label} ({})", crate::render::plural(n, "tensor"))
            }
            _ => format!("+ {label}"),
        };
        push(step.key(), text, value, step.counted());
    }
    let shared = d.get(Step::SharedLayers);
    if !declared.contains(&Step::SharedLayers) && shared != 0 {
        push(
            Step::SharedLayers.key(),
            "+ table vs closed form (a family bug: please report)".to_string(),
            shared,
            true,
        );
    }
    push("unexplained", "+ unexplained".into(), d.unexplained, true);
    push(
        "stored",
        "= stored parameters".into(),
        signed(parameters),
        false,
    );
    rows
}

/// A list of keys, shortened when long: the first three and how many more.
fn abbreviate(keys: &[&str]) -> String {
    if keys.len() <= 4 {
        keys.join(", ")
    } else {
        format!("{}, ... ({} in all)", keys[..3].join(", "), keys.len())
    }
}

/// Build the report. Counts that would exceed 64 bits (possible only in a crafted header)
/// are an [`Error::Impossible`], never a wrapped figure.
pub fn reconcile(input: Inputs<'_>) -> Result<Report> {
    let Inputs {
        spec,
        checkpoint,
        tensors,
        family,
        config,
        formula,
        mut notes,
    } = input;
    let s = Sums { spec };
    notes.extend(checkpoint.warnings.iter().cloned());
    if checkpoint.header_only {
        notes.push(
            "header only: the weights were not read; sizes are checked against the declared file sizes, contents and hashes are not"
                .to_string(),
        );
    }
    // The sums and the map of stored keys each read every tensor: side by side.
    let summary = || summary_of(&tensors, checkpoint, &s);
    let keys = || formula.map(|_| StoredKeys::of(&tensors));
    let (summary, keys) = if tensors.len() >= crate::classify::PARALLEL_FROM {
        rayon::join(summary, keys)
    } else {
        (summary(), keys())
    };
    let Summary {
        mut buckets,
        totals,
        memory,
        dtypes,
        mut heads,
    } = summary?;
    index_notes(checkpoint, &totals, &mut notes);

    let mut findings = Vec::new();
    let mut formula_report = None;
    let mut differences = None;
    let mut ladder = Vec::new();
    if let (Some(f), Some(keys)) = (formula, keys) {
        let x = Expect::of(f, &keys);
        findings = match_tensors(&tensors, &keys, &x);
        let (mut d, expected_total, _) = step_counts(&x, totals.buffers, &s)?;
        expected_by_bucket(&x, &mut buckets, &s)?;
        for h in &mut heads {
            h.expected = Some(x.counted(&s, "a head's expected total", |row| row.part == h.head)?);
        }
        d.unexplained = difference(totals.parameters, expected_total);
        let model_total = signed(expected_total) - d.extra_layers + d.not_stored;
        let num_parameters =
            u64::try_from(model_total).map_err(|_| s.impossible("the model's parameter count"))?;
        let active = active_of(&x, num_parameters, &s)?;
        ladder = ladder_rows(&x, &d, totals.parameters, &tensors);
        differences = Some(d);
        formula_report = Some(FormulaReport {
            family: f.family.name.to_string(),
            dims: crate::formula::dims_map(f.family, &f.dims),
            dims_line: f.dims.line(f.family),
            dims_source: f.source.clone(),
            weights_only: f.derivation.weights_only,
            expected_total,
            num_parameters,
            active,
            parts: f.parts.iter().map(|p| p.to_string()).collect(),
            derivation: f.derivation.clone(),
        });
        if let Some(c) = config {
            claims_note(c, f, &mut notes);
        }
    }

    let family = family.map(|c| FamilyReport {
        name: c.family.name.to_string(),
        title: c.family.title.to_string(),
        selected_by: c.by,
        norm: c.family.norm.name().to_string(),
        recognised: count::len(tensors.iter().filter(|t| t.class.row.is_some()).count()),
    });
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        source: source_report(spec, checkpoint, config),
        family,
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
        tensors: tensor_rows(tensors, checkpoint),
    })
}

/// Each formula bucket's expected parameters, and its difference from what is stored.
fn expected_by_bucket(
    x: &Expect,
    buckets: &mut BTreeMap<Bucket, BucketRow>,
    s: &Sums,
) -> Result<()> {
    let mut sums: BTreeMap<Bucket, Option<u64>> = BTreeMap::new();
    for (e, row, _, counts) in x.each() {
        let sum = sums.entry(row.bucket).or_insert(Some(0));
        if counts {
            *sum = sum.and_then(|n| n.checked_add(e.elements));
        }
    }
    for (b, row) in buckets.iter_mut() {
        let expected = sums
            .get(b)
            .copied()
            .unwrap_or(Some(0))
            .ok_or_else(|| s.impossible("the formula's bucket total"))?;
        row.expected = Some(expected);
        row.difference = Some(difference(row.parameters, expected));
    }
    Ok(())
}

/// The tensor rows, in natural name order: names, shapes and stored forms moved from
/// the tensors, file and dtype names shared.
fn tensor_rows(tensors: Vec<Classified>, checkpoint: &Checkpoint) -> Vec<TensorRow> {
    let files: Vec<Arc<str>> = checkpoint
        .files
        .iter()
        .map(|f| Arc::from(crate::source::file_name(&f.path)))
        .collect();
    let no_file: Arc<str> = Arc::from("");
    let mut dtypes: Vec<(crate::dtype::DType, Arc<str>)> = Vec::new();
    let mut rows: Vec<TensorRow> = tensors
        .into_iter()
        .map(|Classified { tensor: t, class }| {
            let dtype = match dtypes.iter().find(|(d, _)| *d == t.dtype) {
                Some((_, name)) => name.clone(),
                None => {
                    let name: Arc<str> = Arc::from(t.dtype.to_string());
                    dtypes.push((t.dtype, name.clone()));
                    name
                }
            };
            TensorRow {
                name: t.name,
                file: files.get(t.file).unwrap_or(&no_file).clone(),
                bucket: class.bucket,
                role: class.role,
                dtype,
                shape: t.shape,
                elements: t.elements,
                stored_elements: (t.stored_elements != t.elements).then_some(t.stored_elements),
                stored_as: t.stored_as,
                bytes: t.bytes,
            }
        })
        .collect();
    count::sort_natural(&mut rows, |r| &r.name);
    rows
}

fn source_report(
    spec: &str,
    checkpoint: &Checkpoint,
    config: Option<&ModelConfig>,
) -> SourceReport {
    SourceReport {
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
                format: f.format.to_string(),
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
    }
}

fn index_notes(checkpoint: &Checkpoint, totals: &Totals, notes: &mut Vec<String>) {
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
}

fn claims_note(c: &ModelConfig, f: &Formula, notes: &mut Vec<String>) {
    for arch in &c.architectures {
        let Some(claimed) = f.family.claim(arch) else {
            continue;
        };
        let mut claimed: Vec<&str> = claimed.to_vec();
        claimed.sort_unstable();
        if claimed != f.parts {
            let stored = if f.parts.is_empty() {
                "no pooler and no head".to_string()
            } else {
                f.parts.join(", ")
            };
            notes.push(format!(
                "config.json claims {arch}, but the file stores {stored} beyond the backbone: counted as stored"
            ));
        }
    }
}

/// Why a matched tensor is not among the expected ones.
fn why_unexpected(f: &Formula, t: &Classified) -> String {
    let table = f.family.compiled();
    let Some(row) = t.class.row.map(|r| table.rows[r].row) else {
        return format!(
            "no rule of the {} family recognises this name",
            f.family.name
        );
    };
    for (name, v) in &t.class.captures {
        if let Some((ri, range)) = table.range(name) {
            if let Some(values) = table.range_values(ri, &f.dims) {
                if !values.contains(v) {
                    let end = crate::family::expr::Expr::parse(range.end)
                        .ok()
                        .and_then(|e| f.dims.eval(&e))
                        .map_or_else(|| range.end.to_string(), |n| n.to_string());
                    let dim = f.family.dim(range.end).map_or(range.end, |d| d.key());
                    return format!(
                        "{name} {v}, but the config has {end} ({dim}): outside its range"
                    );
                }
            }
        }
    }
    match row.cond {
        crate::family::Cond::If(flag) | crate::family::Cond::Unless(flag)
            if !row.cond.holds(&f.dims) =>
        {
            let key = f.family.dim(flag).map_or(flag, |d| d.key());
            format!(
                "exists only when `{key}` is {}, and the dimensions say otherwise",
                matches!(row.cond, crate::family::Cond::If(_))
            )
        }
        _ => "not expected by the formula".to_string(),
    }
}

/// Match stored tensors to expected ones by canonical key; every difference becomes a
/// finding. Findings add up to `unexplained`.
fn match_tensors(tensors: &[Classified], keys: &StoredKeys, x: &Expect) -> Vec<Finding> {
    let f = x.formula;
    let mut findings = Vec::new();
    // The expected tensor each first holder of a key matches (the last expected with
    // that key).
    let mut matched: Vec<Option<usize>> = vec![None; tensors.len()];
    for (ei, h) in x.holder.iter().enumerate() {
        if let Some(ti) = h {
            matched[*ti] = Some(ei);
        }
    }
    let mut repeats = keys.repeats.iter().peekable();
    for (ti, t) in tensors.iter().enumerate() {
        let is_parameter = t.class.role.is_parameter();
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
                findings.push(unexpected(format!(
                    "no rule of the {} family recognises this name",
                    f.family.name
                )));
            }
            continue;
        };
        if let Some(&(_, first)) = repeats.next_if(|(i, _)| *i == ti) {
            findings.push(unexpected(format!(
                "a second tensor for `{key}` (first: `{}`)",
                tensors[first].tensor.name
            )));
            continue;
        }
        match matched[ti].map(|ei| (&f.expected[ei], x.rows[ei])) {
            Some((e, row)) if e.tied => {
                let detail = match row.kind {
                    RowKind::Tied { flag, to } => {
                        let k = f.family.dim(flag).map_or(flag, |d| d.key());
                        format!("tied to {to} ({k}), yet stored as a separate tensor")
                    }
                    RowKind::Alias { of, .. } => {
                        format!("a second copy of {of}, to which transformers ties it")
                    }
                    _ => "tied, yet stored".to_string(),
                };
                findings.push(unexpected(detail));
            }
            Some((e, _)) => {
                if e.shape[..] != t.tensor.shape[..] {
                    findings.push(Finding {
                        kind: FindingKind::ShapeMismatch,
                        tensor: t.tensor.name.clone(),
                        bucket: t.class.bucket,
                        parameters: if is_parameter {
                            stored - signed(e.elements)
                        } else {
                            0
                        },
                        detail: format!(
                            "shape {:?}, the config implies {:?}",
                            t.tensor.shape, e.shape
                        ),
                    });
                }
            }
            None if !is_parameter => {}
            None => findings.push(unexpected(why_unexpected(f, t))),
        }
    }
    for (e, row, stored, _) in x.each() {
        let optional = e.tied
            || matches!(row.kind, RowKind::Buffer | RowKind::MaybeStored)
            || is_extra_layer(row);
        if !optional && !stored {
            findings.push(Finding {
                kind: FindingKind::Missing,
                tensor: e.key.clone(),
                bucket: row.bucket,
                parameters: -signed(e.elements),
                detail: format!("expected with shape {:?}, not stored", e.shape),
            });
        }
    }
    findings
}
