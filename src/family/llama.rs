//! Llama-style decoders: the row blocks they share (token embeddings, grouped-query
//! attention, gated MLP, RMSNorms, heads), the closed form they share ([`derive_decoder`],
//! with each family's differences as data in a [`Decoder`]), and the Llama family itself
//! (`model_type: llama`, Llama 1, 2 and 3): transformers' `modeling_llama.py`,
//! `LlamaConfig` defaults (`configuration_llama.py`). Mistral, Qwen2, Qwen3, Gemma 1-3 and
//! Phi-3 reuse the blocks; the mixture-of-experts decoders can reuse the attention, norm,
//! embedding and head blocks.
//!
//! Symbols every block uses: `L` layers, `H` hidden size, `I` intermediate size, `V`
//! vocabulary, `A` attention heads, `K` key/value heads, `D` head dimension (`head_dim`,
//! which may differ from `H / A`), `N` labels; flags `tie` (`tie_word_embeddings`),
//! `attn_bias` (`attention_bias`), `mlp_bias` (`mlp_bias`), `score_bias`
//! (`token_classification_bias`).
//!
//! The hand derivation is the classic decoder count: token embeddings, then per layer the
//! attention with grouped-query keys and values (Q and O: A·D·H each, K and V: K·D·H each)
//! and the gated MLP (gate, up and down: 3·H·I). RMSNorm weights, linear biases and the
//! heads are ladder steps. An untied LM head is the `heads` step, not part of the hand
//! derivation: the derivation is what every checkpoint of the family holds, and a
//! `LlamaModel` checkpoint holds no head.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm};
use super::Step::{Biases, Heads, Norms};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The LM head's part.
pub const LM_HEAD: &str = "lm_head";
/// The sequence-classification head's part (`score.weight`, no bias).
pub const CLASSIFIER: &str = "classifier";
/// The token-classification head's bias (`score.bias`): its weight is the `classifier`
/// part's `score.weight`, so the bias is a part of its own.
pub const CLASSIFIER_BIAS: &str = "classifier_bias";
/// The question-answering head's part.
pub const QUESTION_ANSWERING: &str = "question_answering";

/// Token embeddings (`model.embed_tokens`): in the hand derivation.
#[rustfmt::skip]
pub const EMBEDDINGS: &[Row] = &[
    row("embed_tokens.weight",                          "V, H",   Embedding),
];

/// Grouped-query attention, separate projections (`self_attn.{q,k,v,o}_proj`): in the
/// hand derivation. `q_proj` is [A·D, H], `k_proj` and `v_proj` [K·D, H], `o_proj`
/// [H, A·D] (`modeling_llama.py`, `LlamaAttention`).
#[rustfmt::skip]
pub const ATTENTION: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.weight",       "A*D, H", Attention),
    row("layers.{layer}.self_attn.k_proj.weight",       "K*D, H", Attention),
    row("layers.{layer}.self_attn.v_proj.weight",       "K*D, H", Attention),
    row("layers.{layer}.self_attn.o_proj.weight",       "H, A*D", Attention),
];

/// `attention_bias` (Llama, Qwen3, Gemma): biases on all four projections.
#[rustfmt::skip]
pub const ATTENTION_BIASES: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.bias",         "A*D",    Attention).step(Biases).when("attn_bias"),
    row("layers.{layer}.self_attn.k_proj.bias",         "K*D",    Attention).step(Biases).when("attn_bias"),
    row("layers.{layer}.self_attn.v_proj.bias",         "K*D",    Attention).step(Biases).when("attn_bias"),
    row("layers.{layer}.self_attn.o_proj.bias",         "H",      Attention).step(Biases).when("attn_bias"),
];

/// Qwen2's q, k and v biases: always there, and no `o_proj` bias (`modeling_qwen2.py`,
/// `Qwen2Attention`: `bias=True` on q/k/v, `bias=False` on o).
#[rustfmt::skip]
pub const QKV_BIASES: &[Row] = &[
    row("layers.{layer}.self_attn.q_proj.bias",         "A*D",    Attention).step(Biases),
    row("layers.{layer}.self_attn.k_proj.bias",         "K*D",    Attention).step(Biases),
    row("layers.{layer}.self_attn.v_proj.bias",         "K*D",    Attention).step(Biases),
];

