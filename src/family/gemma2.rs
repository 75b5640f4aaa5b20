//! Gemma 2 (`model_type: gemma2`): transformers' `modeling_gemma2.py`, `Gemma2Config`
//! defaults (`configuration_gemma2.py`: Gemma 2 2B's shape, `head_dim` 256, tied head).
//! Gemma's layout (RMSNorm by `1 + weight`, scaled embeddings) with four norms per layer:
//! `pre_feedforward_layernorm` and `post_feedforward_layernorm` around the MLP besides
//! the input and post-attention ones (`Gemma2DecoderLayer`). Logit soft-capping and
//! sliding windows change no count. The hand derivation is the Llama one (see
//! [`super::llama`]).

use super::llama::{self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Gemma 2's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "Gemma2Model",
    causal_lm: "Gemma2ForCausalLM",
    sequence_classification: Some("Gemma2ForSequenceClassification"),
    token_classification: Some("Gemma2ForTokenClassification"),
    question_answering: None,
    attention_biases: AttentionBiases::Flag,
    mlp_biases: false,
    fused: false,
    qk_norms: false,
    feedforward_norms: true,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Gemma 2 family.
pub static FAMILY: Family = Family {
    name: "gemma2",
    title: "Gemma 2",
    model_types: &["gemma2"],
    covers: "Gemma2Model, causal LM (tied by default), sequence/token classification heads; grouped-query attention, head_dim, four norms per layer, attention_bias",
    norm: super::Norm::RmsNormPlusOne,
    dims: &[
        count("L", &["num_hidden_layers"], 26, MAX_LAYERS),
        count("H", &["hidden_size"], 2304, MAX_WIDTH),
        count("I", &["intermediate_size"], 9216, MAX_WIDTH),
        count("V", &["vocab_size"], 256000, MAX_COUNT),
        count("A", &["num_attention_heads"], 8, MAX_LAYERS).show("heads"),
        count("K", &["num_key_value_heads"], 4, MAX_LAYERS).show("kv_heads"),
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
        llama::FEEDFORWARD_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
    ],
    ladder: &[
        (Step::Biases, "attention biases (attention_bias)"),
        (Step::Norms, "RMSNorm weights (four per layer)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Gemma2Model", parts: &[] },
        Claim { architecture: "Gemma2ForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "Gemma2ForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "Gemma2ForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
    ],
    validate: llama::hidden_divisible_by_heads,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
