//! Real checkpoint layouts written from scratch, independent of the paramaudit library:
//! the exact tensor list of bert-base-uncased (docs/reference.md §3) and friends, and a
//! safetensors writer that produces the header the way the reference writer does
//! (`__metadata__` first, tensors in sorted name order with contiguous offsets from 0,
//! compact JSON padded with spaces to a multiple of 8) followed by a sparse data section.
//! Shared by the tests and the benchmark (`examples/make_layout.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

/// A tensor to write: name, dtype, shape.
pub type Spec = (String, &'static str, Vec<u64>);

/// BERT dimensions.
#[derive(Clone, Copy, Debug)]
pub struct Bert {
    pub vocab: u64,
    pub hidden: u64,
    pub layers: u64,
    pub intermediate: u64,
    pub positions: u64,
    pub token_types: u64,
}

pub const BERT_BASE: Bert = Bert {
    vocab: 30522,
    hidden: 768,
    layers: 12,
    intermediate: 3072,
    positions: 512,
    token_types: 2,
};
pub const BERT_LARGE: Bert = Bert {
    vocab: 30522,
    hidden: 1024,
    layers: 24,
    intermediate: 4096,
    positions: 512,
    token_types: 2,
};

/// The tensors of the real bert-base-uncased `model.safetensors` (docs/reference.md §3):
/// `bert.` prefix, TF-era `LayerNorm.gamma`/`beta`, pooler and the pre-training heads,
/// no `cls.predictions.decoder.weight` (tied), no `position_ids`.
pub fn bert_pretraining(c: Bert) -> Vec<Spec> {
    let (v, h, i) = (c.vocab, c.hidden, c.intermediate);
    let mut t: Vec<Spec> = Vec::new();
    let mut add = |name: String, shape: Vec<u64>| t.push((name, "F32", shape));
    add("bert.embeddings.word_embeddings.weight".into(), vec![v, h]);
    add(
        "bert.embeddings.position_embeddings.weight".into(),
        vec![c.positions, h],
    );
    add(
        "bert.embeddings.token_type_embeddings.weight".into(),
        vec![c.token_types, h],
    );
    add("bert.embeddings.LayerNorm.gamma".into(), vec![h]);
    add("bert.embeddings.LayerNorm.beta".into(), vec![h]);
    for l in 0..c.layers {
        let p = format!("bert.encoder.layer.{l}");
        for proj in ["query", "key", "value"] {
            add(format!("{p}.attention.self.{proj}.weight"), vec![h, h]);
            add(format!("{p}.attention.self.{proj}.bias"), vec![h]);
        }
        add(format!("{p}.attention.output.dense.weight"), vec![h, h]);
        add(format!("{p}.attention.output.dense.bias"), vec![h]);
        add(format!("{p}.attention.output.LayerNorm.gamma"), vec![h]);
        add(format!("{p}.attention.output.LayerNorm.beta"), vec![h]);
        add(format!("{p}.intermediate.dense.weight"), vec![i, h]);
        add(format!("{p}.intermediate.dense.bias"), vec![i]);
        add(format!("{p}.output.dense.weight"), vec![h, i]);
        add(format!("{p}.output.dense.bias"), vec![h]);
        add(format!("{p}.output.LayerNorm.gamma"), vec![h]);
        add(format!("{p}.output.LayerNorm.beta"), vec![h]);
    }
    add("bert.pooler.dense.weight".into(), vec![h, h]);
    add("bert.pooler.dense.bias".into(), vec![h]);
    add("cls.predictions.bias".into(), vec![v]);
    add("cls.predictions.transform.dense.weight".into(), vec![h, h]);
    add("cls.predictions.transform.dense.bias".into(), vec![h]);
    add("cls.predictions.transform.LayerNorm.gamma".into(), vec![h]);
    add("cls.predictions.transform.LayerNorm.beta".into(), vec![h]);
    add("cls.seq_relationship.weight".into(), vec![2, h]);
    add("cls.seq_relationship.bias".into(), vec![2]);
    t
}

/// The config.json of bert-base-uncased, verbatim from docs/reference.md §3.
pub const BERT_BASE_CONFIG: &str = r#"{
  "architectures": ["BertForMaskedLM"],
  "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false,
  "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
  "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 12,
  "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
  "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": true,
  "vocab_size": 30522
}
"#;

