//! Model families, one file each, behind one registry.
//!
//! A family declares, as data: the `model_type`s it serves; its dimensions (the config
//! keys they are read from, transformers' defaults, limits); one table of the tensors its
//! checkpoints store (a name pattern with named captures such as `{layer}`, a shape as
//! expressions of the dimensions, a bucket, the ladder step it belongs to, the part of
//! the model it is in, the condition under which it exists); the ladder it shows; and its
//! closed-form derivation. Classification and the formula read the same table: there is
//! no second spelling of any name.
//!
//! Adding a family is one new file in this folder plus one line in [`REGISTRY`]; the
//! registry-wide tests (`tests` below) then hold its closed form equal to its table for
//! many random dimension sets.

pub mod albert;
pub mod bart;
pub mod bert;
pub mod compiled;
pub mod deberta;
pub mod deepseek;
pub mod dims;
pub mod distilbert;
pub mod electra;
pub mod expr;
pub mod gemma;
pub mod gemma2;
pub mod gemma3;
pub mod gpt2;
pub mod gpt_oss;
pub mod llama;
pub mod marian;
pub mod mistral;
pub mod mixtral;
pub mod phi3;
pub mod qwen2;
pub mod qwen2_moe;
pub mod qwen3;
pub mod qwen3_moe;
pub mod roberta;
pub mod t5;
pub mod vit;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use crate::classify::{Bucket, Role};
pub use compiled::Compiled;
pub use dims::Dims;

/// Every registered family, in the order `paramaudit families` lists them (and ties in
/// "which family explains the most tensors" are broken).
pub static REGISTRY: &[&Family] = &[
    &bert::FAMILY,
    &roberta::FAMILY,
    &roberta::XLM_ROBERTA,
    &roberta::CAMEMBERT,
    &distilbert::FAMILY,
    &electra::FAMILY,
    &albert::FAMILY,
    &deberta::FAMILY,
    &vit::FAMILY,
    &t5::FAMILY,
    &marian::FAMILY,
    &bart::FAMILY,
    &gpt2::FAMILY,
    &llama::FAMILY,
    &mistral::FAMILY,
    &qwen2::FAMILY,
    &qwen3::FAMILY,
    &gemma::FAMILY,
    &gemma2::FAMILY,
    &gemma3::FAMILY,
    &phi3::FAMILY,
    &mixtral::FAMILY,
    &qwen2_moe::FAMILY,
    &qwen3_moe::FAMILY,
    &deepseek::FAMILY,
    &gpt_oss::FAMILY,
];

/// A step of the ladder from the hand derivation to the stored total. The same keys for
/// every family (a family shows the ones it declares; the JSON always has them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Linear biases the hand derivation leaves out.
    Biases,
    /// Norm weights (and biases) the hand derivation leaves out.
    Norms,
    /// Relative-position tables and other position parameters outside the derivation.
    PositionTables,
    /// Layers shared between depths, stored once (negative: the derivation counts each).
    SharedLayers,
    /// The pooler.
    Pooler,
    /// Task and language-model heads stored.
    Heads,
    /// Layers stored past the model's own (DeepSeek's multi-token prediction):
    /// transformers neither builds nor counts them, so their rows are expected only when
    /// the file stores them (absent, they are no finding), and `num_parameters` and the
    /// active count leave them out.
    ExtraLayers,
    /// Tied tensors expected and not stored (explained, not counted).
    TiedNotStored,
    /// Tensors transformers counts but the file does not store (explained, not counted).
    NotStored,
    /// Buffer elements stored (explained, not parameters).
    Buffers,
}

impl Step {
    /// Every step, in JSON order.
    pub const ALL: [Step; 10] = [
        Step::Biases,
        Step::Norms,
        Step::PositionTables,
        Step::SharedLayers,
        Step::Pooler,
        Step::Heads,
        Step::ExtraLayers,
        Step::TiedNotStored,
        Step::NotStored,
        Step::Buffers,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            Step::Biases => "biases",
            Step::Norms => "norms",
            Step::PositionTables => "position_tables",
            Step::SharedLayers => "shared_layers",
            Step::Pooler => "pooler",
            Step::Heads => "heads",
            Step::ExtraLayers => "extra_layers",
            Step::TiedNotStored => "tied_not_stored",
            Step::NotStored => "not_stored",
            Step::Buffers => "buffers",
        }
    }

    /// Whether the step adds to the stored parameter total (the rest are explained but
    /// not counted).
    pub fn counted(self) -> bool {
        !matches!(self, Step::TiedNotStored | Step::NotStored | Step::Buffers)
    }
}

