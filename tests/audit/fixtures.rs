//! The tiny checkpoints written by transformers (fixtures/make_tiny.py): paramaudit must
//! agree with the counts transformers itself reported, tensor for tensor.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::common::{fixture, inspect_json, run};

#[derive(Deserialize)]
struct Counts {
    fixtures: BTreeMap<String, Fixture>,
}

#[derive(Deserialize)]
struct Fixture {
    class: String,
    num_parameters: u64,
    parameters_sum: u64,
    stored_elements: u64,
    files: Vec<String>,
    tensors: BTreeMap<String, StoredTensor>,
}

#[derive(Deserialize)]
struct StoredTensor {
    file: String,
    dtype: String,
    shape: Vec<u64>,
}

fn counts() -> Counts {
    let text = std::fs::read_to_string(fixture("tiny/counts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// torch dtype names (what safe_open reports) to safetensors names.
fn st_dtype(torch: &str) -> &str {
    match torch {
        "float32" | "F32" => "F32",
        "float16" | "F16" => "F16",
        "bfloat16" | "BF16" => "BF16",
        "int64" | "I64" => "I64",
        other => other,
    }
}

#[test]
fn every_fixture_matches_transformers_and_reconciles_exactly() {
    let counts = counts();
    assert_eq!(
        counts.fixtures.len(),
        8,
        "fixture set changed: update this test"
    );
    let tmp = tempfile::tempdir().unwrap();
    for (name, fx) in &counts.fixtures {
        let r = inspect_json(tmp.path(), &fixture(&format!("tiny/{name}")), &[]);
        assert_eq!(
            fx.num_parameters, fx.parameters_sum,
            "{name}: transformers disagrees with itself"
        );
        assert_eq!(
            r.totals.parameters, fx.num_parameters,
            "{name} ({})",
            fx.class
        );
        assert_eq!(r.totals.stored_elements, fx.stored_elements, "{name}");
        let d = r
            .differences
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no formula"));
        assert_eq!(d.unexplained, 0, "{name}: {:?}", r.findings);
        assert!(r.findings.is_empty(), "{name}: {:?}", r.findings);
        assert_eq!(
            r.formula.as_ref().unwrap().expected_total,
            fx.num_parameters,
            "{name}"
        );
        // Tensor for tensor: names, dtypes, shapes and files as safetensors' own reader saw them.
        let ours: BTreeMap<&str, (&str, &[u64], &str)> = r
            .tensors
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    (t.dtype.as_str(), t.shape.as_slice(), t.file.as_str()),
                )
            })
            .collect();
        let theirs: BTreeMap<&str, (&str, &[u64], &str)> = fx
            .tensors
            .iter()
            .map(|(n, t)| {
                (
                    n.as_str(),
                    (st_dtype(&t.dtype), t.shape.as_slice(), t.file.as_str()),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{name}");
        assert_eq!(r.source.files.len(), fx.files.len(), "{name}");
        assert_eq!(
            r.source.layout,
            if fx.files.len() > 1 {
                "sharded"
            } else {
                "single"
            }
        );
    }
}

/// Hand arithmetic for the tiny config (V=97 H=24 L=2 I=40 P=40 T=3 N=5), written out so
/// the fixture counts themselves are checked, not just copied.
#[test]
fn tiny_fixture_counts_agree_with_hand_arithmetic() {
    let (v, h, l, i, p, t, n) = (97u64, 24u64, 2u64, 40u64, 40u64, 3u64, 5u64);
    let weights_only = (v + p + t) * h + 2 * h + l * (4 * h * h + 2 * h * i + 4 * h);
    let no_pooler = weights_only + l * (4 * h + i + h);
    let pooler = h * h + h;
    let mlm = h * h + h + 2 * h + v;
    let nsp = 2 * h + 2;
    let classifier = n * h + n;
    let expect = [
        ("bert-model", no_pooler + pooler),
        ("bert-model-no-pooler", no_pooler),
        ("bert-for-pretraining", no_pooler + pooler + mlm + nsp),
        (
            "bert-for-pretraining-sharded",
            no_pooler + pooler + mlm + nsp,
        ),
        ("bert-for-masked-lm", no_pooler + mlm),
        (
            "bert-for-sequence-classification",
            no_pooler + pooler + classifier,
        ),
        ("bert-for-token-classification", no_pooler + classifier),
        ("bert-for-question-answering", no_pooler + classifier),
    ];
    let counts = counts();
    for (name, want) in expect {
        assert_eq!(counts.fixtures[name].num_parameters, want, "{name}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = inspect_json(tmp.path(), &fixture("tiny/bert-for-pretraining"), &[]);
    assert_eq!(r.formula.unwrap().weights_only, weights_only);
}

#[test]
fn sharded_fixture_opens_from_the_index_file_too() {
    let tmp = tempfile::tempdir().unwrap();
    let index = fixture("tiny/bert-for-pretraining-sharded/model.safetensors.index.json");
    let r = inspect_json(tmp.path(), &index, &[]);
    assert_eq!(
        r.totals.parameters,
        counts().fixtures["bert-for-pretraining-sharded"].num_parameters
    );
    assert_eq!(r.source.files.len(), 3);
}

#[test]
fn every_tensor_listing_names_bucket_role_dtype_and_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("tiny/bert-for-question-answering");
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--tensors"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("qa_outputs.weight"))
        .expect("qa_outputs.weight listed");
    for cell in ["head", "weight", "F32", "[5, 24]", "120"] {
        assert!(line.contains(cell), "{cell:?} not in {line:?}");
    }
    let r = inspect_json(tmp.path(), &dir, &[]);
    let qa = r
        .tensors
        .iter()
        .find(|t| t.name == "qa_outputs.bias")
        .unwrap();
    assert_eq!(
        (qa.bucket.as_str(), qa.role.as_str(), qa.elements, qa.bytes),
        ("head", "bias", 5, 20)
    );
}

#[test]
fn json_output_is_only_the_report_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &[
            "inspect",
            fixture("tiny/bert-model").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0);
    assert!(out.stderr.is_empty());
    let v = crate::common::schema::doc("report", &out.stdout);
    for key in ["parameters", "buffers", "tensors", "bytes"] {
        assert!(v["totals"][key].is_u64(), "totals.{key}");
    }
    for bucket in [
        "embedding",
        "attention",
        "ffn",
        "norm",
        "pooler",
        "head",
        "buffer",
        "other",
    ] {
        for key in ["parameters", "weights", "biases", "tensors"] {
            assert!(v["buckets"][bucket][key].is_u64(), "buckets.{bucket}.{key}");
        }
    }
    assert!(v["formula"]["weights_only"].is_u64());
    assert!(v["formula"]["expected_total"].is_u64());
    for key in [
        "biases",
        "pooler",
        "heads",
        "tied_not_stored",
        "buffers",
        "unexplained",
    ] {
        assert!(v["differences"][key].is_i64(), "differences.{key}");
    }
}
