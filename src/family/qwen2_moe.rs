//! Qwen2-MoE (`model_type: qwen2_moe`): transformers' `modeling_qwen2_moe`,
//! `Qwen2MoeConfig` defaults (`configuration_qwen2_moe.py`). A Qwen2 decoder (grouped-query
//! attention with q/k/v biases, RMSNorms) whose sparse layers hold a router, `num_experts`
//! routed SwiGLU experts of `moe_intermediate_size`, one shared expert of
//! `shared_expert_intermediate_size` and its sigmoid gate (`shared_expert_gate`, `[1, H]`).
//!
//! Which layers are sparse (`Qwen2MoeDecoderLayer.__init__`): layer `l` is a mixture of
//! experts when it is not in `mlp_only_layers` and `(l + 1) % decoder_sparse_step == 0`;
//! the others are a dense SwiGLU MLP of `intermediate_size`. transformers 5 fuses each
//! layer's experts in memory (`mlp.experts.gate_up_proj` / `down_proj`) and writes them
//! back per expert, `mlp.experts.{e}.gate_proj/up_proj/down_proj`.
//!
//! The hand derivation counts embeddings, attention matrices, the dense MLPs, routers,
//! routed and shared experts with the shared-expert gate, every RMSNorm; the attention
//! biases and the heads are steps. Active parameters: everything but the `(E - k) / E`
//! share of the routed experts (the shared expert and the gates always run).

use super::mixtral::{self, ATTENTION, CAUSAL_LM, CLASSIFIERS, EMBEDDINGS, LAYER_NORMS, QA_HEAD};
use super::Bucket::{Attention, Ffn, RoutedExperts, Router, SharedExperts};
use super::Step::Biases;
use super::{
    add, count, flag, line, list, range, row, Claim, Derivation, Dims, Family, Line, Moe, Range,
    Row, Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The Qwen2-MoE family.
pub static FAMILY: Family = Family {
    name: "qwen2_moe",
    title: "Qwen2-MoE",
    model_types: &["qwen2_moe"],
    covers: "Qwen2MoeModel, causal-LM, sequence/token classification and QA heads; dense and sparse layers (mlp_only_layers, decoder_sparse_step); active parameters per token",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 24, MAX_LAYERS),
        count("H", &["hidden_size"], 2048, MAX_WIDTH),
        count("I", &["intermediate_size"], 5632, MAX_WIDTH),
        count("MI", &["moe_intermediate_size"], 1408, MAX_WIDTH).show("moe_I"),
        count("SI", &["shared_expert_intermediate_size"], 5632, MAX_WIDTH).show("shared_I"),
        count("V", &["vocab_size"], 151936, MAX_COUNT),
        count("A", &["num_attention_heads"], 16, MAX_WIDTH).show("heads"),
        count("KV", &["num_key_value_heads"], 16, MAX_WIDTH).show("kv_heads"),
        // Qwen2MoeAttention: `getattr(config, "head_dim", hidden_size // num_heads)`.
        count("D", &["head_dim"], 128, MAX_WIDTH)
            .default_expr("H / A")
            .show("head_dim"),
        count("E", &["num_experts"], 60, MAX_LAYERS).show("experts"),
        count("k", &["num_experts_per_tok"], 4, MAX_LAYERS).show("per_token"),
        count("ST", &["decoder_sparse_step"], 1, MAX_LAYERS).show("sparse_step"),
        list("MO", &["mlp_only_layers"]).show("mlp_only"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("qkv_bias", &["qkv_bias"], true, "qkv-bias", "no-qkv-bias"),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &LAYER_RANGES,
    tensors: &[
        EMBEDDINGS,
        ATTENTION,
        QKV_BIASES,
        LAYER_NORMS,
        DENSE_MLP,
        ROUTED_EXPERTS,
        SHARED_EXPERT,
        CAUSAL_LM,
        CLASSIFIERS,
        QA_HEAD,
    ],
    ladder: &[
        (Step::Biases, "q/k/v biases"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "Qwen2MoeModel", parts: &[] },
        Claim { architecture: "Qwen2MoeForCausalLM", parts: &[mixtral::LM_HEAD] },
        Claim { architecture: "Qwen2MoeForSequenceClassification", parts: &[mixtral::CLASSIFIER] },
        Claim {
            architecture: "Qwen2MoeForTokenClassification",
            parts: &[mixtral::CLASSIFIER, mixtral::TOKEN_CLASSIFIER],
        },
        Claim { architecture: "Qwen2MoeForQuestionAnswering", parts: &[mixtral::QUESTION_ANSWERING] },
    ],
    validate,
    derive,
    moe: Some(Moe {
        experts: "E",
        per_token: "k",
    }),
    compiled: std::sync::OnceLock::new(),
};

/// Whether layer `l` is a mixture of experts (`Qwen2MoeDecoderLayer`, and Qwen3-MoE's
/// alike): not in `mlp_only_layers`, and `(l + 1) % decoder_sparse_step == 0`.
pub fn is_moe_layer(d: &Dims, l: u64) -> bool {
    !d.list("MO").contains(&l) && (l + 1).checked_rem(d.v("ST")) == Some(0)
}

fn is_dense_layer(d: &Dims, l: u64) -> bool {
    !is_moe_layer(d, l)
}

/// `{layer}` every decoder layer, `{dense}` the dense ones, `{moe}` the sparse ones,
/// `{expert}` the routed experts of a sparse layer.
pub const LAYER_RANGES: [Range; 4] = [
    range("layer", "L"),
    Range {
        filter: Some(is_dense_layer),
        ..range("dense", "L")
    },
    Range {
        filter: Some(is_moe_layer),
        ..range("moe", "L")
    },
    range("expert", "E"),
];

/// The q/k/v biases (`qkv_bias`, default true).
#[rustfmt::skip]
const QKV_BIASES: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.bias",     "A*D",  Attention).step(Biases).when("qkv_bias"),
    row("layers.{layer}.self_attn.k_proj.bias",     "KV*D", Attention).step(Biases).when("qkv_bias"),
    row("layers.{layer}.self_attn.v_proj.bias",     "KV*D", Attention).step(Biases).when("qkv_bias"),
];

