//! Gemma (`model_type: gemma`): transformers' `modeling_gemma.py`, `GemmaConfig` defaults
//! (`configuration_gemma.py`: Gemma 7B's shape, `head_dim` 256, tied head). The Llama
//! layout with two differences that change no count: the RMSNorm multiplies by
//! `1 + weight` (`GemmaRMSNorm`: weights initialised to zeros, so a trained weight sits
//! near 0, not 1), and the embeddings are scaled by sqrt(hidden_size) through a
//! non-persistent `embed_scale` buffer (never stored). The hand derivation is the Llama one
//! (see [`super::llama`]).

use super::llama::{self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Gemma's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "GemmaModel",
    causal_lm: "GemmaForCausalLM",
    sequence_classification: Some("GemmaForSequenceClassification"),
    token_classification: Some("GemmaForTokenClassification"),
    question_answering: None,
    attention_biases: AttentionBiases::Flag,
    mlp_biases: false,
    fused: false,
    qk_norms: false,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Gemma family.
pub static FAMILY: Family = Family {
    name: "gemma",
    title: "Gemma",
    model_types: &["gemma"],
    covers: "GemmaModel, causal LM (tied by default), sequence/token classification heads; multi- or grouped-query attention, head_dim, attention_bias",
    norm: super::Norm::RmsNormPlusOne,
    dims: &[
        count("L", &["num_hidden_layers"], 28, MAX_LAYERS),
        count("H", &["hidden_size"], 3072, MAX_WIDTH),
        count("I", &["intermediate_size"], 24576, MAX_WIDTH),
        count("V", &["vocab_size"], 256000, MAX_COUNT),
        count("A", &["num_attention_heads"], 16, MAX_LAYERS).show("heads"),
        count("K", &["num_key_value_heads"], 16, MAX_LAYERS).show("kv_heads"),
        count("D", &["head_dim"], 256, MAX_WIDTH).show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        flag("attn_bias", &["attention_bias"], false, "attention-bias", ""),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        llama::ATTENTION,
        llama::ATTENTION_BIASES,
        llama::MLP,
        llama::LAYER_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
    ],
    ladder: &[
        (Step::Biases, "attention biases (attention_bias)"),
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "GemmaModel", parts: &[] },
        Claim { architecture: "GemmaForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "GemmaForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "GemmaForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
    ],
    validate: llama::no_rule,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
