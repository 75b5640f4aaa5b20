//! The BERT family: dimensions from `config.json` (defaults of transformers' `BertConfig`),
//! the hand derivation of docs/reference.md §1 (Devlin et al. 2018 §3, Vaswani et al. 2017
//! §3.2-3.3), and the exact list of tensors transformers' `modeling_bert` stores.
//!
//! Two computations on purpose: [`derive`] is closed-form arithmetic, [`expected_tensors`]
//! spells out every tensor with its shape. The tests hold them equal for many configs.

use serde::{Deserialize, Serialize};

use crate::classify::{Bucket, Component, HeadKind, Role, DECODER_WEIGHT, WORD_EMBEDDINGS};
use crate::error::Result;
use crate::formula::config::ModelConfig;

/// Largest hidden or intermediate size accepted (keeps every product inside `u64`).
pub const MAX_WIDTH: u64 = 1 << 20;
/// Largest number of layers accepted.
pub const MAX_LAYERS: u64 = 1 << 12;
/// Largest vocabulary, position, token-type or label count accepted.
pub const MAX_COUNT: u64 = 1 << 31;

/// The dimensions every count depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// V: `vocab_size`.
    pub vocab_size: u64,
    /// H: `hidden_size`.
    pub hidden_size: u64,
    /// L: `num_hidden_layers`.
    pub num_hidden_layers: u64,
    /// h: `num_attention_heads` (does not change any count: 3·h·(H·H/h) = 3·H²).
    pub num_attention_heads: Option<u64>,
    /// I: `intermediate_size`.
    pub intermediate_size: u64,
    /// P: `max_position_embeddings`.
    pub max_position_embeddings: u64,
    /// T: `type_vocab_size`.
    pub type_vocab_size: u64,
    /// N: `num_labels` (or the length of `id2label`): outputs of `classifier` and `qa_outputs`.
    pub num_labels: u64,
    /// Whether the MLM decoder weight is the word-embedding matrix (not stored).
    pub tie_word_embeddings: bool,
}

impl Dims {
    /// Dimensions from a config, with `BertConfig`'s defaults for absent fields; the names
    /// of the defaulted fields are returned alongside.
    pub fn from_config(config: &ModelConfig) -> Result<(Dims, Vec<&'static str>)> {
        const OWN: [&str; 7] = [
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ];
        let bad = |message: String| crate::Error::Config {
            path: config.path.clone(),
            message,
        };
        if !OWN.iter().any(|k| config.fields.contains_key(*k)) {
            return Err(bad(format!(
                "none of the bert family's dimensions ({}) is set: not a model config, or another family",
                OWN.join(", ")
            )));
        }
        let mut defaulted = Vec::new();
        let mut get = |key: &'static str, max: u64, default: u64| -> Result<u64> {
            Ok(config.uint(key, max)?.unwrap_or_else(|| {
                defaulted.push(key);
                default
            }))
        };
        let vocab_size = get("vocab_size", MAX_COUNT, 30522)?;
        let hidden_size = get("hidden_size", MAX_WIDTH, 768)?;
        let num_hidden_layers = get("num_hidden_layers", MAX_LAYERS, 12)?;
        let num_attention_heads = get("num_attention_heads", MAX_WIDTH, 12)?;
        let intermediate_size = get("intermediate_size", MAX_WIDTH, 3072)?;
        let max_position_embeddings = get("max_position_embeddings", MAX_COUNT, 512)?;
        let type_vocab_size = get("type_vocab_size", MAX_COUNT, 2)?;
        // transformers: num_labels, else len(id2label), else 2.
        let num_labels = match config.uint("num_labels", MAX_COUNT)? {
            Some(n) => n,
            None => match config.object_len("id2label") {
                Some(n) if n <= MAX_COUNT => n,
                _ => {
                    defaulted.push("num_labels");
                    2
                }
            },
        };
        for (key, value) in [
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("intermediate_size", intermediate_size),
            ("max_position_embeddings", max_position_embeddings),
        ] {
            if value == 0 {
                return Err(bad(format!("`{key}` is 0: it must be at least 1")));
            }
        }
        if hidden_size % num_attention_heads != 0 {
            return Err(bad(format!(
                "`hidden_size` {hidden_size} is not a multiple of `num_attention_heads` {num_attention_heads}"
            )));
        }
        let tie_word_embeddings = match config.boolean("tie_word_embeddings")? {
            Some(t) => t,
            None => {
                defaulted.push("tie_word_embeddings");
                true
            }
        };
        Ok((
            Dims {
                vocab_size,
                hidden_size,
                num_hidden_layers,
                num_attention_heads: Some(num_attention_heads),
                intermediate_size,
                max_position_embeddings,
                type_vocab_size,
                num_labels,
                tie_word_embeddings,
            },
            defaulted,
        ))
    }

    /// True when every dimension is inside the supported range.
    pub fn in_range(&self) -> bool {
        self.vocab_size <= MAX_COUNT
            && self.hidden_size <= MAX_WIDTH
            && self.num_hidden_layers <= MAX_LAYERS
            && self.intermediate_size <= MAX_WIDTH
            && self.max_position_embeddings <= MAX_COUNT
            && self.type_vocab_size <= MAX_COUNT
            && self.num_labels <= MAX_COUNT
    }
}

