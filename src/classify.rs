//! Sort every tensor into one bucket and one role with its family's table (see
//! [`crate::family`]): the row a name matches gives its bucket, role, part and canonical
//! key. The same rows spell out what the formula expects, so matching stored against
//! expected tensors compares keys, never spellings.
//!
//! Without a family (or for a name no row matches) an integer or boolean tensor is a
//! buffer and a float tensor goes to `other`.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Tensor;
use crate::dtype::DType;
use crate::family::{Compiled, Family, RowKind};

/// Where a tensor's parameters go in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Token, position and type embeddings, patch embeddings, position tables.
    Embedding,
    /// Attention projections (query, key, value, output; fused or latent).
    Attention,
    /// The dense feed-forward block (gated or not).
    Ffn,
    /// Mixture-of-experts routers (gates).
    Router,
    /// Routed experts of mixture-of-experts layers.
    RoutedExperts,
    /// Shared (always active) experts of mixture-of-experts layers.
    SharedExperts,
    /// Every norm of the backbone: LayerNorm or RMSNorm (the report names which).
    Norm,
    /// The pooler.
    Pooler,
    /// Task and language-model heads.
    Head,
    /// Quantization overhead: scales, zero points, group indices, quant states.
    Quantization,
    /// Non-parameter tensors (`position_ids`, causal masks, router score biases).
    Buffer,
    /// Anything no rule recognises.
    Other,
}

impl Bucket {
    /// Every bucket, in report order.
    pub const ALL: [Bucket; 12] = [
        Bucket::Embedding,
        Bucket::Attention,
        Bucket::Ffn,
        Bucket::Router,
        Bucket::RoutedExperts,
        Bucket::SharedExperts,
        Bucket::Norm,
        Bucket::Pooler,
        Bucket::Head,
        Bucket::Quantization,
        Bucket::Buffer,
        Bucket::Other,
    ];

    /// The name used in reports and JSON keys.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Embedding => "embedding",
            Bucket::Attention => "attention",
            Bucket::Ffn => "ffn",
            Bucket::Router => "router",
            Bucket::RoutedExperts => "routed_experts",
            Bucket::SharedExperts => "shared_experts",
            Bucket::Norm => "norm",
            Bucket::Pooler => "pooler",
            Bucket::Head => "head",
            Bucket::Quantization => "quantization",
            Bucket::Buffer => "buffer",
            Bucket::Other => "other",
        }
    }
}

/// What a tensor is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A weight matrix, embedding table or norm weight (gamma).
    Weight,
    /// A bias vector or LayerNorm beta.
    Bias,
    /// Not a parameter.
    Buffer,
    /// Quantization overhead: stored for a quantized parameter, not a parameter itself.
    Overhead,
}

impl Role {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Weight => "weight",
            Role::Bias => "bias",
            Role::Buffer => "buffer",
            Role::Overhead => "overhead",
        }
    }

    /// Whether tensors of this role are parameters (weights and biases are; buffers and
    /// quantization overhead are not).
    pub fn is_parameter(self) -> bool {
        matches!(self, Role::Weight | Role::Bias)
    }
}

/// How one tensor was classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Its bucket.
    pub bucket: Bucket,
    /// Its role.
    pub role: Role,
    /// The family row it matched, if any.
    pub row: Option<usize>,
    /// The part of the model it belongs to, when a row matched.
    pub part: Option<&'static str>,
    /// Canonical key, when a row matched (the matched suffix, leaf normalised).
    pub key: Option<String>,
    /// Captured numbers (`layer` 3), when a row matched.
    pub captures: crate::family::compiled::Captures,
}

/// A tensor with its class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The tensor as stored.
    pub tensor: Tensor,
    /// Its class.
    pub class: Class,
}

/// A bias by its leaf name: `bias`, TF's `beta`, or a bare parameter named `<x>_bias`
/// (gpt-oss's stacked `experts.gate_up_proj_bias` beside `experts.gate_up_proj`).
fn leaf_role(name: &str) -> Role {
    match name.rsplit('.').next() {
        Some("bias" | "beta") => Role::Bias,
        Some(leaf) if leaf.ends_with("_bias") => Role::Bias,
        _ => Role::Weight,
    }
}

