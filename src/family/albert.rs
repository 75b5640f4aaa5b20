//! ALBERT (`model_type: albert`): transformers' `modeling_albert`, `AlbertConfig` defaults
//! (configuration_albert.py: the xxlarge shape, H 4096, 64 heads, I 16384, E 128). Two
//! departures from BERT (Lan et al. 2019, §3.1): factorised embeddings (the tables are
//! `embedding_size` E wide and `encoder.embedding_hidden_mapping_in` projects them to H)
//! and cross-layer sharing (`encoder.albert_layer_groups.{group}.albert_layers.{inner}`:
//! `num_hidden_groups` x `inner_group_num` layers are stored and the `num_hidden_layers`
//! depths reuse them, modeling_albert.py `AlbertTransformer.forward`).
//!
//! The hand derivation counts like BERT's, as if each of the L depths had its own layer:
//! the factorised embeddings, their LayerNorm, the E -> H projection and L layers of
//! attention, feed-forward and LayerNorm matrices. The `shared_layers` step (negative when
//! fewer layers are stored than there are depths) brings it down to the stored layers;
//! the linear biases are those of the stored layers.

use super::Bucket::{Attention, Embedding, Ffn, Head, Norm, Pooler};
use super::Step::{Biases, Heads, Pooler as PoolerStep};
use super::{
    add, bert, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step,
    MAX_COUNT, MAX_LAYERS, MAX_WIDTH, POOLER,
};

/// The ALBERT family.
pub static FAMILY: Family = Family {
    name: "albert",
    title: "ALBERT",
    model_types: &["albert"],
    covers: "AlbertModel (with or without pooler), pre-training (MLM + sentence order), masked-LM, sequence/token classification and QA heads; shared layer groups",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["hidden_size"], 4096, MAX_WIDTH),
        count("E", &["embedding_size"], 128, MAX_WIDTH).show("E"),
        count("I", &["intermediate_size"], 16384, MAX_WIDTH),
        count("V", &["vocab_size"], 30000, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("T", &["type_vocab_size"], 2, MAX_COUNT).zero_ok(),
        count("A", &["num_attention_heads"], 64, MAX_WIDTH).show("heads"),
        count("G", &["num_hidden_groups"], 1, MAX_LAYERS).show("groups"),
        count("K", &["inner_group_num"], 1, MAX_LAYERS).show("inner"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[range("group", "G"), range("inner", "K")],
    tensors: &[bert::BUFFERS, EMBEDDINGS, LAYERS, POOLER_ROWS, HEADS],
    ladder: &[
        (Step::SharedLayers, "shared layers (L depths reuse the groups' stored layers)"),
        (Step::Biases, "linear biases (stored layers, embedding projection)"),
        (Step::Pooler, "pooler"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "AlbertModel", parts: &[POOLER] },
        Claim { architecture: "AlbertForPreTraining", parts: &[POOLER, "masked_lm", "sentence_order"] },
        Claim { architecture: "AlbertForMaskedLM", parts: &["masked_lm"] },
        Claim { architecture: "AlbertForSequenceClassification", parts: &[POOLER, "classifier"] },
        Claim { architecture: "AlbertForTokenClassification", parts: &["classifier"] },
        Claim { architecture: "AlbertForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// Factorised embeddings (E wide, modeling_albert.py `AlbertEmbeddings`) and the E -> H
/// projection at the start of the encoder (`AlbertTransformer.embedding_hidden_mapping_in`).
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("embeddings.word_embeddings.weight",                "V, E", Embedding),
    row("embeddings.position_embeddings.weight",            "P, E", Embedding),
    row("embeddings.token_type_embeddings.weight",          "T, E", Embedding),
    row("embeddings.LayerNorm.weight",                      "E",    Norm),
    row("embeddings.LayerNorm.bias",                        "E",    Norm),
    row("encoder.embedding_hidden_mapping_in.weight",       "H, E", Embedding),
    row("encoder.embedding_hidden_mapping_in.bias",         "H",    Embedding).step(Biases),
];

/// The stored layers: `inner_group_num` per group, `num_hidden_groups` groups
/// (modeling_albert.py `AlbertLayerGroup`, `AlbertLayer`, `AlbertAttention`).
#[rustfmt::skip]
const LAYERS: &[Row] = &[
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.query.weight",       "H, H", Attention),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.query.bias",         "H",    Attention).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.key.weight",         "H, H", Attention),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.key.bias",           "H",    Attention).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.value.weight",       "H, H", Attention),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.value.bias",         "H",    Attention).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.dense.weight",       "H, H", Attention),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.dense.bias",         "H",    Attention).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.LayerNorm.weight",   "H",    Norm),
    row("albert_layer_groups.{group}.albert_layers.{inner}.attention.LayerNorm.bias",     "H",    Norm),
    row("albert_layer_groups.{group}.albert_layers.{inner}.ffn.weight",                   "I, H", Ffn),
    row("albert_layer_groups.{group}.albert_layers.{inner}.ffn.bias",                     "I",    Ffn).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.ffn_output.weight",            "H, I", Ffn),
    row("albert_layer_groups.{group}.albert_layers.{inner}.ffn_output.bias",              "H",    Ffn).step(Biases),
    row("albert_layer_groups.{group}.albert_layers.{inner}.full_layer_layer_norm.weight", "H",    Norm),
    row("albert_layer_groups.{group}.albert_layers.{inner}.full_layer_layer_norm.bias",   "H",    Norm),
];

