//! Sort every tensor into one bucket and one role, by name, with rules kept as data.
//!
//! A rule is a dotted pattern matched against the *end* of a tensor name at a segment
//! boundary, so any prefix (`bert.`, none, `model.bert.`) is accepted. In a pattern, `#`
//! stands for a layer number and `*` for the leaf, one of `weight`, `bias`, `gamma`, `beta`
//! (the TF-era LayerNorm spelling). The first rule that matches wins, so the specific rules
//! (the heads' own LayerNorm) come before the general ones.
//!
//! Each match also yields a *canonical key*: the pattern with the layer number filled in and
//! the leaf normalised (`gamma` -> `weight`, `beta` -> `bias`). The formula names the
//! tensors it expects by the same keys, so matching stored against expected tensors does
//! not depend on prefixes or spellings.

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Tensor;

/// Where a tensor's parameters go in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// Word, position and token-type embedding matrices.
    Embedding,
    /// Query, key, value and attention-output projections (weights and biases).
    Attention,
    /// The feed-forward block: intermediate and output dense layers.
    Ffn,
    /// Every LayerNorm of the backbone (embedding LayerNorm included).
    #[serde(rename = "layernorm")]
    LayerNorm,
    /// The pooler's dense layer.
    Pooler,
    /// Task and pre-training heads (MLM, next sentence, classifiers, QA).
    Head,
    /// Non-parameter tensors (`position_ids`, integer tensors).
    Buffer,
    /// Anything no rule recognises.
    Other,
}

impl Bucket {
    /// Every bucket, in report order.
    pub const ALL: [Bucket; 8] = [
        Bucket::Embedding,
        Bucket::Attention,
        Bucket::Ffn,
        Bucket::LayerNorm,
        Bucket::Pooler,
        Bucket::Head,
        Bucket::Buffer,
        Bucket::Other,
    ];

    /// The name used in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Embedding => "embedding",
            Bucket::Attention => "attention",
            Bucket::Ffn => "ffn",
            Bucket::LayerNorm => "layernorm",
            Bucket::Pooler => "pooler",
            Bucket::Head => "head",
            Bucket::Buffer => "buffer",
            Bucket::Other => "other",
        }
    }
}

/// What a tensor is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A weight matrix, embedding table or LayerNorm gamma.
    Weight,
    /// A bias vector or LayerNorm beta.
    Bias,
    /// Not a parameter.
    Buffer,
}

impl Role {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Weight => "weight",
            Role::Bias => "bias",
            Role::Buffer => "buffer",
        }
    }
}

/// The heads a BERT-family checkpoint can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// `cls.predictions.*`: the masked-LM head (transform, LayerNorm, output bias, decoder).
    MaskedLm,
    /// `cls.seq_relationship.*`: the next-sentence head.
    NextSentence,
    /// `classifier.*`: sequence, token or multiple-choice classification.
    Classifier,
    /// `qa_outputs.*`: extractive question answering (start/end logits).
    QuestionAnswering,
}

impl HeadKind {
    /// Every head kind, in report order.
    pub const ALL: [HeadKind; 4] = [
        HeadKind::MaskedLm,
        HeadKind::NextSentence,
        HeadKind::Classifier,
        HeadKind::QuestionAnswering,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            HeadKind::MaskedLm => "masked_lm",
            HeadKind::NextSentence => "next_sentence",
            HeadKind::Classifier => "classifier",
            HeadKind::QuestionAnswering => "question_answering",
        }
    }
}

/// Which part of the model a rule belongs to; the formula expects parts, not tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    /// Embedding tables and their LayerNorm.
    Embeddings,
    /// One encoder layer (attention, FFN, two LayerNorms).
    Layer,
    /// The pooler.
    Pooler,
    /// A head.
    Head(HeadKind),
    /// A known buffer.
    Buffer,
}

/// One classification rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Dotted suffix pattern; `#` is a layer number, `*` a leaf (weight/bias/gamma/beta).
    pub pattern: &'static str,
    /// Bucket of the tensors it matches.
    pub bucket: Bucket,
    /// Model part of the tensors it matches.
    pub component: Component,
}

const fn rule(pattern: &'static str, bucket: Bucket, component: Component) -> Rule {
    Rule {
        pattern,
        bucket,
        component,
    }
}

use Bucket as B;
use Component as C;
use HeadKind as H;

