//! Gemma 3, text only (`model_type: gemma3_text`, `Gemma3ForCausalLM` and
//! `Gemma3TextModel`): transformers' `modeling_gemma3.py`, `Gemma3TextConfig` defaults
//! (`configuration_gemma3.py`: `head_dim` 256, vocabulary 262,208, tied head). Gemma 2's
//! layout (four RMSNorms per layer, by `1 + weight`; scaled embeddings) plus per-head
//! `q_norm` / `k_norm` of the head dimension (`Gemma3Attention`). The rotary buffers, one
//! set per attention type, are non-persistent. The multimodal `gemma3` checkpoints (vision
//! tower, projector) are another model type. The hand derivation is the Llama one (see
//! [`super::llama`]).

use super::llama::{self, AttentionBiases, Decoder, CLASSIFIER, LM_HEAD};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Gemma 3's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "Gemma3TextModel",
    causal_lm: "Gemma3ForCausalLM",
    sequence_classification: Some("Gemma3TextForSequenceClassification"),
    token_classification: None,
    question_answering: None,
    attention_biases: AttentionBiases::Flag,
    mlp_biases: false,
    fused: false,
    qk_norms: true,
    feedforward_norms: true,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Gemma 3 (text) family.
pub static FAMILY: Family = Family {
    name: "gemma3",
    title: "Gemma 3 (text)",
    model_types: &["gemma3_text"],
    covers: "Gemma3TextModel, Gemma3ForCausalLM (tied by default), Gemma3TextForSequenceClassification; grouped-query attention, head_dim, q_norm/k_norm, four norms per layer, attention_bias",
    norm: super::Norm::RmsNormPlusOne,
    dims: &[
        count("L", &["num_hidden_layers"], 26, MAX_LAYERS),
        count("H", &["hidden_size"], 2304, MAX_WIDTH),
        count("I", &["intermediate_size"], 9216, MAX_WIDTH),
        count("V", &["vocab_size"], 262208, MAX_COUNT),
        count("A", &["num_attention_heads"], 8, MAX_LAYERS).show("heads"),
        count("K", &["num_key_value_heads"], 4, MAX_LAYERS).show("kv_heads"),
        count("D", &["head_dim"], 256, MAX_WIDTH).show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        flag("attn_bias", &["attention_bias"], false, "attention-bias", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        llama::ATTENTION,
        llama::ATTENTION_BIASES,
        llama::QK_NORMS,
        llama::MLP,
        llama::LAYER_NORMS,
        llama::FEEDFORWARD_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
    ],
    ladder: &[
        (Step::Biases, "attention biases (attention_bias)"),
        (Step::Norms, "RMSNorm weights (four per layer, q_norm, k_norm)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Gemma3TextModel", parts: &[] },
        Claim { architecture: "Gemma3ForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "Gemma3TextForSequenceClassification", parts: &[CLASSIFIER] },
    ],
    validate: llama::hidden_divisible_by_heads,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