/// The pooler: a bare `nn.Linear` named `pooler` (modeling_albert.py `AlbertModel`), not
/// BERT's `pooler.dense`.
#[rustfmt::skip]
const POOLER_ROWS: &[Row] = &[
    row("pooler.weight",                                    "H, H", Pooler).step(PoolerStep).part(POOLER),
    row("pooler.bias",                                      "H",    Pooler).step(PoolerStep).part(POOLER),
];

/// ALBERT's heads (modeling_albert.py): the masked-LM head `predictions` (dense H -> E,
/// LayerNorm E, decoder E -> V whose weight is tied to the word embeddings and whose bias
/// to `predictions.bias`; with `tie_word_embeddings: false` transformers ties neither,
/// `PreTrainedModel.get_expanded_tied_weights_keys`, so both are parameters of their own),
/// the sentence-order head `sop_classifier.classifier` [num_labels, H] (not a fixed 2),
/// classification and question answering.
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("predictions.dense.weight",                         "E, H", Head).step(Heads).part("masked_lm"),
    row("predictions.dense.bias",                           "E",    Head).step(Heads).part("masked_lm"),
    row("predictions.LayerNorm.weight",                     "E",    Head).step(Heads).part("masked_lm"),
    row("predictions.LayerNorm.bias",                       "E",    Head).step(Heads).part("masked_lm"),
    row("predictions.bias",                                 "V",    Head).step(Heads).part("masked_lm"),
    row("predictions.decoder.weight",                       "V, E", Head).step(Heads).part("masked_lm")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("predictions.decoder.bias",                         "V",    Head).step(Heads).part("masked_lm")
        .tied("tie", "predictions.bias"),
    row("sop_classifier.classifier.weight",                 "N, H", Head).step(Heads).part("sentence_order"),
    row("sop_classifier.classifier.bias",                   "N",    Head).step(Heads).part("sentence_order"),
    row("classifier.weight",                                "N, H", Head).step(Heads).part("classifier"),
    row("classifier.bias",                                  "N",    Head).step(Heads).part("classifier"),
    row("qa_outputs.weight",                                "N, H", Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                  "N",    Head).step(Heads).part("question_answering"),
];

/// `AlbertAttention` skips transformers' divisibility check (the config always has
/// `embedding_size`, modeling_albert.py line 141), but with a remainder its query is
/// narrower than H and the forward pass fails at `dense`: not a usable model.
fn validate(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)
}

