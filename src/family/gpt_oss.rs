//! gpt-oss (`model_type: gpt_oss`, OpenAI's gpt-oss-20b and -120b): transformers'
//! `modeling_gpt_oss.py`, `GptOssConfig` defaults (`configuration_gpt_oss.py`, lines
//! 51-77: gpt-oss-120b's shape, 36 layers of 128 experts). A decoder with grouped-query
//! attention whose every feed-forward block is a mixture of `num_local_experts` experts,
//! `num_experts_per_tok` of them used per token. What sets it apart:
//!
//! - `head_dim` defaults to 64, not `hidden_size // num_attention_heads`: the config field's
//!   default is 64 (line 56); `__post_init__` falls back to the division only for an
//!   explicit `None` (line 83), which the strict dataclass refuses anyway (`head_dim: int`).
//! - q/k/v/o biases follow `attention_bias`, which defaults to **true** (line 77).
//! - every attention layer holds `self_attn.sinks` [A], one learned attention-sink logit per
//!   query head (`GptOssAttention.__init__`, modeling line 285), whatever the config.
//! - the router is biased: `mlp.router.weight` [E, H] and `mlp.router.bias` [E]
//!   (`GptOssTopKRouter`, lines 117-124).
//! - the experts are stacked, and saved as they are held (no weight conversion on save):
//!   `mlp.experts.gate_up_proj` [E, H, 2·I] (input dimension first: the forward pass is
//!   `x @ gate_up_proj[e]`, gate and up interleaved along the last dimension),
//!   `gate_up_proj_bias` [E, 2·I], `down_proj` [E, I, H], `down_proj_bias` [E, H]
//!   (`GptOssExperts`, lines 69-78). The MXFP4 checkpoints OpenAI ships store
//!   `<proj>_blocks` / `<proj>_scales` instead, which `format::quant::mxfp4` turns back
//!   into these logical tensors, under these names.
//! - RMSNorms as in Llama (input and post-attention per layer, final), an untied LM head by
//!   default (`tie_word_embeddings` false), sequence- and token-classification heads
//!   (`GenericFor*`), no question-answering class.
//!
//! The hand derivation is the classic count: token embeddings, then per layer the attention
//! matrices, the attention sinks, the router matrix and the experts' two matrices. Linear
//! biases (attention, router, experts), the RMSNorm weights and the heads are ladder steps.
//! Active parameters: everything but the `(E - k) / E` share of the routed experts a token
//! skips, the experts' biases included (they are parameters of the experts module).

use super::llama::{
    ATTENTION, ATTENTION_BIASES, CLASSIFIER, CLASSIFIER_BIAS, EMBEDDINGS, FINAL_NORM, LAYER_NORMS,
    LM_HEAD, LM_HEAD_ROWS, SEQUENCE_CLASSIFIER, TOKEN_CLASSIFIER_BIAS,
};
use super::mixtral;
use super::Bucket::{Attention, RoutedExperts, Router};
use super::Step::Biases;
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Moe, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The gpt-oss family.
pub static FAMILY: Family = Family {
    name: "gpt_oss",
    title: "gpt-oss",
    model_types: &["gpt_oss"],
    covers: "GptOssModel, causal LM, sequence/token classification heads; attention biases and sinks, biased router, stacked experts with biases (MXFP4 experts as their logical tensors); active parameters per token",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 36, MAX_LAYERS),
        count("H", &["hidden_size"], 2880, MAX_WIDTH),
        count("I", &["intermediate_size"], 2880, MAX_WIDTH),
        count("V", &["vocab_size"], 201088, MAX_COUNT),
        count("A", &["num_attention_heads"], 64, MAX_LAYERS).show("heads"),
        count("K", &["num_key_value_heads"], 8, MAX_LAYERS).show("kv_heads"),
        // A plain 64 when absent, not H / A (configuration_gpt_oss.py line 56).
        count("D", &["head_dim"], 64, MAX_WIDTH).show("head_dim"),
        // GptOssConfig.attribute_map: `num_experts` reads `num_local_experts`.
        count("E", &["num_local_experts", "num_experts"], 128, MAX_LAYERS).show("experts"),
        count("k", &["num_experts_per_tok"], 4, MAX_LAYERS).show("per_token"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("attn_bias", &["attention_bias"], true, "attention-bias", "no-attention-bias"),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        // GenericForTokenClassification: `getattr(config, "token_classification_bias", True)`.
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        EMBEDDINGS,
        ATTENTION,
        ATTENTION_BIASES,
        SINKS,
        MOE,
        LAYER_NORMS,
        FINAL_NORM,
        LM_HEAD_ROWS,
        SEQUENCE_CLASSIFIER,
        TOKEN_CLASSIFIER_BIAS,
    ],
    ladder: &[
        (Step::Biases, "biases (attention, router, experts)"),
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "GptOssModel", parts: &[] },
        Claim { architecture: "GptOssForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "GptOssForSequenceClassification", parts: &[CLASSIFIER] },
        Claim {
            architecture: "GptOssForTokenClassification",
            parts: &[CLASSIFIER, CLASSIFIER_BIAS],
        },
    ],
    validate,
    derive,
    moe: Some(Moe {
        experts: "E",
        per_token: "k",
    }),
    compiled: std::sync::OnceLock::new(),
};

