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
pub fn write_sharded_named(
    dir: &Path,
    tensors: &[Spec],
    shards: usize,
    name: impl Fn(usize, usize) -> String,
) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    let mut sorted: Vec<&Spec> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let per = sorted.len().div_ceil(shards).max(1);
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    let mut bytes = 0u64;
    for (i, chunk) in sorted.chunks(per).enumerate() {
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
