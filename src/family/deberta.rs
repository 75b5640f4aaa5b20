//! DeBERTa-v2 and v3 (`model_type: deberta-v2`): transformers' `modeling_deberta_v2`,
//! `DebertaV2Config` defaults (configuration_deberta_v2.py: the xxlarge shape, H 1536, 24
//! layers and heads, I 6144, V 128100, no token types, `relative_attention` false). Several
//! options are not fields of the config class but read with `getattr` and a default in the
//! modeling file (`embedding_size` = H, `attention_head_size` = H / A, `share_att_key`
//! false, `position_buckets` -1, `norm_rel_ebd` "none", `conv_kernel_size` 0,
//! `conv_groups` 1, `pooler_hidden_size` = H from `__post_init__`).
//!
//! The hand derivation counts like BERT's (He et al. 2021, §3): the embedding tables the
//! config asks for (word; absolute positions only with `position_biased_input`; token
//! types only when `type_vocab_size` > 0), the `embed_proj` matrix when the embeddings are
//! narrower than H, the LayerNorms, and per layer the attention matrices (query, key,
//! value, output, plus the relative-position projections `pos_key_proj` / `pos_query_proj`
//! when keys are not shared), the feed-forward matrices, and the convolution after the
//! first layer when `conv_kernel_size` > 0. The relative-position table
//! (`encoder.rel_embeddings`) and its LayerNorm are the `position_tables` step.

use super::Bucket::{Attention, Buffer, Embedding, Ffn, Head, Norm, Pooler};
use super::Step::{Biases, Heads, Pooler as PoolerStep, PositionTables};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH, POOLER,
};

