//! GPT-2 (`model_type: gpt2`): transformers' `modeling_gpt2.py`, `GPT2Config` defaults
//! (`configuration_gpt2.py`: gpt2 small; `n_inner: None` is 4 · n_embd, `GPT2Block`).
//! Its projections are `Conv1D` (`pytorch_utils.py`): weights stored transposed,
//! [in, out], so `attn.c_attn` is [H, 3·H] (Q, K and V fused) and `mlp.c_fc` [H, I].
//!
//! The hand derivation is the classic GPT-2 count: token and position embeddings
//! (V + P)·H, then per layer the attention matrices 4·H² (c_attn 3·H², c_proj H²) and the
//! MLP 2·H·I (with I = 4·H: the familiar (V + P)·H + 12·L·H²). Linear biases and
//! LayerNorms are ladder steps; the LM head is tied to `wte` by default.
//!
//! Checkpoints written before transformers made them non-persistent store per-layer
//! causal-mask buffers: `h.{i}.attn.bias` [1, 1, P, P] (the released `gpt2`
//! model.safetensors has twelve, F32) and `h.{i}.attn.masked_bias` []
//! (`GPT2PreTrainedModel._keys_to_ignore_on_load_unexpected`). transformers 5.24 registers
//! neither.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm};
use super::Step::{Biases, Heads, Norms};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The LM head's part.
pub const LM_HEAD: &str = "lm_head";
/// `GPT2DoubleHeadsModel`'s multiple-choice summary.
pub const MULTIPLE_CHOICE: &str = "multiple_choice";
/// `GPT2ForSequenceClassification`'s `score` (no bias).
pub const CLASSIFIER: &str = "classifier";
/// `GPT2ForTokenClassification`'s `classifier` (with bias).
pub const TOKEN_CLASSIFIER: &str = "token_classifier";
/// `GPT2ForQuestionAnswering`'s `qa_outputs`.
pub const QUESTION_ANSWERING: &str = "question_answering";