/// The BERT-family rules, most specific first. Names follow transformers' `modeling_bert`.
pub const RULES: &[Rule] = &[
    // Buffers registered by BertEmbeddings (saved by older transformers versions).
    rule("embeddings.position_ids", B::Buffer, C::Buffer),
    rule("embeddings.token_type_ids", B::Buffer, C::Buffer),
    // Embeddings.
    rule(
        "embeddings.word_embeddings.weight",
        B::Embedding,
        C::Embeddings,
    ),
    rule(
        "embeddings.position_embeddings.weight",
        B::Embedding,
        C::Embeddings,
    ),
    rule(
        "embeddings.token_type_embeddings.weight",
        B::Embedding,
        C::Embeddings,
    ),
    rule("embeddings.LayerNorm.*", B::LayerNorm, C::Embeddings),
    // Heads before the encoder: the MLM transform has a LayerNorm of its own.
    rule(
        "cls.predictions.transform.dense.*",
        B::Head,
        C::Head(H::MaskedLm),
    ),
    rule(
        "cls.predictions.transform.LayerNorm.*",
        B::Head,
        C::Head(H::MaskedLm),
    ),
    rule(
        "cls.predictions.decoder.weight",
        B::Head,
        C::Head(H::MaskedLm),
    ),
    rule(
        "cls.predictions.decoder.bias",
        B::Head,
        C::Head(H::MaskedLm),
    ),
    rule("cls.predictions.bias", B::Head, C::Head(H::MaskedLm)),
    rule("cls.seq_relationship.*", B::Head, C::Head(H::NextSentence)),
    rule("classifier.*", B::Head, C::Head(H::Classifier)),
    rule("qa_outputs.*", B::Head, C::Head(H::QuestionAnswering)),
    // Encoder layers.
    rule("layer.#.attention.self.query.*", B::Attention, C::Layer),
    rule("layer.#.attention.self.key.*", B::Attention, C::Layer),
    rule("layer.#.attention.self.value.*", B::Attention, C::Layer),
    rule("layer.#.attention.output.dense.*", B::Attention, C::Layer),
    rule(
        "layer.#.attention.output.LayerNorm.*",
        B::LayerNorm,
        C::Layer,
    ),
    rule("layer.#.intermediate.dense.*", B::Ffn, C::Layer),
    rule("layer.#.output.dense.*", B::Ffn, C::Layer),
    rule("layer.#.output.LayerNorm.*", B::LayerNorm, C::Layer),
    // Pooler.
    rule("pooler.dense.*", B::Pooler, C::Pooler),
];

/// The canonical key of the tied MLM decoder weight.
pub const DECODER_WEIGHT: &str = "cls.predictions.decoder.weight";
/// The canonical key of the MLM decoder bias, tied to `cls.predictions.bias`.
pub const DECODER_BIAS: &str = "cls.predictions.decoder.bias";
/// The canonical key of the word embeddings (what the decoder weight is tied to).
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// How one tensor was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Its bucket.
    pub bucket: Bucket,
    /// Its role.
    pub role: Role,
    /// Model part, when a rule matched.
    pub component: Option<Component>,
    /// Canonical key, when a rule matched (see the module docs).
    pub key: Option<String>,
    /// Layer number, for encoder-layer tensors.
    pub layer: Option<u64>,
}

/// A tensor with its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The tensor as stored.
    pub tensor: Tensor,
    /// Its class.
    pub class: Class,
}

/// True for floating-point (and complex) dtypes: the ones parameters are stored in.
pub fn is_float(dtype: Dtype) -> bool {
    !matches!(
        dtype,
        Dtype::BOOL
            | Dtype::U8
            | Dtype::I8
            | Dtype::I16
            | Dtype::U16
            | Dtype::I32
            | Dtype::U32
            | Dtype::I64
            | Dtype::U64
    )
}

fn normalise_leaf(leaf: &str) -> Option<&'static str> {
    match leaf {
        "weight" | "gamma" => Some("weight"),
        "bias" | "beta" => Some("bias"),
        _ => None,
    }
}

/// Match `name` against one pattern; on success return the canonical key and layer.
fn match_rule(pattern: &str, name: &str) -> Option<(String, Option<u64>)> {
    let pat: Vec<&str> = pattern.split('.').collect();
    let segs: Vec<&str> = name.split('.').collect();
    if segs.len() < pat.len() {
        return None;
    }
    let tail = &segs[segs.len() - pat.len()..];
    let mut key = Vec::with_capacity(pat.len());
    let mut layer = None;
    for (p, s) in pat.iter().zip(tail) {
        match *p {
            "#" => {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                layer = Some(s.parse().ok()?);
                key.push(*s);
            }
            "*" => key.push(normalise_leaf(s)?),
            lit if lit == *s => key.push(lit),
            _ => return None,
        }
    }
    Some((key.join("."), layer))
}

/// The rule (if any) a name matches, with the canonical key and layer number.
pub fn find_rule(name: &str) -> Option<(&'static Rule, String, Option<u64>)> {
    RULES
        .iter()
        .find_map(|r| match_rule(r.pattern, name).map(|(k, l)| (r, k, l)))
}

fn leaf_role(name: &str) -> Role {
    match name.rsplit('.').next() {
        Some("bias" | "beta") => Role::Bias,
        _ => Role::Weight,
    }
}

