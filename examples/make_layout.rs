//! Write the full-size bert-base-uncased (or bert-large-uncased) layout as a sparse file
//! with its config.json, for benchmarks: `cargo run --release --example make_layout -- DIR [large]`.
//! The layout code is the tests' own (tests/audit/common/layout.rs), independent of the library.
#![allow(clippy::unwrap_used)]

#[path = "../tests/audit/common/layout.rs"]
mod layout;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: make_layout DIR [base|large]");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let size = match args.next().as_deref() {
        Some("large") => layout::write_model_dir(
            &dir,
            &layout::bert_pretraining(layout::BERT_LARGE),
            &layout::bert_large_config(),
        ),
        _ => layout::write_model_dir(
            &dir,
            &layout::bert_pretraining(layout::BERT_BASE),
            layout::BERT_BASE_CONFIG,
        ),
    };
    eprintln!("{}: model.safetensors {size} bytes (sparse)", dir.display());
}
