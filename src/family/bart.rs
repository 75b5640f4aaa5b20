//! BART (`model_type: bart`): transformers' `modeling_bart`, `BartConfig` defaults
//! (`configuration_bart.py`). An encoder-decoder of post-LayerNorm layers: one token
//! table `shared` that both stacks read (`encoder.embed_tokens` and `decoder.embed_tokens`
//! are the same parameter), a learned position table per stack with
//! `max_position_embeddings + 2` rows (`BartLearnedPositionalEmbedding`: "if padding_idx
//! is specified then offset the embedding ids by 2", modeling_bart.py:81-84), a LayerNorm
//! on the embeddings of each stack (`layernorm_embedding`), biases on every linear layer.
//!
//! The hand derivation is the one written for the Transformer (Vaswani et al. 2017
//! §3.2-3.3, as for BERT): the token table once, both position tables, the attention and
//! feed-forward matrices, every LayerNorm; not the linear biases, not the heads.
//! `BartForConditionalGeneration` adds an LM head tied to `shared` and the buffer
//! `final_logits_bias` [1, V], which it saves and transformers does not count.
//!
//! With `tie_word_embeddings: false` transformers 5.24 unties every pair in
//! `_tied_weights_keys`, not only the LM head: `encoder.embed_tokens` and
//! `decoder.embed_tokens` then become parameters of their own beside `shared`, and
//! `save_pretrained` writes all four tables.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm};
use super::Step::{Biases, Heads};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, BACKBONE,
    MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The BART family.
