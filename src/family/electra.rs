//! ELECTRA (`model_type: electra`): transformers' `modeling_electra`, `ElectraConfig`
//! defaults (configuration_electra.py:62-86: the small generator's sizes, `embedding_size`
//! 128, `hidden_size` 256, 4 heads, `intermediate_size` 1024). The embeddings are
//! `embedding_size` (E) wide (`ElectraEmbeddings`, modeling_electra.py:62-66); when E
//! differs from `hidden_size` (H), `embeddings_project` (H×E + bias) lifts them to H
//! (`ElectraModel.__init__`, modeling_electra.py:554-555), and only then. The encoder is
//! BERT's, under the same names. There is no pooler.
//!
//! Heads: the discriminator (`discriminator_predictions.dense` H→H, `dense_prediction`
//! H→1, modeling_electra.py:475-477); the generator (`generator_predictions.dense` H→E and
//! its LayerNorm over E, modeling_electra.py:495-496, then `generator_lm_head` E→V, whose
//! weight is tied to the word embeddings when `tie_word_embeddings`, modeling_electra.py:965
//! and 973, its bias stored), used by `ForMaskedLM` and `ForCausalLM`; sequence
//! classification (`ElectraClassificationHead`: `classifier.dense` H→H,
//! `classifier.out_proj` H→N, modeling_electra.py:676-682); token classification
//! (`classifier` H→N); question answering (`qa_outputs` H→N). `ElectraForMultipleChoice`
//! (`sequence_summary` + `classifier` 1×H) stores `classifier.weight` like token
//! classification with one label: not claimed, the table cannot tell them apart.