/// The DeBERTa-v2 family.
pub static FAMILY: Family = Family {
    name: "deberta-v2",
    title: "DeBERTa-v2/v3",
    model_types: &["deberta-v2"],
    covers: "DebertaV2Model, masked-LM (legacy `cls.predictions` or `lm_predictions.lm_head`), sequence/token classification (context pooler) and QA heads; relative position tables, factorised embeddings, convolution layer",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 24, MAX_LAYERS),
        count("H", &["hidden_size"], 1536, MAX_WIDTH),
        count("I", &["intermediate_size"], 6144, MAX_WIDTH),
        count("V", &["vocab_size"], 128_100, MAX_COUNT),
        count("P", &["max_position_embeddings"], 512, MAX_COUNT),
        count("T", &["type_vocab_size"], 0, MAX_COUNT).zero_ok(),
        count("A", &["num_attention_heads"], 24, MAX_WIDTH).show("heads"),
        count("D", &["attention_head_size"], 0, MAX_WIDTH).derived(head_size).show(""),
        // A · D, derived (no config key); the query's shape reveals it without a config.
        count("all_head_size", &[], 0, MAX_WIDTH).derived(all_head_size).show("").auxiliary(),
        count("E", &["embedding_size"], 0, MAX_WIDTH).default_expr("H"),
        count("Hp", &["pooler_hidden_size"], 0, MAX_WIDTH).default_expr("H").show(""),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        count("Pb", &["position_buckets"], 0, MAX_COUNT).zero_ok().parse_with(at_least_zero)
            .show("buckets").auxiliary(),
        count("R", &["max_relative_positions"], 0, MAX_COUNT).zero_ok().parse_with(at_least_zero)
            .show("").auxiliary(),
        count("Kc", &["conv_kernel_size"], 0, MAX_WIDTH).zero_ok().parse_with(at_least_zero)
            .show("").auxiliary(),
        count("Gc", &["conv_groups"], 1, MAX_WIDTH).show("").auxiliary(),
        flag("rel", &["relative_attention"], false, "relative-attention", "no-relative-attention"),
        flag("pbi", &["position_biased_input"], true, "absolute-positions", ""),
        flag("share", &["share_att_key"], false, "shared-att-key", ""),
        flag("c2p", &["pos_att_type"], false, "", "").parse_with(pos_att_c2p),
        flag("p2c", &["pos_att_type"], false, "", "").parse_with(pos_att_p2c),
        flag("nre", &["norm_rel_ebd"], false, "", "").parse_with(norm_rel_layer_norm),
        flag("legacy", &["legacy"], true, "", "new-mlm-head"),
        flag("tie", &["tie_word_embeddings"], true, "tied-embeddings", "untied-embeddings"),
        // Derived from the above (no config key of their own); a stored tensor reveals them
        // when there is no config.
        count("rel_rows", &[], 0, 2 * MAX_COUNT).derived(rel_rows).show("").auxiliary(),
        flag("pos_key_proj", &[], false, "", "").derived(pos_key_proj),
        flag("pos_query_proj", &[], false, "", "").derived(pos_query_proj),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[BUFFERS, EMBEDDINGS, ENCODER, POOLER_ROWS, HEADS],
    ladder: &[
        (Step::Biases, "linear biases (attention, FFN, convolution)"),
        (Step::PositionTables, "relative position table and its LayerNorm"),
        (Step::Pooler, "context pooler"),
        (Step::Heads, "heads"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "buffers, not parameters"),
    ],
    claims: &[
        Claim { architecture: "DebertaV2Model", parts: &[] },
        Claim { architecture: "DebertaV2ForMaskedLM", parts: &["masked_lm"] },
        Claim { architecture: "DebertaV2ForSequenceClassification", parts: &[POOLER, "classifier"] },
        Claim { architecture: "DebertaV2ForTokenClassification", parts: &["classifier"] },
        Claim { architecture: "DebertaV2ForQuestionAnswering", parts: &["question_answering"] },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// The buffer `DebertaV2Embeddings` registers (non-persistent since transformers 4.31).
#[rustfmt::skip]
const BUFFERS: &[Row] = &[
    row("embeddings.position_ids",                              "1, P",             Buffer).buffer(),
];

/// modeling_deberta_v2.py `DebertaV2Embeddings`: the tables are `embedding_size` wide;
/// absolute positions only with `position_biased_input`, token types only when
/// `type_vocab_size` > 0, `embed_proj` (no bias) only when E != H; LayerNorm over H.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("embeddings.word_embeddings.weight",                    "V, E",             Embedding),
    row("embeddings.position_embeddings.weight",                "P, E",             Embedding).when("pbi"),
    row("embeddings.token_type_embeddings.weight",              "T, E",             Embedding).when_test(token_types),
    row("embeddings.embed_proj.weight",                         "H, E",             Embedding).when_test(projected),
    row("embeddings.LayerNorm.weight",                          "H",                Norm),
    row("embeddings.LayerNorm.bias",                            "H",                Norm),
];

