//! RoBERTa, XLM-RoBERTa and CamemBERT (`model_type: roberta`, `xlm-roberta`,
//! `camembert`): one architecture, BERT's embeddings and encoder under the same names
//! (transformers' `modeling_roberta`, `modeling_xlm_roberta`, `modeling_camembert`, copies
//! of one another), with RoBERTa's own heads. Three families because their config classes
//! differ in one default: `vocab_size` is 50265 in `RobertaConfig`
//! (configuration_roberta.py:44) and 30522 in `XLMRobertaConfig` and `CamembertConfig`
//! (configuration_xlm_roberta.py:44, configuration_camembert.py:44); everything else is
//! BERT's defaults (`type_vocab_size` 2, `tie_word_embeddings` true), though published
//! checkpoints set `type_vocab_size` 1 and `max_position_embeddings` 514.
//!
//! Positions: the table has `max_position_embeddings` rows, but `RobertaEmbeddings` numbers
//! positions from `pad_token_id + 1` (`create_position_ids_from_input_ids`,
//! modeling_roberta.py:123-141), so the first `pad_token_id + 1` rows (2 with the usual
//! `pad_token_id` 1) are never used for tokens; they are stored and counted all the same
//! (stored shape `[P, H]`).
//!
//! Heads: the LM head (`lm_head.dense`, `lm_head.layer_norm`, `lm_head.bias`, the decoder
//! projecting to the vocabulary) serves `ForMaskedLM` and `ForCausalLM`. Its
//! `_tied_weights_keys` tie `lm_head.decoder.weight` to the word embeddings and
//! `lm_head.decoder.bias` to `lm_head.bias` (modeling_roberta.py:795-798), and transformers
//! 5.24 applies those ties only when `tie_word_embeddings` is set
//! (`get_expanded_tied_weights_keys`, modeling_utils.py:2492-2494): untied, the decoder
//! weight and the decoder bias are parameters of their own, next to `lm_head.bias`.
//! `ForSequenceClassification` uses `RobertaClassificationHead` (`classifier.dense` H→H,
//! `classifier.out_proj` H→N, modeling_roberta.py:1145-1155) and no pooler;
//! `ForTokenClassification` a plain `classifier` (N×H); `ForQuestionAnswering` `qa_outputs`.
//! Only `RobertaModel` has the pooler. `ForMultipleChoice` (pooler + `classifier` 1×H,
//! modeling_roberta.py:988-990) stores `classifier.weight` like token classification with
//! one label: it is not claimed here, since the table cannot tell the two apart by name.
//! For XLM-R and CamemBERT masked LM, `parameters()` meets `lm_head.decoder.weight` before
//! the word embeddings and counts the shared tensor under that name; the file keeps the
//! word embeddings, and the count is the same.

use super::bert;
use super::Bucket::Head;
use super::Step::Heads;
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dim, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH, POOLER,
};

