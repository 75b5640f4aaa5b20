//! T5 and T5 v1.1 (`model_type: t5`): transformers' `modeling_t5`, `T5Config` defaults
//! (`configuration_t5.py`). One token table `shared` [V, d_model] that both stacks read
//! (`encoder.embed_tokens` and `decoder.embed_tokens` are the same parameter: aliases);
//! attention projections of inner width `d_kv · num_heads`, which need not equal
//! `d_model` (`T5Attention`, modeling_t5.py:196-210); a relative-position bias table
//! [relative_attention_num_buckets, num_heads] in block 0 of each stack only
//! (`has_relative_attention_bias=bool(i == 0)`, modeling_t5.py:652); RMSNorm weights, no
//! bias anywhere; a feed-forward `wi`/`wo`, or `wi_0`/`wi_1`/`wo` when `feed_forward_proj`
//! is `gated-…` (v1.1, `T5LayerFF`, modeling_t5.py:130-133).
//!
//! The decoder is a part (`decoder`), present when the file stores it: `T5EncoderModel`
//! (and `T5ForTokenClassification`, built on it) has none. So the hand derivation is the
//! encoder's: the shared token table and the encoder's attention and feed-forward
//! matrices. The ladder then adds the RMSNorm weights and the relative-position tables
//! of each stack present, and, with the heads, the decoder's matrices (self-attention,
//! cross-attention, feed-forward).
//!
//! The LM head is tied to `shared` (T5 v1.0) unless `tie_word_embeddings` is false (v1.1,
//! whose files store `lm_head.weight`). transformers 5.24 forces `tie_word_embeddings`
//! to true when it reads any T5 config (`T5Config.__post_init__`, configuration_t5.py:81-82,
//! keeping the original value as `scale_decoder_outputs`), but unties the head on load
//! when the file stores a head that differs from `shared`: the model a v1.1 file makes
//! counts its head. The config's own value decides here.

use super::Bucket::{Attention, Embedding, Ffn, Head, Norm};
use super::Step::{Heads, Norms, PositionTables};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, BACKBONE,
    MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The decoder part.
const DECODER: &str = "decoder";