/// Per-head RMSNorms on queries and keys, of the head dimension (Qwen3, Gemma 3).
#[rustfmt::skip]
pub const QK_NORMS: &[Row] = &[
    row("layers.{layer}.self_attn.q_norm.weight",       "D",      Norm).step(Norms),
    row("layers.{layer}.self_attn.k_norm.weight",       "D",      Norm).step(Norms),
];

/// The gated MLP (`mlp.{gate,up,down}_proj`): in the hand derivation.
#[rustfmt::skip]
pub const MLP: &[Row] = &[
    row("layers.{layer}.mlp.gate_proj.weight",          "I, H",   Ffn),
    row("layers.{layer}.mlp.up_proj.weight",            "I, H",   Ffn),
    row("layers.{layer}.mlp.down_proj.weight",          "H, I",   Ffn),
];

/// Llama's `mlp_bias`.
#[rustfmt::skip]
pub const MLP_BIASES: &[Row] = &[
    row("layers.{layer}.mlp.gate_proj.bias",            "I",      Ffn).step(Biases).when("mlp_bias"),
    row("layers.{layer}.mlp.up_proj.bias",              "I",      Ffn).step(Biases).when("mlp_bias"),
    row("layers.{layer}.mlp.down_proj.bias",            "H",      Ffn).step(Biases).when("mlp_bias"),
];

/// The two RMSNorms of every layer (before attention, before the MLP).
#[rustfmt::skip]
pub const LAYER_NORMS: &[Row] = &[
    row("layers.{layer}.input_layernorm.weight",        "H",      Norm).step(Norms),
    row("layers.{layer}.post_attention_layernorm.weight", "H",    Norm).step(Norms),
];

/// Gemma 2 and 3's two more per layer, around the MLP.
#[rustfmt::skip]
pub const FEEDFORWARD_NORMS: &[Row] = &[
    row("layers.{layer}.pre_feedforward_layernorm.weight",  "H",  Norm).step(Norms),
    row("layers.{layer}.post_feedforward_layernorm.weight", "H",  Norm).step(Norms),
];

/// The final RMSNorm (`model.norm`).
#[rustfmt::skip]
pub const FINAL_NORM: &[Row] = &[
    row("norm.weight",                                  "H",      Norm).step(Norms),
];

/// The LM head (`lm_head`, no bias), tied to the token embeddings when
/// `tie_word_embeddings` (`_tied_weights_keys`).
#[rustfmt::skip]
pub const LM_HEAD_ROWS: &[Row] = &[
    row("lm_head.weight",                               "V, H",   Head).step(Heads).part(LM_HEAD)
        .tied("tie", "embed_tokens.weight"),
];

/// `GenericForSequenceClassification` (`modeling_layers.py`): `score`, no bias.
#[rustfmt::skip]
pub const SEQUENCE_CLASSIFIER: &[Row] = &[
    row("score.weight",                                 "N, H",   Head).step(Heads).part(CLASSIFIER),
];

/// `GenericForTokenClassification` (`modeling_layers.py`): the same `score.weight`, with a
/// bias unless `token_classification_bias` is false.
#[rustfmt::skip]
pub const TOKEN_CLASSIFIER_BIAS: &[Row] = &[
    row("score.bias",                                   "N",      Head).step(Heads).part(CLASSIFIER_BIAS)
        .when("score_bias"),
];

/// `GenericForQuestionAnswering` (`modeling_layers.py`): `qa_outputs`, two outputs.
#[rustfmt::skip]
pub const QUESTION_ANSWERING_ROWS: &[Row] = &[
    row("qa_outputs.weight",                            "2, H",   Head).step(Heads).part(QUESTION_ANSWERING),
    row("qa_outputs.bias",                              "2",      Head).step(Heads).part(QUESTION_ANSWERING),
];

