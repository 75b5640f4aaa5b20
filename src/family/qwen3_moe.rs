//! Qwen3-MoE (`model_type: qwen3_moe`): transformers' `modeling_qwen3_moe`,
//! `Qwen3MoeConfig` defaults (`configuration_qwen3_moe.py`). A Qwen3 decoder (grouped-query
//! attention with `head_dim`, per-head RMSNorms `q_norm` / `k_norm` of `head_dim`, biases
//! on q/k/v/o only when `attention_bias`) whose sparse layers hold a router and
//! `num_experts` routed SwiGLU experts of `moe_intermediate_size`; no shared expert.
//!
//! Sparse layers as in Qwen2-MoE (`Qwen3MoeDecoderLayer.__init__`): not in
//! `mlp_only_layers` and `(l + 1) % decoder_sparse_step == 0`; the others a dense MLP of
//! `intermediate_size`. `Qwen3MoeConfig.attribute_map` reads `num_experts` as
//! `num_local_experts`, which is the key transformers 5 writes; published configs say
//! `num_experts`: both are read.
//!
//! The hand derivation counts embeddings, attention matrices, q/k norms, dense MLPs,
//! routers, routed experts and every RMSNorm; attention biases and heads are steps.

use super::mixtral::{self, ATTENTION, CAUSAL_LM, CLASSIFIERS, EMBEDDINGS, LAYER_NORMS, QA_HEAD};
use super::qwen2_moe::{self, DENSE_MLP, LAYER_RANGES, ROUTED_EXPERTS};
use super::Bucket::{Attention, Norm};
use super::Step::Biases;
use super::{
    add, count, flag, line, list, row, Claim, Derivation, Dims, Family, Moe, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The Qwen3-MoE family.
pub static FAMILY: Family = Family {
    name: "qwen3_moe",
    title: "Qwen3-MoE",
    model_types: &["qwen3_moe"],
    covers: "Qwen3MoeModel, causal-LM, sequence/token classification and QA heads; dense and sparse layers (mlp_only_layers, decoder_sparse_step); active parameters per token",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 24, MAX_LAYERS),
        count("H", &["hidden_size"], 2048, MAX_WIDTH),
        count("I", &["intermediate_size"], 6144, MAX_WIDTH),
        count("MI", &["moe_intermediate_size"], 768, MAX_WIDTH).show("moe_I"),
        count("V", &["vocab_size"], 151936, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_WIDTH).show("heads"),
        count("KV", &["num_key_value_heads"], 4, MAX_WIDTH).show("kv_heads"),
        // Qwen3MoeAttention: `getattr(config, "head_dim", hidden_size // num_heads)`.
        count("D", &["head_dim"], 64, MAX_WIDTH)
            .default_expr("H / A")
            .show("head_dim"),
        count("E", &["num_experts", "num_local_experts"], 128, MAX_LAYERS).show("experts"),
        count("k", &["num_experts_per_tok"], 8, MAX_LAYERS).show("per_token"),
        count("ST", &["decoder_sparse_step"], 1, MAX_LAYERS).show("sparse_step"),
        list("MO", &["mlp_only_layers"]).show("mlp_only"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("bias", &["attention_bias"], false, "attention-bias", ""),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &LAYER_RANGES,
    tensors: &[
        EMBEDDINGS,
        ATTENTION,
        ATTENTION_BIASES,
        QK_NORMS,
        LAYER_NORMS,
        DENSE_MLP,
        ROUTED_EXPERTS,
        CAUSAL_LM,
        CLASSIFIERS,
        QA_HEAD,
    ],
    ladder: &[
        (Step::Biases, "attention biases"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Qwen3MoeModel", parts: &[] },
        Claim { architecture: "Qwen3MoeForCausalLM", parts: &[mixtral::LM_HEAD] },
        Claim { architecture: "Qwen3MoeForSequenceClassification", parts: &[mixtral::CLASSIFIER] },
        Claim {
            architecture: "Qwen3MoeForTokenClassification",
            parts: &[mixtral::CLASSIFIER, mixtral::TOKEN_CLASSIFIER],
        },
        Claim { architecture: "Qwen3MoeForQuestionAnswering", parts: &[mixtral::QUESTION_ANSWERING] },
    ],
    validate,
    derive,
    moe: Some(Moe {
        experts: "E",
        per_token: "k",
    }),
    compiled: std::sync::OnceLock::new(),
};

/// q/k/v/o biases, only when `attention_bias` (default false).
#[rustfmt::skip]
const ATTENTION_BIASES: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.bias",     "A*D",  Attention).step(Biases).when("bias"),
    row("layers.{layer}.self_attn.k_proj.bias",     "KV*D", Attention).step(Biases).when("bias"),
    row("layers.{layer}.self_attn.v_proj.bias",     "KV*D", Attention).step(Biases).when("bias"),
    row("layers.{layer}.self_attn.o_proj.bias",     "H",    Attention).step(Biases).when("bias"),
];

/// The per-head RMSNorms on queries and keys, `head_dim` wide.
#[rustfmt::skip]
const QK_NORMS: &[Row] = &[
    row("layers.{layer}.self_attn.q_norm.weight",   "D",    Norm),
    row("layers.{layer}.self_attn.k_norm.weight",   "D",    Norm),
];

fn validate(d: &Dims) -> Result<(), String> {
    mixtral::validate_routing(d)
}

/// The closed form.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, v, a, kv, hd, e, k) = (
        d.v("L"),
        d.v("H"),
        d.v("V"),
        d.v("A"),
        d.v("KV"),
        d.v("D"),
        d.v("E"),
        d.v("k"),
    );
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v, h)?;
    let (attention, attention_line) = mixtral::gqa(d)?;
    let qk_norms = mul(2, hd)?;
    let norms = mul(2, h)?;
    let x = qwen2_moe::layers(d)?;
    let sparse_layer = x.router.checked_add(x.experts)?;
    let per_layer = attention.checked_add(qk_norms)?.checked_add(norms)?;
    let weights_only = embeddings
        .checked_add(mul(l, per_layer)?)?
        .checked_add(mul(x.dense, x.mlp)?)?
        .checked_add(mul(x.sparse, sparse_layer)?)?
        .checked_add(h)?;
    let mut steps = vec![
        line("embeddings", "V · H", format!("{v} · {h}"), embeddings),
        attention_line,
        line(
            "q/k RMSNorms, per layer",
            "2 · D",
            format!("2 · {hd}"),
            qk_norms,
        ),
        line("RMSNorms, per layer", "2 · H", format!("2 · {h}"), norms),
    ];
    steps.extend(x.lines);
    steps.extend([
        line("final RMSNorm", "H", format!("{h}"), h),
        line(
            "total, weights only",
            "embeddings + L · (attention + q/k norms + norms) + dense · MLP + sparse · (router + experts) + H",
            format!(
                "{embeddings} + {l} · {per_layer} + {} · {} + {} · {sparse_layer} + {h}",
                x.dense, x.mlp, x.sparse
            ),
            weights_only,
        ),
    ]);
    let biases = if d.flag("bias") {
        mul(l, mul(a.checked_add(mul(2, kv)?)?, hd)?.checked_add(h)?)?
    } else {
        0
    };
    let model = weights_only.checked_add(biases)?;
    let (mut additions, classes, causal) = mixtral::heads(d, "Qwen3Moe", model, true)?;
    additions.insert(
        0,
        add(
            Step::Biases,
            None,
            if d.flag("bias") {
                line(
                    "attention biases (q, k, v, o)",
                    "L · ((A + 2 · KV) · D + H)",
                    format!("{l} · (({a} + 2 · {kv}) · {hd} + {h})"),
                    biases,
                )
            } else {
                line(
                    "attention biases",
                    "none: attention_bias is false",
                    "0".into(),
                    0,
                )
            },
        ),
    );
    let mut models = vec![line(
        "Qwen3MoeModel",
        "weights only + biases",
        format!("{weights_only} + {biases}"),
        model,
    )];
    models.extend(classes);
    let unused = mul(mul(x.sparse, x.expert)?, e.checked_sub(k)?)?;
    let active = line(
        "Qwen3MoeForCausalLM",
        "causal LM - sparse layers · 3 · H · MI · (E - k)",
        format!("{causal} - {} · {} · ({e} - {k})", x.sparse, x.expert),
        causal.checked_sub(unused)?,
    );
    Some(Derivation {
        steps,
        weights_only,
        additions,
        models,
        active: Some(active),
    })
}