/// The dense SwiGLU MLP of the layers that are not sparse (`{dense}`), `intermediate_size`
/// wide.
#[rustfmt::skip]
pub const DENSE_MLP: &[Row] = &[
    row("layers.{dense}.mlp.gate_proj.weight",      "I, H", Ffn),
    row("layers.{dense}.mlp.up_proj.weight",        "I, H", Ffn),
    row("layers.{dense}.mlp.down_proj.weight",      "H, I", Ffn),
];

/// A sparse layer's router and routed experts (`{moe}`), on-disk names, each expert
/// `moe_intermediate_size` (`MI`) wide.
#[rustfmt::skip]
pub const ROUTED_EXPERTS: &[Row] = &[
    row("layers.{moe}.mlp.gate.weight",                             "E, H",  Router),
    row("layers.{moe}.mlp.experts.{expert}.gate_proj.weight",       "MI, H", RoutedExperts),
    row("layers.{moe}.mlp.experts.{expert}.up_proj.weight",         "MI, H", RoutedExperts),
    row("layers.{moe}.mlp.experts.{expert}.down_proj.weight",       "H, MI", RoutedExperts),
];

/// Qwen2-MoE's shared expert and its gate, in every sparse layer.
#[rustfmt::skip]
const SHARED_EXPERT: &[Row] = &[
    row("layers.{moe}.mlp.shared_expert.gate_proj.weight",  "SI, H", SharedExperts),
    row("layers.{moe}.mlp.shared_expert.up_proj.weight",    "SI, H", SharedExperts),
    row("layers.{moe}.mlp.shared_expert.down_proj.weight",  "H, SI", SharedExperts),
    row("layers.{moe}.mlp.shared_expert_gate.weight",       "1, H",  Router),
];

fn validate(d: &Dims) -> Result<(), String> {
    mixtral::validate_routing(d)
}

/// The number of sparse layers, counted the closed way: the multiples of
/// `decoder_sparse_step` among 1..=L, less the `mlp_only_layers` (once each, below L) that
/// would have been one.
pub fn moe_layers(d: &Dims) -> Option<u64> {
    let (l, step) = (d.v("L"), d.v("ST"));
    if step == 0 {
        return None;
    }
    let mut excluded: Vec<u64> = d
        .list("MO")
        .iter()
        .copied()
        .filter(|m| *m < l && (m + 1) % step == 0)
        .collect();
    excluded.sort_unstable();
    excluded.dedup();
    (l / step).checked_sub(crate::count::len(excluded.len()))
}

/// Per-layer figures shared by the Qwen MoE closed forms: (dense layers, sparse layers,
/// dense MLP, router, routed experts per sparse layer, one routed expert) with their lines.
pub struct Layers {
    /// Dense layers.
    pub dense: u64,
    /// Sparse layers.
    pub sparse: u64,
    /// One dense MLP.
    pub mlp: u64,
    /// One router.
    pub router: u64,
    /// One routed expert.
    pub expert: u64,
    /// The routed experts of one sparse layer.
    pub experts: u64,
    /// Their lines.
    pub lines: Vec<Line>,
}