/// modeling_deberta_v2.py `DebertaV2Encoder`, `DebertaV2Layer`, `DisentangledSelfAttention`
/// (query/key/value are A · D wide, D = `attention_head_size`), `ConvLayer`.
#[rustfmt::skip]
const ENCODER: &[Row] = &[
    row("layer.{layer}.attention.self.query_proj.weight",       "all_head_size, H", Attention),
    row("layer.{layer}.attention.self.query_proj.bias",         "all_head_size",    Attention).step(Biases),
    row("layer.{layer}.attention.self.key_proj.weight",         "all_head_size, H", Attention),
    row("layer.{layer}.attention.self.key_proj.bias",           "all_head_size",    Attention).step(Biases),
    row("layer.{layer}.attention.self.value_proj.weight",       "all_head_size, H", Attention),
    row("layer.{layer}.attention.self.value_proj.bias",         "all_head_size",    Attention).step(Biases),
    row("layer.{layer}.attention.self.pos_key_proj.weight",     "all_head_size, H", Attention).when("pos_key_proj"),
    row("layer.{layer}.attention.self.pos_key_proj.bias",       "all_head_size",    Attention).step(Biases).when("pos_key_proj"),
    row("layer.{layer}.attention.self.pos_query_proj.weight",   "all_head_size, H", Attention).when("pos_query_proj"),
    row("layer.{layer}.attention.self.pos_query_proj.bias",     "all_head_size",    Attention).step(Biases).when("pos_query_proj"),
    row("layer.{layer}.attention.output.dense.weight",          "H, H",             Attention),
    row("layer.{layer}.attention.output.dense.bias",            "H",                Attention).step(Biases),
    row("layer.{layer}.attention.output.LayerNorm.weight",      "H",                Norm),
    row("layer.{layer}.attention.output.LayerNorm.bias",        "H",                Norm),
    row("layer.{layer}.intermediate.dense.weight",              "I, H",             Ffn),
    row("layer.{layer}.intermediate.dense.bias",                "I",                Ffn).step(Biases),
    row("layer.{layer}.output.dense.weight",                    "H, I",             Ffn),
    row("layer.{layer}.output.dense.bias",                      "H",                Ffn).step(Biases),
    row("layer.{layer}.output.LayerNorm.weight",                "H",                Norm),
    row("layer.{layer}.output.LayerNorm.bias",                  "H",                Norm),
    row("encoder.rel_embeddings.weight",                        "rel_rows, H",      Embedding).step(PositionTables).when("rel"),
    row("encoder.LayerNorm.weight",                             "H",                Norm).step(PositionTables).when("nre"),
    row("encoder.LayerNorm.bias",                               "H",                Norm).step(PositionTables).when("nre"),
    row("encoder.conv.conv.weight",                             "H, H / Gc, Kc",    Attention).when_test(convolution),
    row("encoder.conv.conv.bias",                               "H",                Attention).step(Biases).when_test(convolution),
    row("encoder.conv.LayerNorm.weight",                        "H",                Norm).when_test(convolution),
    row("encoder.conv.LayerNorm.bias",                          "H",                Norm).when_test(convolution),
];

/// `ContextPooler` (in the sequence-classification and multiple-choice models only):
/// `pooler_hidden_size` square.
#[rustfmt::skip]
const POOLER_ROWS: &[Row] = &[
    row("pooler.dense.weight",                                  "Hp, Hp",           Pooler).step(PoolerStep).part(POOLER),
    row("pooler.dense.bias",                                    "Hp",               Pooler).step(PoolerStep).part(POOLER),
];

/// The heads (modeling_deberta_v2.py). Masked LM with `legacy` (the default):
/// `cls.predictions` as BERT's, E wide, decoder tied to the word embeddings and its bias
/// to `cls.predictions.bias` (neither tied with `tie_word_embeddings: false`). Without
/// `legacy`: `lm_predictions.lm_head` (dense H -> H, LayerNorm, bias), which multiplies by
/// the word embeddings directly and has no decoder. Classification: `classifier` over H
/// (`ContextPooler.output_dim` is `hidden_size`, not `pooler_hidden_size`).
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("cls.predictions.transform.dense.weight",               "E, H",             Head).step(Heads).part("masked_lm").when("legacy"),
    row("cls.predictions.transform.dense.bias",                 "E",                Head).step(Heads).part("masked_lm").when("legacy"),
    row("cls.predictions.transform.LayerNorm.weight",           "E",                Head).step(Heads).part("masked_lm").when("legacy"),
    row("cls.predictions.transform.LayerNorm.bias",             "E",                Head).step(Heads).part("masked_lm").when("legacy"),
    row("cls.predictions.bias",                                 "V",                Head).step(Heads).part("masked_lm").when("legacy"),
    row("cls.predictions.decoder.weight",                       "V, E",             Head).step(Heads).part("masked_lm").when("legacy")
        .tied("tie", "embeddings.word_embeddings.weight"),
    row("cls.predictions.decoder.bias",                         "V",                Head).step(Heads).part("masked_lm").when("legacy")
        .tied("tie", "cls.predictions.bias"),
    row("lm_predictions.lm_head.dense.weight",                  "H, H",             Head).step(Heads).part("masked_lm").unless("legacy"),
    row("lm_predictions.lm_head.dense.bias",                    "H",                Head).step(Heads).part("masked_lm").unless("legacy"),
    row("lm_predictions.lm_head.LayerNorm.weight",              "H",                Head).step(Heads).part("masked_lm").unless("legacy"),
    row("lm_predictions.lm_head.LayerNorm.bias",                "H",                Head).step(Heads).part("masked_lm").unless("legacy"),
    row("lm_predictions.lm_head.bias",                          "V",                Head).step(Heads).part("masked_lm").unless("legacy"),
    row("classifier.weight",                                    "N, H",             Head).step(Heads).part("classifier"),
    row("classifier.bias",                                      "N",                Head).step(Heads).part("classifier"),
    row("qa_outputs.weight",                                    "N, H",             Head).step(Heads).part("question_answering"),
    row("qa_outputs.bias",                                      "N",                Head).step(Heads).part("question_answering"),
];