/// The kind of normalisation a family uses (the `norm` bucket holds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Norm {
    /// LayerNorm: a weight (gamma, near 1) and a bias (beta).
    LayerNorm,
    /// RMSNorm: a weight near 1, no bias.
    RmsNorm,
    /// RMSNorm storing `weight - 1` (Gemma): the weight is near 0.
    RmsNormPlusOne,
}

impl Norm {
    /// The name shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            Norm::LayerNorm => "LayerNorm",
            Norm::RmsNorm => "RMSNorm",
            Norm::RmsNormPlusOne => "RMSNorm (1 + weight)",
        }
    }

    /// What a trained norm weight's mean sits near.
    pub fn weight_centre(self) -> f64 {
        match self {
            Norm::RmsNormPlusOne => 0.0,
            _ => 1.0,
        }
    }
}

/// When a table row exists.
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    /// Always (for its part).
    Always,
    /// When the flag is set.
    If(&'static str),
    /// When the flag is not set.
    Unless(&'static str),
    /// When the family's own test holds.
    Test(fn(&Dims) -> bool),
}

impl Cond {
    /// Whether the row exists for `dims`.
    pub fn holds(self, dims: &Dims) -> bool {
        match self {
            Cond::Always => true,
            Cond::If(flag) => dims.flag(flag),
            Cond::Unless(flag) => !dims.flag(flag),
            Cond::Test(f) => f(dims),
        }
    }
}

/// What a table row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A parameter the file stores.
    Param,
    /// A buffer (optional in a file; never a parameter).
    Buffer,
    /// Tied to another tensor (`to`) when `flag` is set: then expected not stored (a
    /// `tied_not_stored` step); otherwise a stored parameter.
    Tied {
        /// The flag that ties it.
        flag: &'static str,
        /// The tensor it shares storage with.
        to: &'static str,
    },
    /// The same parameter as `of` under a second name (T5's `encoder.embed_tokens`, BERT's
    /// MLM decoder bias while the embeddings are tied): then never expected, recognised
    /// when stored as a copy; when `flag` is given and not set, a parameter of its own.
    Alias {
        /// The flag that makes it an alias (`None`: always).
        flag: Option<&'static str>,
        /// The tensor it is.
        of: &'static str,
    },
    /// Counted by transformers, possibly absent from the file (Marian's sinusoidal
    /// tables): stored, it is a parameter; absent, a `not_stored` step.
    MaybeStored,
}

/// The part of the model every checkpoint has.
pub const BACKBONE: &str = "backbone";
/// The pooler part.
pub const POOLER: &str = "pooler";

/// One row of a family's tensor table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Dotted name pattern, matched at the end of a stored name (any prefix); `{name}`
    /// captures a number ranging over the family's [`Range`] of that name.
    pub pattern: &'static str,
    /// Shape: comma-separated expressions of the family's dimension symbols.
    pub shape: &'static str,
    /// Bucket of the tensor.
    pub bucket: Bucket,
    /// Ladder step it belongs to; `None`: in the hand derivation.
    pub step: Option<Step>,
    /// The part of the model it belongs to ([`BACKBONE`], [`POOLER`], a head's name).
    pub part: &'static str,
    /// When it exists.
    pub cond: Cond,
    /// What it stands for.
    pub kind: RowKind,
}

/// A backbone parameter in the hand derivation (or, with [`Row::step`], outside it).
pub const fn row(pattern: &'static str, shape: &'static str, bucket: Bucket) -> Row {
    Row {
        pattern,
        shape,
        bucket,
        step: None,
        part: BACKBONE,
        cond: Cond::Always,
        kind: RowKind::Param,
    }
}