/// One line of a derivation: what is counted, the formula, the arithmetic, the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What is counted.
    pub part: String,
    /// The formula in symbols.
    pub formula: String,
    /// The formula with the numbers filled in.
    pub arithmetic: String,
    /// The result.
    pub value: u64,
}

/// The closed-form counts for one config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derivation {
    /// The hand derivation of docs/reference.md §1, one step per row.
    pub steps: Vec<Step>,
    /// Its total: weights only, no linear biases, no pooler, no heads.
    pub weights_only: u64,
    /// What the hand derivation leaves out, one step per item.
    pub additions: Vec<Step>,
    /// Totals of the usual model classes, as transformers counts them (tied once).
    pub models: Vec<Step>,
}

/// Closed-form parts, also used by the report's ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// (V + P + T) · H.
    pub embeddings: u64,
    /// 2 · H.
    pub embedding_layer_norm: u64,
    /// 4 · H² per layer.
    pub attention_weights: u64,
    /// 2 · H · I per layer.
    pub ffn_weights: u64,
    /// 4 · H per layer.
    pub layer_norms: u64,
    /// L · (4·H + I + H).
    pub linear_biases: u64,
    /// H² + H.
    pub pooler: u64,
    /// H² + H + 2·H + V: transform dense, its LayerNorm, output bias.
    pub masked_lm: u64,
    /// V · H: the decoder weight, tied to the word embeddings.
    pub decoder: u64,
    /// 2 · H + 2.
    pub next_sentence: u64,
    /// N · H + N.
    pub classifier: u64,
    /// N · H + N (transformers sizes `qa_outputs` by `num_labels`).
    pub question_answering: u64,
}

impl Parts {
    /// Compute every part for `d`. All products fit in `u64` for dims in range.
    pub fn of(d: &Dims) -> Parts {
        let (v, h, i, p, t, n) = (
            d.vocab_size,
            d.hidden_size,
            d.intermediate_size,
            d.max_position_embeddings,
            d.type_vocab_size,
            d.num_labels,
        );
        Parts {
            embeddings: (v + p + t) * h,
            embedding_layer_norm: 2 * h,
            attention_weights: 4 * h * h,
            ffn_weights: 2 * h * i,
            layer_norms: 2 * (2 * h),
            linear_biases: d.num_hidden_layers * (4 * h + i + h),
            pooler: h * h + h,
            masked_lm: h * h + h + 2 * h + v,
            decoder: v * h,
            next_sentence: 2 * h + 2,
            classifier: n * h + n,
            question_answering: n * h + n,
        }
    }

    /// The §1 total: embeddings + LN + L · (attention + FFN + LN).
    pub fn weights_only(&self, layers: u64) -> u64 {
        self.embeddings
            + self.embedding_layer_norm
            + layers * (self.attention_weights + self.ffn_weights + self.layer_norms)
    }

    /// Parameters of one head (decoder weight excluded: it is tied or counted apart).
    pub fn head(&self, kind: HeadKind) -> u64 {
        match kind {
            HeadKind::MaskedLm => self.masked_lm,
            HeadKind::NextSentence => self.next_sentence,
            HeadKind::Classifier => self.classifier,
            HeadKind::QuestionAnswering => self.question_answering,
        }
    }
}

fn step(part: &str, formula: &str, arithmetic: String, value: u64) -> Step {
    Step {
        part: part.to_string(),
        formula: formula.to_string(),
        arithmetic,
        value,
    }
}

