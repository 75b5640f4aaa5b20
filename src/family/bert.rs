//! BERT (`model_type: bert`): transformers' `modeling_bert`, `BertConfig` defaults. The
//! hand derivation is the widely quoted one (Devlin et al. 2018 §3, Vaswani et al. 2017
//! §3.2-3.3; docs/reference.md §1): embeddings, LayerNorms and the attention and
//! feed-forward matrices, no linear bias, no pooler, no head.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm, Pooler};
use super::Step::{Biases, Heads, Pooler as PoolerStep};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH, POOLER,
};

/// The BERT family.
pub static FAMILY: Family = Family {
    name: "bert",
    title: "BERT",
    model_types: &["bert"],
    covers: "BertModel (with or without pooler), pre-training, masked-LM, next-sentence, sequence/token classification and QA heads",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["hidden_size"], 768, MAX_WIDTH),
        count("I", &["intermediate_size"], 3072, MAX_WIDTH),
        count("V", &["vocab_size"], 30522, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("T", &["type_vocab_size"], 2, MAX_COUNT).zero_ok(),
        count("A", &["num_attention_heads"], 12, MAX_WIDTH).show("heads"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[BUFFERS, EMBEDDINGS, ENCODER, POOLER_ROWS, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (attention, FFN)"),
        (Step::Pooler, "pooler"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "BertModel", parts: &[POOLER] },
        Claim { architecture: "BertForPreTraining", parts: &[POOLER, "masked_lm", "next_sentence"] },
        Claim { architecture: "BertForMaskedLM", parts: &["masked_lm"] },
        Claim { architecture: "BertLMHeadModel", parts: &["masked_lm"] },
        Claim { architecture: "BertForNextSentencePrediction", parts: &[POOLER, "next_sentence"] },
        Claim { architecture: "BertForSequenceClassification", parts: &[POOLER, "classifier"] },
        Claim { architecture: "BertForMultipleChoice", parts: &[POOLER, "classifier"] },
        Claim { architecture: "BertForTokenClassification", parts: &["classifier"] },
        Claim { architecture: "BertForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// Buffers registered by BertEmbeddings (written by older transformers versions).
#[rustfmt::skip]
pub const BUFFERS: &[Row] = &[
    row("embeddings.position_ids",                          "1, P", Buffer).buffer(),
    row("embeddings.token_type_ids",                        "1, P", Buffer).buffer(),
];

/// Embeddings and their LayerNorm: in the hand derivation. Any prefix (`bert.`, none).
#[rustfmt::skip]
pub const EMBEDDINGS: &[Row] = &[
    row("embeddings.word_embeddings.weight",                "V, H", Embedding),
    row("embeddings.position_embeddings.weight",            "P, H", Embedding),
    row("embeddings.token_type_embeddings.weight",          "T, H", Embedding),
    row("embeddings.LayerNorm.weight",                      "H",    Norm),
    row("embeddings.LayerNorm.bias",                        "H",    Norm),
];

/// Encoder layers (`{layer}` in 0..L): matrices and LayerNorms in the derivation, linear
/// biases not. RoBERTa, ELECTRA and their kin store the same names.
#[rustfmt::skip]
pub const ENCODER: &[Row] = &[
    row("layer.{layer}.attention.self.query.weight",        "H, H", Attention),
    row("layer.{layer}.attention.self.query.bias",          "H",    Attention).step(Biases),
    row("layer.{layer}.attention.self.key.weight",          "H, H", Attention),
    row("layer.{layer}.attention.self.key.bias",            "H",    Attention).step(Biases),
    row("layer.{layer}.attention.self.value.weight",        "H, H", Attention),
    row("layer.{layer}.attention.self.value.bias",          "H",    Attention).step(Biases),
    row("layer.{layer}.attention.output.dense.weight",      "H, H", Attention),
    row("layer.{layer}.attention.output.dense.bias",        "H",    Attention).step(Biases),
    row("layer.{layer}.attention.output.LayerNorm.weight",  "H",    Norm),
    row("layer.{layer}.attention.output.LayerNorm.bias",    "H",    Norm),
    row("layer.{layer}.intermediate.dense.weight",          "I, H", Ffn),
    row("layer.{layer}.intermediate.dense.bias",            "I",    Ffn).step(Biases),
    row("layer.{layer}.output.dense.weight",                "H, I", Ffn),
    row("layer.{layer}.output.dense.bias",                  "H",    Ffn).step(Biases),
    row("layer.{layer}.output.LayerNorm.weight",            "H",    Norm),
    row("layer.{layer}.output.LayerNorm.bias",              "H",    Norm),
];

/// The pooler (`pooler.dense`).
#[rustfmt::skip]
pub const POOLER_ROWS: &[Row] = &[
    row("pooler.dense.weight",                              "H, H", Pooler).step(PoolerStep).part(POOLER),
    row("pooler.dense.bias",                                "H",    Pooler).step(PoolerStep).part(POOLER),
];

/// BERT's heads: masked LM (its decoder weight is the word embeddings, its decoder bias
/// `cls.predictions.bias`), next sentence, classification, question answering.
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("cls.predictions.transform.dense.weight",           "H, H", Head).step(Heads).part("masked_lm"),
    row("cls.predictions.transform.dense.bias",             "H",    Head).step(Heads).part("masked_lm"),
    row("cls.predictions.transform.LayerNorm.weight",       "H",    Head).step(Heads).part("masked_lm"),
    row("cls.predictions.transform.LayerNorm.bias",         "H",    Head).step(Heads).part("masked_lm"),
    row("cls.predictions.bias",                             "V",    Head).step(Heads).part("masked_lm"),
    row("cls.predictions.decoder.weight",                   "V, H", Head).step(Heads).part("masked_lm")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("cls.predictions.decoder.bias",                     "V",    Head).step(Heads).part("masked_lm")
        .alias_when("tie", "cls.predictions.bias"),
    row("cls.seq_relationship.weight",                      "2, H", Head).step(Heads).part("next_sentence"),
    row("cls.seq_relationship.bias",                        "2",    Head).step(Heads).part("next_sentence"),
    row("classifier.weight",                                "N, H", Head).step(Heads).part("classifier"),
    row("classifier.bias",                                  "N",    Head).step(Heads).part("classifier"),
    row("qa_outputs.weight",                                "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "N",    Head).step(Heads).part("question_answering"),
];

fn validate(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)
}

/// The hand derivation of a BERT-style encoder (BERT, RoBERTa and the families built on
/// it): embeddings, their LayerNorm, per layer attention, feed-forward and LayerNorms;
/// with the linear biases it leaves out. `embeddings` labels the first line.
pub struct EncoderBase {
    /// The classic count: weights only.
    pub weights_only: u64,
    /// The linear biases of all layers: L · (5 · H + I).
    pub biases: u64,
    /// The derivation's lines.
    pub steps: Vec<super::Line>,
}

/// [`EncoderBase`] for the dimensions `d` (V, P, T, H, I, L); `None` on overflow.
pub fn encoder_base(d: &Dims, embeddings_label: &str) -> Option<EncoderBase> {
    let (v, h, l, i, p, t) = (d.v("V"), d.v("H"), d.v("L"), d.v("I"), d.v("P"), d.v("T"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v.checked_add(p)?.checked_add(t)?, h)?;
    let embedding_ln = mul(2, h)?;
    let attention = mul(4, mul(h, h)?)?;
    let ffn = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(ffn)?.checked_add(layer_ln)?;
    let weights_only = embeddings
        .checked_add(embedding_ln)?
        .checked_add(mul(l, per_layer)?)?;
    let biases = mul(l, mul(5, h)?.checked_add(i)?)?;
    let steps = vec![
        line(
            embeddings_label,
            "(V + P + T) · H",
            format!("({v} + {p} + {t}) · {h}"),
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
            "embeddings + LN + L · (attention + FFN + LN)",
            format!("{embeddings} + {embedding_ln} + {l} · ({attention} + {ffn} + {layer_ln})"),
            weights_only,
        ),
    ];
    Some(EncoderBase {
        weights_only,
        biases,
        steps,
    })
}

/// The closed form, step by step with its arithmetic (docs/reference.md §1 and §2).
/// Every product is checked: `None` when the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, l, i, n) = (d.v("V"), d.v("H"), d.v("L"), d.v("I"), d.v("N"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let EncoderBase {
        weights_only,
        biases,
        steps,
    } = encoder_base(d, "embeddings")?;
    let pooler = mul(h, h)?.checked_add(h)?;
    let masked_lm = pooler.checked_add(mul(2, h)?)?.checked_add(v)?;
    let decoder = mul(v, h)?;
    let next_sentence = mul(2, h)?.checked_add(2)?;
    let labelled = mul(n, h)?.checked_add(n)?;
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
                "MLM head (transform, LayerNorm, output bias)",
                "(H² + H) + 2 · H + V",
                format!("({h}² + {h}) + 2 · {h} + {v}"),
                masked_lm,
            ),
        ),
        if d.flag("tie") {
            add(
                Step::TiedNotStored,
                Some("masked_lm"),
                line(
                    "MLM decoder weight (tied to word embeddings)",
                    "V · H",
                    format!("{v} · {h}"),
                    decoder,
                ),
            )
        } else {
            add(
                Step::Heads,
                Some("masked_lm"),
                line(
                    "MLM decoder weight and bias (untied)",
                    "V · H + V",
                    format!("{v} · {h} + {v}"),
                    decoder.checked_add(v)?,
                ),
            )
        },
        add(
            Step::Heads,
            Some("next_sentence"),
            line(
                "next-sentence head",
                "2 · H + 2",
                format!("2 · {h} + 2"),
                next_sentence,
            ),
        ),
        add(
            Step::Heads,
            Some("classifier"),
            line(
                "classifier head",
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
    // Untied, the decoder's weight and bias are parameters of their own (transformers
    // drops every tie of the head then, the bias's to `cls.predictions.bias` included).
    let masked_lm_total = if d.flag("tie") {
        masked_lm
    } else {
        masked_lm.checked_add(decoder)?.checked_add(v)?
    };
    let no_pooler = weights_only.checked_add(biases)?;
    let with_pooler = no_pooler.checked_add(pooler)?;
    let models = vec![
        line(
            "BertModel, no pooler",
            "weights only + linear biases",
            format!("{weights_only} + {biases}"),
            no_pooler,
        ),
        line(
            "BertModel",
            "+ pooler",
            format!("{no_pooler} + {pooler}"),
            with_pooler,
        ),
        line(
            "BertForPreTraining",
            "BertModel + MLM + next sentence",
            format!("{with_pooler} + {masked_lm_total} + {next_sentence}"),
            with_pooler
                .checked_add(masked_lm_total)?
                .checked_add(next_sentence)?,
        ),
        line(
            "BertForMaskedLM",
            "no pooler + MLM",
            format!("{no_pooler} + {masked_lm_total}"),
            no_pooler.checked_add(masked_lm_total)?,
        ),
        line(
            "BertForSequenceClassification",
            "BertModel + classifier",
            format!("{with_pooler} + {labelled}"),
            with_pooler.checked_add(labelled)?,
        ),
        line(
            "BertForTokenClassification",
            "no pooler + classifier",
            format!("{no_pooler} + {labelled}"),
            no_pooler.checked_add(labelled)?,
        ),
        line(
            "BertForQuestionAnswering",
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

    fn dims(v: u64, h: u64, l: u64, i: u64, heads: u64) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", v),
            ("H", h),
            ("L", l),
            ("I", i),
            ("A", heads),
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

    /// docs/reference.md §2, the table of exact counts, row by row.
    #[test]
    fn closed_form_matches_reference_table() {
        let base = dims(30522, 768, 12, 3072, 12);
        let large = dims(30522, 1024, 24, 4096, 16);
        let minilm = dims(30522, 384, 6, 1536, 12);
        for (d, with_pooler, no_pooler, pretraining, mlm) in [
            (&base, 109_482_240, 108_891_648, 110_106_428, 109_514_298),
            (&large, 335_141_888, 334_092_288, 336_226_108, 335_174_458),
            (&minilm, 22_713_216, 22_565_376, 22_893_116, 22_744_506),
        ] {
            assert_eq!(model(d, "BertModel"), with_pooler);
            assert_eq!(model(d, "BertModel, no pooler"), no_pooler);
            assert_eq!(model(d, "BertForPreTraining"), pretraining);
            assert_eq!(model(d, "BertForMaskedLM"), mlm);
        }
        assert_eq!(derive(&base).unwrap().weights_only, 108_808_704);
        assert_eq!(derive(&large).unwrap().weights_only, 333_871_104);
    }

    /// docs/reference.md §2: the itemised bert-base gap.
    #[test]
    fn bert_base_gap_items_match_reference() {
        let d = derive(&dims(30522, 768, 12, 3072, 12)).unwrap();
        let value = |step: Step, of: Option<&str>| {
            d.additions
                .iter()
                .find(|a| a.step == step && a.of.as_deref() == of)
                .unwrap()
                .line
                .value
        };
        assert_eq!(value(Step::Biases, None), 82_944);
        assert_eq!(value(Step::Pooler, Some(POOLER)), 590_592);
        assert_eq!(
            value(Step::Heads, Some("masked_lm")) + value(Step::Heads, Some("next_sentence")),
            624_188
        );
        assert_eq!(value(Step::TiedNotStored, Some("masked_lm")), 23_440_896);
        assert_eq!(d.steps[0].value, 23_835_648);
    }

    #[test]
    fn expected_buckets_match_reference_for_bert_base() {
        let d = dims(30522, 768, 12, 3072, 12);
        let c = FAMILY.compiled();
        let e = c
            .expand(&d, &[POOLER, "masked_lm", "next_sentence"])
            .unwrap();
        let stored: Vec<_> = e
            .iter()
            .filter(|x| !x.tied && c.rows[x.row].row.kind == super::super::RowKind::Param)
            .collect();
        let b = |bucket| -> u64 {
            stored
                .iter()
                .filter(|x| c.rows[x.row].row.bucket == bucket)
                .map(|x| x.elements)
                .sum()
        };
        assert_eq!(b(Embedding), 23_835_648);
        assert_eq!(b(Attention), 28_348_416);
        assert_eq!(b(Ffn), 56_669_184);
        assert_eq!(b(Norm), 38_400);
        assert_eq!(b(Pooler), 590_592);
        assert_eq!(b(Head), 624_188);
        assert_eq!(stored.len(), 206, "bert-base-uncased stores 206 tensors");
    }
}
