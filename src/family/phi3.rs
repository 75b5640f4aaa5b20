//! Phi-3 (`model_type: phi3`): transformers' `modeling_phi3.py`, `Phi3Config` defaults
//! (`configuration_phi3.py`: Phi-3-mini's shape, untied head). The Llama layout with
//! fused projections, stored fused: `self_attn.qkv_proj` is one tensor
//! [A·D + 2·K·D, H] holding three logical parts (Q: A·D rows, then K and V: K·D rows each;
//! `Phi3Attention` splits it at those offsets), and `mlp.gate_up_proj` is one tensor
//! [2·I, H] holding gate and up (`Phi3MLP` chunks it in two). No biases. The hand
//! derivation is the Llama one (see [`super::llama`]): the fused tensors count exactly as
//! their parts.

use super::llama::{self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD};
use super::Bucket::{Attention, Ffn};
use super::{
    count, flag, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT, MAX_LAYERS,
    MAX_WIDTH,
};

/// Fused attention: `qkv_proj` (Q, K, V in one tensor) and `o_proj`.
#[rustfmt::skip]
pub const FUSED_ATTENTION: &[Row] = &[
    row("layers.{layer}.self_attn.qkv_proj.weight",     "A*D + 2*K*D, H", Attention),
    row("layers.{layer}.self_attn.o_proj.weight",       "H, A*D",         Attention),
];

/// Fused gated MLP: `gate_up_proj` (gate and up in one tensor) and `down_proj`.
#[rustfmt::skip]
pub const FUSED_MLP: &[Row] = &[
    row("layers.{layer}.mlp.gate_up_proj.weight",       "2*I, H",         Ffn),
    row("layers.{layer}.mlp.down_proj.weight",          "H, I",           Ffn),
];

/// Phi-3's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "Phi3Model",
    causal_lm: "Phi3ForCausalLM",
    sequence_classification: Some("Phi3ForSequenceClassification"),
    token_classification: Some("Phi3ForTokenClassification"),
    question_answering: None,
    attention_biases: AttentionBiases::Never,
    mlp_biases: false,
    fused: true,
    qk_norms: false,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Phi-3 family.
pub static FAMILY: Family = Family {
    name: "phi3",
    title: "Phi-3",
    model_types: &["phi3"],
    covers: "Phi3Model, causal LM (untied by default), sequence/token classification heads; fused qkv_proj and gate_up_proj, grouped-query attention",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 3072, MAX_WIDTH),
        count("I", &["intermediate_size"], 8192, MAX_WIDTH),
        count("V", &["vocab_size"], 32064, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_LAYERS).show("heads"),
        // `num_key_value_heads: None` becomes the heads (`Phi3Config.__post_init__`).
        count("K", &["num_key_value_heads"], 32, MAX_LAYERS).default_expr("A").show("kv_heads"),
        // No `head_dim` field; `Phi3Attention` reads `getattr(config, "head_dim",
        // hidden_size // heads)`.
        count("D", &["head_dim"], 96, MAX_WIDTH).default_expr("H / A").show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        FUSED_ATTENTION,
        FUSED_MLP,
        llama::LAYER_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
    ],
    ladder: &[
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Phi3Model", parts: &[] },
        Claim { architecture: "Phi3ForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "Phi3ForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "Phi3ForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
    ],
    validate: llama::no_rule,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