/// bert-large-uncased's config (same fields, large dimensions).
pub fn bert_large_config() -> String {
    BERT_BASE_CONFIG
        .replace("\"hidden_size\": 768", "\"hidden_size\": 1024")
        .replace("\"intermediate_size\": 3072", "\"intermediate_size\": 4096")
        .replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 16")
        .replace("\"num_hidden_layers\": 12", "\"num_hidden_layers\": 24")
}

pub fn bits(dtype: &str) -> u64 {
    match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ"
        | "F8_E8M0" => 8,
        "F16" | "BF16" | "I16" | "U16" => 16,
        "F32" | "I32" | "U32" => 32,
        "F64" | "I64" | "U64" => 64,
        other => panic!("test layout: add dtype {other}"),
    }
}

#[derive(Serialize)]
struct Info<'a> {
    dtype: &'a str,
    shape: &'a [u64],
    data_offsets: [u64; 2],
}

/// The 8-byte length and padded JSON header for `tensors`; returns (prefix, data length).
pub fn header(tensors: &[Spec]) -> (Vec<u8>, u64) {
    let mut sorted: Vec<&Spec> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut json = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut json);
    let mut map = ser.serialize_map(None).unwrap();
    let meta: BTreeMap<&str, &str> = [("format", "pt")].into();
    map.serialize_entry("__metadata__", &meta).unwrap();
    let mut offset = 0;
    for (name, dtype, shape) in sorted {
        let n = shape.iter().product::<u64>() * bits(dtype) / 8;
        map.serialize_entry(
            name,
            &Info {
                dtype,
                shape,
                data_offsets: [offset, offset + n],
            },
        )
        .unwrap();
        offset += n;
    }
    map.end().unwrap();
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    (out, offset)
}

/// Write a safetensors file whose data section is a hole (costs no disk). Returns its size.
pub fn write_sparse(path: &Path, tensors: &[Spec]) -> u64 {
    let (prefix, data) = header(tensors);
    let mut f = File::create(path).unwrap();
    f.write_all(&prefix).unwrap();
    let len = prefix.len() as u64 + data;
    f.set_len(len).unwrap();
    len
}

/// Write a safetensors file with real (patterned) data bytes.
pub fn write_dense(path: &Path, tensors: &[Spec]) -> u64 {
    let (mut bytes, data) = header(tensors);
    bytes.extend((0..data).map(|i| (i % 251) as u8));
    std::fs::write(path, &bytes).unwrap();
    bytes.len() as u64
}

/// A model directory with `model.safetensors` (sparse) and `config.json`.
pub fn write_model_dir(dir: &Path, tensors: &[Spec], config: &str) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    write_sparse(&dir.join("model.safetensors"), tensors)
}

/// sha256 of a file, hex, with the sha2 crate (the tests' own, not the library's).
pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut File::open(path).unwrap(), &mut h).unwrap();
    format!("{:x}", h.finalize())
}

/// A sharded checkpoint as transformers writes one: `model-0000i-of-0000n.safetensors`
/// (tensors split in name order, each shard sparse) and `model.safetensors.index.json`
/// with `metadata.total_size` and the `weight_map`. Returns the total bytes on disk.
pub fn write_sharded(dir: &Path, tensors: &[Spec], shards: usize) -> u64 {
    let width = 5.max(shards.to_string().len());
    write_sharded_named(dir, tensors, shards, |i, n| {
        format!("model-{i:0width$}-of-{n:0width$}.safetensors")
    })
}

