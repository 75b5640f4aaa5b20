//! Marian (`model_type: marian`): transformers' `modeling_marian`, `MarianConfig`
//! defaults (`configuration_marian.py`). BART's layers (shared with [`super::bart`]), but:
//!
//! - the position tables are sinusoidal (`MarianSinusoidalPositionalEmbedding`,
//!   `max_position_embeddings` rows, no offset): frozen `nn.Parameter`s that
//!   `num_parameters()` counts, which `MarianModel` saves and `MarianMTModel` does not
//!   (`_keys_to_ignore_on_save`, modeling_marian.py:805). Rows [`RowKind::MaybeStored`]:
//!   stored they count as stored parameters (step `position_tables`), absent they are the
//!   `not_stored` step;
//! - no LayerNorm on the embeddings and none at the end of a stack;
//! - `share_encoder_decoder_embeddings` (default true, modeling_marian.py:633-640): one
//!   table `shared` [V, H] that both stacks read; false, there is no `shared`, the encoder
//!   has its own [V, H] table and the decoder its own [decoder_vocab_size, H];
//! - the LM head and `final_logits_bias` have `vocab_size` rows when the embeddings are
//!   shared and `decoder_vocab_size` rows otherwise (modeling_marian.py:818-820); the head
//!   is tied (to `shared`, or to the decoder's table) when `tie_word_embeddings`.
//!
//! With `tie_word_embeddings: false` transformers 5.24 unties every pair in
//! `_tied_weights_keys`: with shared embeddings, `encoder.embed_tokens` and
//! `decoder.embed_tokens` are then parameters of their own beside `shared`.
//! `scale_embedding` multiplies the embeddings by √d_model in `forward`: no parameter.
//!
//! The hand derivation: the token tables, the attention and feed-forward matrices and
//! every LayerNorm (as for BART); not the linear biases, not the sinusoidal tables, not
//! the head.
//!
//! [`RowKind::MaybeStored`]: super::RowKind::MaybeStored

use super::bart::{layers, DECODER_LAYERS, ENCODER_LAYERS};
use super::Bucket::{Buffer, Embedding, Head};
use super::Step::{Heads, PositionTables};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, BACKBONE,
    MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The Marian family.
pub static FAMILY: Family = Family {
    name: "marian",
    title: "Marian",
    model_types: &["marian"],
    covers: "MarianModel and MarianMTModel (sinusoidal tables saved or not, shared or separate embeddings, tied or untied LM head, final_logits_bias buffer)",
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
        count("V", &["vocab_size"], 58101, MAX_COUNT),
        // MarianConfig.__post_init__: `decoder_vocab_size or vocab_size`.
        count("Vd", &["decoder_vocab_size"], 58101, MAX_COUNT)
            .default_expr("V")
            .show("decoder_V"),
        count("P", &["max_position_embeddings"], 1024, MAX_COUNT),
        count("Ae", &["encoder_attention_heads"], 16, MAX_WIDTH)
            .show("enc_heads"),
        count("Ad", &["decoder_attention_heads"], 16, MAX_WIDTH).show("dec_heads"),
        flag(
            "share",
            &["share_encoder_decoder_embeddings"],
            true,
            "shared-embeddings",
            "separate-embeddings",
        ),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        // Not a config field: whether the stacks' token tables are `shared` (both flags).
        flag("shared_tied", &[], true, "", "").default_expr("share * tie"),
    ],
    ranges: &[range("enc", "Le"), range("dec", "Ld")],
    tensors: &[EMBEDDINGS, ENCODER_LAYERS, DECODER_LAYERS, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (attention, FFN)"),
        (Step::PositionTables, "sinusoidal position tables (saved)"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::NotStored, "sinusoidal position tables, counted, not saved"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "MarianModel", parts: &[] },
        Claim { architecture: "MarianMTModel", parts: &["lm_head"] },
    ],
    validate: super::bart::validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// Token tables (`shared` when the stacks share one) and the sinusoidal position tables.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("shared.weight",                                    "V, H",  Embedding).when("share"),
    row("encoder.embed_tokens.weight",                      "V, H",  Embedding)
        .tied("shared_tied", "shared.weight"),
    row("decoder.embed_tokens.weight",                      "Vd, H", Embedding)
        .tied("shared_tied", "shared.weight"),
    row("encoder.embed_positions.weight",                   "P, H",  Embedding)
        .step(PositionTables).maybe_stored(),
    row("decoder.embed_positions.weight",                   "P, H",  Embedding)
        .step(PositionTables).maybe_stored(),
];

/// The LM head and its bias buffer: `vocab_size` rows with shared embeddings,
/// `decoder_vocab_size` rows without.
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("lm_head.weight",       "share * V + (1 - share) * Vd, H", Head).step(Heads).part("lm_head")
        .tied("tie", "decoder.embed_tokens.weight"),
    row("final_logits_bias",    "1, share * V + (1 - share) * Vd", Buffer).part("lm_head").buffer(),
];