/// The derivation, step by step with its arithmetic (docs/reference.md §1 and §2).
pub fn derive(d: &Dims) -> Derivation {
    let p = Parts::of(d);
    let (v, h, l, i, pos, t, n) = (
        d.vocab_size,
        d.hidden_size,
        d.num_hidden_layers,
        d.intermediate_size,
        d.max_position_embeddings,
        d.type_vocab_size,
        d.num_labels,
    );
    let weights_only = p.weights_only(l);
    let steps = vec![
        step(
            "embeddings",
            "(V + P + T) · H",
            format!("({v} + {pos} + {t}) · {h}"),
            p.embeddings,
        ),
        step(
            "embedding LayerNorm",
            "2 · H (gamma, beta)",
            format!("2 · {h}"),
            p.embedding_layer_norm,
        ),
        step(
            "attention, per layer",
            "Q, K, V: 3 · H² ; output Wo: H²",
            format!("4 · {h}²"),
            p.attention_weights,
        ),
        step(
            "feed-forward, per layer",
            "W1 H×I + W2 I×H",
            format!("2 · {h} · {i}"),
            p.ffn_weights,
        ),
        step(
            "LayerNorm, per layer",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            p.layer_norms,
        ),
        step(
            "total, weights only",
            "embeddings + LN + L · (attention + FFN + LN)",
            format!(
                "{} + {} + {l} · ({} + {} + {})",
                p.embeddings,
                p.embedding_layer_norm,
                p.attention_weights,
                p.ffn_weights,
                p.layer_norms
            ),
            weights_only,
        ),
    ];
    let additions = vec![
        step(
            "linear biases",
            "L · (4 · H + I + H)",
            format!("{l} · (4 · {h} + {i} + {h})"),
            p.linear_biases,
        ),
        step("pooler", "H² + H", format!("{h}² + {h}"), p.pooler),
        step(
            "MLM head (transform, LayerNorm, output bias)",
            "(H² + H) + 2 · H + V",
            format!("({h}² + {h}) + 2 · {h} + {v}"),
            p.masked_lm,
        ),
        step(
            "MLM decoder weight (tied to word embeddings)",
            "V · H",
            format!("{v} · {h}"),
            p.decoder,
        ),
        step(
            "next-sentence head",
            "2 · H + 2",
            format!("2 · {h} + 2"),
            p.next_sentence,
        ),
        step(
            "classifier head",
            "N · H + N",
            format!("{n} · {h} + {n}"),
            p.classifier,
        ),
        step(
            "question-answering head",
            "N · H + N",
            format!("{n} · {h} + {n}"),
            p.question_answering,
        ),
    ];
    let no_pooler = weights_only + p.linear_biases;
    let with_pooler = no_pooler + p.pooler;
    let models = vec![
        step(
            "BertModel, no pooler",
            "weights only + linear biases",
            format!("{weights_only} + {}", p.linear_biases),
            no_pooler,
        ),
        step(
            "BertModel",
            "+ pooler",
            format!("{no_pooler} + {}", p.pooler),
            with_pooler,
        ),
        step(
            "BertForPreTraining",
            "BertModel + MLM + next sentence",
            format!("{with_pooler} + {} + {}", p.masked_lm, p.next_sentence),
            with_pooler + p.masked_lm + p.next_sentence,
        ),
        step(
            "BertForMaskedLM",
            "no pooler + MLM",
            format!("{no_pooler} + {}", p.masked_lm),
            no_pooler + p.masked_lm,
        ),
        step(
            "BertForSequenceClassification",
            "BertModel + classifier",
            format!("{with_pooler} + {}", p.classifier),
            with_pooler + p.classifier,
        ),
        step(
            "BertForTokenClassification",
            "no pooler + classifier",
            format!("{no_pooler} + {}", p.classifier),
            no_pooler + p.classifier,
        ),
        step(
            "BertForQuestionAnswering",
            "no pooler + QA outputs",
            format!("{no_pooler} + {}", p.question_answering),
            no_pooler + p.question_answering,
        ),
    ];
    Derivation {
        steps,
        weights_only,
        additions,
        models,
    }
}

/// A dimension symbol in the tensor table.
#[derive(Debug, Clone, Copy)]
enum D {
    V,
    H,
    I,
    P,
    T,
    N,
    Two,
    One,
}

use Component as C;
use HeadKind as K;

