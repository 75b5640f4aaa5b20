//! ViT (`model_type: vit`): transformers' `modeling_vit`, `ViTConfig` defaults
//! (configuration_vit.py: ViT-B/16 at 224 px, H 768, 12 layers and heads, I 3072, 3
//! channels, qkv biases). The image is cut into `patch_size` patches by a convolution
//! (`patch_embeddings.projection`), a [CLS] token is prepended and a learned position table
//! (one row per patch, plus one) added (Dosovitskiy et al. 2020, §3.1, eq. 1).
//!
//! transformers 5 renames the layers in memory (`layers.N.attention.q_proj`, `mlp.fc1`) but
//! `save_pretrained` writes the original layout (`encoder.layer.N.attention.attention.query`,
//! `intermediate.dense`, ...), which the table follows. The names look like BERT's; the
//! family is chosen by `model_type`, and without a config by explaining more tensors than
//! BERT (which knows none of the embeddings, `attention.attention.*` or the LayerNorms).
//!
//! The hand derivation is the classic count: patch projection weights, [CLS] token,
//! position table, per layer the attention and MLP matrices and both LayerNorms, and the
//! final LayerNorm; no linear bias, no pooler, no head.

use super::Bucket::{Attention, Embedding, Ffn, Head, Norm, Pooler};
use super::Step::{Biases, Heads, Pooler as PoolerStep};
use super::{
    add, count, flag, line, range, row, Claim, Derivation, Dims, Family, Row, Step, MAX_COUNT,
    MAX_LAYERS, MAX_WIDTH, POOLER,
};

/// The part of `ViTForMaskedImageModeling`: the mask token and the 1x1-convolution decoder.
const MASKED_IMAGE: &str = "masked_image_modeling";

/// The ViT family.
pub static FAMILY: Family = Family {
    name: "vit",
    title: "ViT",
    model_types: &["vit"],
    covers: "ViTModel (with or without pooler), image classification and masked image modeling",
    norm: super::Norm::LayerNorm,
    dims: &[
        count("L", &["num_hidden_layers"], 12, MAX_LAYERS),
        count("H", &["hidden_size"], 768, MAX_WIDTH),
        count("I", &["intermediate_size"], 3072, MAX_WIDTH),
        count("A", &["num_attention_heads"], 12, MAX_WIDTH).show("heads"),
        count("D", &["head_dim"], 0, MAX_WIDTH)
            .derived(head_dim)
            .show(""),
        // A · D, derived (no config key); the query's shape reveals it without a config.
        count("all_head_size", &[], 0, MAX_WIDTH)
            .derived(all_head_size)
            .show("")
            .auxiliary(),
        count("C", &["num_channels"], 3, MAX_WIDTH).show("channels"),
        count("Sh", &["image_size"], 224, MAX_COUNT)
            .parse_with(first)
            .show("image"),
        count("Sw", &["image_size"], 224, MAX_COUNT)
            .parse_with(second)
            .show(""),
        count("ph", &["patch_size"], 16, MAX_WIDTH)
            .parse_with(first)
            .show("patch"),
        count("pw", &["patch_size"], 16, MAX_WIDTH)
            .parse_with(second)
            .show(""),
        count("Po", &["pooler_output_size"], 0, MAX_WIDTH)
            .default_expr("H")
            .show(""),
        count("Es", &["encoder_stride"], 16, MAX_WIDTH)
            .show("")
            .auxiliary(),
        count("N", &["num_labels", "id2label"], 2, MAX_COUNT)
            .zero_ok()
            .show("labels")
            .auxiliary(),
        flag("qkv", &["qkv_bias"], true, "", "no-qkv-bias"),
        // Derived (no config key): patches plus [CLS]; the position table reveals it when
        // there is no config.
        count("positions", &[], 0, MAX_COUNT)
            .derived(positions)
            .show("positions")
            .auxiliary(),
    ],
    ranges: &[range("layer", "L")],
    tensors: &[EMBEDDINGS, ENCODER, POOLER_ROWS, HEADS],
    ladder: &[
        (
            Step::Biases,
            "linear biases (patch projection, attention, MLP)",
        ),
        (Step::Pooler, "pooler"),
        (Step::Heads, "heads"),
    ],
    claims: &[
        Claim {
            architecture: "ViTModel",
            parts: &[POOLER],
        },
        Claim {
            architecture: "ViTForImageClassification",
            parts: &["classifier"],
        },
        Claim {
            architecture: "ViTForMaskedImageModeling",
            parts: &[MASKED_IMAGE],
        },
    ],
    validate,
    derive,
    moe: None,
    compiled: std::sync::OnceLock::new(),
};