/// The per-layer rotary `inv_freq` buffer (D / 2 frequencies) that checkpoints written by
/// transformers before it became non-persistent store (`modeling_utils.py`,
/// `_adjust_missing_and_unexpected_keys`: "Old checkpoints may have keys for
/// rotary_emb.inv_freq for each layer").
/// Also the `rope_freqs.weight` [D / 2] that llama.cpp's converter writes into Llama 3.1+
/// GGUF files (`LlamaModel.generate_extra_tensors` in convert_hf_to_gguf.py: the
/// llama3 RoPE scaling's per-frequency factors, which transformers computes at load time
/// and never stores): frequencies, not trained weights, so a buffer.
#[rustfmt::skip]
pub const ROTARY_BUFFERS: &[Row] = &[
    row("layers.{layer}.self_attn.rotary_emb.inv_freq", "D / 2",  Buffer).buffer()
        .when_test(even_head_dim),
    row("rope_freqs.weight",                            "D / 2",  Buffer).buffer()
        .when_test(even_head_dim),
];

fn even_head_dim(d: &Dims) -> bool {
    d.v("D").is_multiple_of(2)
}

/// Which attention biases a decoder has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionBiases {
    /// None (Mistral, Phi-3).
    Never,
    /// On q, k, v and o when `attention_bias` (Llama, Qwen3, Gemma).
    Flag,
    /// On q, k and v always, never on o (Qwen2).
    Qkv,
}

/// What one Llama-style decoder family changes in the shared closed form, as data.
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    /// The backbone class (`LlamaModel`).
    pub model: &'static str,
    /// The causal-LM class (`LlamaForCausalLM`).
    pub causal_lm: &'static str,
    /// The sequence-classification class, if transformers has one.
    pub sequence_classification: Option<&'static str>,
    /// The token-classification class, if transformers has one.
    pub token_classification: Option<&'static str>,
    /// The question-answering class, if transformers has one.
    pub question_answering: Option<&'static str>,
    /// Attention biases.
    pub attention_biases: AttentionBiases,
    /// Whether `mlp_bias` exists.
    pub mlp_biases: bool,
    /// Phi-3: `qkv_proj` and `gate_up_proj` fused.
    pub fused: bool,
    /// Per-head `q_norm` / `k_norm`.
    pub qk_norms: bool,
    /// Four norms per layer instead of two (Gemma 2, 3).
    pub feedforward_norms: bool,
}

