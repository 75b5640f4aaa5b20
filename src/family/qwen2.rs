//! Qwen2 and Qwen2.5 (`model_type: qwen2`): transformers' `modeling_qwen2.py`,
//! `Qwen2Config` defaults (`configuration_qwen2.py`). The Llama layout with biases on the
//! q, k and v projections, always, and none on o (`Qwen2Attention`). The hand derivation
//! is the Llama one (see [`super::llama`]); the q/k/v biases are the `biases` step.

use super::llama::{
    self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD, QUESTION_ANSWERING,
};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Qwen2's differences from the shared closed form.
pub const SPEC: Decoder = Decoder {
    model: "Qwen2Model",
    causal_lm: "Qwen2ForCausalLM",
    sequence_classification: Some("Qwen2ForSequenceClassification"),
    token_classification: Some("Qwen2ForTokenClassification"),
    question_answering: Some("Qwen2ForQuestionAnswering"),
    attention_biases: AttentionBiases::Qkv,
    mlp_biases: false,
    fused: false,
    qk_norms: false,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Qwen2 family.
pub static FAMILY: Family = Family {
    name: "qwen2",
    title: "Qwen2",
    model_types: &["qwen2"],
    covers: "Qwen2Model, causal LM (tied or untied head), sequence/token classification and QA heads; grouped-query attention with q/k/v biases",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("I", &["intermediate_size"], 22016, MAX_WIDTH),
        count("V", &["vocab_size"], 151936, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_LAYERS).show("heads"),
        // `num_key_value_heads: int | None = 32`: absent is 32 whatever the heads (only an
        // explicit null becomes the heads, in `Qwen2Config.__post_init__`).
        count("K", &["num_key_value_heads"], 32, MAX_LAYERS).show("kv_heads"),
        // No `head_dim` field; `Qwen2Attention` reads `getattr(config, "head_dim",
        // hidden_size // heads)`, so a config that sets one is obeyed.
        count("D", &["head_dim"], 128, MAX_WIDTH).default_expr("H / A").show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        llama::ATTENTION,
        llama::QKV_BIASES,
        llama::MLP,
        llama::LAYER_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
        llama::QUESTION_ANSWERING_ROWS,
    ],
    ladder: &[
        (Step::Biases, "q, k, v biases"),
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Qwen2Model", parts: &[] },
        Claim { architecture: "Qwen2ForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "Qwen2ForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "Qwen2ForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
        Claim { architecture: "Qwen2ForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate: llama::no_rule,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