/// modeling_vit.py `ViTEmbeddings`, `ViTPatchEmbeddings`: bare parameters (no
/// `nn.Embedding`) and a `Conv2d` of kernel and stride `patch_size`.
#[rustfmt::skip]
const EMBEDDINGS: &[Row] = &[
    row("embeddings.cls_token",                             "1, 1, H",          Embedding),
    row("embeddings.position_embeddings",                   "1, positions, H",  Embedding),
    row("embeddings.patch_embeddings.projection.weight",    "H, C, ph, pw",     Embedding),
    row("embeddings.patch_embeddings.projection.bias",      "H",                Embedding).step(Biases),
    row("embeddings.mask_token",                            "1, 1, H",          Embedding).step(Heads).part(MASKED_IMAGE),
];

/// modeling_vit.py `ViTLayer` (pre-norm: `layernorm_before`, `layernorm_after`) as saved;
/// query/key/value are A · D wide (`head_dim`, default H // A), their biases follow
/// `qkv_bias`; the output projection always has one. Then the final `layernorm`.
#[rustfmt::skip]
const ENCODER: &[Row] = &[
    row("layer.{layer}.attention.attention.query.weight",   "all_head_size, H", Attention),
    row("layer.{layer}.attention.attention.query.bias",     "all_head_size",    Attention).step(Biases).when("qkv"),
    row("layer.{layer}.attention.attention.key.weight",     "all_head_size, H", Attention),
    row("layer.{layer}.attention.attention.key.bias",       "all_head_size",    Attention).step(Biases).when("qkv"),
    row("layer.{layer}.attention.attention.value.weight",   "all_head_size, H", Attention),
    row("layer.{layer}.attention.attention.value.bias",     "all_head_size",    Attention).step(Biases).when("qkv"),
    row("layer.{layer}.attention.output.dense.weight",      "H, all_head_size", Attention),
    row("layer.{layer}.attention.output.dense.bias",        "H",                Attention).step(Biases),
    row("layer.{layer}.intermediate.dense.weight",          "I, H",             Ffn),
    row("layer.{layer}.intermediate.dense.bias",            "I",                Ffn).step(Biases),
    row("layer.{layer}.output.dense.weight",                "H, I",             Ffn),
    row("layer.{layer}.output.dense.bias",                  "H",                Ffn).step(Biases),
    row("layer.{layer}.layernorm_before.weight",            "H",                Norm),
    row("layer.{layer}.layernorm_before.bias",              "H",                Norm),
    row("layer.{layer}.layernorm_after.weight",             "H",                Norm),
    row("layer.{layer}.layernorm_after.bias",               "H",                Norm),
    row("layernorm.weight",                                 "H",                Norm),
    row("layernorm.bias",                                   "H",                Norm),
];

/// `ViTPooler`: H -> `pooler_output_size` (default H), in `ViTModel` only.
#[rustfmt::skip]
const POOLER_ROWS: &[Row] = &[
    row("pooler.dense.weight",                              "Po, H",            Pooler).step(PoolerStep).part(POOLER),
    row("pooler.dense.bias",                                "Po",               Pooler).step(PoolerStep).part(POOLER),
];

/// `ViTForImageClassification.classifier` (an `nn.Identity` when `num_labels` is 0) and
/// `ViTForMaskedImageModeling.decoder`: a 1x1 `Conv2d` to `encoder_stride`² · C channels
/// before a pixel shuffle.
#[rustfmt::skip]
const HEADS: &[Row] = &[
    row("classifier.weight",                                "N, H",             Head).step(Heads).part("classifier").when_test(labelled),
    row("classifier.bias",                                  "N",                Head).step(Heads).part("classifier").when_test(labelled),
    row("decoder.0.weight",                                 "Es*Es*C, H, 1, 1", Head).step(Heads).part(MASKED_IMAGE),
    row("decoder.0.bias",                                   "Es*Es*C",          Head).step(Heads).part(MASKED_IMAGE),
];

/// The first of `[height, width]` (`image_size`, `patch_size` may be either an int or a
/// pair, modeling_vit.py `ViTPatchEmbeddings`).
fn first(v: &serde_json::Value) -> Option<u64> {
    v.as_array()?.first()?.as_u64()
}