/// The closed form of a Llama-style decoder, written from the architecture (not from the
/// table): the hand derivation line by line, every item it leaves out, and the totals of
/// the classes transformers has. Every product is checked: `None` when a count exceeds 64
/// bits.
pub fn derive_decoder(spec: &Decoder, d: &Dims) -> Option<Derivation> {
    let (l, h, i, v, a, k, hd, n) = (
        d.v("L"),
        d.v("H"),
        d.v("I"),
        d.v("V"),
        d.v("A"),
        d.v("K"),
        d.v("D"),
        d.v("N"),
    );
    let mul = |x: u64, y: u64| x.checked_mul(y);
    let q_width = mul(a, hd)?;
    let kv_width = mul(k, hd)?;
    let q = mul(q_width, h)?;
    let kv = mul(kv_width, h)?;
    let attention = mul(2, q)?.checked_add(mul(2, kv)?)?;
    let mlp = mul(3, mul(h, i)?)?;
    let embeddings = mul(v, h)?;
    let weights_only = embeddings.checked_add(mul(l, attention.checked_add(mlp)?)?)?;

    let attention_line = if spec.fused {
        line(
            "attention, per layer (qkv_proj: Q, K and V fused in one tensor; o_proj)",
            "qkv_proj (A·D + 2 · K·D) · H ; o_proj A·D·H",
            format!("({a}·{hd} + 2 · {k}·{hd}) · {h} + {a}·{hd}·{h}"),
            attention,
        )
    } else {
        line(
            "attention, per layer (grouped-query: K key/value heads)",
            "Q, O: 2 · A·D·H ; K, V: 2 · K·D·H",
            format!("2 · {a}·{hd}·{h} + 2 · {k}·{hd}·{h}"),
            attention,
        )
    };
    let mlp_line = if spec.fused {
        line(
            "gated MLP, per layer (gate_up_proj: gate and up fused; down_proj)",
            "gate_up_proj 2 · I·H ; down_proj H·I",
            format!("3 · {h} · {i}"),
            mlp,
        )
    } else {
        line(
            "gated MLP, per layer",
            "gate, up: 2 · I·H ; down: H·I",
            format!("3 · {h} · {i}"),
            mlp,
        )
    };
    let steps = vec![
        line(
            "token embeddings",
            "V · H",
            format!("{v} · {h}"),
            embeddings,
        ),
        attention_line,
        mlp_line,
        line(
            "total, weights only (no norms, biases or head)",
            "embeddings + L · (attention + MLP)",
            format!("{embeddings} + {l} · ({attention} + {mlp})"),
            weights_only,
        ),
    ];

    let mut additions = Vec::new();
    let mut biases = 0u64;
    match spec.attention_biases {
        AttentionBiases::Flag if d.flag("attn_bias") => {
            let per_layer = q_width.checked_add(mul(2, kv_width)?)?.checked_add(h)?;
            let value = mul(l, per_layer)?;
            biases = biases.checked_add(value)?;
            additions.push(add(
                Step::Biases,
                None,
                line(
                    "attention biases (q, k, v, o: attention_bias)",
                    "L · (A·D + 2 · K·D + H)",
                    format!("{l} · ({a}·{hd} + 2 · {k}·{hd} + {h})"),
                    value,
                ),
            ));
        }
        AttentionBiases::Qkv => {
            let value = mul(l, q_width.checked_add(mul(2, kv_width)?)?)?;
            biases = biases.checked_add(value)?;
            additions.push(add(
                Step::Biases,
                None,
                line(
                    "q, k, v biases (no o_proj bias)",
                    "L · (A·D + 2 · K·D)",
                    format!("{l} · ({a}·{hd} + 2 · {k}·{hd})"),
                    value,
                ),
            ));
        }
        _ => {}
    }
    if spec.mlp_biases && d.flag("mlp_bias") {
        let value = mul(l, mul(2, i)?.checked_add(h)?)?;
        biases = biases.checked_add(value)?;
        additions.push(add(
            Step::Biases,
            None,
            line(
                "MLP biases (gate, up, down: mlp_bias)",
                "L · (2 · I + H)",
                format!("{l} · (2 · {i} + {h})"),
                value,
            ),
        ));
    }
    let per_layer_norms: u64 = if spec.feedforward_norms { 4 } else { 2 };
    let mut norms = mul(l, mul(per_layer_norms, h)?)?.checked_add(h)?;
    additions.push(add(
        Step::Norms,
        None,
        if spec.feedforward_norms {
            line(
                "RMSNorm weights (input, post-attention, pre- and post-feed-forward per layer; final)",
                "L · 4 · H + H",
                format!("{l} · 4 · {h} + {h}"),
                norms,
            )
        } else {
            line(
                "RMSNorm weights (input, post-attention per layer; final)",
                "L · 2 · H + H",
                format!("{l} · 2 · {h} + {h}"),
                norms,
            )
        },
    ));
    if spec.qk_norms {
        let value = mul(l, mul(2, hd)?)?;
        norms = norms.checked_add(value)?;
        additions.push(add(
            Step::Norms,
            None,
            line(
                "q_norm, k_norm weights (per head dimension)",
                "L · 2 · D",
                format!("{l} · 2 · {hd}"),
                value,
            ),
        ));
    }
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
    if spec.sequence_classification.is_some() || spec.token_classification.is_some() {
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
    }
    let score_bias = spec.token_classification.is_some() && d.flag("score_bias");
    if score_bias {
        additions.push(add(
            Step::Heads,
            Some(CLASSIFIER_BIAS),
            line("token-classification score bias", "N", format!("{n}"), n),
        ));
    }
    let qa = mul(2, h)?.checked_add(2)?;
    if spec.question_answering.is_some() {
        additions.push(add(
            Step::Heads,
            Some(QUESTION_ANSWERING),
            line(
                "question-answering head (qa_outputs)",
                "2 · H + 2",
                format!("2 · {h} + 2"),
                qa,
            ),
        ));
    }

    let base = weights_only.checked_add(biases)?.checked_add(norms)?;
    let mut models = vec![line(
        spec.model,
        "weights only + biases + norms",
        format!("{weights_only} + {biases} + {norms}"),
        base,
    )];
    models.push(if tied {
        line(
            spec.causal_lm,
            "backbone (the tied LM head is the embeddings, counted once)",
            format!("{base}"),
            base,
        )
    } else {
        line(
            spec.causal_lm,
            "backbone + LM head",
            format!("{base} + {embeddings}"),
            base.checked_add(embeddings)?,
        )
    });
    if let Some(class) = spec.sequence_classification {
        models.push(line(
            class,
            "backbone + score",
            format!("{base} + {score}"),
            base.checked_add(score)?,
        ));
    }
    if let Some(class) = spec.token_classification {
        let bias = if score_bias { n } else { 0 };
        models.push(line(
            class,
            "backbone + score + score bias",
            format!("{base} + {score} + {bias}"),
            base.checked_add(score)?.checked_add(bias)?,
        ));
    }
    if let Some(class) = spec.question_answering {
        models.push(line(
            class,
            "backbone + QA outputs",
            format!("{base} + {qa}"),
            base.checked_add(qa)?,
        ));
    }
    Some(Derivation {
        steps,
        weights_only,
        additions,
        models,
        active: None,
    })
}

