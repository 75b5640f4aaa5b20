//! DistilBERT (`model_type: distilbert`): transformers' `modeling_distilbert`,
//! `DistilBertConfig` defaults (configuration_distilbert.py:58-74). Its own config names:
//! `dim` (hidden), `hidden_dim` (feed-forward), `n_layers`, `n_heads`; `hidden_size`,
//! `num_hidden_layers` and `num_attention_heads` are read as aliases (the config's
//! `attribute_map`, configuration_distilbert.py:52-56). The feed-forward default is the
//! constant 3072 (`hidden_dim: int = 4 * 768`), not four times `dim`.
//!
//! A BERT without token types and without pooler: word and position embeddings and their
//! LayerNorm, then `transformer.layer.{layer}` with `attention.q_lin/k_lin/v_lin/out_lin`,
//! `sa_layer_norm`, `ffn.lin1/lin2` and `output_layer_norm`. With
//! `sinusoidal_pos_embds` the position table is filled with fixed sinusoids
//! (`_init_weights`, modeling_distilbert.py:303-311) but stays an `nn.Embedding`
//! parameter: stored and counted either way.
//!
//! Heads: masked LM (`vocab_transform` H→H, `vocab_layer_norm`, `vocab_projector` H→V with
//! its weight tied to the word embeddings when `tie_word_embeddings`, its bias stored,
//! modeling_distilbert.py:427-438); sequence classification (`pre_classifier` H→H, then
//! `classifier` H→N, modeling_distilbert.py:534-535); token classification (`classifier`
//! alone); question answering (`qa_outputs` H→N, and `DistilBertForQuestionAnswering`
//! raises unless `num_labels` is 2, modeling_distilbert.py:625-626).
//! `DistilBertForMultipleChoice` (`pre_classifier` + `classifier` 1×H) stores the names of
//! sequence classification with one label: not claimed, the table cannot tell them apart.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm};
use super::Step::{Biases, Heads};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH,
};