pub static FAMILY: Family = Family {
    name: "bart",
    title: "BART",
    model_types: &["bart"],
    covers: "BartModel, BartForConditionalGeneration (tied or untied LM head, final_logits_bias buffer), sequence classification and QA heads",
    norm: super::Norm::LayerNorm,
    // Native config keys only: transformers' `attribute_map` aliases (`hidden_size`,
    // `num_attention_heads`, ...) are never written by `save_pretrained`, and reading them
    // would make BERT-style configs without a model_type ambiguous.
    dims: &[
        count("Le", &["encoder_layers"], 12, MAX_LAYERS).show("enc"),
        count("Ld", &["decoder_layers"], 12, MAX_LAYERS).show("dec"),
        count("H", &["d_model"], 1024, MAX_WIDTH),
        count("Fe", &["encoder_ffn_dim"], 4096, MAX_WIDTH).show("enc_ffn"),
        count("Fd", &["decoder_ffn_dim"], 4096, MAX_WIDTH).show("dec_ffn"),
        count("V", &["vocab_size"], 50265, MAX_COUNT),
        count("P", &["max_position_embeddings"], 1024, MAX_COUNT),
        count("Ae", &["encoder_attention_heads"], 16, MAX_WIDTH)
            .show("enc_heads"),
        count("Ad", &["decoder_attention_heads"], 16, MAX_WIDTH).show("dec_heads"),
        // BartConfig.__post_init__ (configuration_bart.py:80): num_labels defaults to 3 when
        // there is no id2label. transformers 5.24 omits id2label when saving 2 labels
        // (configuration_utils.py:450-454), so a 2-label classifier it saved reloads with 3.
        count("N", &["num_labels", "id2label"], 3, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[range("enc", "Le"), range("dec", "Ld")],
    tensors: &[EMBEDDINGS, LAYERNORM_EMBEDDING, ENCODER_LAYERS, DECODER_LAYERS, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (attention, FFN)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "BartModel", parts: &[] },
        Claim { architecture: "BartForConditionalGeneration", parts: &["lm_head"] },
        Claim { architecture: "BartForSequenceClassification", parts: &["classification_head"] },
        Claim { architecture: "BartForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// The token table and the learned position tables (`P + 2` rows: BART's offset of 2).
/// `encoder.embed_tokens` and `decoder.embed_tokens` are `shared` unless
/// `tie_word_embeddings` is false.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("shared.weight",                                    "V, H", Embedding),
    row("encoder.embed_tokens.weight",                      "V, H", Embedding)
        .tied("tie", "shared.weight"),
    row("decoder.embed_tokens.weight",                      "V, H", Embedding)
        .tied("tie", "shared.weight"),
    row("encoder.embed_positions.weight",                   "P + 2, H", Embedding),
    row("decoder.embed_positions.weight",                   "P + 2, H", Embedding),
];

/// The LayerNorm on each stack's embeddings (BART, not Marian).
#[rustfmt::skip]
const LAYERNORM_EMBEDDING: &[Row] = &[
    row("encoder.layernorm_embedding.weight",               "H", Norm),
    row("encoder.layernorm_embedding.bias",                 "H", Norm),
    row("decoder.layernorm_embedding.weight",               "H", Norm),
    row("decoder.layernorm_embedding.bias",                 "H", Norm),
];

/// Encoder layers (`{enc}` in 0..Le): self-attention, feed-forward of width Fe, two
/// LayerNorms. Matrices and LayerNorms in the derivation, linear biases not. Marian's
/// layers are the same.
#[rustfmt::skip]
pub const ENCODER_LAYERS: &[Row] = &[
    row("encoder.layers.{enc}.self_attn.q_proj.weight",         "H, H",  Attention),
    row("encoder.layers.{enc}.self_attn.q_proj.bias",           "H",     Attention).step(Biases),
    row("encoder.layers.{enc}.self_attn.k_proj.weight",         "H, H",  Attention),
    row("encoder.layers.{enc}.self_attn.k_proj.bias",           "H",     Attention).step(Biases),
    row("encoder.layers.{enc}.self_attn.v_proj.weight",         "H, H",  Attention),
    row("encoder.layers.{enc}.self_attn.v_proj.bias",           "H",     Attention).step(Biases),
    row("encoder.layers.{enc}.self_attn.out_proj.weight",       "H, H",  Attention),
    row("encoder.layers.{enc}.self_attn.out_proj.bias",         "H",     Attention).step(Biases),
    row("encoder.layers.{enc}.self_attn_layer_norm.weight",     "H",     Norm),
    row("encoder.layers.{enc}.self_attn_layer_norm.bias",       "H",     Norm),
    row("encoder.layers.{enc}.fc1.weight",                      "Fe, H", Ffn),
    row("encoder.layers.{enc}.fc1.bias",                        "Fe",    Ffn).step(Biases),
    row("encoder.layers.{enc}.fc2.weight",                      "H, Fe", Ffn),
    row("encoder.layers.{enc}.fc2.bias",                        "H",     Ffn).step(Biases),
    row("encoder.layers.{enc}.final_layer_norm.weight",         "H",     Norm),
    row("encoder.layers.{enc}.final_layer_norm.bias",           "H",     Norm),
];

/// Decoder layers (`{dec}` in 0..Ld): self-attention, cross-attention over the encoder
/// (`encoder_attn`), feed-forward of width Fd, three LayerNorms. Marian's are the same.
#[rustfmt::skip]
pub const DECODER_LAYERS: &[Row] = &[
    row("decoder.layers.{dec}.self_attn.q_proj.weight",         "H, H",  Attention),
    row("decoder.layers.{dec}.self_attn.q_proj.bias",           "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.self_attn.k_proj.weight",         "H, H",  Attention),
    row("decoder.layers.{dec}.self_attn.k_proj.bias",           "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.self_attn.v_proj.weight",         "H, H",  Attention),
    row("decoder.layers.{dec}.self_attn.v_proj.bias",           "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.self_attn.out_proj.weight",       "H, H",  Attention),
    row("decoder.layers.{dec}.self_attn.out_proj.bias",         "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.self_attn_layer_norm.weight",     "H",     Norm),
    row("decoder.layers.{dec}.self_attn_layer_norm.bias",       "H",     Norm),
    row("decoder.layers.{dec}.encoder_attn.q_proj.weight",      "H, H",  Attention),
    row("decoder.layers.{dec}.encoder_attn.q_proj.bias",        "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.encoder_attn.k_proj.weight",      "H, H",  Attention),
    row("decoder.layers.{dec}.encoder_attn.k_proj.bias",        "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.encoder_attn.v_proj.weight",      "H, H",  Attention),
    row("decoder.layers.{dec}.encoder_attn.v_proj.bias",        "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.encoder_attn.out_proj.weight",    "H, H",  Attention),
    row("decoder.layers.{dec}.encoder_attn.out_proj.bias",      "H",     Attention).step(Biases),
    row("decoder.layers.{dec}.encoder_attn_layer_norm.weight",  "H",     Norm),
    row("decoder.layers.{dec}.encoder_attn_layer_norm.bias",    "H",     Norm),
    row("decoder.layers.{dec}.fc1.weight",                      "Fd, H", Ffn),
    row("decoder.layers.{dec}.fc1.bias",                        "Fd",    Ffn).step(Biases),
    row("decoder.layers.{dec}.fc2.weight",                      "H, Fd", Ffn),
    row("decoder.layers.{dec}.fc2.bias",                        "H",     Ffn).step(Biases),
    row("decoder.layers.{dec}.final_layer_norm.weight",         "H",     Norm),
    row("decoder.layers.{dec}.final_layer_norm.bias",           "H",     Norm),
];

/// BART's heads: the LM head (tied to `shared`) with its `final_logits_bias` buffer, the
/// classification head (`BartClassificationHead`: dense H×H then out_proj N×H, both
/// biased), question answering (`BartForQuestionAnswering` sets `num_labels = 2`,
/// modeling_bart.py:1094).
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("lm_head.weight",                                   "V, H", Head).step(Heads).part("lm_head")
        .tied("tie", "shared.weight"),
    row("final_logits_bias",                                "1, V", Buffer).part("lm_head").buffer(),
    row("classification_head.dense.weight",                 "H, H", Head).step(Heads).part("classification_head"),
    row("classification_head.dense.bias",                   "H",    Head).step(Heads).part("classification_head"),
    row("classification_head.out_proj.weight",              "N, H", Head).step(Heads).part("classification_head"),
    row("classification_head.out_proj.bias",                "N",    Head).step(Heads).part("classification_head"),
    row("qa_outputs.weight",                                "2, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "2",    Head).step(Heads).part("question_answering"),
];

/// `BartAttention` refuses a width its heads do not divide (modeling_bart.py:163-167);
/// Marian's attention has the same rule.
pub fn validate(d: &Dims) -> Result<(), String> {
    let h = d.v("H");
    for (heads, key) in [
        (d.v("Ae"), "encoder_attention_heads"),
        (d.v("Ad"), "decoder_attention_heads"),
    ] {
        if !h.is_multiple_of(heads) {
            return Err(format!(
                "`d_model` {h} is not a multiple of `{key}` {heads}"
            ));
        }
    }
    Ok(())
}

/// The layers of both stacks, shared with Marian: per-layer matrices and LayerNorms
/// (the derivation lines and their total), and the linear biases.
pub(crate) struct Layers {
    /// Derivation lines, per layer.
    pub lines: Vec<super::Line>,
    /// Matrices and LayerNorms of every layer.
    pub weights: u64,
    /// Linear biases of every layer.
    pub biases: u64,
    /// The biases' line.
    pub biases_line: super::Line,
}

/// Matrices, LayerNorms and biases of Le encoder and Ld decoder layers of width H.
pub(crate) fn layers(d: &Dims) -> Option<Layers> {
    let (h, le, ld, fe, fd) = (d.v("H"), d.v("Le"), d.v("Ld"), d.v("Fe"), d.v("Fd"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let hh = mul(h, h)?;
    let enc_attention = mul(4, hh)?;
    let enc_ffn = mul(2, mul(h, fe)?)?;
    let enc_ln = mul(4, h)?;
    let enc_layer = enc_attention.checked_add(enc_ffn)?.checked_add(enc_ln)?;
    let dec_attention = mul(8, hh)?;
    let dec_ffn = mul(2, mul(h, fd)?)?;
    let dec_ln = mul(6, h)?;
    let dec_layer = dec_attention.checked_add(dec_ffn)?.checked_add(dec_ln)?;
    let weights = mul(le, enc_layer)?.checked_add(mul(ld, dec_layer)?)?;
    let enc_biases = mul(5, h)?.checked_add(fe)?;
    let dec_biases = mul(9, h)?.checked_add(fd)?;
    let biases = mul(le, enc_biases)?.checked_add(mul(ld, dec_biases)?)?;
    let lines = vec![
        line(
            "encoder attention, per layer",
            "Q, K, V, out: 4 · H²",
            format!("4 · {h}²"),
            enc_attention,
        ),
        line(
            "encoder feed-forward, per layer",
            "fc1 Fe×H + fc2 H×Fe",
            format!("2 · {h} · {fe}"),
            enc_ffn,
        ),
        line(
            "encoder LayerNorms, per layer",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            enc_ln,
        ),
        line(
            "decoder attention, per layer",
            "self and cross: 2 · 4 · H²",
            format!("8 · {h}²"),
            dec_attention,
        ),
        line(
            "decoder feed-forward, per layer",
            "fc1 Fd×H + fc2 H×Fd",
            format!("2 · {h} · {fd}"),
            dec_ffn,
        ),
        line(
            "decoder LayerNorms, per layer",
            "3 · (2 · H)",
            format!("3 · (2 · {h})"),
            dec_ln,
        ),
    ];
    let biases_line = line(
        "linear biases",
        "Le · (4 · H + Fe + H) + Ld · (8 · H + Fd + H)",
        format!("{le} · (4 · {h} + {fe} + {h}) + {ld} · (8 · {h} + {fd} + {h})"),
        biases,
    );
    Some(Layers {
        lines,
        weights,
        biases,
        biases_line,
    })
}

/// The closed form, step by step with its arithmetic. Every product is checked: `None`
/// when the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, p, n, le, ld) = (d.v("V"), d.v("H"), d.v("P"), d.v("N"), d.v("Le"), d.v("Ld"));
    let tie = d.flag("tie");
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let table = mul(v, h)?;
    // Untied, the encoder's and decoder's token tables are parameters of their own.
    let tokens = if tie { table } else { mul(3, table)? };
    let positions = mul(2, mul(p.checked_add(2)?, h)?)?;
    let embedding_ln = mul(4, h)?;
    let layers = layers(d)?;
    let weights_only = tokens
        .checked_add(positions)?
        .checked_add(embedding_ln)?
        .checked_add(layers.weights)?;
    let mut steps = vec![
        if tie {
            line(
                "token embeddings (shared by both stacks)",
                "V · H",
                format!("{v} · {h}"),
                tokens,
            )
        } else {
            line(
                "token embeddings (shared, encoder and decoder tables: untied)",
                "3 · V · H",
                format!("3 · {v} · {h}"),
                tokens,
            )
        },
        line(
            "learned positions, both stacks (BART's offset of 2 rows)",
            "2 · (P + 2) · H",
            format!("2 · ({p} + 2) · {h}"),
            positions,
        ),
        line(
            "embedding LayerNorms, both stacks",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            embedding_ln,
        ),
    ];
    steps.extend(layers.lines);
    steps.push(line(
        "total, weights only",
        "embeddings + LNs + Le · encoder layer + Ld · decoder layer",
        format!(
            "{tokens} + {positions} + {embedding_ln} + {} (layers, {le} + {ld})",
            layers.weights
        ),
        weights_only,
    ));
    let head = table;
    let dense = mul(h, h)?.checked_add(h)?;
    let labelled = mul(n, h)?.checked_add(n)?;
    let classification = dense.checked_add(labelled)?;
    let qa = mul(2, h)?.checked_add(2)?;
    let mut additions = vec![add(Step::Biases, None, layers.biases_line)];
    if tie {
        additions.push(add(
            Step::TiedNotStored,
            Some(BACKBONE),
            line(
                "encoder and decoder token tables (tied to shared)",
                "2 · V · H",
                format!("2 · {v} · {h}"),
                mul(2, table)?,
            ),
        ));
        additions.push(add(
            Step::TiedNotStored,
            Some("lm_head"),
            line(
                "LM head (tied to shared)",
                "V · H",
                format!("{v} · {h}"),
                head,
            ),
        ));
    } else {
        additions.push(add(
            Step::Heads,
            Some("lm_head"),
            line("LM head (untied)", "V · H", format!("{v} · {h}"), head),
        ));
    }
    additions.push(add(
        Step::Heads,
        Some("classification_head"),
        line(
            "classification head (dense, out_proj)",
            "(H² + H) + (N · H + N)",
            format!("({h}² + {h}) + ({n} · {h} + {n})"),
            classification,
        ),
    ));
    additions.push(add(
        Step::Heads,
        Some("question_answering"),
        line(
            "question-answering head (2 labels)",
            "2 · H + 2",
            format!("2 · {h} + 2"),
            qa,
        ),
    ));
    let model = weights_only.checked_add(layers.biases)?;
    let generation = if tie { model } else { model.checked_add(head)? };
    let models = vec![
        line(
            "BartModel",
            "weights only + linear biases",
            format!("{weights_only} + {}", layers.biases),
            model,
        ),
        if tie {
            line(
                "BartForConditionalGeneration",
                "BartModel (LM head tied; final_logits_bias a buffer)",
                format!("{model}"),
                generation,
            )
        } else {
            line(
                "BartForConditionalGeneration",
                "BartModel + untied LM head (final_logits_bias a buffer)",
                format!("{model} + {head}"),
                generation,
            )
        },
        line(
            "BartForSequenceClassification",
            "BartModel + classification head",
            format!("{model} + {classification}"),
            model.checked_add(classification)?,
        ),
        line(
            "BartForQuestionAnswering",
            "BartModel + QA outputs",
            format!("{model} + {qa}"),
            model.checked_add(qa)?,
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
pub(crate) mod tests {
    use super::*;
    use crate::formula::{Formula, ModelConfig};

    /// The formula for a fixture of fixtures/families/ (its config and the tensors
    /// `reference.json` lists), with the notes it pushed.
    pub(crate) fn fixture_formula(name: &str) -> (Formula, Vec<String>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/families")
            .join(name);
        let config = ModelConfig::read(&dir.join("config.json")).unwrap();
        let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
        let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
        let tensors: Vec<crate::checkpoint::Tensor> = reference["stored"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, t)| {
                let shape: Vec<u64> = t["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                let elements = shape.iter().product();
                crate::checkpoint::Tensor {
                    stored_as: None,
                    stored_elements: elements,
                    overhead: false,
                    name: name.clone(),
                    dtype: safetensors::Dtype::F32.into(),
                    shape,
                    elements,
                    bytes: 4 * elements,
                    file: 0,
                    data_offsets: (0, 4 * elements),
                }
            })
            .collect();
        let family = super::super::by_model_type(config.model_type.as_deref().unwrap()).unwrap();
        let classified = crate::classify::classify(tensors, Some(family));
        let mut notes = Vec::new();
        let formula = crate::formula::build(family, Some(&config), &classified, &mut notes)
            .unwrap()
            .unwrap();
        (formula, notes)
    }

    /// `BartForConditionalGeneration` claims the LM head; its only parameter is tied, and
    /// the `final_logits_bias` buffer beside it does not make it a stored part: the head
    /// is expected (tied, not stored) and the claim agrees with the file.
    #[test]
    fn a_claimed_tied_head_with_a_buffer_is_a_part() {
        let (f, notes) = fixture_formula("bart-for-conditional-generation");
        assert_eq!(f.parts, vec!["lm_head"]);
        assert!(notes.is_empty(), "{notes:?}");
        assert!(f
            .expected
            .iter()
            .any(|e| e.key == "lm_head.weight" && e.tied));
    }

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

    /// transformers 5.24 `num_parameters()`: bart-base (fixtures/families/full-size.json)
    /// and the tiny fixtures (fixtures/families/bart-*/reference.json).
    #[test]
    fn closed_form_matches_transformers() {
        let base = dims(&[
            ("V", 50265),
            ("H", 768),
            ("P", 1024),
            ("Le", 6),
            ("Ld", 6),
            ("Fe", 3072),
            ("Fd", 3072),
            ("Ae", 12),
            ("Ad", 12),
            ("N", 3),
            ("tie", 1),
        ]);
        assert_eq!(model(&base, "BartForConditionalGeneration"), 139_420_416);
        let tiny = dims(&[
            ("V", 103),
            ("H", 16),
            ("P", 22),
            ("Le", 2),
            ("Ld", 3),
            ("Fe", 20),
            ("Fd", 28),
            ("Ae", 4),
            ("Ad", 8),
            ("N", 5),
            ("tie", 1),
        ]);
        assert_eq!(model(&tiny, "BartModel"), 15_772);
        assert_eq!(model(&tiny, "BartForConditionalGeneration"), 15_772);
        assert_eq!(model(&tiny, "BartForSequenceClassification"), 16_129);
        // Untied (transformers 5.24, same dimensions): every table separate.
        let mut untied = tiny.clone();
        untied.set("tie", 0);
        assert_eq!(model(&untied, "BartModel"), 19_068);
        assert_eq!(model(&untied, "BartForConditionalGeneration"), 20_716);
    }
}