/// transformers' rule for Llama, Gemma 2 and Gemma 3 (`validate_architecture` in their
/// configuration files): the hidden size is a multiple of the heads, even when `head_dim`
/// is set.
pub fn hidden_divisible_by_heads(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)
}

/// No rule beyond the dimensions' limits (transformers checks none at configuration time).
pub fn no_rule(_: &Dims) -> Result<(), String> {
    Ok(())
}

/// The Llama family's differences.
pub const SPEC: Decoder = Decoder {
    model: "LlamaModel",
    causal_lm: "LlamaForCausalLM",
    sequence_classification: Some("LlamaForSequenceClassification"),
    token_classification: Some("LlamaForTokenClassification"),
    question_answering: Some("LlamaForQuestionAnswering"),
    attention_biases: AttentionBiases::Flag,
    mlp_biases: true,
    fused: false,
    qk_norms: false,
    feedforward_norms: false,
};

fn derive(d: &Dims) -> Option<Derivation> {
    derive_decoder(&SPEC, d)
}

/// The Llama family (Llama 1, 2, 3; `LlamaConfig` defaults: Llama 2 7B's shape).
pub static FAMILY: Family = Family {
    name: "llama",
    title: "Llama",
    model_types: &["llama"],
    covers: "LlamaModel, causal LM (tied or untied head), sequence/token classification and QA heads; grouped-query attention, head_dim, attention_bias, mlp_bias",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 32, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("I", &["intermediate_size"], 11008, MAX_WIDTH),
        count("V", &["vocab_size"], 32000, MAX_COUNT),
        count("A", &["num_attention_heads"], 32, MAX_LAYERS).show("heads"),
        // `num_key_value_heads: None` becomes the heads (`LlamaConfig.__post_init__`).
        count("K", &["num_key_value_heads"], 32, MAX_LAYERS).default_expr("A").show("kv_heads"),
        // `head_dim: None` becomes hidden_size // heads (`LlamaConfig.__post_init__`).
        count("D", &["head_dim"], 128, MAX_WIDTH).default_expr("H / A").show("head_dim"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
        flag("attn_bias", &["attention_bias"], false, "attention-bias", ""),
        flag("mlp_bias", &["mlp_bias"], false, "mlp-bias", ""),
        flag("score_bias", &["token_classification_bias"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[
        ROTARY_BUFFERS,
        EMBEDDINGS,
        ATTENTION,
        ATTENTION_BIASES,
        MLP,
        MLP_BIASES,
        LAYER_NORMS,
        FINAL_NORM,
        LM_HEAD_ROWS,
        SEQUENCE_CLASSIFIER,
        TOKEN_CLASSIFIER_BIAS,
        QUESTION_ANSWERING_ROWS,
    ],
    ladder: &[
        (Step::Biases, "linear biases (attention_bias, mlp_bias)"),
        (Step::Norms, "RMSNorm weights"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "LlamaModel", parts: &[] },
        Claim { architecture: "LlamaForCausalLM", parts: &[LM_HEAD] },
        Claim { architecture: "LlamaForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "LlamaForTokenClassification", parts: &[CLASSIFIER, CLASSIFIER_BIAS] },
        Claim { architecture: "LlamaForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate: hidden_divisible_by_heads,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Dimensions as transformers resolves them for a published config.
    #[allow(clippy::too_many_arguments)]
    fn dims(l: u64, h: u64, i: u64, v: u64, a: u64, k: u64, hd: u64, tie: bool) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("L", l),
            ("H", h),
            ("I", i),
            ("V", v),
            ("A", a),
            ("K", k),
            ("D", hd),
            ("N", 2),
            ("tie", u64::from(tie)),
            ("score_bias", 1),
        ] {
            d.set(s, x);
        }
        d
    }

    fn causal_lm(spec: &Decoder, d: &Dims) -> i128 {
        derive_decoder(spec, d)
            .unwrap()
            .models
            .iter()
            .find(|m| m.part == spec.causal_lm)
            .unwrap()
            .value
    }

    /// transformers 5.24's num_parameters() for the published configs
    /// (fixtures/families/full-size.json).
    #[test]
    fn closed_forms_match_transformers_for_published_configs() {
        let cases: [(&Decoder, Dims, i128); 9] = [
            (
                &SPEC,
                dims(32, 4096, 14336, 128256, 32, 8, 128, false),
                8_030_261_248,
            ),
            (
                &SPEC,
                dims(32, 4096, 11008, 32000, 32, 32, 128, false),
                6_738_415_616,
            ),
            (
                &SPEC,
                dims(16, 2048, 8192, 128256, 32, 8, 64, true),
                1_235_814_400,
            ),
            (
                &super::super::mistral::SPEC,
                dims(32, 4096, 14336, 32000, 32, 8, 128, false),
                7_241_732_096,
            ),
            (
                &super::super::qwen2::SPEC,
                dims(28, 3584, 18944, 152064, 28, 4, 128, false),
                7_615_616_512,
            ),
            (
                &super::super::qwen2::SPEC,
                dims(24, 896, 4864, 151936, 14, 2, 64, true),
                494_032_768,
            ),
            (
                &super::super::qwen3::SPEC,
                dims(36, 4096, 12288, 151936, 32, 8, 128, false),
                8_190_735_360,
            ),
            (
                &super::super::gemma2::SPEC,
                dims(42, 3584, 14336, 256000, 16, 8, 256, true),
                9_241_705_984,
            ),
            (
                &super::super::phi3::SPEC,
                dims(32, 3072, 8192, 32064, 32, 32, 96, false),
                3_821_079_552,
            ),
        ];
        for (spec, d, want) in cases {
            assert_eq!(causal_lm(spec, &d), want, "{}", spec.causal_lm);
        }
    }

    /// The hand derivation of Llama 2 7B: 32000 · 4096 + 32 · (4 · 4096² + 3 · 4096 · 11008).
    #[test]
    fn llama_2_7b_hand_derivation_is_the_classic_count() {
        let d = derive_decoder(&SPEC, &dims(32, 4096, 11008, 32000, 32, 32, 128, false)).unwrap();
        assert_eq!(
            d.weights_only,
            32000 * 4096 + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
        );
        // + norms (32 · 2 · 4096 + 4096) + untied head (32000 · 4096) = 6,738,415,616.
        assert_eq!(
            u128::from(d.weights_only) + 32 * 2 * 4096 + 4096 + 32000 * 4096,
            6_738_415_616
        );
    }
}