impl Row {
    /// In ladder step `step` instead of the hand derivation.
    pub const fn step(self, step: Step) -> Row {
        Row {
            step: Some(step),
            ..self
        }
    }
    /// In part `part` (present when the file stores any of its parameters).
    pub const fn part(self, part: &'static str) -> Row {
        Row { part, ..self }
    }
    /// Only when `flag` is set.
    pub const fn when(self, flag: &'static str) -> Row {
        Row {
            cond: Cond::If(flag),
            ..self
        }
    }
    /// Only when `flag` is not set.
    pub const fn unless(self, flag: &'static str) -> Row {
        Row {
            cond: Cond::Unless(flag),
            ..self
        }
    }
    /// Only when the family's test holds.
    pub const fn when_test(self, test: fn(&Dims) -> bool) -> Row {
        Row {
            cond: Cond::Test(test),
            ..self
        }
    }
    /// A buffer, not a parameter.
    pub const fn buffer(self) -> Row {
        Row {
            kind: RowKind::Buffer,
            step: Some(Step::Buffers),
            ..self
        }
    }
    /// Tied to `to` when `flag` is set.
    pub const fn tied(self, flag: &'static str, to: &'static str) -> Row {
        Row {
            kind: RowKind::Tied { flag, to },
            ..self
        }
    }
    /// The same parameter as `of`, under a second name.
    pub const fn alias(self, of: &'static str) -> Row {
        Row {
            kind: RowKind::Alias { flag: None, of },
            ..self
        }
    }
    /// The same parameter as `of` when `flag` is set; a parameter of its own otherwise.
    pub const fn alias_when(self, flag: &'static str, of: &'static str) -> Row {
        Row {
            kind: RowKind::Alias {
                flag: Some(flag),
                of,
            },
            ..self
        }
    }
    /// Counted by transformers, possibly not stored.
    pub const fn maybe_stored(self) -> Row {
        Row {
            kind: RowKind::MaybeStored,
            ..self
        }
    }
}

/// Where a dimension's value comes from when the config does not set it.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// A number.
    Value(u64),
    /// An expression of other dimensions (`H / A`), evaluated after them.
    Expr(&'static str),
    /// Computed by the family from other dimensions, for a rule an expression cannot
    /// write (transformers' floor division `H // A`, a choice between values such as
    /// DeBERTa's relative-position table size); evaluated with the expressions, in the
    /// family's order. A dimension with no config keys and this default is derived from
    /// config values, yet a tensor's shape can still reveal it when there is no config.
    Derived(fn(&Dims) -> Option<u64>),
    /// A flag's value.
    Flag(bool),
    /// An empty list.
    Empty,
}

/// What a dimension holds.
#[derive(Debug, Clone, Copy)]
pub enum DimKind {
    /// A count between `min` and `max`.
    Count {
        /// Smallest value accepted.
        min: u64,
        /// Largest value accepted (keeps every product inside 64 bits).
        max: u64,
    },
    /// True or false (shown as one of two words).
    Flag {
        /// Word shown when set.
        on: &'static str,
        /// Word shown when not set.
        off: &'static str,
    },
    /// A list of layer indices (`mlp_only_layers`).
    List,
}

/// One dimension of a family.
#[derive(Debug, Clone, Copy)]
pub struct Dim {
    /// Symbol used in shape expressions (`H`).
    pub symbol: &'static str,
    /// Config keys, first present wins (`hidden_size`, `d_model`); an object value counts
    /// its entries (`id2label`). None: a value derived from other dimensions by its
    /// default expression (Marian's "token tables are `shared`", from two flags), never
    /// read from a config, never reported as defaulted or by config key.
    pub keys: &'static [&'static str],
    /// Label in the one-line summary (`H`, `heads`); empty to leave it out.
    pub show: &'static str,
    /// Value when absent (transformers' default).
    pub default: Default,
    /// What it holds.
    pub kind: DimKind,
    /// Reads a config value that is not a plain number or boolean (a string such as
    /// `feed_forward_proj: "gated-gelu"`); `None` when it cannot.
    pub parse: Option<fn(&serde_json::Value) -> Option<u64>>,
    /// Counted towards "the config sets at least one of the family's dimensions".
    pub identifying: bool,
    /// Value when the config sets the key to `null` and transformers reads that as a
    /// value of its own (DeepSeek's `q_lora_rank: null`: no query compression), not as
    /// "absent"; `None`: a null key is absent and takes [`Dim::default`]. It may sit
    /// below the dimension's minimum (an explicit value may not).
    pub null: Option<Default>,
}