/// The GPT-2 family.
pub static FAMILY: Family = Family {
    name: "gpt2",
    title: "GPT-2",
    model_types: &["gpt2"],
    covers: "GPT2Model, LM head (tied by default), double heads (multiple choice), sequence/token classification and QA heads; cross-attention layers; old causal-mask buffers",
    norm: super::Norm::LayerNorm,
    dims: &[
        // GPT2Config.attribute_map: hidden_size -> n_embd, num_hidden_layers -> n_layer,
        // num_attention_heads -> n_head, max_position_embeddings -> n_positions.
        count("L", &["n_layer", "num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["n_embd", "hidden_size"], 768, MAX_WIDTH),
        count("I", &["n_inner"], 3072, MAX_WIDTH).default_expr("4 * H"),
        count("V", &["vocab_size"], 50257, MAX_COUNT),
        count("P", &["n_positions", "max_position_embeddings"], 1024, MAX_COUNT),
        count("A", &["n_head", "num_attention_heads"], 12, MAX_LAYERS).show("heads"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        flag("cross", &["add_cross_attention"], false, "cross-attention", ""),
        flag("mc_proj", &["summary_use_proj"], true, "", ""),
        flag("mc_labels", &["summary_proj_to_labels"], true, "", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[BUFFERS, EMBEDDINGS, LAYERS, CROSS_ATTENTION, FINAL_NORM, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (Conv1D)"),
        (Step::Norms, "LayerNorm weights and biases"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters (old causal masks)"),
    ],
    claims: &[
        Claim { architecture: "GPT2Model", parts: &[] },
        Claim { architecture: "GPT2LMHeadModel", parts: &[LM_HEAD] },
        Claim { architecture: "GPT2DoubleHeadsModel", parts: &[LM_HEAD, MULTIPLE_CHOICE] },
        Claim { architecture: "GPT2ForSequenceClassification", parts: &[CLASSIFIER] },
        Claim { architecture: "GPT2ForTokenClassification", parts: &[TOKEN_CLASSIFIER] },
        Claim { architecture: "GPT2ForQuestionAnswering", parts: &[QUESTION_ANSWERING] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// Causal-mask buffers of old checkpoints (one per attention module).
#[rustfmt::skip]
pub const BUFFERS: &[Row] = &[
    row("h.{layer}.attn.bias",                          "1, 1, P, P", Buffer).buffer(),
    row("h.{layer}.attn.masked_bias",                   "",           Buffer).buffer(),
    row("h.{layer}.crossattention.bias",                "1, 1, P, P", Buffer).buffer().when("cross"),
    row("h.{layer}.crossattention.masked_bias",         "",           Buffer).buffer().when("cross"),
];

/// Token and position embeddings: in the hand derivation.
#[rustfmt::skip]
pub const EMBEDDINGS: &[Row] = &[
    row("wte.weight",                                   "V, H",   Embedding),
    row("wpe.weight",                                   "P, H",   Embedding),
];

/// The blocks (`h.{layer}`): Conv1D weights [in, out] in the derivation, their biases and
/// the LayerNorms not.
#[rustfmt::skip]
pub const LAYERS: &[Row] = &[
    row("h.{layer}.ln_1.weight",                        "H",      Norm).step(Norms),
    row("h.{layer}.ln_1.bias",                          "H",      Norm).step(Norms),
    row("h.{layer}.attn.c_attn.weight",                 "H, 3*H", Attention),
    row("h.{layer}.attn.c_attn.bias",                   "3*H",    Attention).step(Biases),
    row("h.{layer}.attn.c_proj.weight",                 "H, H",   Attention),
    row("h.{layer}.attn.c_proj.bias",                   "H",      Attention).step(Biases),
    row("h.{layer}.ln_2.weight",                        "H",      Norm).step(Norms),
    row("h.{layer}.ln_2.bias",                          "H",      Norm).step(Norms),
    row("h.{layer}.mlp.c_fc.weight",                    "H, I",   Ffn),
    row("h.{layer}.mlp.c_fc.bias",                      "I",      Ffn).step(Biases),
    row("h.{layer}.mlp.c_proj.weight",                  "I, H",   Ffn),
    row("h.{layer}.mlp.c_proj.bias",                    "H",      Ffn).step(Biases),
];

/// `add_cross_attention` (GPT-2 as a decoder of an encoder-decoder): a cross-attention
/// with its own query (`q_attn` [H, H]) and fused key/value (`c_attn` [H, 2·H]), and its
/// LayerNorm.
#[rustfmt::skip]
pub const CROSS_ATTENTION: &[Row] = &[
    row("h.{layer}.crossattention.c_attn.weight",       "H, 2*H", Attention).when("cross"),
    row("h.{layer}.crossattention.c_attn.bias",         "2*H",    Attention).step(Biases).when("cross"),
    row("h.{layer}.crossattention.q_attn.weight",       "H, H",   Attention).when("cross"),
    row("h.{layer}.crossattention.q_attn.bias",         "H",      Attention).step(Biases).when("cross"),
    row("h.{layer}.crossattention.c_proj.weight",       "H, H",   Attention).when("cross"),
    row("h.{layer}.crossattention.c_proj.bias",         "H",      Attention).step(Biases).when("cross"),
    row("h.{layer}.ln_cross_attn.weight",               "H",      Norm).step(Norms).when("cross"),
    row("h.{layer}.ln_cross_attn.bias",                 "H",      Norm).step(Norms).when("cross"),
];

/// The final LayerNorm.
#[rustfmt::skip]
pub const FINAL_NORM: &[Row] = &[
    row("ln_f.weight",                                  "H",      Norm).step(Norms),
    row("ln_f.bias",                                    "H",      Norm).step(Norms),
];

/// The heads. `GPT2DoubleHeadsModel` sets `num_labels = 1`, so its summary projects to
/// one output (`summary_proj_to_labels`, the default) or to H (`GPT2SequenceSummary`).
#[rustfmt::skip]
pub const HEADS: &[Row] = &[
    row("lm_head.weight",                               "V, H",   Head).step(Heads).part(LM_HEAD)
        .tied("tie", "wte.weight"),
    row("multiple_choice_head.summary.weight",          "1, H",   Head).step(Heads).part(MULTIPLE_CHOICE)
        .when_test(summary_to_labels),
    row("multiple_choice_head.summary.bias",            "1",      Head).step(Heads).part(MULTIPLE_CHOICE)
        .when_test(summary_to_labels),
    row("multiple_choice_head.summary.weight",          "H, H",   Head).step(Heads).part(MULTIPLE_CHOICE)
        .when_test(summary_to_hidden),
    row("multiple_choice_head.summary.bias",            "H",      Head).step(Heads).part(MULTIPLE_CHOICE)
        .when_test(summary_to_hidden),
    row("score.weight",                                 "N, H",   Head).step(Heads).part(CLASSIFIER),
    row("classifier.weight",                            "N, H",   Head).step(Heads).part(TOKEN_CLASSIFIER),
    row("classifier.bias",                              "N",      Head).step(Heads).part(TOKEN_CLASSIFIER),
    row("qa_outputs.weight",                            "2, H",   Head).step(Heads).part(QUESTION_ANSWERING),
    row("qa_outputs.bias",                              "2",      Head).step(Heads).part(QUESTION_ANSWERING),
];

fn summary_to_labels(d: &Dims) -> bool {
    d.flag("mc_proj") && d.flag("mc_labels")
}

fn summary_to_hidden(d: &Dims) -> bool {
    d.flag("mc_proj") && !d.flag("mc_labels")
}

/// `GPT2Attention` raises unless the heads divide `n_embd`.
fn validate(d: &Dims) -> Result<(), String> {
    let (h, a) = (d.v("H"), d.v("A"));
    if h % a != 0 {
        return Err(format!("`n_embd` {h} is not a multiple of `n_head` {a}"));
    }
    Ok(())
}

/// The closed form, step by step with its arithmetic. Every product is checked: `None`
/// when the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, i, v, p, n) = (d.v("L"), d.v("H"), d.v("I"), d.v("V"), d.v("P"), d.v("N"));
    let cross = d.flag("cross");
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let square = mul(h, h)?;
    let embeddings = mul(v.checked_add(p)?, h)?;
    let attention = mul(4, square)?;
    let mlp = mul(2, mul(h, i)?)?;
    let cross_attention = if cross { mul(4, square)? } else { 0 };
    let per_layer = attention.checked_add(mlp)?.checked_add(cross_attention)?;
    let weights_only = embeddings.checked_add(mul(l, per_layer)?)?;

    let mut steps = vec![
        line(
            "token and position embeddings (wte, wpe)",
            "(V + P) · H",
            format!("({v} + {p}) · {h}"),
            embeddings,
        ),
        line(
            "attention, per layer (c_attn: Q, K, V fused; c_proj)",
            "3 · H² + H²",
            format!("4 · {h}²"),
            attention,
        ),
        line(
            "MLP, per layer (c_fc, c_proj)",
            "H·I + I·H",
            format!("2 · {h} · {i}"),
            mlp,
        ),
    ];
    if cross {
        steps.push(line(
            "cross-attention, per layer (c_attn: K, V fused; q_attn; c_proj)",
            "2 · H² + H² + H²",
            format!("4 · {h}²"),
            cross_attention,
        ));
    }
    steps.push(line(
        "total, weights only (no biases, LayerNorms or head)",
        if cross {
            "embeddings + L · (attention + MLP + cross-attention)"
        } else {
            "embeddings + L · (attention + MLP); with I = 4·H: (V + P)·H + 12·L·H²"
        },
        if cross {
            format!("{embeddings} + {l} · ({attention} + {mlp} + {cross_attention})")
        } else {
            format!("{embeddings} + {l} · ({attention} + {mlp})")
        },
        weights_only,
    ));

    let biases = mul(l, mul(5, h)?.checked_add(i)?)?;
    let norms = mul(l, mul(4, h)?)?.checked_add(mul(2, h)?)?;
    let mut additions = vec![
        add(
            Step::Biases,
            None,
            line(
                "linear biases (c_attn 3·H, c_proj H, c_fc I, c_proj H)",
                "L · (5 · H + I)",
                format!("{l} · (5 · {h} + {i})"),
                biases,
            ),
        ),
        add(
            Step::Norms,
            None,
            line(
                "LayerNorms (ln_1, ln_2 per layer; ln_f), weight and bias",
                "L · 4 · H + 2 · H",
                format!("{l} · 4 · {h} + 2 · {h}"),
                norms,
            ),
        ),
    ];
    let (mut all_biases, mut all_norms) = (biases, norms);
    if cross {
        let cross_biases = mul(l, mul(4, h)?)?;
        let cross_norms = mul(l, mul(2, h)?)?;
        all_biases = all_biases.checked_add(cross_biases)?;
        all_norms = all_norms.checked_add(cross_norms)?;
        additions.push(add(
            Step::Biases,
            None,
            line(
                "cross-attention biases (c_attn 2·H, q_attn H, c_proj H)",
                "L · 4 · H",
                format!("{l} · 4 · {h}"),
                cross_biases,
            ),
        ));
        additions.push(add(
            Step::Norms,
            None,
            line(
                "cross-attention LayerNorms (ln_cross_attn)",
                "L · 2 · H",
                format!("{l} · 2 · {h}"),
                cross_norms,
            ),
        ));
    }
    let tied = d.flag("tie");
    let lm = mul(v, h)?;
    additions.push(if tied {
        add(
            Step::TiedNotStored,
            Some(LM_HEAD),
            line("LM head (tied to wte)", "V · H", format!("{v} · {h}"), lm),
        )
    } else {
        add(
            Step::Heads,
            Some(LM_HEAD),
            line("LM head (untied)", "V · H", format!("{v} · {h}"), lm),
        )
    });
    let summary = match (d.flag("mc_proj"), d.flag("mc_labels")) {
        (false, _) => None,
        (true, true) => Some((h.checked_add(1)?, "H + 1", format!("{h} + 1"))),
        (true, false) => Some((square.checked_add(h)?, "H² + H", format!("{h}² + {h}"))),
    };
    if let Some((value, formula, arithmetic)) = &summary {
        additions.push(add(
            Step::Heads,
            Some(MULTIPLE_CHOICE),
            line(
                "multiple-choice summary (num_labels = 1)",
                formula,
                arithmetic.clone(),
                *value,
            ),
        ));
    }
    let summary = summary.map_or(0, |s| s.0);
    let score = mul(n, h)?;
    let token = score.checked_add(n)?;
    let qa = mul(2, h)?.checked_add(2)?;
    additions.push(add(
        Step::Heads,
        Some(CLASSIFIER),
        line(
            "sequence-classification head (score, no bias)",
            "N · H",
            format!("{n} · {h}"),
            score,
        ),
    ));
    additions.push(add(
        Step::Heads,
        Some(TOKEN_CLASSIFIER),
        line(
            "token-classification head (classifier)",
            "N · H + N",
            format!("{n} · {h} + {n}"),
            token,
        ),
    ));
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

    let base = weights_only
        .checked_add(all_biases)?
        .checked_add(all_norms)?;
    let lm_stored = if tied { 0 } else { lm };
    let with_lm = base.checked_add(lm_stored)?;
    let lm_formula = if tied {
        "GPT2Model (the tied LM head is wte, counted once)"
    } else {
        "GPT2Model + LM head"
    };
    let models = vec![
        line(
            "GPT2Model",
            "weights only + biases + LayerNorms",
            format!("{weights_only} + {all_biases} + {all_norms}"),
            base,
        ),
        line(
            "GPT2LMHeadModel",
            lm_formula,
            format!("{base} + {lm_stored}"),
            with_lm,
        ),
        line(
            "GPT2DoubleHeadsModel",
            "GPT2LMHeadModel + multiple-choice summary",
            format!("{with_lm} + {summary}"),
            with_lm.checked_add(summary)?,
        ),
        line(
            "GPT2ForSequenceClassification",
            "GPT2Model + score",
            format!("{base} + {score}"),
            base.checked_add(score)?,
        ),
        line(
            "GPT2ForTokenClassification",
            "GPT2Model + classifier",
            format!("{base} + {token}"),
            base.checked_add(token)?,
        ),
        line(
            "GPT2ForQuestionAnswering",
            "GPT2Model + QA outputs",
            format!("{base} + {qa}"),
            base.checked_add(qa)?,
        ),
    ];
    Some(Derivation {
        steps,
        weights_only,
        additions,
        models,
        active: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(l: u64, h: u64, v: u64, p: u64) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("L", l),
            ("H", h),
            ("I", 4 * h),
            ("V", v),
            ("P", p),
            ("A", 12),
            ("N", 2),
            ("tie", 1),
            ("mc_proj", 1),
            ("mc_labels", 1),
        ] {
            d.set(s, x);
        }
        d
    }

    fn model(d: &Dims, name: &str) -> i128 {
        derive(d)
            .unwrap()
            .models
            .iter()
            .find(|s| s.part == name)
            .unwrap()
            .value
    }

    /// transformers 5.24's num_parameters() for the published gpt2 and gpt2-xl configs
    /// (fixtures/families/full-size.json).
    #[test]
    fn closed_form_matches_transformers_for_gpt2_and_gpt2_xl() {
        let small = dims(12, 768, 50257, 1024);
        assert_eq!(model(&small, "GPT2LMHeadModel"), 124_439_808);
        assert_eq!(model(&small, "GPT2Model"), 124_439_808);
        let xl = dims(48, 1600, 50257, 1024);
        assert_eq!(model(&xl, "GPT2LMHeadModel"), 1_557_611_200);
        // The classic figure: (V + P)·H + 12·L·H².
        assert_eq!(
            derive(&small).unwrap().weights_only,
            (50257 + 1024) * 768 + 12 * 12 * 768 * 768
        );
    }
}