/// The T5 family.
pub static FAMILY: Family = Family {
    name: "t5",
    title: "T5",
    model_types: &["t5"],
    covers: "T5Model, T5ForConditionalGeneration (v1.0 tied or v1.1 untied LM head, ReLU or gated FFN), T5EncoderModel, sequence/token classification and QA heads",
    norm: super::Norm::RmsNorm,
    // Native config keys only: transformers' `attribute_map` aliases (`hidden_size`,
    // `num_attention_heads`, ...) are never written by `save_pretrained`, and reading them
    // would make BERT-style configs without a model_type ambiguous.
    dims: &[
        count("L", &["num_layers"], 6, MAX_LAYERS),
        // T5Config.__post_init__: `num_decoder_layers` defaults to `num_layers`.
        count("Ld", &["num_decoder_layers"], 6, MAX_LAYERS)
            .default_expr("L")
            .show("dec"),
        count("H", &["d_model"], 512, MAX_WIDTH),
        count("K", &["d_kv"], 64, MAX_WIDTH).show("d_kv"),
        count("F", &["d_ff"], 2048, MAX_WIDTH).show("d_ff"),
        count("V", &["vocab_size"], 32128, MAX_COUNT),
        count("A", &["num_heads"], 8, MAX_WIDTH).show("heads"),
        count("B", &["relative_attention_num_buckets"], 32, MAX_COUNT).show("buckets"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT)
            .show("labels")
            .auxiliary(),
        flag("gated", &["feed_forward_proj"], false, "gated-ffn", "").parse_with(gated),
        flag("tie", &["tie_word_embeddings"], true, "tied-lm-head", "untied-lm-head"),
    ],
    ranges: &[range("enc", "L"), range("dec", "Ld")],
    tensors: &[ENCODER, DECODER_ROWS, HEADS],
    ladder: &[
        (Step::Norms, "RMSNorm weights"),
        (Step::PositionTables, "relative position bias (block 0 of each stack)"),
        (Step::Heads, "decoder stack and heads"),
        (Step::TiedNotStored, "tied, not stored"),
    ],
    claims: &[
        Claim { architecture: "T5EncoderModel", parts: &[] },
        Claim { architecture: "T5Model", parts: &[DECODER] },
        Claim { architecture: "T5ForConditionalGeneration", parts: &[DECODER, "lm_head"] },
        Claim { architecture: "T5ForSequenceClassification", parts: &[DECODER, "classification_head"] },
        Claim { architecture: "T5ForTokenClassification", parts: &["classifier"] },
        Claim { architecture: "T5ForQuestionAnswering", parts: &[DECODER, "question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// `feed_forward_proj` as transformers reads it: gated when its first `-`-separated
/// field is `gated` (configuration_t5.py:70: `is_gated_act = act_info[0] == "gated"`).
fn gated(v: &serde_json::Value) -> Option<u64> {
    let s = v.as_str()?;
    Some(u64::from(s.split('-').next() == Some("gated")))
}

/// The shared token table and the encoder stack (`{enc}` in 0..L).
#[rustfmt::skip]
const ENCODER: &[Row] = &[
    row("shared.weight",                                                "V, H",     Embedding),
    row("encoder.embed_tokens.weight",                                  "V, H",     Embedding)
        .alias("shared.weight"),
    row("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "B, A", Embedding)
        .step(PositionTables),
    row("encoder.block.{enc}.layer.0.SelfAttention.q.weight",           "K * A, H", Attention),
    row("encoder.block.{enc}.layer.0.SelfAttention.k.weight",           "K * A, H", Attention),
    row("encoder.block.{enc}.layer.0.SelfAttention.v.weight",           "K * A, H", Attention),
    row("encoder.block.{enc}.layer.0.SelfAttention.o.weight",           "H, K * A", Attention),
    row("encoder.block.{enc}.layer.0.layer_norm.weight",                "H",        Norm).step(Norms),
    row("encoder.block.{enc}.layer.1.DenseReluDense.wi.weight",         "F, H",     Ffn).unless("gated"),
    row("encoder.block.{enc}.layer.1.DenseReluDense.wi_0.weight",       "F, H",     Ffn).when("gated"),
    row("encoder.block.{enc}.layer.1.DenseReluDense.wi_1.weight",       "F, H",     Ffn).when("gated"),
    row("encoder.block.{enc}.layer.1.DenseReluDense.wo.weight",         "H, F",     Ffn),
    row("encoder.block.{enc}.layer.1.layer_norm.weight",                "H",        Norm).step(Norms),
    row("encoder.final_layer_norm.weight",                              "H",        Norm).step(Norms),
];

/// The decoder stack (`{dec}` in 0..Ld): self-attention, cross-attention
/// (`EncDecAttention`, no relative bias of its own), feed-forward at `layer.2`.
#[rustfmt::skip]
const DECODER_ROWS: &[Row] = &[
    row("decoder.embed_tokens.weight",                                  "V, H",     Embedding).part(DECODER)
        .alias("shared.weight"),
    row("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "B, A", Embedding)
        .step(PositionTables).part(DECODER),
    row("decoder.block.{dec}.layer.0.SelfAttention.q.weight",           "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.0.SelfAttention.k.weight",           "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.0.SelfAttention.v.weight",           "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.0.SelfAttention.o.weight",           "H, K * A", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.0.layer_norm.weight",                "H",        Norm).step(Norms).part(DECODER),
    row("decoder.block.{dec}.layer.1.EncDecAttention.q.weight",         "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.1.EncDecAttention.k.weight",         "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.1.EncDecAttention.v.weight",         "K * A, H", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.1.EncDecAttention.o.weight",         "H, K * A", Attention).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.1.layer_norm.weight",                "H",        Norm).step(Norms).part(DECODER),
    row("decoder.block.{dec}.layer.2.DenseReluDense.wi.weight",         "F, H",     Ffn).step(Heads).part(DECODER).unless("gated"),
    row("decoder.block.{dec}.layer.2.DenseReluDense.wi_0.weight",       "F, H",     Ffn).step(Heads).part(DECODER).when("gated"),
    row("decoder.block.{dec}.layer.2.DenseReluDense.wi_1.weight",       "F, H",     Ffn).step(Heads).part(DECODER).when("gated"),
    row("decoder.block.{dec}.layer.2.DenseReluDense.wo.weight",         "H, F",     Ffn).step(Heads).part(DECODER),
    row("decoder.block.{dec}.layer.2.layer_norm.weight",                "H",        Norm).step(Norms).part(DECODER),
    row("decoder.final_layer_norm.weight",                              "H",        Norm).step(Norms).part(DECODER),
];

/// T5's heads: the LM head, the classification head of `T5ForSequenceClassification`
/// (`T5ClassificationHead`: dense H×H and out_proj N×H, both biased), the token
/// classifier of `T5ForTokenClassification` and the QA outputs of
/// `T5ForQuestionAnswering` (N×H, biased).
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("lm_head.weight",                           "V, H", Head).step(Heads).part("lm_head")
        .tied("tie", "shared.weight"),
    row("classification_head.dense.weight",         "H, H", Head).step(Heads).part("classification_head"),
    row("classification_head.dense.bias",           "H",    Head).step(Heads).part("classification_head"),
    row("classification_head.out_proj.weight",      "N, H", Head).step(Heads).part("classification_head"),
    row("classification_head.out_proj.bias",        "N",    Head).step(Heads).part("classification_head"),
    row("classifier.weight",                        "N, H", Head).step(Heads).part("classifier"),
    row("classifier.bias",                          "N",    Head).step(Heads).part("classifier"),
    row("qa_outputs.weight",                        "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                          "N",    Head).step(Heads).part("question_answering"),
];

/// transformers requires nothing of the widths: `d_model` need not be `d_kv · num_heads`.
fn validate(_: &Dims) -> Result<(), String> {
    Ok(())
}

/// The closed form, step by step with its arithmetic. Every product is checked: `None`
/// when the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, k, f, l, ld, a, b, n) = (
        d.v("V"),
        d.v("H"),
        d.v("K"),
        d.v("F"),
        d.v("L"),
        d.v("Ld"),
        d.v("A"),
        d.v("B"),
        d.v("N"),
    );
    let (gated, tie) = (d.flag("gated"), d.flag("tie"));
    let mul = |x: u64, y: u64| x.checked_mul(y);
    let inner = mul(k, a)?;
    let table = mul(v, h)?;
    let projection = mul(h, inner)?;
    let enc_attention = mul(4, projection)?;
    let (ffn_matrices, ffn_formula) = if gated {
        (3, "wi_0, wi_1 F×H + wo H×F")
    } else {
        (2, "wi F×H + wo H×F")
    };
    let ffn = mul(ffn_matrices, mul(h, f)?)?;
    let enc_layer = enc_attention.checked_add(ffn)?;
    let encoder = mul(l, enc_layer)?;
    let weights_only = table.checked_add(encoder)?;
    let steps = vec![
        line(
            "token embeddings (shared by both stacks)",
            "V · H",
            format!("{v} · {h}"),
            table,
        ),
        line(
            "encoder attention, per layer",
            "Q, K, V: 3 · (K·A)×H ; O: H×(K·A)",
            format!("4 · {h} · ({k} · {a})"),
            enc_attention,
        ),
        line(
            "encoder feed-forward, per layer",
            ffn_formula,
            format!("{ffn_matrices} · {h} · {f}"),
            ffn,
        ),
        line(
            "total, weights only (shared table + encoder)",
            "V · H + L · (attention + FFN)",
            format!("{table} + {l} · ({enc_attention} + {ffn})"),
            weights_only,
        ),
    ];
    let enc_norms = mul(mul(2, l)?.checked_add(1)?, h)?;
    let relative = mul(b, a)?;
    let dec_attention = mul(8, projection)?;
    let decoder = mul(ld, dec_attention.checked_add(ffn)?)?;
    let dec_norms = mul(mul(3, ld)?.checked_add(1)?, h)?;
    let dense = mul(h, h)?.checked_add(h)?;
    let labelled = mul(n, h)?.checked_add(n)?;
    let classification = dense.checked_add(labelled)?;
    let mut additions = vec![
        add(
            Step::Norms,
            Some(BACKBONE),
            line(
                "encoder RMSNorm weights (2 per layer, final)",
                "(2 · L + 1) · H",
                format!("(2 · {l} + 1) · {h}"),
                enc_norms,
            ),
        ),
        add(
            Step::PositionTables,
            Some(BACKBONE),
            line(
                "encoder relative position bias (block 0)",
                "B · A",
                format!("{b} · {a}"),
                relative,
            ),
        ),
        add(
            Step::Heads,
            Some(DECODER),
            line(
                "decoder matrices (self-attention, cross-attention, FFN)",
                "Ld · (8 · H · (K·A) + FFN)",
                format!("{ld} · ({dec_attention} + {ffn})"),
                decoder,
            ),
        ),
        add(
            Step::Norms,
            Some(DECODER),
            line(
                "decoder RMSNorm weights (3 per layer, final)",
                "(3 · Ld + 1) · H",
                format!("(3 · {ld} + 1) · {h}"),
                dec_norms,
            ),
        ),
        add(
            Step::PositionTables,
            Some(DECODER),
            line(
                "decoder relative position bias (block 0)",
                "B · A",
                format!("{b} · {a}"),
                relative,
            ),
        ),
    ];
    additions.push(if tie {
        add(
            Step::TiedNotStored,
            Some("lm_head"),
            line(
                "LM head (tied to shared)",
                "V · H",
                format!("{v} · {h}"),
                table,
            ),
        )
    } else {
        add(
            Step::Heads,
            Some("lm_head"),
            line(
                "LM head (untied, v1.1)",
                "V · H",
                format!("{v} · {h}"),
                table,
            ),
        )
    });
    additions.extend([
        add(
            Step::Heads,
            Some("classification_head"),
            line(
                "classification head (dense, out_proj)",
                "(H² + H) + (N · H + N)",
                format!("({h}² + {h}) + ({n} · {h} + {n})"),
                classification,
            ),
        ),
        add(
            Step::Heads,
            Some("classifier"),
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
    ]);
    let encoder_model = weights_only.checked_add(enc_norms)?.checked_add(relative)?;
    let decoder_stack = decoder.checked_add(dec_norms)?.checked_add(relative)?;
    let model = encoder_model.checked_add(decoder_stack)?;
    let models = vec![
        line(
            "T5EncoderModel",
            "weights only + encoder norms + relative bias",
            format!("{weights_only} + {enc_norms} + {relative}"),
            encoder_model,
        ),
        line(
            "T5Model",
            "T5EncoderModel + decoder (matrices, norms, relative bias)",
            format!("{encoder_model} + {decoder_stack}"),
            model,
        ),
        if tie {
            line(
                "T5ForConditionalGeneration",
                "T5Model (LM head tied)",
                format!("{model}"),
                model,
            )
        } else {
            line(
                "T5ForConditionalGeneration",
                "T5Model + untied LM head",
                format!("{model} + {table}"),
                model.checked_add(table)?,
            )
        },
        line(
            "T5ForSequenceClassification",
            "T5Model + classification head",
            format!("{model} + {classification}"),
            model.checked_add(classification)?,
        ),
        line(
            "T5ForTokenClassification",
            "T5EncoderModel + classifier",
            format!("{encoder_model} + {labelled}"),
            encoder_model.checked_add(labelled)?,
        ),
        line(
            "T5ForQuestionAnswering",
            "T5Model + QA outputs",
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

    fn dims(pairs: &[(&'static str, u64)]) -> Dims {
        let mut d = Dims::default();
        for (s, x) in pairs {
            d.set(s, *x);
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

    /// transformers 5.24 `num_parameters()`: t5-small (fixtures/families/full-size.json)
    /// and the tiny fixtures (fixtures/families/t5-*/reference.json).
    #[test]
    fn closed_form_matches_transformers() {
        let small = dims(&[
            ("V", 32128),
            ("H", 512),
            ("K", 64),
            ("F", 2048),
            ("L", 6),
            ("Ld", 6),
            ("A", 8),
            ("B", 32),
            ("N", 2),
            ("gated", 0),
            ("tie", 1),
        ]);
        assert_eq!(model(&small, "T5ForConditionalGeneration"), 60_506_624);
        let tiny = |gated: u64| {
            dims(&[
                ("V", 101),
                ("H", 16),
                ("K", 6),
                ("F", 28),
                ("L", 2),
                ("Ld", 3),
                ("A", 4),
                ("B", 10),
                ("N", 2),
                ("gated", gated),
                ("tie", 1),
            ])
        };
        assert_eq!(model(&tiny(0), "T5EncoderModel"), 6_600);
        assert_eq!(model(&tiny(0), "T5Model"), 18_704);
        assert_eq!(model(&tiny(0), "T5ForConditionalGeneration"), 18_704);
        assert_eq!(model(&tiny(1), "T5ForConditionalGeneration"), 20_944);
        // A v1.1 file storing its own head: transformers 5.24 unties it on load.
        let mut untied = tiny(1);
        untied.set("tie", 0);
        assert_eq!(model(&untied, "T5ForConditionalGeneration"), 22_560);
    }

    #[test]
    fn feed_forward_proj_is_read_as_transformers_reads_it() {
        for (text, want) in [
            ("relu", 0),
            ("gated-gelu", 1),
            ("gated-silu", 1),
            ("gelu_new", 0),
        ] {
            assert_eq!(gated(&serde_json::Value::from(text)), Some(want), "{text}");
        }
        assert_eq!(gated(&serde_json::Value::from(true)), None);
    }
}