/// The dimensions, with the config class's `vocab_size` default.
const fn dims(vocab: u64) -> [Dim; 9] {
    [
        count("L", &["num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["hidden_size"], 768, MAX_WIDTH),
        count("I", &["intermediate_size"], 3072, MAX_WIDTH),
        count("V", &["vocab_size"], vocab, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("T", &["type_vocab_size"], 2, MAX_COUNT).zero_ok(),
        count("A", &["num_attention_heads"], 12, MAX_WIDTH).show("heads"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT)
            .show("labels")
            .auxiliary(),
        flag(
            "tie",
            &["tie_word_embeddings"],
            true,
            "tied-embeddings",
            "untied-embeddings",
        ),
    ]
}

static ROBERTA_DIMS: [Dim; 9] = dims(50265);
static XLM_ROBERTA_DIMS: [Dim; 9] = dims(30522);

const LADDER: &[(Step, &str)] = &[
    (Step::Biases, "linear biases (attention, FFN)"),
    (Step::Pooler, "pooler"),
    (Step::Heads, "heads"),
    (Step::TiedNotStored, "tied, not stored"),
    (Step::Buffers, "buffers, not parameters"),
];

const COVERS: &str = "Model (with or without pooler), LM head (masked and causal LM), sequence classification (dense + out_proj), token classification and QA heads";

/// The model classes of one of the three, by name prefix, and the parts each holds.
macro_rules! claims {
    ($p:literal) => {
        &[
            Claim {
                architecture: concat!($p, "Model"),
                parts: &[POOLER],
            },
            Claim {
                architecture: concat!($p, "ForMaskedLM"),
                parts: &["masked_lm"],
            },
            Claim {
                architecture: concat!($p, "ForCausalLM"),
                parts: &["masked_lm"],
            },
            Claim {
                architecture: concat!($p, "ForSequenceClassification"),
                parts: &["classifier"],
            },
            Claim {
                architecture: concat!($p, "ForTokenClassification"),
                parts: &["token_classifier"],
            },
            Claim {
                architecture: concat!($p, "ForQuestionAnswering"),
                parts: &["question_answering"],
            },
        ]
    };
}

/// The RoBERTa family.
pub static FAMILY: Family = Family {
    name: "roberta",
    title: "RoBERTa",
    model_types: &["roberta"],
    covers: COVERS,
    norm: super::Norm::LayerNorm,
    dims: &ROBERTA_DIMS,
    ranges: &[range("layer", "L")],
    tensors: &[
        bert::BUFFERS,
        bert::EMBEDDINGS,
        bert::ENCODER,
        bert::POOLER_ROWS,
        HEADS,
    ],
    ladder: LADDER,
    claims: claims!("Roberta"),
    validate,
    derive: derive_roberta,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// The XLM-RoBERTa family (RoBERTa's architecture, `vocab_size` default 30522).
pub static XLM_ROBERTA: Family = Family {
    name: "xlm-roberta",
    title: "XLM-RoBERTa",
    model_types: &["xlm-roberta"],
    covers: COVERS,
    norm: super::Norm::LayerNorm,
    dims: &XLM_ROBERTA_DIMS,
    ranges: &[range("layer", "L")],
    tensors: &[
        bert::BUFFERS,
        bert::EMBEDDINGS,
        bert::ENCODER,
        bert::POOLER_ROWS,
        HEADS,
    ],
    ladder: LADDER,
    claims: claims!("XLMRoberta"),
    validate,
    derive: derive_xlm_roberta,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// The CamemBERT family (RoBERTa's architecture, `vocab_size` default 30522).
pub static CAMEMBERT: Family = Family {
    name: "camembert",
    title: "CamemBERT",
    model_types: &["camembert"],
    covers: COVERS,
    norm: super::Norm::LayerNorm,
    dims: &XLM_ROBERTA_DIMS,
    ranges: &[range("layer", "L")],
    tensors: &[
        bert::BUFFERS,
        bert::EMBEDDINGS,
        bert::ENCODER,
        bert::POOLER_ROWS,
        HEADS,
    ],
    ladder: LADDER,
    claims: claims!("Camembert"),
    validate,
    derive: derive_camembert,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// RoBERTa's heads (any prefix): the LM head (`RobertaLMHead`), the classification head
/// (`RobertaClassificationHead`), the token classifier and the QA outputs.
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("lm_head.dense.weight",                             "H, H", Head).step(Heads).part("masked_lm"),
    row("lm_head.dense.bias",                               "H",    Head).step(Heads).part("masked_lm"),
    row("lm_head.layer_norm.weight",                        "H",    Head).step(Heads).part("masked_lm"),
    row("lm_head.layer_norm.bias",                          "H",    Head).step(Heads).part("masked_lm"),
    row("lm_head.bias",                                     "V",    Head).step(Heads).part("masked_lm"),
    row("lm_head.decoder.weight",                           "V, H", Head).step(Heads).part("masked_lm")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("lm_head.decoder.bias",                             "V",    Head).step(Heads).part("masked_lm")
        .alias_when("tie", "lm_head.bias"),
    row("classifier.dense.weight",                          "H, H", Head).step(Heads).part("classifier"),
    row("classifier.dense.bias",                            "H",    Head).step(Heads).part("classifier"),
    row("classifier.out_proj.weight",                       "N, H", Head).step(Heads).part("classifier"),
    row("classifier.out_proj.bias",                         "N",    Head).step(Heads).part("classifier"),
    row("classifier.weight",                                "N, H", Head).step(Heads).part("token_classifier"),
    row("classifier.bias",                                  "N",    Head).step(Heads).part("token_classifier"),
    row("qa_outputs.weight",                                "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "N",    Head).step(Heads).part("question_answering"),
];

/// `RobertaSelfAttention` refuses a hidden size that is not a multiple of the heads
/// (modeling_roberta.py:188-192).
fn validate(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)
}

fn derive_roberta(d: &Dims) -> Option<Derivation> {
    derive(d, "Roberta")
}

fn derive_xlm_roberta(d: &Dims) -> Option<Derivation> {
    derive(d, "XLMRoberta")
}

fn derive_camembert(d: &Dims) -> Option<Derivation> {
    derive(d, "Camembert")
}

/// The closed form, written apart from the table; `prefix` names the model classes
/// (`Roberta`, `XLMRoberta`, `Camembert`). Every product is checked: `None` when the
/// dimensions make a count exceed 64 bits.
fn derive(d: &Dims, prefix: &str) -> Option<Derivation> {
    let (v, h, l, i, n) = (d.v("V"), d.v("H"), d.v("L"), d.v("I"), d.v("N"));
    let tie = d.flag("tie");
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let super::bert::EncoderBase {
        weights_only,
        biases,
        steps,
    } = super::bert::encoder_base(
        d,
        "embeddings; P position rows, the first pad_token_id + 1 never used",
    )?;
    let dense = mul(h, h)?.checked_add(h)?;
    let pooler = dense;
    // dense (H² + H), LayerNorm (2·H), the output bias `lm_head.bias` (V).
    let lm_head = dense.checked_add(mul(2, h)?)?.checked_add(v)?;
    let decoder_weight = mul(v, h)?;
    let decoder_bias = v;
    let labelled = mul(n, h)?.checked_add(n)?;
    let classification = dense.checked_add(labelled)?;
    let decoder_step = if tie {
        Step::TiedNotStored
    } else {
        Step::Heads
    };
    let (weight_label, bias_label) = if tie {
        (
            "LM decoder weight (tied to the word embeddings)",
            "LM decoder bias (tied to lm_head.bias)",
        )
    } else {
        ("LM decoder weight (untied)", "LM decoder bias (untied)")
    };
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
            Step::Pooler,
            Some(POOLER),
            line("pooler", "H² + H", format!("{h}² + {h}"), pooler),
        ),
        add(
            Step::Heads,
            Some("masked_lm"),
            line(
                "LM head (dense, LayerNorm, output bias lm_head.bias)",
                "(H² + H) + 2 · H + V",
                format!("({h}² + {h}) + 2 · {h} + {v}"),
                lm_head,
            ),
        ),
        add(
            decoder_step,
            Some("masked_lm"),
            line(weight_label, "V · H", format!("{v} · {h}"), decoder_weight),
        ),
        // Tied, the decoder bias is `lm_head.bias` under a second name (counted once,
        // above); untied, a parameter of its own.
        add(
            Step::Heads,
            Some("masked_lm"),
            line(
                bias_label,
                "V",
                format!("{v}"),
                if tie { 0 } else { decoder_bias },
            ),
        ),
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
    // Untied, the decoder's weight and bias are parameters of their own.
    let lm_total = if tie {
        lm_head
    } else {
        lm_head
            .checked_add(decoder_weight)?
            .checked_add(decoder_bias)?
    };
    let no_pooler = weights_only.checked_add(biases)?;
    let with_pooler = no_pooler.checked_add(pooler)?;
    let lm_formula = if tie {
        "no pooler + LM head"
    } else {
        "no pooler + LM head + decoder (V · H + V)"
    };
    let models = vec![
        line(
            &format!("{prefix}Model, no pooler"),
            "weights only + linear biases",
            format!("{weights_only} + {biases}"),
            no_pooler,
        ),
        line(
            &format!("{prefix}Model"),
            "+ pooler",
            format!("{no_pooler} + {pooler}"),
            with_pooler,
        ),
        line(
            &format!("{prefix}ForMaskedLM"),
            lm_formula,
            format!("{no_pooler} + {lm_total}"),
            no_pooler.checked_add(lm_total)?,
        ),
        line(
            &format!("{prefix}ForCausalLM"),
            lm_formula,
            format!("{no_pooler} + {lm_total}"),
            no_pooler.checked_add(lm_total)?,
        ),
        line(
            &format!("{prefix}ForSequenceClassification"),
            "no pooler + classification head",
            format!("{no_pooler} + {classification}"),
            no_pooler.checked_add(classification)?,
        ),
        line(
            &format!("{prefix}ForTokenClassification"),
            "no pooler + classifier",
            format!("{no_pooler} + {labelled}"),
            no_pooler.checked_add(labelled)?,
        ),
        line(
            &format!("{prefix}ForQuestionAnswering"),
            "no pooler + QA outputs",
            format!("{no_pooler} + {labelled}"),
            no_pooler.checked_add(labelled)?,
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

    fn dims(v: u64, p: u64, t: u64, tie: bool) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", v),
            ("H", 768),
            ("L", 12),
            ("I", 3072),
            ("A", 12),
            ("P", p),
            ("T", t),
            ("N", 2),
            ("tie", u64::from(tie)),
        ] {
            d.set(s, x);
        }
        d
    }

    fn model(d: &Dims, prefix: &str, name: &str) -> i128 {
        derive(d, prefix)
            .unwrap()
            .models
            .iter()
            .find(|s| s.part == name)
            .unwrap()
            .value
    }

    /// fixtures/families/full-size.json: transformers 5.24's num_parameters() for the
    /// published roberta-base and xlm-roberta-base configs.
    #[test]
    fn closed_form_matches_transformers_for_published_configs() {
        let roberta = dims(50265, 514, 1, true);
        assert_eq!(model(&roberta, "Roberta", "RobertaModel"), 124_645_632);
        assert_eq!(
            model(&roberta, "Roberta", "RobertaForMaskedLM"),
            124_697_433
        );
        let xlmr = dims(250_002, 514, 1, true);
        assert_eq!(model(&xlmr, "XLMRoberta", "XLMRobertaModel"), 278_043_648);
    }

    /// Untied, transformers 5.24 keeps the decoder weight and bias as parameters of their
    /// own (RobertaForMaskedLM with V=101, H=24, L=1, I=40, P=42, T=2, tie_word_embeddings
    /// false: 11282; tied: 8757).
    #[test]
    fn untied_decoder_adds_weight_and_bias() {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", 101),
            ("H", 24),
            ("L", 1),
            ("I", 40),
            ("A", 4),
            ("P", 42),
            ("T", 2),
            ("N", 2),
        ] {
            d.set(s, x);
        }
        d.set("tie", 1);
        assert_eq!(model(&d, "Roberta", "RobertaForMaskedLM"), 8757);
        d.set("tie", 0);
        assert_eq!(model(&d, "Roberta", "RobertaForMaskedLM"), 11282);
    }
}