/// Every tensor `modeling_bert` stores, by canonical key (see [`crate::classify`]), with
/// its shape in symbols. `#` is repeated for each layer. Buffers are listed for their
/// shape only: they are optional and never parameters.
const TENSORS: &[(C, &str, &[D])] = &[
    (C::Buffer, "embeddings.position_ids", &[D::One, D::P]),
    (C::Buffer, "embeddings.token_type_ids", &[D::One, D::P]),
    (C::Embeddings, WORD_EMBEDDINGS, &[D::V, D::H]),
    (
        C::Embeddings,
        "embeddings.position_embeddings.weight",
        &[D::P, D::H],
    ),
    (
        C::Embeddings,
        "embeddings.token_type_embeddings.weight",
        &[D::T, D::H],
    ),
    (C::Embeddings, "embeddings.LayerNorm.weight", &[D::H]),
    (C::Embeddings, "embeddings.LayerNorm.bias", &[D::H]),
    (
        C::Layer,
        "layer.#.attention.self.query.weight",
        &[D::H, D::H],
    ),
    (C::Layer, "layer.#.attention.self.query.bias", &[D::H]),
    (C::Layer, "layer.#.attention.self.key.weight", &[D::H, D::H]),
    (C::Layer, "layer.#.attention.self.key.bias", &[D::H]),
    (
        C::Layer,
        "layer.#.attention.self.value.weight",
        &[D::H, D::H],
    ),
    (C::Layer, "layer.#.attention.self.value.bias", &[D::H]),
    (
        C::Layer,
        "layer.#.attention.output.dense.weight",
        &[D::H, D::H],
    ),
    (C::Layer, "layer.#.attention.output.dense.bias", &[D::H]),
    (
        C::Layer,
        "layer.#.attention.output.LayerNorm.weight",
        &[D::H],
    ),
    (C::Layer, "layer.#.attention.output.LayerNorm.bias", &[D::H]),
    (C::Layer, "layer.#.intermediate.dense.weight", &[D::I, D::H]),
    (C::Layer, "layer.#.intermediate.dense.bias", &[D::I]),
    (C::Layer, "layer.#.output.dense.weight", &[D::H, D::I]),
    (C::Layer, "layer.#.output.dense.bias", &[D::H]),
    (C::Layer, "layer.#.output.LayerNorm.weight", &[D::H]),
    (C::Layer, "layer.#.output.LayerNorm.bias", &[D::H]),
    (C::Pooler, "pooler.dense.weight", &[D::H, D::H]),
    (C::Pooler, "pooler.dense.bias", &[D::H]),
    (
        C::Head(K::MaskedLm),
        "cls.predictions.transform.dense.weight",
        &[D::H, D::H],
    ),
    (
        C::Head(K::MaskedLm),
        "cls.predictions.transform.dense.bias",
        &[D::H],
    ),
    (
        C::Head(K::MaskedLm),
        "cls.predictions.transform.LayerNorm.weight",
        &[D::H],
    ),
    (
        C::Head(K::MaskedLm),
        "cls.predictions.transform.LayerNorm.bias",
        &[D::H],
    ),
    (C::Head(K::MaskedLm), "cls.predictions.bias", &[D::V]),
    (C::Head(K::MaskedLm), DECODER_WEIGHT, &[D::V, D::H]),
    (
        C::Head(K::NextSentence),
        "cls.seq_relationship.weight",
        &[D::Two, D::H],
    ),
    (
        C::Head(K::NextSentence),
        "cls.seq_relationship.bias",
        &[D::Two],
    ),
    (C::Head(K::Classifier), "classifier.weight", &[D::N, D::H]),
    (C::Head(K::Classifier), "classifier.bias", &[D::N]),
    (
        C::Head(K::QuestionAnswering),
        "qa_outputs.weight",
        &[D::N, D::H],
    ),
    (C::Head(K::QuestionAnswering), "qa_outputs.bias", &[D::N]),
];

/// A tensor the formula expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedTensor {
    /// Canonical key.
    pub key: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Elements.
    pub elements: u64,
    /// Bucket.
    pub bucket: Bucket,
    /// Role.
    pub role: Role,
    /// Model part.
    pub component: Component,
}

/// What the formula expects for a checkpoint holding `components`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    /// Tensors that should be stored, parameters only.
    pub tensors: Vec<ExpectedTensor>,
    /// Tied tensors expected *not* to be stored (the MLM decoder weight).
    pub tied: Vec<ExpectedTensor>,
    /// Known buffers and their shapes (optional in a file).
    pub buffers: Vec<ExpectedTensor>,
}

fn dim(d: &Dims, s: D) -> u64 {
    match s {
        D::V => d.vocab_size,
        D::H => d.hidden_size,
        D::I => d.intermediate_size,
        D::P => d.max_position_embeddings,
        D::T => d.type_vocab_size,
        D::N => d.num_labels,
        D::Two => 2,
        D::One => 1,
    }
}