/// The DistilBERT family.
pub static FAMILY: Family = Family {
    name: "distilbert",
    title: "DistilBERT",
    model_types: &["distilbert"],
    covers: "DistilBertModel, masked-LM, sequence classification (pre_classifier + classifier), token classification and QA heads",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["n_layers", "num_hidden_layers"], 6, MAX_LAYERS),
        count("H", &["dim", "hidden_size"], 768, MAX_WIDTH),
        count("I", &["hidden_dim"], 3072, MAX_WIDTH),
        count("V", &["vocab_size"], 30522, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("A", &["n_heads", "num_attention_heads"], 12, MAX_WIDTH).show("heads"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        flag("sin", &["sinusoidal_pos_embds"], false, "sinusoidal-positions", ""),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[BUFFERS, EMBEDDINGS, LAYERS, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (attention, FFN)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "DistilBertModel", parts: &[] },
        Claim { architecture: "DistilBertForMaskedLM", parts: &["masked_lm"] },
        Claim { architecture: "DistilBertForSequenceClassification", parts: &["pre_classifier", "classifier"] },
        Claim { architecture: "DistilBertForTokenClassification", parts: &["classifier"] },
        Claim { architecture: "DistilBertForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// The buffer `Embeddings` registers (non-persistent in transformers 5.24; older files
/// may hold it).
#[rustfmt::skip]
const BUFFERS: &[Row] = &[
    row("embeddings.position_ids",                          "1, P", Buffer).buffer(),
];

/// Word and position embeddings and their LayerNorm, in the hand derivation.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("embeddings.word_embeddings.weight",                "V, H", Embedding),
    row("embeddings.position_embeddings.weight",            "P, H", Embedding),
    row("embeddings.LayerNorm.weight",                      "H",    Norm),
    row("embeddings.LayerNorm.bias",                        "H",    Norm),
];

/// Transformer blocks (`{layer}` in 0..L): matrices and LayerNorms in the derivation,
/// linear biases not.
#[rustfmt::skip]
const LAYERS: &[Row] = &[
    row("transformer.layer.{layer}.attention.q_lin.weight",   "H, H", Attention),
    row("transformer.layer.{layer}.attention.q_lin.bias",     "H",    Attention).step(Biases),
    row("transformer.layer.{layer}.attention.k_lin.weight",   "H, H", Attention),
    row("transformer.layer.{layer}.attention.k_lin.bias",     "H",    Attention).step(Biases),
    row("transformer.layer.{layer}.attention.v_lin.weight",   "H, H", Attention),
    row("transformer.layer.{layer}.attention.v_lin.bias",     "H",    Attention).step(Biases),
    row("transformer.layer.{layer}.attention.out_lin.weight", "H, H", Attention),
    row("transformer.layer.{layer}.attention.out_lin.bias",   "H",    Attention).step(Biases),
    row("transformer.layer.{layer}.sa_layer_norm.weight",     "H",    Norm),
    row("transformer.layer.{layer}.sa_layer_norm.bias",       "H",    Norm),
    row("transformer.layer.{layer}.ffn.lin1.weight",          "I, H", Ffn),
    row("transformer.layer.{layer}.ffn.lin1.bias",            "I",    Ffn).step(Biases),
    row("transformer.layer.{layer}.ffn.lin2.weight",          "H, I", Ffn),
    row("transformer.layer.{layer}.ffn.lin2.bias",            "H",    Ffn).step(Biases),
    row("transformer.layer.{layer}.output_layer_norm.weight", "H",    Norm),
    row("transformer.layer.{layer}.output_layer_norm.bias",   "H",    Norm),
];

/// DistilBERT's heads (no prefix in the files: they sit beside `distilbert.`).
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("vocab_transform.weight",                           "H, H", Head).step(Heads).part("masked_lm"),
    row("vocab_transform.bias",                             "H",    Head).step(Heads).part("masked_lm"),
    row("vocab_layer_norm.weight",                          "H",    Head).step(Heads).part("masked_lm"),
    row("vocab_layer_norm.bias",                            "H",    Head).step(Heads).part("masked_lm"),
    row("vocab_projector.weight",                           "V, H", Head).step(Heads).part("masked_lm")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("vocab_projector.bias",                             "V",    Head).step(Heads).part("masked_lm"),
    row("pre_classifier.weight",                            "H, H", Head).step(Heads).part("pre_classifier"),
    row("pre_classifier.bias",                              "H",    Head).step(Heads).part("pre_classifier"),
    row("classifier.weight",                                "N, H", Head).step(Heads).part("classifier"),
    row("classifier.bias",                                  "N",    Head).step(Heads).part("classifier"),
    row("qa_outputs.weight",                                "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "N",    Head).step(Heads).part("question_answering"),
];

/// `DistilBertSelfAttention` refuses a `dim` that is not a multiple of `n_heads`
/// (modeling_distilbert.py:161-162).
fn validate(d: &Dims) -> Result<(), String> {
    let (h, a) = (d.v("H"), d.v("A"));
    if h % a != 0 {
        return Err(format!("`dim` {h} is not a multiple of `n_heads` {a}"));
    }
    Ok(())
}

/// The closed form, written apart from the table. Every product is checked: `None` when
/// the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, l, i, p, n) = (d.v("V"), d.v("H"), d.v("L"), d.v("I"), d.v("P"), d.v("N"));
    let tie = d.flag("tie");
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v.checked_add(p)?, h)?;
    let embedding_ln = mul(2, h)?;
    let attention = mul(4, mul(h, h)?)?;
    let ffn = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(ffn)?.checked_add(layer_ln)?;
    let weights_only = embeddings
        .checked_add(embedding_ln)?
        .checked_add(mul(l, per_layer)?)?;
    let biases = mul(l, mul(5, h)?.checked_add(i)?)?;
    let dense = mul(h, h)?.checked_add(h)?;
    // vocab_transform (H² + H), vocab_layer_norm (2·H), vocab_projector's bias (V).
    let masked_lm = dense.checked_add(mul(2, h)?)?.checked_add(v)?;
    let projector = mul(v, h)?;
    let labelled = mul(n, h)?.checked_add(n)?;
    let positions = if d.flag("sin") {
        "embeddings (word, position; the position table holds fixed sinusoids, still a parameter)"
    } else {
        "embeddings (word, position)"
    };
    let steps = vec![
        line(
            positions,
            "(V + P) · H",
            format!("({v} + {p}) · {h}"),
            embeddings,
        ),
        line(
            "embedding LayerNorm",
            "2 · H (gamma, beta)",
            format!("2 · {h}"),
            embedding_ln,
        ),
        line(
            "attention, per layer",
            "q_lin, k_lin, v_lin: 3 · H² ; out_lin: H²",
            format!("4 · {h}²"),
            attention,
        ),
        line(
            "feed-forward, per layer",
            "lin1 H×I + lin2 I×H",
            format!("2 · {h} · {i}"),
            ffn,
        ),
        line(
            "LayerNorm, per layer (sa_layer_norm, output_layer_norm)",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            layer_ln,
        ),
        line(
            "total, weights only",
            "embeddings + LN + L · (attention + FFN + LN)",
            format!("{embeddings} + {embedding_ln} + {l} · ({attention} + {ffn} + {layer_ln})"),
            weights_only,
        ),
    ];
    let additions = vec![
        add(
            Step::Biases,
            None,
            line(
                "linear biases",
                "L · (4 · H + I + H)",
                format!("{l} · (4 · {h} + {i} + {h})"),
                biases,
            ),
        ),
        add(
            Step::Heads,
            Some("masked_lm"),
            line(
                "MLM head (vocab_transform, vocab_layer_norm, vocab_projector bias)",
                "(H² + H) + 2 · H + V",
                format!("({h}² + {h}) + 2 · {h} + {v}"),
                masked_lm,
            ),
        ),
        if tie {
            add(
                Step::TiedNotStored,
                Some("masked_lm"),
                line(
                    "vocab_projector weight (tied to word embeddings)",
                    "V · H",
                    format!("{v} · {h}"),
                    projector,
                ),
            )
        } else {
            add(
                Step::Heads,
                Some("masked_lm"),
                line(
                    "vocab_projector weight (untied)",
                    "V · H",
                    format!("{v} · {h}"),
                    projector,
                ),
            )
        },
        add(
            Step::Heads,
            Some("pre_classifier"),
            line("pre_classifier", "H² + H", format!("{h}² + {h}"), dense),
        ),
        add(
            Step::Heads,
            Some("classifier"),
            line(
                "classifier",
                "N · H + N",
                format!("{n} · {h} + {n}"),
                labelled,
            ),
        ),
        add(
            Step::Heads,
            Some("question_answering"),
            line(
                "question-answering head (N must be 2)",
                "N · H + N",
                format!("{n} · {h} + {n}"),
                labelled,
            ),
        ),
    ];
    let masked_lm_total = if tie {
        masked_lm
    } else {
        masked_lm.checked_add(projector)?
    };
    let model = weights_only.checked_add(biases)?;
    let sequence = dense.checked_add(labelled)?;
    let models = vec![
        line(
            "DistilBertModel",
            "weights only + linear biases",
            format!("{weights_only} + {biases}"),
            model,
        ),
        line(
            "DistilBertForMaskedLM",
            "DistilBertModel + MLM head",
            format!("{model} + {masked_lm_total}"),
            model.checked_add(masked_lm_total)?,
        ),
        line(
            "DistilBertForSequenceClassification",
            "DistilBertModel + pre_classifier + classifier",
            format!("{model} + {sequence}"),
            model.checked_add(sequence)?,
        ),
        line(
            "DistilBertForTokenClassification",
            "DistilBertModel + classifier",
            format!("{model} + {labelled}"),
            model.checked_add(labelled)?,
        ),
        line(
            "DistilBertForQuestionAnswering",
            "DistilBertModel + QA outputs (N = 2)",
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

    /// fixtures/families/full-size.json: distilbert-base-uncased's defaults.
    #[test]
    fn closed_form_matches_transformers_for_the_default_config() {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", 30522),
            ("H", 768),
            ("L", 6),
            ("I", 3072),
            ("A", 12),
            ("P", 512),
            ("N", 2),
            ("tie", 1),
        ] {
            d.set(s, x);
        }
        let m = derive(&d).unwrap();
        let value = |name: &str| m.models.iter().find(|s| s.part == name).unwrap().value;
        assert_eq!(value("DistilBertModel"), 66_362_880);
        assert_eq!(value("DistilBertForMaskedLM"), 66_985_530);
    }
}