/// Classify one tensor with a compiled family table (or none).
///
/// A matched row gives the bucket and part; its role is `buffer` for buffer rows, else
/// `bias` or `weight` by the leaf name (an integer tensor with a known parameter name, a
/// quantised weight, stays a weight). An unmatched integer or boolean tensor is a buffer,
/// an unmatched float tensor goes to `other`.
pub fn classify_one(name: &str, dtype: DType, table: Option<&Compiled>) -> Class {
    classify_name(name, dtype, false, false, table)
}

/// Classify one tensor: quantization overhead goes to its own bucket whatever its name;
/// a quantized weight (see [`is_quantized_weight`]) unmatched by any row is a parameter
/// whatever its stored dtype; anything else as [`classify_one`] says.
pub fn classify_tensor(t: &Tensor, table: Option<&Compiled>) -> Class {
    classify_name(&t.name, t.dtype, t.overhead, is_quantized_weight(t), table)
}

/// A weight [`crate::format::quant`] rewrote: packed (it holds more logical elements than
/// it stores), or stored as itself in a quantized dtype (`stored_as` naming itself: int8,
/// FP8).
pub fn is_quantized_weight(t: &Tensor) -> bool {
    !t.overhead
        && (t.stored_elements != t.elements || t.stored_as.as_deref() == Some(t.name.as_str()))
}

fn classify_name(
    name: &str,
    dtype: DType,
    overhead: bool,
    quantized: bool,
    table: Option<&Compiled>,
) -> Class {
    if overhead {
        return Class {
            bucket: Bucket::Quantization,
            role: Role::Overhead,
            row: None,
            part: None,
            key: None,
            captures: Default::default(),
        };
    }
    if let Some(m) = table.and_then(|t| t.classify(name)) {
        let row = table.map(|t| t.rows[m.row].row);
        if let Some(row) = row {
            let role = if row.kind == RowKind::Buffer {
                Role::Buffer
            } else {
                leaf_role(&m.key)
            };
            return Class {
                bucket: row.bucket,
                role,
                row: Some(m.row),
                part: Some(row.part),
                key: Some(m.key),
                captures: m.captures,
            };
        }
    }
    let (bucket, role) = if dtype.is_float() || quantized {
        (Bucket::Other, leaf_role(name))
    } else {
        (Bucket::Buffer, Role::Buffer)
    };
    Class {
        bucket,
        role,
        row: None,
        part: None,
        key: None,
        captures: Default::default(),
    }
}

/// Classify every tensor with `family`'s table (or none).
pub fn classify(tensors: Vec<Tensor>, family: Option<&'static Family>) -> Vec<Classified> {
    use rayon::prelude::*;
    let table = family.map(|f| f.compiled());
    let one = |tensor: Tensor| {
        let class = classify_tensor(&tensor, table);
        Classified { tensor, class }
    };
    // Large checkpoints (tens of thousands of tensors) are classified on every core.
    if tensors.len() >= PARALLEL_FROM {
        tensors.into_par_iter().map(one).collect()
    } else {
        tensors.into_iter().map(one).collect()
    }
}

/// Tensor count from which per-tensor work is spread over threads.
pub const PARALLEL_FROM: usize = 4096;