fn second(v: &serde_json::Value) -> Option<u64> {
    v.as_array()?.get(1)?.as_u64()
}

/// `ViTAttention.head_dim`: `getattr(config, "head_dim", hidden_size // num_attention_heads)`,
/// floor division with no divisibility check.
fn head_dim(d: &Dims) -> Option<u64> {
    d.get("H")?.checked_div(d.get("A")?)
}

/// `ViTPatchEmbeddings.num_patches` = (width // patch width) · (height // patch height),
/// floor division; the position table has one more row for [CLS].
fn positions(d: &Dims) -> Option<u64> {
    let rows = d.get("Sh")?.checked_div(d.get("ph")?)?;
    let columns = d.get("Sw")?.checked_div(d.get("pw")?)?;
    rows.checked_mul(columns)?.checked_add(1)
}

/// `num_attention_heads · head_dim`, the width of query, key and value.
fn all_head_size(d: &Dims) -> Option<u64> {
    d.get("A")?.checked_mul(d.get("D")?)
}

fn labelled(d: &Dims) -> bool {
    d.v("N") > 0
}

/// transformers builds any ViT whose head dimension is at least 1 (`head_dim ** -0.5`
/// fails on 0, which the dimension's minimum already refuses); nothing else to check.
fn validate(_: &Dims) -> Result<(), String> {
    Ok(())
}

