//! DeepSeek-V3 (`model_type: deepseek_v3`): transformers' `modeling_deepseek_v3`,
//! `DeepseekV3Config` defaults (`configuration_deepseek_v3.py`), plus the
//! multi-token-prediction layer DeepSeek's own release stores and transformers does not
//! build.
//!
//! Multi-head latent attention (`DeepseekV3Attention`): queries through a low-rank
//! bottleneck (`q_a_proj` `[q_lora_rank, H]`, `q_a_layernorm`, `q_b_proj`
//! `[A·(nope + rope), q_lora_rank]`), or one `q_proj` `[A·(nope + rope), H]` when
//! `q_lora_rank` is null; keys and values through `kv_a_proj_with_mqa`
//! `[kv_lora_rank + rope, H]`, `kv_a_layernorm` and `kv_b_proj`
//! `[A·(nope + v_head_dim), kv_lora_rank]`; `o_proj` `[H, A·v_head_dim]`. Biases on
//! `q_a_proj`, `kv_a_proj_with_mqa` and `o_proj` only when `attention_bias`.
//!
//! The first `first_k_dense_replace` layers have a dense SwiGLU MLP of `intermediate_size`
//! (`DeepseekV3DecoderLayer`: `layer_idx >= first_k_dense_replace` is sparse); the others a
//! router `mlp.gate.weight` `[E, H]`, `n_routed_experts` experts of
//! `moe_intermediate_size`, and shared experts `mlp.shared_experts.*` of
//! `n_shared_experts · moe_intermediate_size`. The router's `e_score_correction_bias`
//! `[E]` is a persistent buffer (`nn.Buffer` in `DeepseekV3TopkRouter`, kept in float32 by
//! `_keep_in_fp32_modules_strict`): stored, never counted by `num_parameters()`.
//!
//! Multi-token prediction: DeepSeek's release stores `num_nextn_predict_layers` (1) more
//! layers past `num_hidden_layers` (`model.layers.61` for V3): a full decoder layer plus
//! `embed_tokens` `[V, H]`, `enorm`, `hnorm`, `eh_proj` `[H, 2H]`, `shared_head.norm`
//! and `shared_head.head` `[V, H]`. `DeepseekV3ForCausalLM` neither builds nor counts it
//! (`_keys_to_ignore_on_load_unexpected = [r"model\.layers\.61.*"]`, the index written
//! literally), so its rows are the `extra_layers` step: expected only when stored, outside
//! `num_parameters()` and the active count.
//!
//! The hand derivation counts embeddings, the attention matrices with their two latent
//! RMSNorms, dense MLPs, routers, routed and shared experts, and every RMSNorm; attention
//! biases, heads and the MTP layers are steps.

use super::mixtral::{self, CAUSAL_LM, CLASSIFIERS, EMBEDDINGS, LAYER_NORMS};
use super::qwen2_moe::{DENSE_MLP, ROUTED_EXPERTS};
use super::Bucket::{
    Attention, Buffer, Embedding, Ffn, Head, Norm, RoutedExperts, Router, SharedExperts,
};
use super::Step::{Biases, ExtraLayers};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Moe, Range, Row, Step,
    MAX_COUNT, MAX_LAYERS, MAX_WIDTH,
};

