//! Qwen3 (`model_type: qwen3`): transformers' `modeling_qwen3.py`, `Qwen3Config` defaults
//! (`configuration_qwen3.py`: `head_dim` 128, not hidden_size / heads). The Llama layout
//! with per-head RMSNorms on queries and keys (`q_norm`, `k_norm`, of the head dimension)
//! and no q/k/v bias unless `attention_bias`. The hand derivation is the Llama one (see
//! [`super::llama`]).

use super::llama::{
    self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD, QUESTION_ANSWERING,
};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Qwen3's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "Qwen3Model",
    causal_lm: "Qwen3ForCausalLM",
    sequence_classification: Some("Qwen3ForSequenceClassification"),
    token_classification: Some("Qwen3ForTokenClassification"),
    question_answering: Some("Qwen3ForQuestionAnswering"),
    attention_biases: AttentionBiases::Flag,
    mlp_biases: false,
    fused: false,
    qk_norms: true,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Qwen3 family.
pub static FAMILY: Family = Family {
    name: "qwen3",
    title: "Qwen3",
    model_types: &["qwen3"],
    covers: "Qwen3Model, causal LM (tied or untied head), sequence/token classification and QA heads; grouped-query attention, q_norm/k_norm, attention_bias",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("I", &["intermediate_size"], 22016, MAX_WIDTH),
        count("V", &["vocab_size"], 151936, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_LAYERS).show("heads"),
        // `num_key_value_heads: int | None = 32`: absent is 32 whatever the heads.
        count("K", &["num_key_value_heads"], 32, MAX_LAYERS).show("kv_heads"),
        count("D", &["head_dim"], 128, MAX_WIDTH).show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        flag("attn_bias", &["attention_bias"], false, "attention-bias", ""),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        llama::ATTENTION,
        llama::ATTENTION_BIASES,
        llama::QK_NORMS,
        llama::MLP,
        llama::LAYER_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
        llama::QUESTION_ANSWERING_ROWS,
    ],
    ladder: &[
        (Step::Biases, "attention biases (attention_bias)"),
        (Step::Norms, "RMSNorm weights (with q_norm, k_norm)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Qwen3Model", parts: &[] },
        Claim { architecture: "Qwen3ForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "Qwen3ForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "Qwen3ForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
        Claim { architecture: "Qwen3ForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate: llama::no_rule,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