/// How many of `names` a family's table recognises (to pick a family without a config).
pub fn recognised(family: &'static Family, names: &[&str]) -> usize {
    use rayon::prelude::*;
    let table = family.compiled();
    if names.len() >= PARALLEL_FROM {
        return names
            .par_iter()
            .filter(|n| table.classify(n).is_some())
            .count();
    }
    names.iter().filter(|n| table.classify(n).is_some()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::bert;
    use safetensors::Dtype;

    fn class(name: &str, dtype: Dtype) -> Class {
        classify_one(name, dtype.into(), Some(bert::FAMILY.compiled()))
    }

    fn bucket(name: &str) -> Bucket {
        class(name, Dtype::F32).bucket
    }

    #[test]
    fn layer_norm_gamma_counts_as_weight_and_beta_as_bias() {
        let g = class("bert.encoder.layer.3.output.LayerNorm.gamma", Dtype::F32);
        assert_eq!((g.bucket, g.role), (Bucket::Norm, Role::Weight));
        assert_eq!(g.key.as_deref(), Some("layer.3.output.LayerNorm.weight"));
        assert_eq!(g.captures.as_slice(), [("layer", 3)]);
        let b = class("encoder.layer.3.output.LayerNorm.beta", Dtype::F32);
        assert_eq!((b.bucket, b.role), (Bucket::Norm, Role::Bias));
    }

    #[test]
    fn prefixes_do_not_change_the_bucket_or_key() {
        for prefix in ["", "bert.", "model.bert.", "roberta_like."] {
            let c = class(
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
    fn mlm_transform_layer_norm_is_a_head_not_a_backbone_norm() {
        assert_eq!(
            bucket("cls.predictions.transform.LayerNorm.gamma"),
            Bucket::Head
        );
        assert_eq!(bucket("bert.embeddings.LayerNorm.gamma"), Bucket::Norm);
    }

    #[test]
    fn every_head_is_recognised() {
        for (name, head) in [
            ("cls.predictions.bias", "masked_lm"),
            ("cls.predictions.decoder.weight", "masked_lm"),
            ("cls.seq_relationship.weight", "next_sentence"),
            ("classifier.bias", "classifier"),
            ("qa_outputs.weight", "question_answering"),
        ] {
            let c = class(name, Dtype::F32);
            assert_eq!(c.bucket, Bucket::Head, "{name}");
            assert_eq!(c.part, Some(head), "{name}");
        }
        assert_eq!(class("cls.predictions.bias", Dtype::F32).role, Role::Bias);
    }

    #[test]
    fn a_bare_parameter_named_like_a_bias_is_a_bias() {
        let gpt_oss = Some(crate::family::gpt_oss::FAMILY.compiled());
        for (name, role) in [
            ("model.layers.0.mlp.experts.gate_up_proj_bias", Role::Bias),
            ("model.layers.0.mlp.experts.down_proj_bias", Role::Bias),
            ("model.layers.0.mlp.experts.down_proj", Role::Weight),
            ("model.layers.0.mlp.router.bias", Role::Bias),
            ("model.layers.0.self_attn.sinks", Role::Weight),
        ] {
            assert_eq!(
                classify_one(name, Dtype::BF16.into(), gpt_oss).role,
                role,
                "{name}"
            );
        }
        // A buffer row stays a buffer whatever its name.
        let bart = Some(crate::family::bart::FAMILY.compiled());
        let c = classify_one("final_logits_bias", Dtype::F32.into(), bart);
        assert_eq!(c.role, Role::Buffer);
    }

    #[test]
    fn known_and_integer_buffers_are_buffers() {
        let p = class("embeddings.position_ids", Dtype::I64);
        assert_eq!((p.bucket, p.role), (Bucket::Buffer, Role::Buffer));
        let m = class("h.0.attn.masked_bias", Dtype::BOOL);
        assert_eq!((m.bucket, m.role), (Bucket::Buffer, Role::Buffer));
    }

    #[test]
    fn quantised_integer_weight_with_a_known_name_stays_a_weight() {
        let q = class("bert.encoder.layer.0.output.dense.weight", Dtype::I8);
        assert_eq!((q.bucket, q.role), (Bucket::Ffn, Role::Weight));
    }

    #[test]
    fn unknown_float_tensors_go_to_other() {
        let c = class("adapter.down.weight", Dtype::F16);
        assert_eq!(
            (c.bucket, c.role, c.key),
            (Bucket::Other, Role::Weight, None)
        );
        assert_eq!(bucket("encoder.layer.0.output.dense.scale"), Bucket::Other);
        assert_eq!(bucket("encoder.layer.x.output.dense.weight"), Bucket::Other);
        let none = classify_one(
            "encoder.layer.0.output.dense.weight",
            Dtype::F32.into(),
            None,
        );
        assert_eq!(none.bucket, Bucket::Other);
    }

    #[test]
    fn a_layer_number_beyond_64_bits_matches_no_row() {
        let c = class(
            "encoder.layer.184467440737095516150.attention.self.query.weight",
            Dtype::F32,
        );
        assert_eq!(c.bucket, Bucket::Other);
    }
}
