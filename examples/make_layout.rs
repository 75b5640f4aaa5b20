//! Write a full-size checkpoint layout with its config.json, for benchmarks (run from the
//! repository root):
//!
//! `cargo run --release --example make_layout -- DIR [MODEL] [--shards N] [--random]`
//!
//! MODEL: `base` (bert-base-uncased, default), `large` (bert-large-uncased),
//! `deepseek-v3` (its 163-shard release with the MTP layer, 46,183 tensors),
//! `qwen3-30b-a3b` (16 shards, 18,867 tensors), `1t` (a synthetic 1-trillion-parameter
//! decoder in 1,000 shards, 2,802 tensors). Data sections are holes (sparse, cost no
//! disk) unless `--random` fills them with pseudo-random finite F32 values (xorshift,
//! fixed seed), for `verify` benchmarks (BERT layouts only: the others are BF16).
//! The layout code is the tests' own (tests/audit/common/layout.rs), independent of the
//! library.
#![allow(clippy::unwrap_used)]

#[path = "../tests/audit/common/layout.rs"]
mod layout;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let model = args.get(1).map_or("base", String::as_str);
    let random = args.iter().any(|a| a == "--random");
    let shards: Option<usize> = args
        .iter()
        .position(|a| a == "--shards")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().unwrap());
    let (tensors, config, default_shards) = model_layout(model);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), &config).unwrap();
    let files = match shards.or(default_shards) {
        None | Some(1) => {
            layout::write_sparse(&dir.join("model.safetensors"), &tensors);
            vec![dir.join("model.safetensors")]
        }
        Some(n) if model == "deepseek-v3" => {
            layout::write_sharded_named(&dir, &tensors, n, |i, n| {
                format!("model-{i:05}-of-{n:06}.safetensors")
            });
            shard_files(&dir)
        }
        Some(n) if model == "base" || model == "large" => {
            // As save_pretrained shards: by bytes (shards of about equal size).
            layout::write_sharded_by_size(&dir, &tensors, n);
            shard_files(&dir)
        }
        Some(n) => {
            layout::write_sharded(&dir, &tensors, n);
            shard_files(&dir)
        }
    };
    let mut size = 0;
    for f in &files {
        if random {
            fill_random(f);
        }
        size += std::fs::metadata(f).unwrap().len();
    }
    eprintln!(
        "{}: {model}, {} tensors in {} files, {size} bytes ({})",
        dir.display(),
        tensors.len(),
        files.len(),
        if random { "random F32 data" } else { "sparse" }
    );
}

const USAGE: &str =
    "usage: make_layout DIR [base|large|deepseek-v3|qwen3-30b-a3b|1t] [--shards N] [--random]";

/// Tensors, config.json and the shard count the real repository uses.
fn model_layout(model: &str) -> (Vec<layout::Spec>, String, Option<usize>) {
    let full_size = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string("fixtures/families/full-size.json").unwrap())
            .unwrap()
    };
    let list = |name: &str| -> serde_json::Value {
        let path = format!("fixtures/families/full-size-tensors/{name}.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    match model {
        "base" => (
            layout::bert_pretraining(layout::BERT_BASE),
            layout::BERT_BASE_CONFIG.to_string(),
            None,
        ),
        "large" => (
            layout::bert_pretraining(layout::BERT_LARGE),
            layout::bert_large_config(),
            None,
        ),
        "deepseek-v3" => {
            let mut config = full_size()["models"]["deepseek-v3"]["config"].clone();
            config["num_nextn_predict_layers"] = 1.into();
            (
                layout::deepseek_v3_release(&list("deepseek-v3")),
                config.to_string(),
                Some(163),
            )
        }
        "qwen3-30b-a3b" => {
            let tensors = layout::expand_list(&list("qwen3-30b-a3b"))
                .into_iter()
                .map(|(n, s)| (n, "BF16", s))
                .collect();
            let config = full_size()["models"]["qwen3-30b-a3b"]["config"].to_string();
            (tensors, config, Some(16))
        }
        "1t" => (layout::one_t(), layout::one_t_config(), Some(1000)),
        other => {
            eprintln!("unknown model `{other}`; {USAGE}");
            std::process::exit(2);
        }
    }
}

fn shard_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    files
}

/// Replace a sparse file's data section with pseudo-random finite F32 values (xorshift,
/// fixed seed), for `verify` benchmarks.
fn fill_random(path: &std::path::Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let mut head = [0u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::open(path).unwrap(), &mut head).unwrap();
    let start = 8 + u64::from_le_bytes(head);
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start)).unwrap();
    let mut f = std::io::BufWriter::with_capacity(1 << 20, f);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut buf = Vec::with_capacity(1 << 20);
    for _ in 0..(len - start) / 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Uniform in [-0.1, 0.1): a finite, weight-like value.
        let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2;
        buf.extend_from_slice(&v.to_le_bytes());
        if buf.len() >= 1 << 20 {
            f.write_all(&buf).unwrap();
            buf.clear();
        }
    }
    f.write_all(&buf).unwrap();
    f.flush().unwrap();
}
