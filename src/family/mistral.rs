//! Mistral (`model_type: mistral`): transformers' `modeling_mistral.py`, `MistralConfig`
//! defaults (`configuration_mistral.py`: Mistral 7B's shape, 8 key/value heads). The
//! Llama layout without any bias: grouped-query attention and the gated MLP, RMSNorms,
//! an untied head by default. The hand derivation is the Llama one (see [`super::llama`]).

use super::llama::{
    self, AttentionBiases, Decoder, CLASSIFIER, CLASSIFIER_BIAS, LM_HEAD, QUESTION_ANSWERING,
};
use super::{
    count, flag, range, Claim, Derivation, Dims, Family, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// Mistral's differences from the shared closed form: none but its class names.
pub const SPEC: Decoder = Decoder {
    model: "MistralModel",
    causal_lm: "MistralForCausalLM",
    sequence_classification: Some("MistralForSequenceClassification"),
    token_classification: Some("MistralForTokenClassification"),
    question_answering: Some("MistralForQuestionAnswering"),
    attention_biases: AttentionBiases::Never,
    mlp_biases: false,
    fused: false,
    qk_norms: false,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    llama::derive_decoder(&SPEC, d)
}

/// The Mistral family.
pub static FAMILY: Family = Family {
    name: "mistral",
    title: "Mistral",
    model_types: &["mistral"],
    covers: "MistralModel, causal LM (tied or untied head), sequence/token classification and QA heads; grouped-query attention, head_dim",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("I", &["intermediate_size"], 14336, MAX_WIDTH),
        count("V", &["vocab_size"], 32000, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_LAYERS).show("heads"),
        // An int field defaulting to 8 (`num_key_value_heads: int = 8`): absent is 8,
        // whatever the heads.
        count("K", &["num_key_value_heads"], 8, MAX_LAYERS).show("kv_heads"),
        // `head_dim: None` becomes hidden_size // heads (`MistralConfig.__post_init__`).
        count("D", &["head_dim"], 128, MAX_WIDTH).default_expr("H / A").show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        llama::EMBEDDINGS,
        llama::ATTENTION,
        llama::MLP,
        llama::LAYER_NORMS,
        llama::FINAL_NORM,
        llama::LM_HEAD_ROWS,
        llama::SEQUENCE_CLASSIFIER,
        llama::TOKEN_CLASSIFIER_BIAS,
        llama::QUESTION_ANSWERING_ROWS,
    ],
    ladder: &[
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "MistralModel", parts: &[] },
        Claim { architecture: "MistralForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "MistralForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "MistralForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
        Claim { architecture: "MistralForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate: llama::no_rule,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};