/// Largest width (hidden or intermediate size) accepted.
pub const MAX_WIDTH: u64 = 1 << 20;
/// Largest number of layers, heads or experts accepted.
pub const MAX_LAYERS: u64 = 1 << 12;
/// Largest vocabulary, position or label count accepted.
pub const MAX_COUNT: u64 = 1 << 31;

/// A count dimension.
pub const fn count(
    symbol: &'static str,
    keys: &'static [&'static str],
    default: u64,
    max: u64,
) -> Dim {
    Dim {
        symbol,
        keys,
        show: symbol,
        default: Default::Value(default),
        kind: DimKind::Count { min: 1, max },
        parse: None,
        identifying: true,
        null: None,
    }
}

/// A flag dimension.
pub const fn flag(
    symbol: &'static str,
    keys: &'static [&'static str],
    default: bool,
    on: &'static str,
    off: &'static str,
) -> Dim {
    Dim {
        symbol,
        keys,
        show: symbol,
        default: Default::Flag(default),
        kind: DimKind::Flag { on, off },
        parse: None,
        identifying: false,
        null: None,
    }
}

/// A list-of-layer-indices dimension (`mlp_only_layers`), empty when absent.
pub const fn list(symbol: &'static str, keys: &'static [&'static str]) -> Dim {
    Dim {
        symbol,
        keys,
        show: symbol,
        default: Default::Empty,
        kind: DimKind::List,
        parse: None,
        identifying: false,
        null: None,
    }
}

impl Dim {
    /// Shown as `label` in the one-line summary.
    pub const fn show(self, label: &'static str) -> Dim {
        Dim {
            show: label,
            ..self
        }
    }
    /// Zero is allowed.
    pub const fn zero_ok(self) -> Dim {
        let kind = match self.kind {
            DimKind::Count { max, .. } => DimKind::Count { min: 0, max },
            other => other,
        };
        Dim { kind, ..self }
    }
    /// Defaults to an expression of other dimensions.
    pub const fn default_expr(self, expr: &'static str) -> Dim {
        Dim {
            default: Default::Expr(expr),
            ..self
        }
    }
    /// Defaults to a value the family computes from other dimensions.
    pub const fn derived(self, f: fn(&Dims) -> Option<u64>) -> Dim {
        Dim {
            default: Default::Derived(f),
            ..self
        }
    }
    /// Read with `parse` when the value is not a plain number or boolean.
    pub const fn parse_with(self, parse: fn(&serde_json::Value) -> Option<u64>) -> Dim {
        Dim {
            parse: Some(parse),
            ..self
        }
    }
    /// Does not count towards "the config sets one of the family's dimensions".
    pub const fn auxiliary(self) -> Dim {
        Dim {
            identifying: false,
            ..self
        }
    }
    /// Takes `value` when the config sets the key to `null` (see [`Dim::null`]).
    pub const fn if_null(self, value: Default) -> Dim {
        Dim {
            null: Some(value),
            ..self
        }
    }
    /// The config key shown in reports (the first).
    pub fn key(&self) -> &'static str {
        self.keys.first().copied().unwrap_or(self.symbol)
    }
}

/// The values a capture (`{layer}`) ranges over: `start..end`, optionally filtered.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Capture name.
    pub name: &'static str,
    /// First value, an expression.
    pub start: &'static str,
    /// One past the last value, an expression.
    pub end: &'static str,
    /// Keeps only some values (MoE layers among all layers).
    pub filter: Option<fn(&Dims, u64) -> bool>,
}

/// A capture ranging over `0..end`.
pub const fn range(name: &'static str, end: &'static str) -> Range {
    Range {
        name,
        start: "0",
        end,
        filter: None,
    }
}

/// What an `architectures` entry says the checkpoint holds beyond the backbone.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// The class name (`BertForMaskedLM`).
    pub architecture: &'static str,
    /// The parts it has.
    pub parts: &'static [&'static str],
}