/// [`write_sharded`] with the shard file names of `name(i, shards)` (i from 1): some
/// repositories' own spellings, such as DeepSeek-V3's `model-00001-of-000163`.
/// A sharded checkpoint split the way transformers' `save_pretrained` splits one: tensors
/// in name order, a new shard when the next tensor would take the current one past
/// `total / shards` bytes; returns the shard count.
pub fn write_sharded_by_size(dir: &Path, tensors: &[Spec], shards: usize) -> usize {
    let mut sorted: Vec<&Spec> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let bytes = |t: &Spec| t.2.iter().product::<u64>() * bits(t.1) / 8;
    let total: u64 = sorted.iter().map(|t| bytes(t)).sum();
    // The smallest limit (in steps of 1%) that gives at most `shards` shards.
    let split = |limit: u64| {
        let mut groups: Vec<Vec<&Spec>> = vec![Vec::new()];
        let mut size = 0;
        for &t in &sorted {
            let b = bytes(t);
            if size > 0 && size + b > limit {
                groups.push(Vec::new());
                size = 0;
            }
            size += b;
            groups.last_mut().unwrap().push(t);
        }
        groups
    };
    let mut limit = total.div_ceil(shards.max(1) as u64);
    let mut groups = split(limit);
    while groups.len() > shards.max(1) {
        limit += limit / 100 + 1;
        groups = split(limit);
    }
    let n = groups.len();
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0;
    std::fs::create_dir_all(dir).unwrap();
    for (i, group) in groups.iter().enumerate() {
        let name = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        let specs: Vec<Spec> = group.iter().map(|s| (*s).clone()).collect();
        total_size += header(&specs).1;
        write_sparse(&dir.join(&name), &specs);
        for s in group {
            weight_map.insert(s.0.clone(), name.clone());
        }
    }
    let index = serde_json::json!({
        "metadata": {"total_size": total_size},
        "weight_map": weight_map,
    });
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string_pretty(&index).unwrap(),
    )
    .unwrap();
    n
}

pub fn write_sharded_named(
    dir: &Path,
    tensors: &[Spec],
    shards: usize,
    name: impl Fn(usize, usize) -> String,
) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let mut sorted: Vec<&Spec> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    let mut bytes = 0u64;
    // Exactly `shards` files, sizes differing by at most one tensor.
    let n = sorted.len();
    let bounds = |i: usize| i * n / shards.max(1);
    for i in 0..shards.min(n) {
        let chunk = &sorted[bounds(i)..bounds(i + 1)];
        let name = name(i + 1, shards);
        let specs: Vec<Spec> = chunk.iter().map(|s| (*s).clone()).collect();
        total_size += header(&specs).1;
        bytes += write_sparse(&dir.join(&name), &specs);
        for s in chunk {
            weight_map.insert(s.0.clone(), name.clone());
        }
    }
    let index = serde_json::json!({
        "metadata": {"total_size": total_size},
        "weight_map": weight_map,
    });
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_string_pretty(&index).unwrap(),
    )
    .unwrap();
    bytes
}

/// DeepSeek-V3's multi-token-prediction layer: one past its 61 decoder layers.
pub const DEEPSEEK_V3_MTP: u64 = 61;

/// `[[first, last], ...]` ranges of a pattern, or `[None]` when it has none.
pub fn spans(v: &Value) -> Vec<Option<u64>> {
    match v.as_array() {
        None => vec![None],
        Some(spans) => spans
            .iter()
            .flat_map(|s| s[0].as_u64().unwrap()..=s[1].as_u64().unwrap())
            .map(Some)
            .collect(),
    }
}

/// DeepSeek-V3's release: transformers' tensor list for the published config
/// (fixtures/families/full-size-tensors/deepseek-v3.json, given as `list`), every sparse
/// decoder-layer pattern again for layer 61, and the MTP module's own tensors. BF16
/// parameters, the routers' `e_score_correction_bias` in F32.
pub fn deepseek_v3_release(list: &Value) -> Vec<Spec> {
    const V: u64 = 129_280;
    const H: u64 = 7168;
    const MTP: u64 = DEEPSEEK_V3_MTP;
    let mut out: Vec<Spec> = Vec::new();
    let mut push = |name: String, shape: Vec<u64>| {
        let dtype = if name.ends_with("e_score_correction_bias") {
            "F32"
        } else {
            "BF16"
        };
        out.push((name, dtype, shape));
    };
    for p in list["patterns"].as_array().unwrap() {
        let pattern = p["pattern"].as_str().unwrap();
        let shape: Vec<u64> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let mut layers = spans(&p["layers"]);
        // A pattern of the last (sparse) decoder layer is one of the MTP layer's too.
        if layers.contains(&Some(MTP - 1)) {
            layers.push(Some(MTP));
        }
        for layer in &layers {
            for expert in spans(&p["experts"]) {
                let mut name = pattern.to_string();
                if let Some(l) = layer {
                    name = name.replace("{layer}", &l.to_string());
                }
                if let Some(e) = expert {
                    name = name.replace("{expert}", &e.to_string());
                }
                push(name, shape.clone());
            }
        }
    }
    for (leaf, shape) in [
        ("embed_tokens.weight", vec![V, H]),
        ("enorm.weight", vec![H]),
        ("hnorm.weight", vec![H]),
        ("eh_proj.weight", vec![H, 2 * H]),
        ("shared_head.norm.weight", vec![H]),
        ("shared_head.head.weight", vec![V, H]),
    ] {
        push(format!("model.layers.{MTP}.{leaf}"), shape);
    }
    out
}

