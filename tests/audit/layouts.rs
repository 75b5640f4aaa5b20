//! Full-size layouts of bert-base-uncased and bert-large-uncased, as sparse files.
//! Every figure asserted here comes from docs/reference.md §2-3, not from paramaudit.

use crate::common::layout::{self, BERT_BASE, BERT_BASE_CONFIG, BERT_LARGE};
use crate::common::{inspect_json, run, Bucket, Differences};

fn bucket(parameters: u64, weights: u64, biases: u64, tensors: u64) -> (u64, u64, u64, u64) {
    (parameters, weights, biases, tensors)
}

fn summary(b: &Bucket) -> (u64, u64, u64, u64) {
    (b.parameters, b.weights, b.biases, b.tensors)
}

#[test]
fn bert_base_layout_is_byte_exact_and_reconciles_to_reference_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bert-base-uncased");
    let tensors = layout::bert_pretraining(BERT_BASE);
    assert_eq!(tensors.len(), 206, "docs/reference.md §3: 206 tensors");
    let size = layout::write_model_dir(&dir, &tensors, BERT_BASE_CONFIG);
    assert_eq!(
        size, 440_449_768,
        "docs/reference.md §3: the real file size"
    );
    assert_eq!(
        layout::header(&tensors).0.len(),
        8 + 24_048,
        "docs/reference.md §3: 24,048-byte header"
    );

    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.schema_version, 3);
    assert_eq!(r.totals.parameters, 110_106_428);
    assert_eq!(r.totals.buffers, 0);
    assert_eq!(r.totals.tensors, 206);
    assert_eq!(r.totals.bytes, 440_425_712);
    assert_eq!(r.totals.file_bytes, 440_449_768);
    // docs/reference.md §2, per bucket.
    let b = &r.buckets;
    assert_eq!(b.embedding.parameters, 23_835_648);
    assert_eq!(
        summary(&b.attention),
        bucket(28_348_416, 28_311_552, 36_864, 96)
    );
    assert_eq!(summary(&b.ffn), bucket(56_669_184, 56_623_104, 46_080, 48));
    assert_eq!(b.norm.parameters, 38_400);
    assert_eq!(b.pooler.parameters, 590_592);
    assert_eq!(b.head.parameters, 624_188);
    assert_eq!(b.buffer.tensors + b.other.tensors, 0);
    for row in [
        &b.embedding,
        &b.attention,
        &b.ffn,
        &b.norm,
        &b.pooler,
        &b.head,
    ] {
        assert_eq!(row.difference, Some(0), "{row:?}");
    }
    let f = r.formula.as_ref().unwrap();
    assert_eq!(f.weights_only, 108_808_704);
    assert_eq!(f.expected_total, 110_106_428);
    assert_eq!(
        r.differences.unwrap(),
        Differences::bert(82_944, 590_592, 624_188, 23_440_896, 0)
    );
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // The ladder climbs from the derivation to the stored total through docs/reference.md §2's
    // intermediate figures (BertModel without, then with, pooler).
    let totals: Vec<i64> = r
        .ladder
        .iter()
        .filter(|s| s.counted)
        .map(|s| s.total)
        .collect();
    assert_eq!(
        totals,
        [
            108_808_704,
            108_891_648,
            109_482_240,
            110_106_428,
            110_106_428
        ]
    );
    // architectures says BertForMaskedLM, the file holds the pre-training heads.
    assert!(
        r.notes.iter().any(|n| n.contains("claims BertForMaskedLM")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.dtypes.len(), 1);
    assert_eq!(
        (r.dtypes[0].dtype.as_str(), r.dtypes[0].elements),
        ("F32", 110_106_428)
    );
}

#[test]
fn bert_large_layout_reconciles_to_reference_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bert-large-uncased");
    let size = layout::write_model_dir(
        &dir,
        &layout::bert_pretraining(BERT_LARGE),
        &layout::bert_large_config(),
    );
    assert_eq!(
        size, 1_344_951_960,
        "docs/reference.md §3 (reconstructed layout)"
    );
    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.totals.parameters, 336_226_108);
    assert_eq!(r.formula.as_ref().unwrap().weights_only, 333_871_104);
    assert_eq!(r.differences.unwrap().unexplained, 0);
}

#[test]
fn bert_base_without_config_infers_dimensions_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("model.safetensors");
    layout::write_sparse(&file, &layout::bert_pretraining(BERT_BASE));
    let r = inspect_json(tmp.path(), &file, &[]);
    assert_eq!(r.totals.parameters, 110_106_428);
    assert_eq!(r.formula.as_ref().unwrap().weights_only, 108_808_704);
    assert_eq!(r.formula.as_ref().unwrap().dims_source["kind"], "inferred");
    assert_eq!(r.differences.unwrap().unexplained, 0);
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("inferred from tensor shapes")));
}

#[test]
fn config_that_disagrees_with_the_file_leaves_an_itemised_unexplained_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    // The file has 12 layers; the config claims 13 and a larger vocabulary.
    let config = BERT_BASE_CONFIG
        .replace("\"num_hidden_layers\": 12", "\"num_hidden_layers\": 13")
        .replace("\"vocab_size\": 30522", "\"vocab_size\": 30523");
    layout::write_model_dir(&dir, &layout::bert_pretraining(BERT_BASE), &config);
    let r = inspect_json(tmp.path(), &dir, &[]);
    let d = r.differences.unwrap();
    // One layer: 4·768² + 2·768·3072 + 4·768 + 3072 + 768 + 4·768 = 7,087,872 missing;
    // one vocabulary row: 768 (word embeddings) + 1 (MLM output bias) fewer than expected.
    assert_eq!(d.unexplained, -(7_087_872 + 768 + 1));
    let sum: i64 = r.findings.iter().map(|f| f.parameters).sum();
    assert_eq!(sum, d.unexplained, "findings add up to unexplained");
    assert_eq!(
        r.findings.iter().filter(|f| f.kind == "missing").count(),
        16
    );
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.kind == "shape_mismatch")
            .count(),
        2
    );
}

#[test]
fn human_table_shows_the_ladder_and_every_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bert-base-uncased");
    layout::write_model_dir(&dir, &layout::bert_pretraining(BERT_BASE), BERT_BASE_CONFIG);
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
    for needle in [
        "110,106,428",
        "108,808,704",
        "+82,944",
        "+590,592",
        "+624,188",
        "(23,440,896)",
        "tied, not stored: cls.predictions.decoder.weight",
        " embedding ",
        " norm (LayerNorm) ",
        " other ",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    let md = run(
        tmp.path(),
        &[
            "inspect",
            dir.to_str().unwrap(),
            "--format",
            "markdown",
            "--tensors",
        ],
    );
    assert_eq!(md.code, 0);
    assert!(md.stdout.contains("| bucket | parameters |"));
    assert!(md.stdout.contains("|---|---:|"));
    assert!(md
        .stdout
        .contains("| `bert.embeddings.LayerNorm.gamma` | norm | weight | F32 | [768] | 768 |"));
}