/// Spell out every tensor the formula expects for the present `components` (embeddings
/// and layers are always expected).
pub fn expected_tensors(d: &Dims, components: &[Component]) -> Expected {
    let mut out = Expected::default();
    for &(component, pattern, symbols) in TENSORS {
        let wanted = match component {
            C::Embeddings | C::Layer | C::Buffer => true,
            other => components.contains(&other),
        };
        if !wanted {
            continue;
        }
        let shape: Vec<u64> = symbols.iter().map(|&s| dim(d, s)).collect();
        let elements = shape.iter().product();
        let keys: Vec<String> = if pattern.contains('#') {
            (0..d.num_hidden_layers)
                .map(|n| pattern.replace('#', &n.to_string()))
                .collect()
        } else {
            vec![pattern.to_string()]
        };
        for key in keys {
            let class = crate::classify::classify_one(&key, safetensors::Dtype::F32);
            let e = ExpectedTensor {
                key,
                shape: shape.clone(),
                elements,
                bucket: class.bucket,
                role: class.role,
                component,
            };
            if component == C::Buffer {
                out.buffers.push(e);
            } else if e.key == DECODER_WEIGHT && d.tie_word_embeddings {
                out.tied.push(e);
            } else {
                out.tensors.push(e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(v: u64, h: u64, l: u64, i: u64, heads: u64) -> Dims {
        Dims {
            vocab_size: v,
            hidden_size: h,
            num_hidden_layers: l,
            num_attention_heads: Some(heads),
            intermediate_size: i,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            num_labels: 2,
            tie_word_embeddings: true,
        }
    }

    fn model(d: &Dims, name: &str) -> u64 {
        derive(d)
            .models
            .iter()
            .find(|s| s.part == name)
            .unwrap()
            .value
    }

    /// docs/reference.md §2, the table of exact counts, row by row.
    #[test]
    fn closed_form_matches_reference_table() {
        let base = dims(30522, 768, 12, 3072, 12);
        let large = dims(30522, 1024, 24, 4096, 16);
        let minilm = dims(30522, 384, 6, 1536, 12);
        for (d, with_pooler, no_pooler, pretraining, mlm) in [
            (base, 109_482_240, 108_891_648, 110_106_428, 109_514_298),
            (large, 335_141_888, 334_092_288, 336_226_108, 335_174_458),
            (minilm, 22_713_216, 22_565_376, 22_893_116, 22_744_506),
        ] {
            assert_eq!(model(&d, "BertModel"), with_pooler);
            assert_eq!(model(&d, "BertModel, no pooler"), no_pooler);
            assert_eq!(model(&d, "BertForPreTraining"), pretraining);
            assert_eq!(model(&d, "BertForMaskedLM"), mlm);
        }
        assert_eq!(derive(&base).weights_only, 108_808_704);
        assert_eq!(derive(&large).weights_only, 333_871_104);
    }

    /// docs/reference.md §2: the itemised bert-base gap.
    #[test]
    fn bert_base_gap_items_match_reference() {
        let p = Parts::of(&dims(30522, 768, 12, 3072, 12));
        assert_eq!(p.linear_biases, 82_944);
        assert_eq!(p.pooler, 590_592);
        assert_eq!(p.masked_lm + p.next_sentence, 624_188);
        assert_eq!(p.decoder, 23_440_896);
        assert_eq!(p.embeddings, 23_835_648);
    }

    fn sum(e: &Expected, f: impl Fn(&ExpectedTensor) -> bool) -> u64 {
        e.tensors.iter().filter(|t| f(t)).map(|t| t.elements).sum()
    }

    /// The tensor table and the closed form are independent; they must agree.
    #[test]
    fn tensor_table_agrees_with_closed_form_for_many_configs() {
        let all = [
            C::Pooler,
            C::Head(K::MaskedLm),
            C::Head(K::NextSentence),
            C::Head(K::Classifier),
            C::Head(K::QuestionAnswering),
        ];
        for (v, h, l, i) in [
            (97, 24, 2, 40),
            (30522, 768, 12, 3072),
            (50, 8, 0, 3),
            (7, 1, 5, 1),
        ] {
            for labels in [1, 2, 5] {
                for tie in [true, false] {
                    let mut d = dims(v, h, l, i, 1);
                    d.num_labels = labels;
                    d.max_position_embeddings = 33;
                    d.type_vocab_size = 3;
                    d.tie_word_embeddings = tie;
                    let p = Parts::of(&d);
                    let e = expected_tensors(&d, &all);
                    let backbone = sum(&e, |t| matches!(t.component, C::Embeddings | C::Layer));
                    assert_eq!(backbone, p.weights_only(l) + p.linear_biases);
                    let linear_biases = sum(&e, |t| {
                        t.component == C::Layer
                            && t.role == Role::Bias
                            && t.bucket != Bucket::LayerNorm
                    });
                    assert_eq!(linear_biases, p.linear_biases);
                    assert_eq!(sum(&e, |t| t.component == C::Pooler), p.pooler);
                    let decoder = if tie { 0 } else { p.decoder };
                    for k in HeadKind::ALL {
                        let extra = if k == K::MaskedLm { decoder } else { 0 };
                        assert_eq!(sum(&e, |t| t.component == C::Head(k)), p.head(k) + extra);
                    }
                    assert_eq!(e.tied.len(), usize::from(tie));
                }
            }
        }
    }

    #[test]
    fn expected_buckets_match_reference_for_bert_base() {
        let d = dims(30522, 768, 12, 3072, 12);
        let e = expected_tensors(
            &d,
            &[C::Pooler, C::Head(K::MaskedLm), C::Head(K::NextSentence)],
        );
        let b = |bucket| sum(&e, |t| t.bucket == bucket);
        assert_eq!(b(Bucket::Embedding), 23_835_648);
        assert_eq!(b(Bucket::Attention), 28_348_416);
        assert_eq!(b(Bucket::Ffn), 56_669_184);
        assert_eq!(b(Bucket::LayerNorm), 38_400);
        assert_eq!(b(Bucket::Pooler), 590_592);
        assert_eq!(b(Bucket::Head), 624_188);
        assert_eq!(e.tensors.len(), 206, "bert-base-uncased stores 206 tensors");
    }

    #[test]
    fn configs_without_dimensions_or_with_impossible_ones_are_refused() {
        for (text, needle) in [
            ("{}", "none of the bert family's dimensions"),
            (
                r#"{"model_type": "bert"}"#,
                "none of the bert family's dimensions",
            ),
            (r#"{"num_hidden_layers": 0}"#, "`num_hidden_layers` is 0"),
            (
                r#"{"num_attention_heads": 0}"#,
                "`num_attention_heads` is 0",
            ),
            (r#"{"hidden_size": 0}"#, "`hidden_size` is 0"),
            (r#"{"vocab_size": 0}"#, "`vocab_size` is 0"),
            (
                r#"{"hidden_size": -768}"#,
                "`hidden_size` must be a non-negative integer",
            ),
            (
                r#"{"hidden_size": 100, "num_attention_heads": 12}"#,
                "`hidden_size` 100 is not a multiple of `num_attention_heads` 12",
            ),
        ] {
            let c = ModelConfig::parse(std::path::Path::new("c.json"), text).unwrap();
            let e = Dims::from_config(&c).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn missing_config_fields_take_bert_defaults_and_are_reported() {
        let c =
            ModelConfig::parse(std::path::Path::new("c.json"), r#"{"hidden_size": 384}"#).unwrap();
        let (d, defaulted) = Dims::from_config(&c).unwrap();
        assert_eq!(d.hidden_size, 384);
        assert_eq!(d.vocab_size, 30522);
        assert!(defaulted.contains(&"vocab_size"));
        assert!(!defaulted.contains(&"hidden_size"));
    }

    #[test]
    fn id2label_sets_num_labels() {
        let c = ModelConfig::parse(
            std::path::Path::new("c.json"),
            r#"{"hidden_size": 24, "num_attention_heads": 3, "id2label": {"0": "a", "1": "b", "2": "c"}}"#,
        )
        .unwrap();
        assert_eq!(Dims::from_config(&c).unwrap().0.num_labels, 3);
    }

    #[test]
    fn wrongly_typed_or_huge_fields_are_config_errors() {
        for text in [
            r#"{"hidden_size": "768"}"#,
            r#"{"hidden_size": -1}"#,
            r#"{"hidden_size": 1e40}"#,
            r#"{"num_hidden_layers": 99999999}"#,
        ] {
            let c = ModelConfig::parse(std::path::Path::new("c.json"), text).unwrap();
            let e = Dims::from_config(&c).unwrap_err().to_string();
            assert!(e.starts_with("c.json: invalid config: `"), "{e}");
        }
    }
}