/// One learned attention-sink logit per query head, in every layer (always there).
#[rustfmt::skip]
const SINKS: &[Row] = &[
    row("layers.{layer}.self_attn.sinks",                   "A",        Attention),
];

/// The sparse MoE block (`mlp`): the biased router and the stacked experts with biases.
/// The matrices are in the hand derivation, the biases in the `biases` step; the expert
/// biases are routed experts all the same (a token uses only its experts' biases).
#[rustfmt::skip]
const MOE: &[Row] = &[
    row("layers.{layer}.mlp.router.weight",                 "E, H",     Router),
    row("layers.{layer}.mlp.router.bias",                   "E",        Router).step(Biases),
    row("layers.{layer}.mlp.experts.gate_up_proj",          "E, H, 2*I", RoutedExperts),
    row("layers.{layer}.mlp.experts.gate_up_proj_bias",     "E, 2*I",   RoutedExperts).step(Biases),
    row("layers.{layer}.mlp.experts.down_proj",             "E, I, H",  RoutedExperts),
    row("layers.{layer}.mlp.experts.down_proj_bias",        "E, H",     RoutedExperts).step(Biases),
];

fn validate(d: &Dims) -> Result<(), String> {
    mixtral::validate_routing(d)
}

/// The closed form, from the architecture (not from the table): every product checked,
/// `None` when a count exceeds 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, i, v, a, kv, hd, e, k, n) = (
        d.v("L"),
        d.v("H"),
        d.v("I"),
        d.v("V"),
        d.v("A"),
        d.v("K"),
        d.v("D"),
        d.v("E"),
        d.v("k"),
        d.v("N"),
    );
    let mul = |x: u64, y: u64| x.checked_mul(y);
    let embeddings = mul(v, h)?;
    let q_width = mul(a, hd)?;
    let kv_width = mul(kv, hd)?;
    let attention = mul(2, mul(q_width, h)?)?.checked_add(mul(2, mul(kv_width, h)?)?)?;
    let router = mul(e, h)?;
    // gate_up_proj H × 2I and down_proj I × H per expert.
    let expert = mul(3, mul(h, i)?)?;
    let experts = mul(e, expert)?;
    let per_layer = attention
        .checked_add(a)?
        .checked_add(router)?
        .checked_add(experts)?;
    let weights_only = embeddings.checked_add(mul(l, per_layer)?)?;
    let steps = vec![
        line(
            "token embeddings",
            "V · H",
            format!("{v} · {h}"),
            embeddings,
        ),
        line(
            "attention, per layer (grouped-query: K key/value heads)",
            "Q, O: 2 · A·D·H ; K, V: 2 · K·D·H",
            format!("2 · {a}·{hd}·{h} + 2 · {kv}·{hd}·{h}"),
            attention,
        ),
        line(
            "attention sinks, per layer (one per query head)",
            "A",
            format!("{a}"),
            a,
        ),
        line("router, per layer", "E · H", format!("{e} · {h}"), router),
        line(
            "experts, per layer (gate_up_proj H × 2I, down_proj I × H, stacked)",
            "E · 3 · H · I",
            format!("{e} · 3 · {h} · {i}"),
            experts,
        ),
        line(
            "total, weights only (no biases, norms or head)",
            "embeddings + L · (attention + sinks + router + experts)",
            format!("{embeddings} + {l} · ({attention} + {a} + {router} + {experts})"),
            weights_only,
        ),
    ];

    let mut additions = Vec::new();
    let attention_biases = if d.flag("attn_bias") {
        mul(l, q_width.checked_add(mul(2, kv_width)?)?.checked_add(h)?)?
    } else {
        0
    };
    additions.push(add(
        Step::Biases,
        None,
        if d.flag("attn_bias") {
            line(
                "attention biases (q, k, v, o: attention_bias)",
                "L · (A·D + 2 · K·D + H)",
                format!("{l} · ({a}·{hd} + 2 · {kv}·{hd} + {h})"),
                attention_biases,
            )
        } else {
            line(
                "attention biases",
                "none: attention_bias is false",
                "0".into(),
                0,
            )
        },
    ));
    let router_biases = mul(l, e)?;
    additions.push(add(
        Step::Biases,
        None,
        line(
            "router biases",
            "L · E",
            format!("{l} · {e}"),
            router_biases,
        ),
    ));
    // gate_up_proj_bias 2I and down_proj_bias H per expert.
    let expert_bias = mul(2, i)?.checked_add(h)?;
    let expert_biases = mul(l, mul(e, expert_bias)?)?;
    additions.push(add(
        Step::Biases,
        None,
        line(
            "expert biases (gate_up_proj_bias 2I, down_proj_bias H)",
            "L · E · (2 · I + H)",
            format!("{l} · {e} · (2 · {i} + {h})"),
            expert_biases,
        ),
    ));
    let norms = mul(l, mul(2, h)?)?.checked_add(h)?;
    additions.push(add(
        Step::Norms,
        None,
        line(
            "RMSNorm weights (input, post-attention per layer; final)",
            "L · 2 · H + H",
            format!("{l} · 2 · {h} + {h}"),
            norms,
        ),
    ));
    let tied = d.flag("tie");
    additions.push(if tied {
        add(
            Step::TiedNotStored,
            Some(LM_HEAD),
            line(
                "LM head (tied to the token embeddings)",
                "V · H",
                format!("{v} · {h}"),
                embeddings,
            ),
        )
    } else {
        add(
            Step::Heads,
            Some(LM_HEAD),
            line(
                "LM head (untied)",
                "V · H",
                format!("{v} · {h}"),
                embeddings,
            ),
        )
    });
    let score = mul(n, h)?;
    additions.push(add(
        Step::Heads,
        Some(CLASSIFIER),
        line(
            "classification head (score, no bias)",
            "N · H",
            format!("{n} · {h}"),
            score,
        ),
    ));
    let score_bias = if d.flag("score_bias") { n } else { 0 };
    if d.flag("score_bias") {
        additions.push(add(
            Step::Heads,
            Some(CLASSIFIER_BIAS),
            line("token-classification score bias", "N", format!("{n}"), n),
        ));
    }

    let biases = attention_biases
        .checked_add(router_biases)?
        .checked_add(expert_biases)?;
    let model = weights_only.checked_add(biases)?.checked_add(norms)?;
    let causal = if tied {
        model
    } else {
        model.checked_add(embeddings)?
    };
    let models = vec![
        line(
            "GptOssModel",
            "weights only + biases + norms",
            format!("{weights_only} + {biases} + {norms}"),
            model,
        ),
        if tied {
            line(
                "GptOssForCausalLM",
                "backbone (the tied LM head is the embeddings, counted once)",
                format!("{model}"),
                causal,
            )
        } else {
            line(
                "GptOssForCausalLM",
                "backbone + LM head",
                format!("{model} + {embeddings}"),
                causal,
            )
        },
        line(
            "GptOssForSequenceClassification",
            "backbone + score",
            format!("{model} + {score}"),
            model.checked_add(score)?,
        ),
        line(
            "GptOssForTokenClassification",
            "backbone + score + score bias",
            format!("{model} + {score} + {score_bias}"),
            model.checked_add(score)?.checked_add(score_bias)?,
        ),
    ];
    // A token uses k of the E experts of every layer, with their biases.
    let per_expert = expert.checked_add(expert_bias)?;
    let unused = mul(mul(l, per_expert)?, e.checked_sub(k)?)?;
    let active = line(
        "GptOssForCausalLM",
        "causal LM - L · (3 · H · I + 2 · I + H) · (E - k)",
        format!("{causal} - {l} · {per_expert} · ({e} - {k})"),
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

    fn dims(layers: u64, experts: u64) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("L", layers),
            ("H", 2880),
            ("I", 2880),
            ("V", 201088),
            ("A", 64),
            ("K", 8),
            ("D", 64),
            ("E", experts),
            ("k", 4),
            ("N", 2),
            ("attn_bias", 1),
            ("tie", 0),
            ("score_bias", 1),
        ] {
            d.set(s, x);
        }
        d
    }

    fn causal_and_active(d: &Dims) -> (i128, i128) {
        let r = derive(d).unwrap();
        let causal = r
            .models
            .iter()
            .find(|m| m.part == "GptOssForCausalLM")
            .unwrap()
            .value;
        (causal, r.active.unwrap().value)
    }

    /// gpt-oss-20b's published config: transformers 5.24 counts 20,914,757,184 parameters,
    /// 4,187,440,704 active (fixtures/families/full-size.json).
    #[test]
    fn gpt_oss_20b_matches_transformers() {
        assert_eq!(
            causal_and_active(&dims(24, 32)),
            (20_914_757_184, 4_187_440_704)
        );
    }

    /// gpt-oss-120b: 116,829,156,672 parameters, 5,711,982,912 active.
    #[test]
    fn gpt_oss_120b_matches_transformers() {
        assert_eq!(
            causal_and_active(&dims(36, 128)),
            (116_829_156_672, 5_711_982_912)
        );
    }

    /// The tiny fixture (fixtures/families/gpt-oss-for-causal-lm): 20,198 parameters,
    /// 11,606 active, as transformers counted them.
    #[test]
    fn the_tiny_fixture_matches_transformers() {
        let mut d = dims(3, 6);
        for (s, x) in [
            ("H", 16),
            ("I", 14),
            ("V", 101),
            ("A", 4),
            ("K", 2),
            ("D", 6),
            ("k", 2),
        ] {
            d.set(s, x);
        }
        assert_eq!(causal_and_active(&d), (20_198, 11_606));
    }
}