/// One line of a derivation: what is counted, the formula, the arithmetic, the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What is counted.
    pub part: String,
    /// The formula in symbols.
    pub formula: String,
    /// The formula with the numbers filled in.
    pub arithmetic: String,
    /// The result (negative for a step that takes away).
    pub value: i128,
}

/// A line of what the hand derivation leaves out, with the ladder step it explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "AdditionJson", into = "AdditionJson")]
pub struct Addition {
    /// The ladder step.
    pub step: Step,
    /// The part of the model it is about (a head's name), when the step has several.
    pub of: Option<String>,
    /// The line.
    pub line: Line,
}

/// An [`Addition`] as JSON: the step and part, then the line's fields (spelled out rather
/// than flattened, so that 128-bit values round-trip).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AdditionJson {
    step: Step,
    of: Option<String>,
    part: String,
    formula: String,
    arithmetic: String,
    value: i128,
}

impl From<AdditionJson> for Addition {
    fn from(a: AdditionJson) -> Self {
        Addition {
            step: a.step,
            of: a.of,
            line: Line {
                part: a.part,
                formula: a.formula,
                arithmetic: a.arithmetic,
                value: a.value,
            },
        }
    }
}

impl From<Addition> for AdditionJson {
    fn from(a: Addition) -> Self {
        AdditionJson {
            step: a.step,
            of: a.of,
            part: a.line.part,
            formula: a.line.formula,
            arithmetic: a.line.arithmetic,
            value: a.line.value,
        }
    }
}

/// A family's closed-form counts for one set of dimensions, independent of its table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// The hand derivation, one line per part.
    pub steps: Vec<Line>,
    /// Its total.
    pub weights_only: u64,
    /// What it leaves out, one line per item, each naming its ladder step.
    pub additions: Vec<Addition>,
    /// Totals of the usual model classes, as transformers counts them (tied once).
    pub models: Vec<Line>,
    /// Mixture of experts: the parameters one token uses (the model's total minus the
    /// routed experts it does not use), with its arithmetic; `None` for dense families.
    pub active: Option<Line>,
}

/// How a mixture-of-experts family routes: which dimensions give the routed experts per
/// MoE layer and the experts each token uses. The routed experts are the rows in the
/// `routed_experts` bucket.
#[derive(Debug, Clone, Copy)]
pub struct Moe {
    /// Symbol of the number of routed experts per MoE layer (`E`).
    pub experts: &'static str,
    /// Symbol of the experts each token is routed to (`k`).
    pub per_token: &'static str,
}

/// Build a derivation line; `value` is whatever the caller computed with checked
/// arithmetic.
pub fn line(part: &str, formula: &str, arithmetic: String, value: impl Into<i128>) -> Line {
    Line {
        part: part.to_string(),
        formula: formula.to_string(),
        arithmetic,
        value: value.into(),
    }
}

/// An [`Addition`]: `l` under ladder step `step`, about part `of` when it names one.
pub fn add(step: Step, of: Option<&str>, l: Line) -> Addition {
    Addition {
        step,
        of: of.map(str::to_string),
        line: l,
    }
}

/// A model family.
pub struct Family {
    /// Short name (`bert`), used by `--family`.
    pub name: &'static str,
    /// Display name (`BERT`).
    pub title: &'static str,
    /// The `model_type`s it serves.
    pub model_types: &'static [&'static str],
    /// What its formula covers, for `paramaudit families`.
    pub covers: &'static str,
    /// Its normalisation.
    pub norm: Norm,
    /// Its dimensions, in the order of the one-line summary.
    pub dims: &'static [Dim],
    /// What each capture ranges over.
    pub ranges: &'static [Range],
    /// Every tensor its checkpoints store: one table, or several blocks shared with
    /// related families (an encoder layer, a decoder layer), read in order as one.
    pub tensors: &'static [&'static [Row]],
    /// The ladder steps it shows after the hand derivation, with their labels.
    pub ladder: &'static [(Step, &'static str)],
    /// What `architectures` entries claim.
    pub claims: &'static [Claim],
    /// Checks beyond each dimension's limits (`hidden_size` divisible by the heads).
    pub validate: fn(&Dims) -> Result<(), String>,
    /// The closed form.
    pub derive: fn(&Dims) -> Option<Derivation>,
    /// Routing, for mixture-of-experts families.
    pub moe: Option<Moe>,
    /// The compiled table, built on first use.
    pub compiled: OnceLock<Compiled>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Family({})", self.name)
    }
}