/// The closed form, step by step with its arithmetic; `None` when a count exceeds 64 bits.
pub fn derive(d: &Dims) -> Option<Derivation> {
    let (h, l, i, c) = (d.v("H"), d.v("L"), d.v("I"), d.v("C"));
    let (ph, pw, q, po, es, n) = (
        d.v("ph"),
        d.v("pw"),
        d.v("positions"),
        d.v("Po"),
        d.v("Es"),
        d.v("N"),
    );
    let mul = |a: u64, b: u64| a.checked_mul(b);
    let inner = d.v("all_head_size");
    let patch = mul(mul(h, c)?, mul(ph, pw)?)?;
    let cls = h;
    let position = mul(q, h)?;
    let attention = mul(4, mul(inner, h)?)?;
    let mlp = mul(2, mul(h, i)?)?;
    let layer_ln = mul(4, h)?;
    let per_layer = attention.checked_add(mlp)?.checked_add(layer_ln)?;
    let final_ln = mul(2, h)?;
    let weights_only = patch
        .checked_add(cls)?
        .checked_add(position)?
        .checked_add(mul(l, per_layer)?)?
        .checked_add(final_ln)?;
    let qkv = if d.flag("qkv") { mul(3, inner)? } else { 0 };
    let layer_biases = qkv.checked_add(mul(2, h)?)?.checked_add(i)?;
    let biases = h.checked_add(mul(l, layer_biases)?)?;
    let pooler = mul(po, h)?.checked_add(po)?;
    let classifier = mul(n, h)?.checked_add(n)?;
    let decoder_out = mul(mul(es, es)?, c)?;
    let masked_image = h
        .checked_add(mul(decoder_out, h)?)?
        .checked_add(decoder_out)?;
    let steps = vec![
        line(
            "patch projection (convolution weights)",
            "H · C · p_h · p_w",
            format!("{h} · {c} · {ph} · {pw}"),
            patch,
        ),
        line("[CLS] token", "H", format!("{h}"), cls),
        line(
            "position table (patches + [CLS])",
            "(⌊S_h / p_h⌋ · ⌊S_w / p_w⌋ + 1) · H",
            format!("{q} · {h}"),
            position,
        ),
        line(
            "attention, per layer",
            "Q, K, V: 3 · (A·D) · H ; output: H · (A·D)",
            format!("4 · {inner} · {h}"),
            attention,
        ),
        line(
            "MLP, per layer",
            "W1 H×I + W2 I×H",
            format!("2 · {h} · {i}"),
            mlp,
        ),
        line(
            "LayerNorm, per layer",
            "2 · (2 · H)",
            format!("2 · (2 · {h})"),
            layer_ln,
        ),
        line(
            "final LayerNorm",
            "2 · H",
            format!("2 · {h}"),
            final_ln,
        ),
        line(
            "total, weights only",
            "patch + CLS + positions + L · (attention + MLP + LN) + final LN",
            format!(
                "{patch} + {cls} + {position} + {l} · ({attention} + {mlp} + {layer_ln}) + {final_ln}"
            ),
            weights_only,
        ),
    ];
    let additions = vec![
        add(
            Step::Biases,
            None,
            line(
                "linear biases (patch projection; per layer Q, K, V if qkv_bias, output, MLP)",
                "H + L · (3 · A·D if qkv_bias + H + I + H)",
                format!("{h} + {l} · ({qkv} + {h} + {i} + {h})"),
                biases,
            ),
        ),
        add(
            Step::Pooler,
            Some(POOLER),
            line(
                "pooler",
                "Po · H + Po",
                format!("{po} · {h} + {po}"),
                pooler,
            ),
        ),
        add(
            Step::Heads,
            Some("classifier"),
            line(
                "classifier head",
                "N · H + N",
                format!("{n} · {h} + {n}"),
                classifier,
            ),
        ),
        add(
            Step::Heads,
            Some(MASKED_IMAGE),
            line(
                "masked image modeling (mask token, 1x1 convolution decoder)",
                "H + (stride² · C) · H + stride² · C",
                format!("{h} + {decoder_out} · {h} + {decoder_out}"),
                masked_image,
            ),
        ),
    ];
    let no_pooler = weights_only.checked_add(biases)?;
    let with_pooler = no_pooler.checked_add(pooler)?;
    let models = vec![
        line(
            "ViTModel, no pooler",
            "weights only + linear biases",
            format!("{weights_only} + {biases}"),
            no_pooler,
        ),
        line(
            "ViTModel",
            "+ pooler",
            format!("{no_pooler} + {pooler}"),
            with_pooler,
        ),
        line(
            "ViTForImageClassification",
            "no pooler + classifier",
            format!("{no_pooler} + {classifier}"),
            no_pooler.checked_add(classifier)?,
        ),
        line(
            "ViTForMaskedImageModeling",
            "no pooler + mask token + decoder",
            format!("{no_pooler} + {masked_image}"),
            no_pooler.checked_add(masked_image)?,
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

    /// transformers 5.24 `num_parameters()` on the meta device.
    #[test]
    fn closed_form_matches_transformers_for_published_configs() {
        let base = dims(r#"{"model_type": "vit", "hidden_size": 768}"#);
        assert_eq!(model(&base, "ViTModel"), 86_389_248);
        assert_eq!(base.get("positions"), Some(197));
        // google/vit-base-patch16-384: 24 x 24 patches.
        let base_384 = dims(r#"{"model_type": "vit", "image_size": 384, "num_labels": 1000}"#);
        assert_eq!(model(&base_384, "ViTForImageClassification"), 86_859_496);
        // google/vit-large-patch32-384.
        let large_32 = dims(
            r#"{"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
            "num_hidden_layers": 24, "image_size": 384, "patch_size": 32, "num_labels": 1000}"#,
        );
        assert_eq!(model(&large_32, "ViTForImageClassification"), 306_632_680);
    }

    /// Floor division where transformers floors: a non-square image whose sides are not
    /// multiples of the patch, heads that do not divide the width.
    #[test]
    fn patches_and_head_dim_floor_as_transformers() {
        let d = dims(
            r#"{"hidden_size": 20, "num_attention_heads": 3, "image_size": [33, 41],
            "patch_size": [8, 5]}"#,
        );
        assert_eq!(d.get("D"), Some(6));
        assert_eq!(d.get("positions"), Some(4 * 8 + 1));
        assert_eq!((d.get("ph"), d.get("pw")), (Some(8), Some(5)));
    }

    /// Without a config, ViT's names must select ViT over BERT, whose table knows the
    /// `output.dense`, `intermediate.dense`, pooler and classifier names too.
    #[test]
    fn a_vit_checkpoint_is_explained_better_by_vit_than_by_bert() {
        let d = dims(r#"{"hidden_size": 768}"#);
        let names: Vec<String> = FAMILY
            .compiled()
            .expand(&d, &[POOLER])
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names.len(), 200, "vit-base-patch16-224 stores 200 tensors");
        let vit = crate::classify::recognised(&FAMILY, &names);
        let bert = crate::classify::recognised(&super::super::bert::FAMILY, &names);
        assert_eq!(vit, 200);
        assert!(bert < vit, "BERT recognises {bert} of 200");
    }
}