/// The dense MLPs, routers and routed experts.
pub fn layers(d: &Dims) -> Option<Layers> {
    let (l, h, i, mi, e, step) = (d.v("L"), d.v("H"), d.v("I"), d.v("MI"), d.v("E"), d.v("ST"));
    let sparse = moe_layers(d)?;
    let dense = l.checked_sub(sparse)?;
    let mlp = h.checked_mul(i)?.checked_mul(3)?;
    let router = e.checked_mul(h)?;
    let expert = h.checked_mul(mi)?.checked_mul(3)?;
    let experts = e.checked_mul(expert)?;
    let lines = vec![
        line(
            &format!("dense MLP, per dense layer ({dense} of {l})"),
            "3 · H · I (gate, up: I×H ; down: H×I)",
            format!("3 · {h} · {i}"),
            mlp,
        ),
        line(
            &format!(
                "router, per sparse layer ({sparse} of {l}: (l + 1) % {step} == 0, not in mlp_only_layers)"
            ),
            "E · H",
            format!("{e} · {h}"),
            router,
        ),
        line(
            "routed experts, per sparse layer",
            "E · 3 · H · MI",
            format!("{e} · 3 · {h} · {mi}"),
            experts,
        ),
    ];
    Some(Layers {
        dense,
        sparse,
        mlp,
        router,
        expert,
        experts,
        lines,
    })
}

/// The closed form.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, v, si, a, kv, hd, e, k) = (
        d.v("L"),
        d.v("H"),
        d.v("V"),
        d.v("SI"),
        d.v("A"),
        d.v("KV"),
        d.v("D"),
        d.v("E"),
        d.v("k"),
    );
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v, h)?;
    let (attention, attention_line) = mixtral::gqa(d)?;
    let norms = mul(2, h)?;
    let x = layers(d)?;
    let shared = mul(3, mul(h, si)?)?;
    let sparse_layer = x
        .router
        .checked_add(x.experts)?
        .checked_add(shared)?
        .checked_add(h)?;
    let weights_only = embeddings
        .checked_add(mul(l, attention.checked_add(norms)?)?)?
        .checked_add(mul(x.dense, x.mlp)?)?
        .checked_add(mul(x.sparse, sparse_layer)?)?
        .checked_add(h)?;
    let mut steps = vec![
        line("embeddings", "V · H", format!("{v} · {h}"), embeddings),
        attention_line,
        line("RMSNorms, per layer", "2 · H", format!("2 · {h}"), norms),
    ];
    steps.extend(x.lines);
    steps.extend([
        line(
            "shared expert and its gate, per sparse layer",
            "3 · H · SI + H",
            format!("3 · {h} · {si} + {h}"),
            shared.checked_add(h)?,
        ),
        line("final RMSNorm", "H", format!("{h}"), h),
        line(
            "total, weights only",
            "embeddings + L · (attention + norms) + dense · MLP + sparse · (router + experts + shared + gate) + H",
            format!(
                "{embeddings} + {l} · ({attention} + {norms}) + {} · {} + {} · {sparse_layer} + {h}",
                x.dense, x.mlp, x.sparse
            ),
            weights_only,
        ),
    ]);
    let biases = if d.flag("qkv_bias") {
        mul(l, mul(a.checked_add(mul(2, kv)?)?, hd)?)?
    } else {
        0
    };
    let model = weights_only.checked_add(biases)?;
    let (mut additions, classes, causal) = mixtral::heads(d, "Qwen2Moe", model, true)?;
    additions.insert(
        0,
        add(
            Step::Biases,
            None,
            if d.flag("qkv_bias") {
                line(
                    "q/k/v biases",
                    "L · (A + 2 · KV) · D",
                    format!("{l} · ({a} + 2 · {kv}) · {hd}"),
                    biases,
                )
            } else {
                line("q/k/v biases", "none: qkv_bias is false", "0".into(), 0)
            },
        ),
    );
    let mut models = vec![line(
        "Qwen2MoeModel",
        "weights only + biases",
        format!("{weights_only} + {biases}"),
        model,
    )];
    models.extend(classes);
    let unused = mul(mul(x.sparse, x.expert)?, e.checked_sub(k)?)?;
    let active = line(
        "Qwen2MoeForCausalLM",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_layers_follow_the_step_and_the_mlp_only_list() {
        let mut d = Dims::default();
        d.set("L", 8);
        d.set("ST", 2);
        d.set_list("MO", vec![3, 3, 4, 9]);
        // 1, 3, 5, 7 by the step; 3 is mlp-only (4 and 9 were not sparse anyway).
        assert_eq!(moe_layers(&d), Some(3));
        let table: Vec<u64> = (0..8).filter(|l| is_moe_layer(&d, *l)).collect();
        assert_eq!(table, vec![1, 5, 7]);
    }
}