impl Family {
    /// The compiled table (patterns split, shapes parsed, lookup index built), once per
    /// process.
    pub fn compiled(&'static self) -> &'static Compiled {
        self.compiled.get_or_init(|| Compiled::new(self))
    }

    /// Every row of the table, in order.
    pub fn rows(&self) -> impl Iterator<Item = &'static Row> {
        self.tensors.iter().flat_map(|block| block.iter())
    }

    /// The dimension with `symbol`.
    pub fn dim(&self, symbol: &str) -> Option<&Dim> {
        self.dims.iter().find(|d| d.symbol == symbol)
    }

    /// Whether `part` is a head (neither the backbone nor the pooler).
    pub fn is_head(part: &str) -> bool {
        part != BACKBONE && part != POOLER
    }

    /// The parts `architecture` claims, if the family knows the class.
    pub fn claim(&self, architecture: &str) -> Option<&'static [&'static str]> {
        self.claims
            .iter()
            .find(|c| c.architecture == architecture)
            .map(|c| c.parts)
    }
}

/// The family serving `model_type`.
pub fn by_model_type(model_type: &str) -> Option<&'static Family> {
    REGISTRY
        .iter()
        .copied()
        .find(|f| f.model_types.contains(&model_type))
}

/// The family named `name` (`--family`), by name or model_type.
pub fn by_name(name: &str) -> Option<&'static Family> {
    REGISTRY
        .iter()
        .copied()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .or_else(|| by_model_type(name))
}

/// The names of every family, for messages.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;

/// One family as `paramaudit families` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
    /// Name, for `--family`.
    pub name: String,
    /// Display name.
    pub title: String,
    /// The `model_type`s it serves.
    pub model_types: Vec<String>,
    /// The parts its table knows beyond the backbone (pooler, heads).
    pub parts: Vec<String>,
    /// What its formula covers.
    pub covers: String,
    /// Its norm.
    pub norm: String,
    /// Rows in its tensor table.
    pub tensors: u64,
}

/// Every registered family, for `paramaudit families`.
pub fn listing() -> Vec<Listed> {
    REGISTRY
        .iter()
        .map(|f| {
            let mut parts: Vec<String> = f
                .rows()
                .map(|r| r.part)
                .filter(|p| *p != BACKBONE)
                .map(str::to_string)
                .collect();
            parts.sort();
            parts.dedup();
            Listed {
                schema_version: crate::reconcile::SCHEMA_VERSION,
                name: f.name.to_string(),
                title: f.title.to_string(),
                model_types: f.model_types.iter().map(|t| t.to_string()).collect(),
                parts,
                covers: f.covers.to_string(),
                norm: f.norm.name().to_string(),
                tensors: crate::count::len(f.rows().count()),
            }
        })
        .collect()
}

/// Parameters per token for a mixture of experts, from the expected tensors: `total`
/// minus, for the routed experts (`routed`, elements over every MoE layer), the share a
/// token does not use, `routed · (E - k) / E`. `None` when the division is not exact (the
/// experts are not all the same size) or a figure overflows.
pub fn active_parameters(total: u64, routed: u64, experts: u64, per_token: u64) -> Option<u64> {
    if experts == 0 || per_token > experts {
        return None;
    }
    let unused = u128::from(routed) * u128::from(experts - per_token);
    if unused % u128::from(experts) != 0 {
        return None;
    }
    let unused = u64::try_from(unused / u128::from(experts)).ok()?;
    total.checked_sub(unused)
}

/// The rule most attention implementations enforce: the hidden size (`H`) is a multiple
/// of the attention heads (`A`). Each family's `validate` says where transformers checks
/// it (or why a model breaking it could not run).
pub fn hidden_divisible_by_heads(d: &Dims) -> Result<(), String> {
    let (h, a) = (d.v("H"), d.v("A"));
    if !h.is_multiple_of(a) {
        return Err(format!(
            "`hidden_size` {h} is not a multiple of `num_attention_heads` {a}"
        ));
    }
    Ok(())
}