/// A count that transformers tests with `> 0` or `< 1` (`position_buckets` -1,
/// `max_relative_positions` -1, `conv_kernel_size`): negative values read as 0, "not set".
fn at_least_zero(v: &serde_json::Value) -> Option<u64> {
    v.as_i64().map(|n| u64::try_from(n).unwrap_or(0))
}

/// Whether `pos_att_type` (a list, or the older `"p2c|c2p"` string that
/// `DebertaV2Config.__post_init__` lowercases and splits) names `kind`.
fn pos_att_has(v: &serde_json::Value, kind: &str) -> Option<u64> {
    let found = match v {
        serde_json::Value::Array(items) => items.iter().any(|i| i.as_str() == Some(kind)),
        serde_json::Value::String(s) => s.to_lowercase().split('|').any(|p| p.trim() == kind),
        _ => return None,
    };
    Some(u64::from(found))
}

fn pos_att_c2p(v: &serde_json::Value) -> Option<u64> {
    pos_att_has(v, "c2p")
}

fn pos_att_p2c(v: &serde_json::Value) -> Option<u64> {
    pos_att_has(v, "p2c")
}

/// `DebertaV2Encoder`: `"layer_norm" in norm_rel_ebd.lower().split("|")`.
fn norm_rel_layer_norm(v: &serde_json::Value) -> Option<u64> {
    let s = v.as_str()?;
    Some(u64::from(
        s.to_lowercase()
            .split('|')
            .any(|p| p.trim() == "layer_norm"),
    ))
}

/// Rows of `encoder.rel_embeddings` (`DebertaV2Encoder.__init__`): 2 · `position_buckets`
/// when positive, else 2 · `max_relative_positions`, which below 1 means
/// `max_position_embeddings`.
fn rel_rows(d: &Dims) -> Option<u64> {
    let span = match (d.get("Pb")?, d.get("R")?) {
        (buckets, _) if buckets > 0 => buckets,
        (_, r) if r > 0 => r,
        _ => d.get("P")?,
    };
    span.checked_mul(2)
}

/// `DisentangledSelfAttention`: `pos_key_proj` when relative attention, keys not shared
/// and `c2p` asked.
fn pos_key_proj(d: &Dims) -> Option<u64> {
    Some(u64::from(
        d.flag("rel") && !d.flag("share") && d.flag("c2p"),
    ))
}

/// `pos_query_proj` likewise for `p2c`.
fn pos_query_proj(d: &Dims) -> Option<u64> {
    Some(u64::from(
        d.flag("rel") && !d.flag("share") && d.flag("p2c"),
    ))
}

/// `hidden_size // num_attention_heads` (a remainder fails `validate`, as in transformers).
fn head_size(d: &Dims) -> Option<u64> {
    d.get("H")?.checked_div(d.get("A")?)
}

/// `num_attention_heads · attention_head_size`, the width of query, key and value
/// (`DisentangledSelfAttention.all_head_size`).
fn all_head_size(d: &Dims) -> Option<u64> {
    d.get("A")?.checked_mul(d.get("D")?)
}

