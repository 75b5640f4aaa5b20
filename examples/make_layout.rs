//! Write the full-size bert-base-uncased (or bert-large-uncased) layout with its
//! config.json, for benchmarks:
//!
//! `cargo run --release --example make_layout -- DIR [base|large] [--random]`
//!
//! The data section is a hole (sparse, costs no disk) unless `--random` fills it with
//! pseudo-random finite F32 values (xorshift, fixed seed), for `verify` benchmarks.
//! The layout code is the tests' own (tests/audit/common/layout.rs), independent of the
//! library.
#![allow(clippy::unwrap_used)]

#[path = "../tests/audit/common/layout.rs"]
mod layout;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: make_layout DIR [base|large] [--random]");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let large = args.iter().any(|a| a == "large");
    let random = args.iter().any(|a| a == "--random");
    let (tensors, config) = if large {
        (
            layout::bert_pretraining(layout::BERT_LARGE),
            layout::bert_large_config(),
        )
    } else {
        (
            layout::bert_pretraining(layout::BERT_BASE),
            layout::BERT_BASE_CONFIG.to_string(),
        )
    };
    let size = layout::write_model_dir(&dir, &tensors, &config);
    if random {
        let path = dir.join("model.safetensors");
        let (prefix, data) = layout::header(&tensors);
        let mut f =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        f.write_all(&prefix).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = Vec::with_capacity(1 << 20);
        for _ in 0..data / 4 {
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
    eprintln!(
        "{}: model.safetensors {size} bytes ({})",
        dir.display(),
        if random { "random F32 data" } else { "sparse" }
    );
}