/// The DeepSeek-V3 family.
pub static FAMILY: Family = Family {
    name: "deepseek_v3",
    title: "DeepSeek-V3",
    model_types: &["deepseek_v3"],
    covers: "DeepseekV3Model, causal-LM, sequence/token classification heads; latent attention with or without query compression; dense and sparse layers; the release's multi-token-prediction layers; active parameters per token",
    norm: super::Norm::RmsNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 61, MAX_LAYERS),
        count("H", &["hidden_size"], 7168, MAX_WIDTH),
        count("I", &["intermediate_size"], 18432, MAX_WIDTH),
        count("MI", &["moe_intermediate_size"], 2048, MAX_WIDTH).show("moe_I"),
        count("V", &["vocab_size"], 129280, MAX_COUNT),
        count("A", &["num_attention_heads"], 128, MAX_WIDTH).show("heads"),
        // `q_lora_rank: null`: no query compression, a plain `q_proj`. The flag says which
        // (and can be read off the tensors); `Q` is the rank, 0 when null.
        flag("qlora", &["q_lora_rank"], true, "", "no-q-lora")
            .parse_with(is_a_number)
            .if_null(super::Default::Flag(false)),
        count("Q", &["q_lora_rank"], 1536, MAX_WIDTH)
            .show("q_lora")
            .if_null(super::Default::Value(0)),
        count("C", &["kv_lora_rank"], 512, MAX_WIDTH).show("kv_lora"),
        count("DN", &["qk_nope_head_dim"], 128, MAX_WIDTH).show("nope"),
        count("DR", &["qk_rope_head_dim"], 64, MAX_WIDTH).show("rope"),
        count("DV", &["v_head_dim"], 128, MAX_WIDTH).show("v_head"),
        // DeepseekV3Config.attribute_map: `num_local_experts` reads `n_routed_experts`.
        count("E", &["n_routed_experts"], 256, MAX_LAYERS).show("experts"),
        count("k", &["num_experts_per_tok"], 8, MAX_LAYERS).show("per_token"),
        count("S", &["n_shared_experts"], 1, MAX_LAYERS).zero_ok().show("shared"),
        count("F", &["first_k_dense_replace"], 3, MAX_LAYERS).zero_ok().show("dense_layers"),
        // `num_mtp_layers` (default 1) is written as `num_nextn_predict_layers`
        // (DeepseekV3Config.attribute_map).
        count("M", &["num_nextn_predict_layers", "num_mtp_layers"], 1, MAX_LAYERS)
            .zero_ok()
            .show("mtp_layers"),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT).show("labels").auxiliary(),
        flag("bias", &["attention_bias"], false, "attention-bias", ""),
        flag("tie", &["tie_word_embeddings"], false, "tied-embeddings", "untied-embeddings"),
    ],
    ranges: &[
        // First, so that a checkpoint without config reveals `L` from the MTP layer's
        // index rather than from the decoder rows its names also match.
        Range {
            name: "mtp",
            start: "L",
            end: "L + M",
            filter: None,
        },
        range("layer", "L"),
        Range {
            filter: Some(is_dense_layer),
            ..range("dense", "L")
        },
        Range {
            filter: Some(is_moe_layer),
            ..range("moe", "L")
        },
        range("expert", "E"),
        Range {
            name: "mtp_dense",
            start: "L",
            end: "L + M",
            filter: Some(is_dense_layer),
        },
        Range {
            name: "mtp_moe",
            start: "L",
            end: "L + M",
            filter: Some(is_moe_layer),
        },
    ],
    tensors: &[
        EMBEDDINGS,
        ATTENTION,
        LAYER_NORMS,
        DENSE_MLP,
        ROUTED_EXPERTS,
        ROUTER_BIAS_AND_SHARED,
        CAUSAL_LM,
        CLASSIFIERS,
        MTP_LAYER,
        MTP_EXTRAS,
    ],
    ladder: &[
        (Step::Biases, "attention biases"),
        (Step::Heads, "heads"),
        (Step::ExtraLayers, "multi-token-prediction layers (not counted by transformers)"),
        (Step::TiedNotStored, "tied, not stored"),
        (Step::Buffers, "router score-correction biases, buffers"),
    ],
    claims: &[
        Claim { architecture: "DeepseekV3Model", parts: &[] },
        Claim { architecture: "DeepseekV3ForCausalLM", parts: &[mixtral::LM_HEAD] },
        Claim { architecture: "DeepseekV3ForSequenceClassification", parts: &[mixtral::CLASSIFIER] },
        Claim {
            architecture: "DeepseekV3ForTokenClassification",
            parts: &[mixtral::CLASSIFIER, mixtral::TOKEN_CLASSIFIER],
        },
    ],
    validate,
    derive,
    moe: Some(Moe {
        experts: "E",
        per_token: "k",
    }),
    compiled: std::sync::OnceLock::new(),
};

/// `q_lora_rank` given as a number sets the flag.
fn is_a_number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().map(|_| 1)
}

/// `DeepseekV3DecoderLayer`: layer `l` is sparse when `l >= first_k_dense_replace` (the
/// MTP layers past `L` too, as in DeepSeek's own `inference/model.py`).
fn is_moe_layer(d: &Dims, l: u64) -> bool {
    l >= d.v("F")
}