fn token_types(d: &Dims) -> bool {
    d.v("T") > 0
}

fn projected(d: &Dims) -> bool {
    d.v("E") != d.v("H")
}

fn convolution(d: &Dims) -> bool {
    d.v("Kc") > 0
}

/// `DisentangledSelfAttention` requires H divisible by the heads (modeling_deberta_v2.py
/// line 144); `nn.Conv1d` requires it divisible by `conv_groups`.
fn validate(d: &Dims) -> Result<(), String> {
    super::hidden_divisible_by_heads(d)?;
    let h = d.v("H");
    let groups = d.v("Gc");
    if convolution(d) && !h.is_multiple_of(groups) {
        return Err(format!(
            "`hidden_size` {h} is not a multiple of `conv_groups` {groups}"
        ));
    }
    Ok(())
}

/// The closed form, step by step with its arithmetic; `None` when a count exceeds 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (v, h, l, i, p, t) = (d.v("V"), d.v("H"), d.v("L"), d.v("I"), d.v("P"), d.v("T"));
    let (e, hp, n, inner) = (d.v("E"), d.v("Hp"), d.v("N"), d.v("all_head_size"));
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let when = |on: bool, x: u64| if on { x } else { 0 };
    let absolute = d.flag("pbi");
    let projects = e != h;
    let (key_proj, query_proj) = (d.flag("pos_key_proj"), d.flag("pos_query_proj"));
    let projections = u64::from(key_proj) + u64::from(query_proj);
    let kernel = d.v("Kc");
    let conv = kernel > 0;

    let rows = v.checked_add(when(absolute, p))?.checked_add(t)?;
    let embeddings = mul(rows, e)?;
    let embed_proj = when(projects, mul(e, h)?);
    let embedding_ln = mul(2, h)?;
    let attention = mul(3 + projections, mul(inner, h)?)?.checked_add(mul(h, h)?)?;
    let ffn = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(ffn)?.checked_add(layer_ln)?;
    let conv_weights = if conv {
        mul(h, h.checked_div(d.v("Gc"))?)?
            .checked_mul(kernel)?
            .checked_add(mul(2, h)?)?
    } else {
        0
    };
    let weights_only = embeddings
        .checked_add(embed_proj)?
        .checked_add(embedding_ln)?
        .checked_add(mul(l, per_layer)?)?
        .checked_add(conv_weights)?;
    let layer_biases = mul(3 + projections, inner)?
        .checked_add(mul(2, h)?)?
        .checked_add(i)?;
    let biases = mul(l, layer_biases)?.checked_add(when(conv, h))?;
    let rel_table = when(d.flag("rel"), mul(d.v("rel_rows"), h)?);
    let rel_ln = when(d.flag("nre"), mul(2, h)?);
    let position_tables = rel_table.checked_add(rel_ln)?;
    let pooler = mul(hp, hp)?.checked_add(hp)?;
    let legacy = d.flag("legacy");
    let masked_lm = if legacy {
        mul(e, h)?.checked_add(mul(3, e)?)?.checked_add(v)?
    } else {
        mul(h, h)?.checked_add(mul(3, h)?)?.checked_add(v)?
    };
    let decoder = mul(v, e)?.checked_add(v)?;
    let labelled = mul(n, h)?.checked_add(n)?;

    let mut steps = vec![line(
        "embeddings (E wide)",
        "(V + P if position_biased_input + T) · E",
        {
            let mut tables = vec![v.to_string()];
            if absolute {
                tables.push(p.to_string());
            }
            if t > 0 {
                tables.push(t.to_string());
            }
            match tables.as_slice() {
                [only] => format!("{only} · {e}"),
                _ => format!("({}) · {e}", tables.join(" + ")),
            }
        },
        embeddings,
    )];
    if projects {
        steps.push(line(
            "embedding projection E -> H (no bias)",
            "E · H",
            format!("{e} · {h}"),
            embed_proj,
        ));
    }
    steps.extend([
        line(
            "embedding LayerNorm",
            "2 · H (gamma, beta)",
            format!("2 · {h}"),
            embedding_ln,
        ),
        line(
            "attention, per layer",
            match (key_proj, query_proj) {
                (false, false) => "Q, K, V: 3 · (A·D) · H ; output: H²",
                (true, false) => "Q, K, V, pos K: 4 · (A·D) · H ; output: H²",
                (false, true) => "Q, K, V, pos Q: 4 · (A·D) · H ; output: H²",
                (true, true) => "Q, K, V, pos K, pos Q: 5 · (A·D) · H ; output: H²",
            },
            format!("{} · {inner} · {h} + {h}²", 3 + projections),
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
    ]);
    if conv {
        steps.push(line(
            "convolution layer (weights, LayerNorm)",
            "H · (H / groups) · kernel + 2 · H",
            format!("{h} · ({h} / {}) · {kernel} + 2 · {h}", d.v("Gc")),
            conv_weights,
        ));
    }
    steps.push(line(
        "total, weights only",
        "embeddings + projection + LN + L · (attention + FFN + LN) + convolution",
        format!(
            "{embeddings} + {embed_proj} + {embedding_ln} + {l} · ({attention} + {ffn} + {layer_ln}) + {conv_weights}"
        ),
        weights_only,
    ));
    let mut additions = vec![
        add(
            Step::Biases,
            None,
            line(
                "linear biases",
                "L · ((3 + position projections) · A·D + H + I + H) + H if convolution",
                format!(
                    "{l} · ({} · {inner} + {h} + {i} + {h}){}",
                    3 + projections,
                    if conv { format!(" + {h}") } else { String::new() }
                ),
                biases,
            ),
        ),
        add(
            Step::PositionTables,
            None,
            line(
                "relative position table (2 · buckets or 2 · max_relative_positions rows) and its LayerNorm",
                "rel_rows · H + 2 · H if norm_rel_ebd has layer_norm",
                format!(
                    "{} · {h}{}",
                    if d.flag("rel") { d.v("rel_rows") } else { 0 },
                    if d.flag("nre") { format!(" + 2 · {h}") } else { String::new() }
                ),
                position_tables,
            ),
        ),
        add(
            Step::Pooler,
            Some(POOLER),
            line(
                "context pooler",
                "Hp² + Hp",
                format!("{hp}² + {hp}"),
                pooler,
            ),
        ),
        add(
            Step::Heads,
            Some("masked_lm"),
            if legacy {
                line(
                    "MLM head, legacy (transform H -> E, LayerNorm, output bias)",
                    "(E · H + E) + 2 · E + V",
                    format!("({e} · {h} + {e}) + 2 · {e} + {v}"),
                    masked_lm,
                )
            } else {
                line(
                    "MLM head (dense, LayerNorm, output bias; logits from the word embeddings)",
                    "(H² + H) + 2 · H + V",
                    format!("({h}² + {h}) + 2 · {h} + {v}"),
                    masked_lm,
                )
            },
        ),
    ];
    if legacy {
        additions.push(super::albert::mlm_decoder(d.flag("tie"), v, e, decoder));
    }
    for (of, what) in [
        ("classifier", "classifier head"),
        ("question_answering", "question-answering head"),
    ] {
        additions.push(add(
            Step::Heads,
            Some(of),
            line(what, "N · H + N", format!("{n} · {h} + {n}"), labelled),
        ));
    }
    let masked_lm_total = if legacy && !d.flag("tie") {
        masked_lm.checked_add(decoder)?
    } else {
        masked_lm
    };
    let model = weights_only
        .checked_add(biases)?
        .checked_add(position_tables)?;
    let models = vec![
        line(
            "DebertaV2Model",
            "weights only + linear biases + position tables",
            format!("{weights_only} + {biases} + {position_tables}"),
            model,
        ),
        line(
            "DebertaV2ForMaskedLM",
            "DebertaV2Model + MLM",
            format!("{model} + {masked_lm_total}"),
            model.checked_add(masked_lm_total)?,
        ),
        line(
            "DebertaV2ForSequenceClassification",
            "DebertaV2Model + context pooler + classifier",
            format!("{model} + {pooler} + {labelled}"),
            model.checked_add(pooler)?.checked_add(labelled)?,
        ),
        line(
            "DebertaV2ForTokenClassification",
            "DebertaV2Model + classifier",
            format!("{model} + {labelled}"),
            model.checked_add(labelled)?,
        ),
        line(
            "DebertaV2ForQuestionAnswering",
            "DebertaV2Model + QA outputs",
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
    use crate::formula::ModelConfig;

    fn dims(text: &str) -> Dims {
        let config = ModelConfig::parse(std::path::Path::new("c.json"), text).unwrap();
        super::super::dims::from_config(&FAMILY, &config).unwrap().0
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

    /// transformers 5.24 `num_parameters()` on the meta device for published configs.
    #[test]
    fn closed_form_matches_transformers_for_published_configs() {
        let v3_base = dims(
            r#"{"hidden_size": 768, "intermediate_size": 3072, "max_position_embeddings": 512,
            "model_type": "deberta-v2", "norm_rel_ebd": "layer_norm", "num_attention_heads": 12,
            "num_hidden_layers": 12, "pos_att_type": ["p2c", "c2p"], "position_biased_input": false,
            "position_buckets": 256, "relative_attention": true, "share_att_key": true,
            "type_vocab_size": 0, "vocab_size": 128100}"#,
        );
        assert_eq!(model(&v3_base, "DebertaV2Model"), 183_831_552);
        // microsoft/deberta-v2-xlarge: pos_att_type as the older "p2c|c2p" string, an
        // explicit attention_head_size, a convolution layer after the first layer.
        let v2_xlarge = dims(
            r#"{"model_type": "deberta-v2", "attention_head_size": 64, "attention_probs_dropout_prob": 0.1,
            "conv_act": "gelu", "conv_kernel_size": 3, "hidden_size": 1536, "intermediate_size": 6144,
            "max_position_embeddings": 512, "max_relative_positions": -1, "norm_rel_ebd": "layer_norm",
            "num_attention_heads": 24, "num_hidden_layers": 24, "pos_att_type": "p2c|c2p",
            "position_biased_input": false, "position_buckets": 256, "relative_attention": true,
            "share_att_key": true, "type_vocab_size": 0, "vocab_size": 128100}"#,
        );
        assert_eq!(model(&v2_xlarge, "DebertaV2Model"), 884_593_152);
    }

    #[test]
    fn config_strings_and_lists_are_read_as_transformers_reads_them() {
        let d = dims(
            r#"{"hidden_size": 96, "pos_att_type": "P2C|c2p", "norm_rel_ebd": "layer_norm|none",
            "relative_attention": true, "position_buckets": -1, "max_relative_positions": -1,
            "max_position_embeddings": 40}"#,
        );
        assert!(d.flag("c2p") && d.flag("p2c") && d.flag("nre"));
        assert!(d.flag("pos_key_proj") && d.flag("pos_query_proj"));
        assert_eq!(d.get("rel_rows"), Some(80), "2 · max_position_embeddings");
        let d = dims(
            r#"{"hidden_size": 96, "pos_att_type": ["c2p"], "max_relative_positions": 7,
            "share_att_key": true, "relative_attention": true}"#,
        );
        assert!(d.flag("c2p") && !d.flag("p2c"));
        assert!(
            !d.flag("pos_key_proj"),
            "shared keys: no position projections"
        );
        assert_eq!(d.get("rel_rows"), Some(14));
        let d = dims(
            r#"{"hidden_size": 96, "norm_rel_ebd": "none", "position_buckets": 3,
            "max_relative_positions": 7}"#,
        );
        assert!(!d.flag("nre"));
        assert_eq!(d.get("rel_rows"), Some(6), "buckets win");
    }
}
