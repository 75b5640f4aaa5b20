//! Mixtral (`model_type: mixtral`): transformers' `modeling_mixtral`, `MixtralConfig`
//! defaults (`configuration_mixtral.py`). A Llama-style decoder (grouped-query attention,
//! RMSNorms, untied head by default) whose every feed-forward block is a sparse mixture of
//! `num_local_experts` SwiGLU experts, `num_experts_per_tok` of them used per token.
//!
//! On disk each layer stores `block_sparse_moe.gate.weight` (the router, `[E, H]`) and
//! `block_sparse_moe.experts.{e}.w1/w3` (`[I, H]`: gate and up) and `w2` (`[H, I]`:
//! down). transformers 5 holds them in memory as `mlp.gate.weight` and the fused
//! `mlp.experts.gate_up_proj` `[E, 2I, H]` / `down_proj` `[E, H, I]`, and writes them back
//! split under the names above (its weight conversion, reverted on save).
//!
//! The hand derivation is the usual count: embeddings, per layer the attention matrices,
//! the router, the experts and the two RMSNorms, and the final norm; the head is a step.
//! Active parameters: everything but the `(E - k) / E` share of the experts a token skips.

use super::Bucket::{Attention, Embedding, Head, Norm, RoutedExperts, Router};
use super::Step::Heads;
use super::{
    add, count, flag, line, range, row, Addition, Claim, Derivation, Dims, Family, Line, Moe, Row,
    Step, MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The Mixtral family.
pub static FAMILY: Family = Family {
    name: "mixtral",
    title: "Mixtral",
    model_types: &["mixtral"],
    covers: "MixtralModel, causal-LM, sequence/token classification and QA heads; active parameters per token",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("I", &["intermediate_size"], 14336, MAX_WIDTH),
        count("V", &["vocab_size"], 32000, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_WIDTH).show("heads"),
        // `num_key_value_heads: null` means one per query head (MixtralConfig.__post_init__).
        count("KV", &["num_key_value_heads"], 8, MAX_WIDTH)
            .show("kv_heads")
            .if_null(super::Default::Expr("A")),
        // `getattr(config, "head_dim", None) or hidden_size // num_attention_heads`.
        count("D", &["head_dim"], 128, MAX_WIDTH)
            .default_expr("H / A")
            .show("head_dim"),
        // MixtralConfig.attribute_map: `num_experts` reads `num_local_experts`.
        count("E", &["num_local_experts", "num_experts"], 8, MAX_LAYERS).show("experts"),
        count("k", &["num_experts_per_tok"], 2, MAX_LAYERS).show("per_token"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[range("layer", "L"), range("expert", "E")],
    tensors: &[EMBEDDINGS, ATTENTION, LAYER_NORMS, EXPERTS, CAUSAL_LM, CLASSIFIERS, QA_HEAD],
    ladder: &[
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "MixtralModel", parts: &[] },
        Claim { architecture: "MixtralForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "MixtralForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "MixtralForTokenClassification", parts: &[CLASSIFIER, TOKEN_CLASSIFIER] },
        Claim { architecture: "MixtralForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate,
    derive,
    moe: Some(Moe {
        experts: "E",
        per_token: "k",
    }),
    compiled: std::sync::OnceLock::new(),
};

/// The causal-LM head (`lm_head`).
pub const LM_HEAD: &str = "lm_head";
/// The sequence-classification head's weight (`score.weight`, no bias:
/// `GenericForSequenceClassification` in transformers' `modeling_layers.py`).
pub const CLASSIFIER: &str = "classifier";
/// The token-classification head's bias (`score.bias`: `GenericForTokenClassification`
/// adds one, `token_classification_bias` defaulting to true); its weight is
/// [`CLASSIFIER`]'s `score.weight`.
pub const TOKEN_CLASSIFIER: &str = "token_classifier";
/// The question-answering head (`qa_outputs`, always 2 outputs:
/// `GenericForQuestionAnswering`).
pub const QUESTION_ANSWERING: &str = "question_answering";

/// Token embeddings and the final RMSNorm (`model.embed_tokens`, `model.norm`): in the
/// hand derivation. Any prefix.
#[rustfmt::skip]
pub const EMBEDDINGS: &[Row] = &[
    row("embed_tokens.weight",                              "V, H",     Embedding),
    row("norm.weight",                                      "H",        Norm),
];

/// Grouped-query attention without biases (`{layer}` in 0..L): `A` query heads and `KV`
/// key/value heads of `D` dimensions each.
#[rustfmt::skip]
pub const ATTENTION: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.weight",           "A*D, H",   Attention),
    row("layers.{layer}.self_attn.k_proj.weight",           "KV*D, H",  Attention),
    row("layers.{layer}.self_attn.v_proj.weight",           "KV*D, H",  Attention),
    row("layers.{layer}.self_attn.o_proj.weight",           "H, A*D",   Attention),
];

/// The two RMSNorms of every decoder layer.
#[rustfmt::skip]
pub const LAYER_NORMS: &[Row] = &[
    row("layers.{layer}.input_layernorm.weight",            "H",        Norm),
    row("layers.{layer}.post_attention_layernorm.weight",   "H",        Norm),
];

/// Mixtral's sparse MoE block, on-disk names: the router and `E` SwiGLU experts.
#[rustfmt::skip]
const EXPERTS: &[Row] = &[
    row("layers.{layer}.block_sparse_moe.gate.weight",                  "E, H", Router),
    row("layers.{layer}.block_sparse_moe.experts.{expert}.w1.weight",   "I, H", RoutedExperts),
    row("layers.{layer}.block_sparse_moe.experts.{expert}.w2.weight",   "H, I", RoutedExperts),
    row("layers.{layer}.block_sparse_moe.experts.{expert}.w3.weight",   "I, H", RoutedExperts),
];

/// The causal-LM head, tied to the token embeddings when `tie_word_embeddings`.
#[rustfmt::skip]
pub const CAUSAL_LM: &[Row] = &[
    row("lm_head.weight",       "V, H", Head).step(Heads).part(LM_HEAD)
        .tied("tie", "embed_tokens.weight"),
];

/// transformers' generic sequence- and token-classification heads (`modeling_layers.py`):
/// `score.weight` for both, `score.bias` for token classification only.
#[rustfmt::skip]
pub const CLASSIFIERS: &[Row] = &[
    row("score.weight",         "N, H", Head).step(Heads).part(CLASSIFIER),
    row("score.bias",           "N",    Head).step(Heads).part(TOKEN_CLASSIFIER),
];

/// transformers' generic question-answering head (`modeling_layers.py`).
#[rustfmt::skip]
pub const QA_HEAD: &[Row] = &[
    row("qa_outputs.weight",    "2, H", Head).step(Heads).part(QUESTION_ANSWERING),
    row("qa_outputs.bias",      "2",    Head).step(Heads).part(QUESTION_ANSWERING),
];

/// The experts a token uses cannot outnumber the experts (the router's top-k).
pub fn validate_routing(d: &Dims) -> Result<(), String> {
    let (e, k) = (d.v("E"), d.v("k"));
    if k > e {
        return Err(format!(
            "`num_experts_per_tok` {k} is more than the {e} experts"
        ));
    }
    Ok(())
}

fn validate(d: &Dims) -> Result<(), String> {
    validate_routing(d)
}

/// The head additions and model-class lines every decoder of this shape has: the causal-LM
/// head (or its tie), sequence and token classification (`score`, `N` labels), and, when
/// `qa`, question answering (`qa_outputs`, 2 outputs). `model` is the bare model's count
/// (`<prefix>Model`, its line the caller's); returns the additions, the head classes' lines
/// and the causal-LM total.
pub fn heads(
    d: &Dims,
    prefix: &str,
    model: u64,
    qa: bool,
) -> Option<(Vec<Addition>, Vec<Line>, u64)> {
    let (v, h, n) = (d.v("V"), d.v("H"), d.v("N"));
    let lm_head = v.checked_mul(h)?;
    let score = n.checked_mul(h)?;
    let qa_outputs = h.checked_mul(2)?.checked_add(2)?;
    let tied = d.flag("tie");
    let mut additions = vec![
        if tied {
            add(
                Step::TiedNotStored,
                Some(LM_HEAD),
                line(
                    "LM head (tied to the token embeddings)",
                    "V · H",
                    format!("{v} · {h}"),
                    lm_head,
                ),
            )
        } else {
            add(
                Step::Heads,
                Some(LM_HEAD),
                line("LM head", "V · H", format!("{v} · {h}"), lm_head),
            )
        },
        add(
            Step::Heads,
            Some(CLASSIFIER),
            line(
                "classification head (score, no bias)",
                "N · H",
                format!("{n} · {h}"),
                score,
            ),
        ),
        add(
            Step::Heads,
            Some(TOKEN_CLASSIFIER),
            line(
                "token-classification bias (score.bias)",
                "N",
                format!("{n}"),
                n,
            ),
        ),
    ];
    if qa {
        additions.push(add(
            Step::Heads,
            Some(QUESTION_ANSWERING),
            line(
                "question-answering head (qa_outputs)",
                "2 · H + 2",
                format!("2 · {h} + 2"),
                qa_outputs,
            ),
        ));
    }
    // Tied, the head is the embedding matrix: counted once, in the model.
    let causal = if tied {
        model
    } else {
        model.checked_add(lm_head)?
    };
    let mut models = vec![
        if tied {
            line(
                &format!("{prefix}ForCausalLM"),
                "model (LM head tied to the embeddings)",
                format!("{model}"),
                causal,
            )
        } else {
            line(
                &format!("{prefix}ForCausalLM"),
                "model + LM head",
                format!("{model} + {lm_head}"),
                causal,
            )
        },
        line(
            &format!("{prefix}ForSequenceClassification"),
            "model + N · H",
            format!("{model} + {score}"),
            model.checked_add(score)?,
        ),
        line(
            &format!("{prefix}ForTokenClassification"),
            "model + N · H + N",
            format!("{model} + {score} + {n}"),
            model.checked_add(score)?.checked_add(n)?,
        ),
    ];
    if qa {
        models.push(line(
            &format!("{prefix}ForQuestionAnswering"),
            "model + 2 · H + 2",
            format!("{model} + {qa_outputs}"),
            model.checked_add(qa_outputs)?,
        ));
    }
    Some((additions, models, causal))
}

/// Grouped-query attention per layer without biases: `H · A·D` (q), `2 · H · KV·D` (k, v),
/// `A·D · H` (o).
pub fn gqa(d: &Dims) -> Option<(u64, Line)> {
    let (h, a, kv, hd) = (d.v("H"), d.v("A"), d.v("KV"), d.v("D"));
    let q = h.checked_mul(a)?.checked_mul(hd)?;
    let k = h.checked_mul(kv)?.checked_mul(hd)?;
    let value = q.checked_mul(2)?.checked_add(k.checked_mul(2)?)?;
    Some((
        value,
        line(
            "attention, per layer",
            "Q, O: 2 · H · A·D ; K, V: 2 · H · KV·D",
            format!("2 · {h} · {a}·{hd} + 2 · {h} · {kv}·{hd}"),
            value,
        ),
    ))
}

/// The closed form.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, i, v, e, k) = (d.v("L"), d.v("H"), d.v("I"), d.v("V"), d.v("E"), d.v("k"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v, h)?;
    let (attention, attention_line) = gqa(d)?;
    let router = mul(e, h)?;
    let expert = mul(3, mul(h, i)?)?;
    let experts = mul(e, expert)?;
    let norms = mul(2, h)?;
    let per_layer = attention
        .checked_add(router)?
        .checked_add(experts)?
        .checked_add(norms)?;
    let weights_only = embeddings.checked_add(mul(l, per_layer)?)?.checked_add(h)?;
    let steps = vec![
        line("embeddings", "V · H", format!("{v} · {h}"), embeddings),
        attention_line,
        line("router, per layer", "E · H", format!("{e} · {h}"), router),
        line(
            "experts, per layer",
            "E · 3 · H · I (w1, w3: I×H ; w2: H×I)",
            format!("{e} · 3 · {h} · {i}"),
            experts,
        ),
        line("RMSNorms, per layer", "2 · H", format!("2 · {h}"), norms),
        line("final RMSNorm", "H", format!("{h}"), h),
        line(
            "total, weights only",
            "embeddings + L · (attention + router + experts + norms) + H",
            format!("{embeddings} + {l} · ({attention} + {router} + {experts} + {norms}) + {h}"),
            weights_only,
        ),
    ];
    let (additions, classes, causal) = heads(d, "Mixtral", weights_only, true)?;
    let mut models = vec![line(
        "MixtralModel",
        "weights only (no biases)",
        format!("{weights_only}"),
        weights_only,
    )];
    models.extend(classes);
    // A token uses k of the E experts of every layer.
    let unused = mul(mul(l, expert)?, e.checked_sub(k)?)?;
    let active = line(
        "MixtralForCausalLM",
        "causal LM - L · 3 · H · I · (E - k)",
        format!("{causal} - {l} · {expert} · ({e} - {k})"),
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

    /// mixtral-8x7b's published config: transformers 5.24 counts 46,702,792,704
    /// parameters, 12,879,925,248 active (fixtures/families/full-size.json).
    #[test]
    fn mixtral_8x7b_matches_transformers() {
        let mut d = Dims::default();
        for (s, x) in [
            ("L", 32),
            ("H", 4096),
            ("I", 14336),
            ("V", 32000),
            ("A", 32),
            ("KV", 8),
            ("D", 128),
            ("E", 8),
            ("k", 2),
            ("N", 2),
            ("tie", 0),
        ] {
            d.set(s, x);
        }
        let r = derive(&d).unwrap();
        let causal = r
            .models
            .iter()
            .find(|m| m.part == "MixtralForCausalLM")
            .unwrap();
        assert_eq!(causal.value, 46_702_792_704);
        assert_eq!(r.active.unwrap().value, 12_879_925_248);
    }
}