/// The closed form, step by step with its arithmetic; `None` when a count exceeds 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, e, h, l, i, p, t) = (
        d.v("V"),
        d.v("E"),
        d.v("H"),
        d.v("L"),
        d.v("I"),
        d.v("P"),
        d.v("T"),
    );
    let (groups, inner, n) = (d.v("G"), d.v("K"), d.v("N"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v.checked_add(p)?.checked_add(t)?, e)?;
    let embedding_ln = mul(2, e)?;
    let projection = mul(e, h)?;
    let attention = mul(4, mul(h, h)?)?;
    let ffn = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(ffn)?.checked_add(layer_ln)?;
    let weights_only = embeddings
        .checked_add(embedding_ln)?
        .checked_add(projection)?
        .checked_add(mul(l, per_layer)?)?;
    let stored_layers = mul(groups, inner)?;
    let stored_weights = embeddings
        .checked_add(embedding_ln)?
        .checked_add(projection)?
        .checked_add(mul(stored_layers, per_layer)?)?;
    let shared = i128::from(stored_weights) - i128::from(weights_only);
    let biases = mul(stored_layers, mul(5, h)?.checked_add(i)?)?.checked_add(h)?;
    let pooler = mul(h, h)?.checked_add(h)?;
    let masked_lm = mul(e, h)?.checked_add(mul(3, e)?)?.checked_add(v)?;
    let decoder = mul(v, e)?.checked_add(v)?;
    let labelled = mul(n, h)?.checked_add(n)?;
    let steps = vec![
        line(
            "embeddings (factorised, E wide)",
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
            "embedding projection E -> H",
            "E · H",
            format!("{e} · {h}"),
            projection,
        ),
        line(
            "attention, per layer",
            "Q, K, V: 3 · H² ; output: H²",
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
            "total, weights only (every depth counted)",
            "embeddings + LN + projection + L · (attention + FFN + LN)",
            format!(
                "{embeddings} + {embedding_ln} + {projection} + {l} · ({attention} + {ffn} + {layer_ln})"
            ),
            weights_only,
        ),
    ];
    let mut additions = vec![
        add(
            Step::SharedLayers,
            None,
            line(
                "shared layers: groups · inner stored, not L",
                "(G · K - L) · (attention + FFN + LN)",
                format!("({groups} · {inner} - {l}) · {per_layer}"),
                shared,
            ),
        ),
        add(
            Step::Biases,
            None,
            line(
                "linear biases (stored layers, projection)",
                "G · K · (4 · H + I + H) + H",
                format!("{groups} · {inner} · (4 · {h} + {i} + {h}) + {h}"),
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
                "MLM head (dense H -> E, LayerNorm, output bias)",
                "(E · H + E) + 2 · E + V",
                format!("({e} · {h} + {e}) + 2 · {e} + {v}"),
                masked_lm,
            ),
        ),
    ];
    additions.push(mlm_decoder(d.flag("tie"), v, e, decoder));
    for (of, what) in [
        ("sentence_order", "sentence-order head"),
        ("classifier", "classifier head"),
        ("question_answering", "question-answering head"),
    ] {
        additions.push(add(
            Step::Heads,
            Some(of),
            line(what, "N · H + N", format!("{n} · {h} + {n}"), labelled),
        ));
    }
    let masked_lm_total = if d.flag("tie") {
        masked_lm
    } else {
        masked_lm.checked_add(decoder)?
    };
    let no_pooler = stored_weights.checked_add(biases)?;
    let with_pooler = no_pooler.checked_add(pooler)?;
    let models = vec![
        line(
            "AlbertModel, no pooler",
            "weights only + shared layers + linear biases",
            format!("{weights_only} + ({shared}) + {biases}"),
            no_pooler,
        ),
        line(
            "AlbertModel",
            "+ pooler",
            format!("{no_pooler} + {pooler}"),
            with_pooler,
        ),
        line(
            "AlbertForPreTraining",
            "AlbertModel + MLM + sentence order",
            format!("{with_pooler} + {masked_lm_total} + {labelled}"),
            with_pooler
                .checked_add(masked_lm_total)?
                .checked_add(labelled)?,
        ),
        line(
            "AlbertForMaskedLM",
            "no pooler + MLM",
            format!("{no_pooler} + {masked_lm_total}"),
            no_pooler.checked_add(masked_lm_total)?,
        ),
        line(
            "AlbertForSequenceClassification",
            "AlbertModel + classifier",
            format!("{with_pooler} + {labelled}"),
            with_pooler.checked_add(labelled)?,
        ),
        line(
            "AlbertForTokenClassification",
            "no pooler + classifier",
            format!("{no_pooler} + {labelled}"),
            no_pooler.checked_add(labelled)?,
        ),
        line(
            "AlbertForQuestionAnswering",
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

/// The masked-LM decoder of a factorised head (E -> V, weight and bias: `decoder`): tied to
/// the word embeddings and the output bias, or, untied, a head's parameters of its own.
/// ALBERT's and DeBERTa's legacy head alike.
pub(super) fn mlm_decoder(tied: bool, v: u64, e: u64, decoder: u64) -> super::Addition {
    let (step, part) = if tied {
        (
            Step::TiedNotStored,
            "MLM decoder weight and bias (tied to word embeddings, output bias)",
        )
    } else {
        (Step::Heads, "MLM decoder weight and bias (untied)")
    };
    add(
        step,
        Some("masked_lm"),
        line(part, "V · E + V", format!("{v} · {e} + {v}"), decoder),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(pairs: &[(&'static str, u64)]) -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("V", 30000),
            ("E", 128),
            ("H", 768),
            ("L", 12),
            ("I", 3072),
            ("A", 12),
            ("P", 512),
            ("T", 2),
            ("G", 1),
            ("K", 1),
            ("N", 2),
            ("tie", 1),
        ] {
            d.set(s, x);
        }
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

    /// transformers 5.24 `num_parameters()` (fixtures/families/full-size.json and
    /// `AlbertModel(AlbertConfig(...))` on the meta device).
    #[test]
    fn closed_form_matches_transformers_for_published_configs() {
        let base = dims(&[]);
        assert_eq!(model(&base, "AlbertModel"), 11_683_584);
        // albert-large-v2 and albert-xxlarge-v2 (AlbertConfig defaults: H 4096, 64 heads).
        let large = dims(&[("H", 1024), ("I", 4096), ("A", 16), ("L", 24)]);
        assert_eq!(model(&large, "AlbertModel"), 17_683_968);
        let xxlarge = dims(&[("H", 4096), ("I", 16384), ("A", 64)]);
        assert_eq!(model(&xxlarge, "AlbertModel"), 222_595_584);
    }

    /// One stored layer for twelve depths: the shared-layers step takes eleven away.
    #[test]
    fn shared_layers_step_takes_away_the_repeated_depths() {
        let d = derive(&dims(&[])).unwrap();
        let shared = d
            .additions
            .iter()
            .find(|a| a.step == Step::SharedLayers)
            .unwrap();
        assert_eq!(
            shared.line.value,
            -11 * (4 * 768 * 768 + 2 * 768 * 3072 + 4 * 768)
        );
    }
}