use super::bert;
use super::Bucket::{Embedding, Head, Norm};
use super::Step::{Biases, Heads};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The ELECTRA family.
pub static FAMILY: Family = Family {
    name: "electra",
    title: "ELECTRA",
    model_types: &["electra"],
    covers: "ElectraModel, discriminator (pre-training), generator (masked-LM, causal-LM), sequence classification, token classification and QA heads",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["hidden_size"], 256, MAX_WIDTH),
        count("E", &["embedding_size"], 128, MAX_WIDTH),
        count("I", &["intermediate_size"], 1024, MAX_WIDTH),
        count("V", &["vocab_size"], 30522, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("T", &["type_vocab_size"], 2, MAX_COUNT).zero_ok(),
        count("A", &["num_attention_heads"], 4, MAX_WIDTH).show("heads"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[bert::BUFFERS, EMBEDDINGS, bert::ENCODER, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (projection, attention, FFN)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "ElectraModel", parts: &[] },
        Claim { architecture: "ElectraForPreTraining", parts: &["discriminator"] },
        Claim { architecture: "ElectraForMaskedLM", parts: &["generator"] },
        Claim { architecture: "ElectraForCausalLM", parts: &["generator"] },
        Claim { architecture: "ElectraForSequenceClassification", parts: &["classifier"] },
        Claim { architecture: "ElectraForTokenClassification", parts: &["token_classifier"] },
        Claim { architecture: "ElectraForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// Whether `embeddings_project` exists: `embedding_size != hidden_size`.
fn projected(d: &Dims) -> bool {
    d.v("E") != d.v("H")
}

/// Embeddings E wide and their LayerNorm, then the projection to H when E != H: the
/// matrices in the hand derivation, the projection's bias not.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("embeddings.word_embeddings.weight",                "V, E", Embedding),
    row("embeddings.position_embeddings.weight",            "P, E", Embedding),
    row("embeddings.token_type_embeddings.weight",          "T, E", Embedding),
    row("embeddings.LayerNorm.weight",                      "E",    Norm),
    row("embeddings.LayerNorm.bias",                        "E",    Norm),
    row("embeddings_project.weight",                        "H, E", Embedding).when_test(projected),
    row("embeddings_project.bias",                          "H",    Embedding).step(Biases).when_test(projected),
];

/// ELECTRA's heads (no prefix in the files: they sit beside `electra.`).
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("discriminator_predictions.dense.weight",           "H, H", Head).step(Heads).part("discriminator"),
    row("discriminator_predictions.dense.bias",             "H",    Head).step(Heads).part("discriminator"),
    row("discriminator_predictions.dense_prediction.weight", "1, H", Head).step(Heads).part("discriminator"),
    row("discriminator_predictions.dense_prediction.bias",  "1",    Head).step(Heads).part("discriminator"),
    row("generator_predictions.dense.weight",               "E, H", Head).step(Heads).part("generator"),
    row("generator_predictions.dense.bias",                 "E",    Head).step(Heads).part("generator"),
    row("generator_predictions.LayerNorm.weight",           "E",    Head).step(Heads).part("generator"),
    row("generator_predictions.LayerNorm.bias",             "E",    Head).step(Heads).part("generator"),
    row("generator_lm_head.weight",                         "V, E", Head).step(Heads).part("generator")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("generator_lm_head.bias",                           "V",    Head).step(Heads).part("generator"),
    row("classifier.dense.weight",                          "H, H", Head).step(Heads).part("classifier"),
    row("classifier.dense.bias",                            "H",    Head).step(Heads).part("classifier"),
    row("classifier.out_proj.weight",                       "N, H", Head).step(Heads).part("classifier"),
    row("classifier.out_proj.bias",                         "N",    Head).step(Heads).part("classifier"),
    row("classifier.weight",                                "N, H", Head).step(Heads).part("token_classifier"),
    row("classifier.bias",                                  "N",    Head).step(Heads).part("token_classifier"),
    row("qa_outputs.weight",                                "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "N",    Head).step(Heads).part("question_answering"),
];

/// `ElectraSelfAttention` skips its own divisibility check because the config has an
/// `embedding_size` (modeling_electra.py:150), then builds Q, K, V with
/// `A · ⌊H / A⌋` outputs against an H×H output projection: such a model cannot run a
/// forward pass, so it is refused here.
fn validate(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)
}

/// The closed form, written apart from the table. Every product is checked: `None` when
/// the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, e, l, i, p, t, n) = (
        d.v("V"),
        d.v("H"),
        d.v("E"),
        d.v("L"),
        d.v("I"),
        d.v("P"),
        d.v("T"),
        d.v("N"),
    );
    let tie = d.flag("tie");
    let project = e != h;
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v.checked_add(p)?.checked_add(t)?, e)?;
    let embedding_ln = mul(2, e)?;
    let projection = if project { mul(h, e)? } else { 0 };
    let attention = mul(4, mul(h, h)?)?;
    let ffn = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(ffn)?.checked_add(layer_ln)?;
    let weights_only = embeddings
        .checked_add(embedding_ln)?
        .checked_add(projection)?
        .checked_add(mul(l, per_layer)?)?;
    let projection_bias = if project { h } else { 0 };
    let biases = mul(l, mul(5, h)?.checked_add(i)?)?.checked_add(projection_bias)?;
    let dense = mul(h, h)?.checked_add(h)?;
    let discriminator = dense.checked_add(h)?.checked_add(1)?;
    // generator_predictions.dense (E·H + E), its LayerNorm (2·E), generator_lm_head's bias (V).
    let generator = mul(e, h)?
        .checked_add(e)?
        .checked_add(mul(2, e)?)?
        .checked_add(v)?;
    let lm_weight = mul(v, e)?;
    let labelled = mul(n, h)?.checked_add(n)?;
    let classification = dense.checked_add(labelled)?;
    let (projection_text, projection_formula) = if project {
        ("embeddings_project (E ≠ H)", "H · E")
    } else {
        ("embeddings_project (none: E = H)", "0")
    };
    let steps = vec![
        line(
            "embeddings (word, position, token type), E wide",
            "(V + P + T) · E",
            format!("({v} + {p} + {t}) · {e}"),
            embeddings,
        ),
        line(
            "embedding LayerNorm",
            "2 · E (gamma, beta)",
            format!("2 · {e}"),
            embedding_ln,
        ),
        line(
            projection_text,
            projection_formula,
            if project {
                format!("{h} · {e}")
            } else {
                "0".to_string()
            },
            projection,
        ),
        line(
            "attention, per layer",
            "Q, K, V: 3 · H² ; output Wo: H²",
            format!("4 · {h}²"),
            attention,
        ),
        line(
            "feed-forward, per layer",
            "W1 H×I + W2 I×H",
            format!("2 · {h} · {i}"),
            ffn,
        ),
        line(
            "LayerNorm, per layer",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            layer_ln,
        ),
        line(
            "total, weights only",
            "embeddings + LN + projection + L · (attention + FFN + LN)",
            format!(
                "{embeddings} + {embedding_ln} + {projection} + {l} · ({attention} + {ffn} + {layer_ln})"
            ),
            weights_only,
        ),
    ];
    let (bias_formula, bias_arithmetic) = if project {
        (
            "H + L · (4 · H + I + H)",
            format!("{h} + {l} · (4 · {h} + {i} + {h})"),
        )
    } else {
        (
            "L · (4 · H + I + H)",
            format!("{l} · (4 · {h} + {i} + {h})"),
        )
    };
    let additions = vec![
        add(
            Step::Biases,
            None,
            line("linear biases", bias_formula, bias_arithmetic, biases),
        ),
        add(
            Step::Heads,
            Some("discriminator"),
            line(
                "discriminator head (dense, dense_prediction)",
                "(H² + H) + (H + 1)",
                format!("({h}² + {h}) + ({h} + 1)"),
                discriminator,
            ),
        ),
        add(
            Step::Heads,
            Some("generator"),
            line(
                "generator head (dense H→E, LayerNorm, generator_lm_head bias)",
                "(E · H + E) + 2 · E + V",
                format!("({e} · {h} + {e}) + 2 · {e} + {v}"),
                generator,
            ),
        ),
        if tie {
            add(
                Step::TiedNotStored,
                Some("generator"),
                line(
                    "generator_lm_head weight (tied to word embeddings)",
                    "V · E",
                    format!("{v} · {e}"),
                    lm_weight,
                ),
            )
        } else {
            add(
                Step::Heads,
                Some("generator"),
                line(
                    "generator_lm_head weight (untied)",
                    "V · E",
                    format!("{v} · {e}"),
                    lm_weight,
                ),
            )
        },
        add(
            Step::Heads,
            Some("classifier"),
            line(
                "classification head (dense, out_proj)",
                "(H² + H) + (N · H + N)",
                format!("({h}² + {h}) + ({n} · {h} + {n})"),
                classification,
            ),
        ),
        add(
            Step::Heads,
            Some("token_classifier"),
            line(
                "token classifier",
                "N · H + N",
                format!("{n} · {h} + {n}"),
                labelled,
            ),
        ),
        add(
            Step::Heads,
            Some("question_answering"),
            line(
                "question-answering head",
                "N · H + N",
                format!("{n} · {h} + {n}"),
                labelled,
            ),
        ),
    ];
    let generator_total = if tie {
        generator
    } else {
        generator.checked_add(lm_weight)?
    };
    let model = weights_only.checked_add(biases)?;
    let generator_formula = if tie {
        "ElectraModel + generator head"
    } else {
        "ElectraModel + generator head + lm_head weight (V · E)"
    };
    let models = vec![
        line(
            "ElectraModel",
            "weights only + linear biases",
            format!("{weights_only} + {biases}"),
            model,
        ),
        line(
            "ElectraForPreTraining",
            "ElectraModel + discriminator head",
            format!("{model} + {discriminator}"),
            model.checked_add(discriminator)?,
        ),
        line(
            "ElectraForMaskedLM",
            generator_formula,
            format!("{model} + {generator_total}"),
            model.checked_add(generator_total)?,
        ),
        line(
            "ElectraForCausalLM",
            generator_formula,
            format!("{model} + {generator_total}"),
            model.checked_add(generator_total)?,
        ),
        line(
            "ElectraForSequenceClassification",
            "ElectraModel + classification head",
            format!("{model} + {classification}"),
            model.checked_add(classification)?,
        ),
        line(
            "ElectraForTokenClassification",
            "ElectraModel + classifier",
            format!("{model} + {labelled}"),
            model.checked_add(labelled)?,
        ),
        line(
            "ElectraForQuestionAnswering",
            "ElectraModel + QA outputs",
            format!("{model} + {labelled}"),
            model.checked_add(labelled)?,
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

    fn dims(e: u64, h: u64, i: u64, a: u64) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", 30522),
            ("E", e),
            ("H", h),
            ("L", 12),
            ("I", i),
            ("A", a),
            ("P", 512),
            ("T", 2),
            ("N", 2),
            ("tie", 1),
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

    /// fixtures/families/full-size.json: electra-base-discriminator (E = H, no projection)
    /// is BERT-base without pooler.
    #[test]
    fn base_discriminator_matches_transformers() {
        let d = dims(768, 768, 3072, 12);
        assert_eq!(model(&d, "ElectraModel"), 108_891_648);
        assert!(!projected(&d));
    }

    /// The projection appears with E != H: the ElectraConfig defaults (E 128, H 256).
    #[test]
    fn projection_only_when_embedding_size_differs() {
        let small = dims(128, 256, 1024, 4);
        let d = derive(&small).unwrap();
        assert_eq!(d.steps[2].value, 256 * 128);
        assert!(projected(&small));
    }
}