/// The tensors of a full-size tensor list (fixtures/families/full-size-tensors/*.json):
/// a `[name, shape]` list, or naming patterns with layer and expert ranges (each
/// pattern's `count` checked).
pub fn expand_list(v: &Value) -> Vec<(String, Vec<u64>)> {
    let shape = |s: &Value| -> Vec<u64> {
        s.as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect()
    };
    if let Some(list) = v["tensors"].as_array() {
        return list
            .iter()
            .map(|t| (t[0].as_str().unwrap().to_string(), shape(&t[1])))
            .collect();
    }
    let mut out = Vec::new();
    for p in v["patterns"].as_array().unwrap() {
        let pattern = p["pattern"].as_str().unwrap();
        for layer in spans(&p["layers"]) {
            for expert in spans(&p["experts"]) {
                let mut n = pattern.to_string();
                if let Some(l) = layer {
                    n = n.replace("{layer}", &l.to_string());
                }
                if let Some(e) = expert {
                    n = n.replace("{expert}", &e.to_string());
                }
                out.push((n, shape(&p["shape"])));
            }
        }
        let want = p["count"].as_u64().unwrap() as usize;
        let got = out.iter().filter(|(n, _)| matches(pattern, n)).count();
        assert_eq!(got, want, "{pattern}");
    }
    out
}

/// Whether `name` is an instance of `pattern` (`{layer}`, `{expert}` any number).
fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let n: Vec<&str> = name.split('.').collect();
    p.len() == n.len()
        && p.iter()
            .zip(&n)
            .all(|(a, b)| a == b || (a.starts_with('{') && b.bytes().all(|c| c.is_ascii_digit())))
}

/// Dimensions of the synthetic 1-trillion-parameter dense decoder (Llama architecture,
/// BF16): 311 layers of H 12,288, 96 heads, I 70,656, vocabulary 128,256, untied.
pub const ONE_T: (u64, u64, u64, u64, u64) = (311, 12_288, 96, 70_656, 128_256);

/// The synthetic 1T model's config.json.
pub fn one_t_config() -> String {
    let (l, h, a, i, v) = ONE_T;
    serde_json::json!({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "hidden_size": h, "num_attention_heads": a, "num_key_value_heads": a,
        "num_hidden_layers": l, "intermediate_size": i, "vocab_size": v,
        "tie_word_embeddings": false,
    })
    .to_string()
}

/// The synthetic 1T model's tensors: 9 per layer, embeddings, final norm and LM head
/// (311 · 9 + 3 = 2,802 tensors).
pub fn one_t() -> Vec<Spec> {
    let (l, h, _, i, v) = ONE_T;
    let mut out: Vec<Spec> = vec![
        ("model.embed_tokens.weight".into(), "BF16", vec![v, h]),
        ("model.norm.weight".into(), "BF16", vec![h]),
        ("lm_head.weight".into(), "BF16", vec![v, h]),
    ];
    for n in 0..l {
        let p = format!("model.layers.{n}");
        for (leaf, shape) in [
            ("self_attn.q_proj.weight", vec![h, h]),
            ("self_attn.k_proj.weight", vec![h, h]),
            ("self_attn.v_proj.weight", vec![h, h]),
            ("self_attn.o_proj.weight", vec![h, h]),
            ("mlp.gate_proj.weight", vec![i, h]),
            ("mlp.up_proj.weight", vec![i, h]),
            ("mlp.down_proj.weight", vec![h, i]),
            ("input_layernorm.weight", vec![h]),
            ("post_attention_layernorm.weight", vec![h]),
        ] {
            out.push((format!("{p}.{leaf}"), "BF16", shape));
        }
    }
    out
}