fn is_dense_layer(d: &Dims, l: u64) -> bool {
    !is_moe_layer(d, l)
}

fn q_a_bias(d: &Dims) -> bool {
    d.flag("qlora") && d.flag("bias")
}

/// Multi-head latent attention of the decoder layers (`{layer}` in 0..L).
#[rustfmt::skip]
const ATTENTION: &[Row] = &[
    row("layers.{layer}.self_attn.q_a_proj.weight",             "Q, H",             Attention).when("qlora"),
    row("layers.{layer}.self_attn.q_a_proj.bias",               "Q",                Attention).step(Biases).when_test(q_a_bias),
    row("layers.{layer}.self_attn.q_a_layernorm.weight",        "Q",                Norm).when("qlora"),
    row("layers.{layer}.self_attn.q_b_proj.weight",             "A*(DN+DR), Q",     Attention).when("qlora"),
    row("layers.{layer}.self_attn.q_proj.weight",               "A*(DN+DR), H",     Attention).unless("qlora"),
    row("layers.{layer}.self_attn.kv_a_proj_with_mqa.weight",   "C+DR, H",          Attention),
    row("layers.{layer}.self_attn.kv_a_proj_with_mqa.bias",     "C+DR",             Attention).step(Biases).when("bias"),
    row("layers.{layer}.self_attn.kv_a_layernorm.weight",       "C",                Norm),
    row("layers.{layer}.self_attn.kv_b_proj.weight",            "A*(DN+DV), C",     Attention),
    row("layers.{layer}.self_attn.o_proj.weight",               "H, A*DV",          Attention),
    row("layers.{layer}.self_attn.o_proj.bias",                 "H",                Attention).step(Biases).when("bias"),
];

/// The router's score-correction bias (a buffer) and the shared experts of a sparse layer.
#[rustfmt::skip]
const ROUTER_BIAS_AND_SHARED: &[Row] = &[
    row("layers.{moe}.mlp.gate.e_score_correction_bias",        "E",        Buffer).buffer(),
    row("layers.{moe}.mlp.shared_experts.gate_proj.weight",     "S*MI, H",  SharedExperts),
    row("layers.{moe}.mlp.shared_experts.up_proj.weight",       "S*MI, H",  SharedExperts),
    row("layers.{moe}.mlp.shared_experts.down_proj.weight",     "H, S*MI",  SharedExperts),
];

/// The multi-token-prediction layers' decoder layer (`{mtp}` in L..L + M): the same names
/// as a decoder layer's (they classify with those rows), in the `extra_layers` step.
#[rustfmt::skip]
const MTP_LAYER: &[Row] = &[
    row("layers.{mtp}.self_attn.q_a_proj.weight",               "Q, H",             Attention).step(ExtraLayers).when("qlora"),
    row("layers.{mtp}.self_attn.q_a_proj.bias",                 "Q",                Attention).step(ExtraLayers).when_test(q_a_bias),
    row("layers.{mtp}.self_attn.q_a_layernorm.weight",          "Q",                Norm).step(ExtraLayers).when("qlora"),
    row("layers.{mtp}.self_attn.q_b_proj.weight",               "A*(DN+DR), Q",     Attention).step(ExtraLayers).when("qlora"),
    row("layers.{mtp}.self_attn.q_proj.weight",                 "A*(DN+DR), H",     Attention).step(ExtraLayers).unless("qlora"),
    row("layers.{mtp}.self_attn.kv_a_proj_with_mqa.weight",     "C+DR, H",          Attention).step(ExtraLayers),
    row("layers.{mtp}.self_attn.kv_a_proj_with_mqa.bias",       "C+DR",             Attention).step(ExtraLayers).when("bias"),
    row("layers.{mtp}.self_attn.kv_a_layernorm.weight",         "C",                Norm).step(ExtraLayers),
    row("layers.{mtp}.self_attn.kv_b_proj.weight",              "A*(DN+DV), C",     Attention).step(ExtraLayers),
    row("layers.{mtp}.self_attn.o_proj.weight",                 "H, A*DV",          Attention).step(ExtraLayers),
    row("layers.{mtp}.self_attn.o_proj.bias",                   "H",                Attention).step(ExtraLayers).when("bias"),
    row("layers.{mtp}.input_layernorm.weight",                  "H",                Norm).step(ExtraLayers),
    row("layers.{mtp}.post_attention_layernorm.weight",         "H",                Norm).step(ExtraLayers),
    row("layers.{mtp_dense}.mlp.gate_proj.weight",              "I, H",             Ffn).step(ExtraLayers),
    row("layers.{mtp_dense}.mlp.up_proj.weight",                "I, H",             Ffn).step(ExtraLayers),
    row("layers.{mtp_dense}.mlp.down_proj.weight",              "H, I",             Ffn).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.gate.weight",                     "E, H",             Router).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.gate.e_score_correction_bias",    "E",                Buffer).buffer(),
    row("layers.{mtp_moe}.mlp.experts.{expert}.gate_proj.weight", "MI, H",          RoutedExperts).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.experts.{expert}.up_proj.weight", "MI, H",            RoutedExperts).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.experts.{expert}.down_proj.weight", "H, MI",          RoutedExperts).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.shared_experts.gate_proj.weight", "S*MI, H",          SharedExperts).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.shared_experts.up_proj.weight",   "S*MI, H",          SharedExperts).step(ExtraLayers),
    row("layers.{mtp_moe}.mlp.shared_experts.down_proj.weight", "H, S*MI",          SharedExperts).step(ExtraLayers),
];