/// Classify one tensor by name and dtype.
///
/// Known buffers go to `buffer`. An integer or boolean tensor goes to `buffer` too unless
/// its name is a known parameter (a quantised weight stays a weight). A float tensor no
/// rule recognises goes to `other`.
pub fn classify_one(name: &str, dtype: Dtype) -> Class {
    match find_rule(name) {
        Some((rule, key, layer)) => {
            let role = if rule.component == Component::Buffer {
                Role::Buffer
            } else {
                leaf_role(&key)
            };
            Class {
                bucket: rule.bucket,
                role,
                component: Some(rule.component),
                key: Some(key),
                layer,
            }
        }
        None if !is_float(dtype) => Class {
            bucket: Bucket::Buffer,
            role: Role::Buffer,
            component: None,
            key: None,
            layer: None,
        },
        None => Class {
            bucket: Bucket::Other,
            role: leaf_role(name),
            component: None,
            key: None,
            layer: None,
        },
    }
}

/// Classify every tensor.
pub fn classify(tensors: Vec<Tensor>) -> Vec<Classified> {
    tensors
        .into_iter()
        .map(|tensor| {
            let class = classify_one(&tensor.name, tensor.dtype);
            Classified { tensor, class }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> Bucket {
        classify_one(name, Dtype::F32).bucket
    }

    #[test]
    fn layer_norm_gamma_counts_as_weight_and_beta_as_bias() {
        let g = classify_one("bert.encoder.layer.3.output.LayerNorm.gamma", Dtype::F32);
        assert_eq!((g.bucket, g.role), (Bucket::LayerNorm, Role::Weight));
        assert_eq!(g.key.as_deref(), Some("layer.3.output.LayerNorm.weight"));
        assert_eq!(g.layer, Some(3));
        let b = classify_one("encoder.layer.3.output.LayerNorm.beta", Dtype::F32);
        assert_eq!((b.bucket, b.role), (Bucket::LayerNorm, Role::Bias));
    }

    #[test]
    fn prefixes_do_not_change_the_bucket_or_key() {
        for prefix in ["", "bert.", "model.bert.", "roberta_like."] {
            let c = classify_one(
                &format!("{prefix}encoder.layer.10.attention.self.query.bias"),
                Dtype::F32,
            );
            assert_eq!((c.bucket, c.role), (Bucket::Attention, Role::Bias));
            assert_eq!(c.key.as_deref(), Some("layer.10.attention.self.query.bias"));
        }
    }

    #[test]
    fn attention_output_dense_is_attention_but_layer_output_dense_is_ffn() {
        assert_eq!(
            bucket("bert.encoder.layer.0.attention.output.dense.weight"),
            Bucket::Attention
        );
        assert_eq!(
            bucket("bert.encoder.layer.0.output.dense.weight"),
            Bucket::Ffn
        );
        assert_eq!(
            bucket("bert.encoder.layer.0.intermediate.dense.bias"),
            Bucket::Ffn
        );
    }

    #[test]
    fn mlm_transform_layer_norm_is_a_head_not_a_backbone_layer_norm() {
        assert_eq!(
            bucket("cls.predictions.transform.LayerNorm.gamma"),
            Bucket::Head
        );
        assert_eq!(bucket("bert.embeddings.LayerNorm.gamma"), Bucket::LayerNorm);
    }

    #[test]
    fn every_head_is_recognised() {
        for (name, head) in [
            ("cls.predictions.bias", HeadKind::MaskedLm),
            ("cls.predictions.decoder.weight", HeadKind::MaskedLm),
            ("cls.seq_relationship.weight", HeadKind::NextSentence),
            ("classifier.bias", HeadKind::Classifier),
            ("qa_outputs.weight", HeadKind::QuestionAnswering),
        ] {
            let c = classify_one(name, Dtype::F32);
            assert_eq!(c.bucket, Bucket::Head, "{name}");
            assert_eq!(c.component, Some(Component::Head(head)), "{name}");
        }
        assert_eq!(
            classify_one("cls.predictions.bias", Dtype::F32).role,
            Role::Bias
        );
    }

    #[test]
    fn known_and_integer_buffers_are_buffers() {
        let p = classify_one("embeddings.position_ids", Dtype::I64);
        assert_eq!((p.bucket, p.role), (Bucket::Buffer, Role::Buffer));
        let m = classify_one("h.0.attn.masked_bias", Dtype::BOOL);
        assert_eq!((m.bucket, m.role), (Bucket::Buffer, Role::Buffer));
    }

    #[test]
    fn quantised_integer_weight_with_a_known_name_stays_a_weight() {
        let q = classify_one("bert.encoder.layer.0.output.dense.weight", Dtype::I8);
        assert_eq!((q.bucket, q.role), (Bucket::Ffn, Role::Weight));
    }

    #[test]
    fn unknown_float_tensors_go_to_other() {
        let c = classify_one("adapter.down.weight", Dtype::F16);
        assert_eq!(
            (c.bucket, c.role, c.key),
            (Bucket::Other, Role::Weight, None)
        );
        assert_eq!(bucket("encoder.layer.0.output.dense.scale"), Bucket::Other);
        assert_eq!(bucket("encoder.layer.x.output.dense.weight"), Bucket::Other);
    }
}