/// The closed form, step by step with its arithmetic. Every product is checked: `None`
/// when the dimensions make a count exceed 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, vd, h, p) = (d.v("V"), d.v("Vd"), d.v("H"), d.v("P"));
    let (share, tie) = (d.flag("share"), d.flag("tie"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let encoder_table = mul(v, h)?;
    let decoder_table = mul(vd, h)?;
    let stacks_tables = encoder_table.checked_add(decoder_table)?;
    // Shared and tied: one table. Shared, untied: `shared` and both stacks' own. Not
    // shared: each stack's own.
    let (tokens, tokens_line) = match (share, tie) {
        (true, true) => (
            encoder_table,
            line(
                "token embeddings (shared by both stacks)",
                "V · H",
                format!("{v} · {h}"),
                encoder_table,
            ),
        ),
        (true, false) => {
            let t = encoder_table.checked_add(stacks_tables)?;
            (
                t,
                line(
                    "token embeddings (shared, encoder and decoder tables: untied)",
                    "V · H + V · H + Vd · H",
                    format!("{v} · {h} + {v} · {h} + {vd} · {h}"),
                    t,
                ),
            )
        }
        (false, _) => (
            stacks_tables,
            line(
                "token embeddings (encoder's and decoder's own)",
                "V · H + Vd · H",
                format!("{v} · {h} + {vd} · {h}"),
                stacks_tables,
            ),
        ),
    };
    let layers = layers(d)?;
    let weights_only = tokens.checked_add(layers.weights)?;
    let mut steps = vec![tokens_line];
    steps.extend(layers.lines);
    steps.push(line(
        "total, weights only",
        "token embeddings + Le · encoder layer + Ld · decoder layer",
        format!("{tokens} + {}", layers.weights),
        weights_only,
    ));
    let positions = mul(2, mul(p, h)?)?;
    let (target, target_symbol) = if share { (v, "V") } else { (vd, "Vd") };
    let head = mul(target, h)?;
    let mut additions = vec![
        add(Step::Biases, None, layers.biases_line),
        add(
            Step::PositionTables,
            None,
            line(
                "sinusoidal position tables, both stacks (frozen parameters; MarianMTModel does not save them)",
                "2 · P · H",
                format!("2 · {p} · {h}"),
                positions,
            ),
        ),
    ];
    if share && tie {
        additions.push(add(
            Step::TiedNotStored,
            Some(BACKBONE),
            line(
                "encoder and decoder token tables (tied to shared)",
                "V · H + Vd · H",
                format!("{v} · {h} + {vd} · {h}"),
                stacks_tables,
            ),
        ));
    }
    let head_formula = format!("{target_symbol} · H");
    let head_arithmetic = format!("{target} · {h}");
    additions.push(if tie {
        add(
            Step::TiedNotStored,
            Some("lm_head"),
            line(
                if share {
                    "LM head (tied to shared)"
                } else {
                    "LM head (tied to the decoder's table)"
                },
                &head_formula,
                head_arithmetic,
                head,
            ),
        )
    } else {
        add(
            Step::Heads,
            Some("lm_head"),
            line("LM head (untied)", &head_formula, head_arithmetic, head),
        )
    });
    let model = weights_only
        .checked_add(layers.biases)?
        .checked_add(positions)?;
    let models = vec![
        line(
            "MarianModel",
            "weights only + linear biases + sinusoidal tables",
            format!("{weights_only} + {} + {positions}", layers.biases),
            model,
        ),
        if tie {
            line(
                "MarianMTModel",
                "MarianModel (LM head tied; final_logits_bias a buffer)",
                format!("{model}"),
                model,
            )
        } else {
            line(
                "MarianMTModel",
                "MarianModel + untied LM head (final_logits_bias a buffer)",
                format!("{model} + {head}"),
                model.checked_add(head)?,
            )
        },
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
        d.set("shared_tied", d.v("share") * d.v("tie"));
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

    /// The derived flag is neither read from the config nor reported as defaulted.
    #[test]
    fn the_derived_flag_is_not_a_config_field() {
        let (f, notes) = super::super::bart::tests::fixture_formula("marian-mt-model");
        assert!(notes.is_empty(), "{notes:?}");
        assert!(f.source.defaulted().is_empty(), "{:?}", f.source);
        assert!(f.dims.flag("shared_tied"));
        assert!(!f
            .dims
            .by_key(&FAMILY)
            .iter()
            .any(|(k, _)| k == "shared_tied"));
        assert_eq!(f.parts, vec!["lm_head"]);
    }

    /// transformers 5.24 `num_parameters()`: opus-mt-en-de (fixtures/families/full-size.json),
    /// the tiny fixtures (fixtures/families/marian-*/reference.json) and the same tiny
    /// dimensions with the other settings of the two flags and a decoder vocabulary of 107.
    #[test]
    fn closed_form_matches_transformers() {
        let opus = dims(&[
            ("V", 58101),
            ("Vd", 58101),
            ("H", 512),
            ("P", 512),
            ("Le", 6),
            ("Ld", 6),
            ("Fe", 2048),
            ("Fd", 2048),
            ("Ae", 8),
            ("Ad", 8),
            ("share", 1),
            ("tie", 1),
        ]);
        assert_eq!(model(&opus, "MarianMTModel"), 74_410_496);
        let tiny = |vd: u64, share: u64, tie: u64| {
            dims(&[
                ("V", 105),
                ("Vd", vd),
                ("H", 16),
                ("P", 26),
                ("Le", 2),
                ("Ld", 3),
                ("Fe", 24),
                ("Fd", 20),
                ("Ae", 4),
                ("Ad", 8),
                ("share", share),
                ("tie", tie),
            ])
        };
        for (vd, share, tie, mt, base) in [
            (105, 1, 1, 15_276, 15_276),
            (107, 1, 1, 15_276, 15_276),
            (105, 1, 0, 20_316, 18_636),
            (107, 1, 0, 20_348, 18_668),
            (105, 0, 1, 16_956, 16_956),
            (107, 0, 1, 16_988, 16_988),
            (105, 0, 0, 18_636, 16_956),
            (107, 0, 0, 18_700, 16_988),
        ] {
            let d = tiny(vd, share, tie);
            assert_eq!(model(&d, "MarianMTModel"), mt, "{vd} {share} {tie}");
            assert_eq!(model(&d, "MarianModel"), base, "{vd} {share} {tie}");
        }
    }
}