/// What only a multi-token-prediction layer has: its own embeddings, the norms of the
/// embedded token and of the previous hidden state, their projection `eh_proj`, and its
/// head with a norm.
#[rustfmt::skip]
const MTP_EXTRAS: &[Row] = &[
    row("layers.{mtp}.embed_tokens.weight",                     "V, H",             Embedding).step(ExtraLayers),
    row("layers.{mtp}.enorm.weight",                            "H",                Norm).step(ExtraLayers),
    row("layers.{mtp}.hnorm.weight",                            "H",                Norm).step(ExtraLayers),
    row("layers.{mtp}.eh_proj.weight",                          "H, 2*H",           Ffn).step(ExtraLayers),
    row("layers.{mtp}.shared_head.norm.weight",                 "H",                Norm).step(ExtraLayers),
    row("layers.{mtp}.shared_head.head.weight",                 "V, H",             Head).step(ExtraLayers),
];

fn validate(d: &Dims) -> Result<(), String> {
    mixtral::validate_routing(d)
}

/// The closed form.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (l, h, i, mi, v, a) = (d.v("L"), d.v("H"), d.v("I"), d.v("MI"), d.v("V"), d.v("A"));
    let (q, c, dn, dr, dv) = (d.v("Q"), d.v("C"), d.v("DN"), d.v("DR"), d.v("DV"));
    let (e, k, s, f, m) = (d.v("E"), d.v("k"), d.v("S"), d.v("F"), d.v("M"));
    let qlora = d.flag("qlora");
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let embeddings = mul(v, h)?;
    // Queries: through the rank-Q bottleneck and its RMSNorm, or one projection.
    let qk = dn.checked_add(dr)?;
    let queries = if qlora {
        mul(q, h)?
            .checked_add(q)?
            .checked_add(mul(mul(a, qk)?, q)?)?
    } else {
        mul(mul(a, qk)?, h)?
    };
    let keys_values = mul(c.checked_add(dr)?, h)?
        .checked_add(c)?
        .checked_add(mul(mul(a, dn.checked_add(dv)?)?, c)?)?;
    let output = mul(h, mul(a, dv)?)?;
    let attention = queries.checked_add(keys_values)?.checked_add(output)?;
    let norms = mul(2, h)?;
    let dense = f.min(l);
    let sparse = l - dense;
    let mlp = mul(3, mul(h, i)?)?;
    let router = mul(e, h)?;
    let expert = mul(3, mul(h, mi)?)?;
    let experts = mul(e, expert)?;
    let shared = mul(3, mul(h, mul(s, mi)?)?)?;
    let sparse_mlp = router.checked_add(experts)?.checked_add(shared)?;
    let weights_only = embeddings
        .checked_add(mul(l, attention.checked_add(norms)?)?)?
        .checked_add(mul(dense, mlp)?)?
        .checked_add(mul(sparse, sparse_mlp)?)?
        .checked_add(h)?;
    let steps = vec![
        line("embeddings", "V · H", format!("{v} · {h}"), embeddings),
        if qlora {
            line(
                "queries, per layer",
                "q_a: Q·H + its RMSNorm Q + q_b: A·(DN + DR)·Q",
                format!("{q}·{h} + {q} + {a}·({dn} + {dr})·{q}"),
                queries,
            )
        } else {
            line(
                "queries, per layer (q_lora_rank null)",
                "q_proj: A·(DN + DR)·H",
                format!("{a}·({dn} + {dr})·{h}"),
                queries,
            )
        },
        line(
            "keys and values, per layer",
            "kv_a: (C + DR)·H + its RMSNorm C + kv_b: A·(DN + DV)·C",
            format!("({c} + {dr})·{h} + {c} + {a}·({dn} + {dv})·{c}"),
            keys_values,
        ),
        line(
            "attention output, per layer",
            "H · A·DV",
            format!("{h} · {a}·{dv}"),
            output,
        ),
        line("RMSNorms, per layer", "2 · H", format!("2 · {h}"), norms),
        line(
            &format!("dense MLP, per dense layer (the first {dense} of {l})"),
            "3 · H · I",
            format!("3 · {h} · {i}"),
            mlp,
        ),
        line(
            &format!("router, per sparse layer ({sparse} of {l})"),
            "E · H",
            format!("{e} · {h}"),
            router,
        ),
        line(
            "routed experts, per sparse layer",
            "E · 3 · H · MI",
            format!("{e} · 3 · {h} · {mi}"),
            experts,
        ),
        line(
            "shared experts, per sparse layer",
            "3 · H · S·MI",
            format!("3 · {h} · {s}·{mi}"),
            shared,
        ),
        line("final RMSNorm", "H", format!("{h}"), h),
        line(
            "total, weights only",
            "embeddings + L · (attention + norms) + dense · MLP + sparse · (router + experts + shared) + H",
            format!(
                "{embeddings} + {l} · ({attention} + {norms}) + {dense} · {mlp} + {sparse} · {sparse_mlp} + {h}"
            ),
            weights_only,
        ),
    ];
    // Biases of q_a_proj (with query compression), kv_a_proj_with_mqa and o_proj.
    let layer_biases = if d.flag("bias") {
        (if qlora { q } else { 0 })
            .checked_add(c)?
            .checked_add(dr)?
            .checked_add(h)?
    } else {
        0
    };
    let biases = mul(l, layer_biases)?;
    let model = weights_only.checked_add(biases)?;
    let (mut additions, classes, causal) = mixtral::heads(d, "DeepseekV3", model, false)?;
    additions.insert(
        0,
        add(
            Step::Biases,
            None,
            match (d.flag("bias"), qlora) {
                (false, _) => line(
                    "attention biases",
                    "none: attention_bias is false",
                    "0".into(),
                    0,
                ),
                (true, true) => line(
                    "attention biases (q_a, kv_a, o)",
                    "L · (Q + C + DR + H)",
                    format!("{l} · ({q} + {c} + {dr} + {h})"),
                    biases,
                ),
                (true, false) => line(
                    "attention biases (kv_a, o; q_proj has none)",
                    "L · (C + DR + H)",
                    format!("{l} · ({c} + {dr} + {h})"),
                    biases,
                ),
            },
        ),
    );
    // The MTP layers: layer L + j is dense while below F, as a decoder layer would be.
    let mtp_dense = f.saturating_sub(l).min(m);
    let mtp_sparse = m - mtp_dense;
    let mtp_own = mul(2, embeddings)?
        .checked_add(mul(3, h)?)?
        .checked_add(mul(2, mul(h, h)?)?)?;
    let mtp_layer = attention
        .checked_add(layer_biases)?
        .checked_add(norms)?
        .checked_add(mtp_own)?;
    let mtp = mul(m, mtp_layer)?
        .checked_add(mul(mtp_dense, mlp)?)?
        .checked_add(mul(mtp_sparse, sparse_mlp)?)?;
    additions.push(add(
        Step::ExtraLayers,
        None,
        line(
            "multi-token-prediction layers (DeepSeek's release stores them; transformers neither builds nor counts them)",
            "M · (attention + biases + norms + embeddings V·H + enorm, hnorm, head norm 3·H + eh_proj 2·H² + head V·H) + dense or sparse MLP each",
            format!("{m} · ({attention} + {layer_biases} + {norms} + {mtp_own}) + {mtp_dense} · {mlp} + {mtp_sparse} · {sparse_mlp}"),
            mtp,
        ),
    ));
    let mut models = vec![line(
        "DeepseekV3Model",
        "weights only + biases",
        format!("{weights_only} + {biases}"),
        model,
    )];
    models.extend(classes);
    let unused = mul(mul(sparse, expert)?, e.checked_sub(k)?)?;
    let active = line(
        "DeepseekV3ForCausalLM",
        "causal LM - sparse layers · 3 · H · MI · (E - k)",
        format!("{causal} - {sparse} · {expert} · ({e} - {k})"),
        causal.checked_sub(unused)?,
    );
    Some(Derivation {
        steps,
        weights_only,
        additions,
        models,
        active: Some(active),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::RowKind;

    fn v3() -> Dims {
        let mut d = Dims::default();
        for (s, x) in [
            ("L", 61),
            ("H", 7168),
            ("I", 18432),
            ("MI", 2048),
            ("V", 129280),
            ("A", 128),
            ("qlora", 1),
            ("Q", 1536),
            ("C", 512),
            ("DN", 128),
            ("DR", 64),
            ("DV", 128),
            ("E", 256),
            ("k", 8),
            ("S", 1),
            ("F", 3),
            ("M", 1),
            ("N", 2),
            ("bias", 0),
            ("tie", 0),
        ] {
            d.set(s, x);
        }
        d
    }

    fn model(d: &Derivation, class: &str) -> i128 {
        d.models.iter().find(|m| m.part == class).unwrap().value
    }

    /// DeepSeek-V3's published config: transformers 5.24 counts 671,026,404,352
    /// parameters, 37,552,282,624 active (fixtures/families/full-size.json); the release's
    /// layer 61 holds 13,463,426,048 more (and a 256-element buffer).
    #[test]
    fn deepseek_v3_matches_transformers() {
        let d = derive(&v3()).unwrap();
        assert_eq!(model(&d, "DeepseekV3ForCausalLM"), 671_026_404_352);
        assert_eq!(d.active.unwrap().value, 37_552_282_624);
        let mtp = d
            .additions
            .iter()
            .find(|a| a.step == Step::ExtraLayers)
            .unwrap();
        assert_eq!(mtp.line.value, 13_463_426_048);
    }

    /// The registry test's random configs always give `q_lora_rank` a number: the plain
    /// `q_proj` path (and attention biases with it) is held to the table here.
    #[test]
    fn without_query_compression_the_closed_form_equals_the_table() {
        for (bias, f, m) in [(0, 3, 1), (1, 3, 1), (1, 70, 2), (0, 0, 0)] {
            let mut dims = v3();
            for (s, x) in [
                ("qlora", 0),
                ("Q", 0),
                ("bias", bias),
                ("F", f),
                ("M", m),
                ("L", 5),
                ("E", 4),
                ("k", 2),
            ] {
                dims.set(s, x);
            }
            let c = FAMILY.compiled();
            let d = derive(&dims).unwrap();
            let sum = |keep: &dyn Fn(&crate::family::Row) -> bool| -> i128 {
                c.expand(&dims, &[mixtral::LM_HEAD])
                    .unwrap()
                    .iter()
                    .filter(|e| {
                        let row = c.rows[e.row].row;
                        matches!(row.kind, RowKind::Param | RowKind::Tied { .. })
                            && !e.tied
                            && keep(row)
                    })
                    .map(|e| i128::from(e.elements))
                    .sum()
            };
            assert_eq!(sum(&|r| r.step.is_none()), i128::from(d.weights_only));
            let addition = |step| {
                d.additions
                    .iter()
                    .filter(|a| a.step == step)
                    .map(|a| a.line.value)
                    .sum::<i128>()
            };
            assert_eq!(sum(&|r| r.step == Some(Biases)), addition(Biases));
            assert_eq!(sum(&|r| r.step == Some(ExtraLayers)), addition(ExtraLayers));
            assert_eq!(
                sum(&|r| r.step != Some(ExtraLayers)),
                model(&d, "DeepseekV3ForCausalLM")
            );
            assert!(c
                .expand(&dims, &[])
                .unwrap()
                .iter()
                .all(|e| !e.key.contains("q_a_proj")));
        }
    }
}
