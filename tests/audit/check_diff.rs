//! `check` against stored expectations (exit 0 / 1 / 2), `diff` between checkpoints, and
//! headers saved with `--save-header`. Mutated checkpoints are written from the tensor
//! list transformers reported for the fixture (fixtures/tiny/counts.json).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::common::layout::{self, Spec, BERT_BASE, BERT_BASE_CONFIG};
use crate::common::{fixture, root, run, Report};

#[derive(Deserialize)]
struct Counts {
    fixtures: std::collections::BTreeMap<String, Fixture>,
}
#[derive(Deserialize)]
struct Fixture {
    tensors: std::collections::BTreeMap<String, Stored>,
}
#[derive(Deserialize)]
struct Stored {
    dtype: String,
    shape: Vec<u64>,
}

/// The tiny BertForPreTraining tensors, as transformers wrote them.
fn pretraining_specs() -> Vec<Spec> {
    let c: Counts =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny/counts.json")).unwrap())
            .unwrap();
    c.fixtures["bert-for-pretraining"]
        .tensors
        .iter()
        .map(|(n, t)| {
            assert_eq!(t.dtype, "F32");
            (n.clone(), "F32", t.shape.clone())
        })
        .collect()
}

fn model_dir(at: &Path, specs: &[Spec]) -> PathBuf {
    std::fs::create_dir_all(at).unwrap();
    std::fs::copy(
        fixture("tiny/bert-for-pretraining/config.json"),
        at.join("config.json"),
    )
    .unwrap();
    layout::write_dense(&at.join("model.safetensors"), specs);
    at.to_path_buf()
}

fn expected(name: &str) -> String {
    root()
        .join("fixtures/expected")
        .join(format!("{name}.json"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn every_fixture_passes_check_against_its_stored_report() {
    let tmp = tempfile::tempdir().unwrap();
    let names: Vec<String> = std::fs::read_dir(fixture("tiny"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 8);
    for name in names {
        let out = run(
            tmp.path(),
            &[
                "check",
                fixture(&format!("tiny/{name}")).to_str().unwrap(),
                "--expect",
                &expected(&name),
            ],
        );
        assert_eq!(out.code, 0, "{name}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.starts_with("check passed:"), "{}", out.stdout);
    }
}

#[test]
fn the_rewritten_fixture_is_identical_to_the_original_before_any_mutation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(&tmp.path().join("same"), &pretraining_specs());
    let out = run(
        tmp.path(),
        &[
            "check",
            dir.to_str().unwrap(),
            "--expect",
            &expected("bert-for-pretraining"),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
}

struct Mutation {
    name: &'static str,
    edit: fn(&mut Vec<Spec>),
    /// Lines the drift report must contain.
    expect: &'static [&'static str],
}

#[test]
fn each_mutation_fails_check_with_a_precise_diff() {
    let mutations = [
        Mutation {
            name: "tensor removed",
            edit: |s| s.retain(|t| t.0 != "cls.seq_relationship.bias"),
            expect: &[
                "totals.parameters",
                "13,763",
                "13,761",
                "-2",
                "Only in the expectation",
                "cls.seq_relationship.bias",
            ],
        },
        Mutation {
            name: "tensor reshaped",
            edit: |s| {
                let t = s
                    .iter_mut()
                    .find(|t| t.0 == "bert.encoder.layer.1.intermediate.dense.weight")
                    .unwrap();
                t.2 = vec![41, 24];
            },
            expect: &[
                "buckets.ffn.parameters",
                "+24",
                "differences.unexplained",
                "Changed shape or dtype",
                "F32 [40, 24]",
                "F32 [41, 24]",
            ],
        },
        Mutation {
            name: "dtype changed",
            edit: |s| {
                s.iter_mut()
                    .find(|t| t.0 == "bert.pooler.dense.weight")
                    .unwrap()
                    .1 = "F16"
            },
            expect: &[
                "totals.bytes",
                "-1,152",
                "bert.pooler.dense.weight",
                "F32 [24, 24]",
                "F16 [24, 24]",
            ],
        },
        Mutation {
            name: "tied decoder stored separately",
            edit: |s| s.push(("cls.predictions.decoder.weight".into(), "F32", vec![97, 24])),
            expect: &[
                "differences.unexplained",
                "+2,328",
                "differences.tied_not_stored",
                "Only in the model",
                "cls.predictions.decoder.weight",
            ],
        },
        Mutation {
            name: "head added",
            edit: |s| {
                s.push(("classifier.weight".into(), "F32", vec![5, 24]));
                s.push(("classifier.bias".into(), "F32", vec![5]));
            },
            expect: &[
                "buckets.head.parameters",
                "+125",
                "classifier.weight",
                "classifier.bias",
            ],
        },
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (i, m) in mutations.iter().enumerate() {
        let mut specs = pretraining_specs();
        (m.edit)(&mut specs);
        let dir = model_dir(&tmp.path().join(format!("m{i}")), &specs);
        let out = run(
            tmp.path(),
            &[
                "check",
                dir.to_str().unwrap(),
                "--expect",
                &expected("bert-for-pretraining"),
            ],
        );
        assert_eq!(out.code, 1, "{}: {}{}", m.name, out.stdout, out.stderr);
        assert!(
            out.stdout.starts_with("check FAILED"),
            "{}: {}",
            m.name,
            out.stdout
        );
        for needle in m.expect {
            assert!(
                out.stdout.contains(needle),
                "{}: {needle:?} missing in\n{}",
                m.name,
                out.stdout
            );
        }
        let json = run(
            tmp.path(),
            &[
                "check",
                dir.to_str().unwrap(),
                "--expect",
                &expected("bert-for-pretraining"),
                "--format",
                "json",
            ],
        );
        assert_eq!(json.code, 1);
        let v = crate::common::schema::doc("check", &json.stdout);
        assert_eq!(v["passed"], false, "{}", m.name);
    }
}

#[test]
fn hand_written_pins_hold_drift_and_tolerate() {
    let tmp = tempfile::tempdir().unwrap();
    let pins = tmp.path().join("pins.json");
    let dir = fixture("tiny/bert-for-pretraining");
    let check = |text: &str| {
        std::fs::write(&pins, text).unwrap();
        run(
            tmp.path(),
            &[
                "check",
                dir.to_str().unwrap(),
                "--expect",
                pins.to_str().unwrap(),
            ],
        )
    };
    // transformers' count, the hand-derived buckets, and the sha256 sha256sum gives.
    let sha = crate::common::layout::sha256_hex(&dir.join("model.safetensors"));
    let ok = check(&format!(
        r#"{{"parameters": 13763, "tensors": 46, "buffers": 0, "buckets": {{"pooler": 600, "head": 795}}, "dtypes": ["F32"], "unexplained": 0, "sha256": "{sha}"}}"#
    ));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("8 figures hold"), "{}", ok.stdout);
    let drift = check(r#"{"parameters": 13700, "dtypes": ["BF16"]}"#);
    assert_eq!(drift.code, 1);
    assert!(
        drift.stdout.contains("totals.parameters") && drift.stdout.contains("+63"),
        "{}",
        drift.stdout
    );
    assert!(drift.stdout.contains("dtypes"), "{}", drift.stdout);
    // 63 of 13,700 is 0.46 %: within 0.5 %, not within 0.4 %.
    assert_eq!(
        check(r#"{"parameters": 13700, "tolerance": {"percent": 0.5}}"#).code,
        0
    );
    assert_eq!(
        check(r#"{"parameters": 13700, "tolerance": {"percent": 0.4}}"#).code,
        1
    );
    assert_eq!(
        check(r#"{"parameters": 13700, "tolerance": {"absolute": 63}}"#).code,
        0
    );
    let bad_sha = check(r#"{"sha256": "00"}"#);
    assert_eq!(bad_sha.code, 1);
    assert!(
        bad_sha.stdout.contains("sha256 model.safetensors"),
        "{}",
        bad_sha.stdout
    );
}

#[test]
fn malformed_expectations_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let pins = tmp.path().join("pins.json");
    let dir = fixture("tiny/bert-model");
    for (text, needle) in [
        ("{", "not valid JSON"),
        ("[1]", "not a JSON object"),
        (
            r#"{"paramters": 1}"#,
            "invalid expectations: unknown field `paramters`",
        ),
        (r#"{"parameters": -5}"#, "invalid expectations"),
        (r#"{"buckets": {"mlp": 3}}"#, "invalid expectations"),
        (
            r#"{"tolerance": {"percent": 200}}"#,
            "tolerance.percent 200 is not between 0 and 100",
        ),
        (
            r#"{"schema_version": 1, "totals": 3}"#,
            "not a paramaudit JSON report",
        ),
    ] {
        std::fs::write(&pins, text).unwrap();
        let out = run(
            tmp.path(),
            &[
                "check",
                dir.to_str().unwrap(),
                "--expect",
                pins.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 2, "{text}: {}", out.stdout);
        assert!(
            out.stderr.contains("pins.json: ") && out.stderr.contains(needle),
            "{text}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}

/// Part of `minilm::real_all_minilm_l6_v2_weights`, which checks the weights are there.
pub fn real_minilm_matches_its_published_sha256(dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let pins = tmp.path().join("pins.json");
    // docs/reference.md §4.
    std::fs::write(
        &pins,
        r#"{"parameters": 22713216, "buffers": 512, "tensors": 104, "dtypes": ["F32", "I64"], "unexplained": 0,
            "sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"}"#,
    )
    .unwrap();
    let out = run(
        tmp.path(),
        &[
            "check",
            dir.to_str().unwrap(),
            "--expect",
            pins.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn diff_between_pretraining_and_classifier_lists_exactly_the_head_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture("tiny/bert-for-pretraining");
    let b = fixture("tiny/bert-for-sequence-classification");
    let out = run(
        tmp.path(),
        &[
            "diff",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let d = crate::common::schema::doc("diff", &out.stdout);
    let names = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("only_in_a"),
        [
            "cls.predictions.bias",
            "cls.predictions.transform.LayerNorm.bias",
            "cls.predictions.transform.LayerNorm.weight",
            "cls.predictions.transform.dense.bias",
            "cls.predictions.transform.dense.weight",
            "cls.seq_relationship.bias",
            "cls.seq_relationship.weight"
        ]
    );
    assert_eq!(names("only_in_b"), ["classifier.bias", "classifier.weight"]);
    assert!(d["changed"].as_array().unwrap().is_empty());
    let change = |figure: &str| {
        d["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["figure"] == figure)
            .unwrap()["change"]
            .as_i64()
            .unwrap()
    };
    // MLM head 745 + NSP 50 (counts.json) against classifier 5·24 + 5 = 125.
    assert_eq!(change("buckets.head.parameters"), 125 - 795);
    assert_eq!(change("totals.parameters"), 13_093 - 13_763);
    for b in ["embedding", "attention", "ffn", "norm", "pooler"] {
        assert_eq!(change(&format!("buckets.{b}.parameters")), 0, "{b}");
    }
    let md = run(
        tmp.path(),
        &[
            "diff",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--format",
            "markdown",
        ],
    );
    assert!(
        md.stdout
            .contains("| `classifier.weight` | head | F32 | [5, 24] | 120 |"),
        "{}",
        md.stdout
    );
}

/// BertModel saves its tensors without a prefix (`embeddings...`), a task model under
/// `bert.`: diff pairs them by name without the leading segment, so only the head is
/// reported (transformers' counts: 12,968 and 13,093, the classifier 5 · 24 + 5 = 125).
#[test]
fn diff_pairs_tensors_across_a_model_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture("tiny/bert-model");
    let b = fixture("tiny/bert-for-sequence-classification");
    let out = run(
        tmp.path(),
        &["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let d = crate::common::schema::doc("diff", &out.stdout);
    assert_eq!(d["only_in_a"], serde_json::json!([]));
    let only_b: Vec<&str> = d["only_in_b"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(only_b, ["classifier.bias", "classifier.weight"]);
    assert!(d["changed"].as_array().unwrap().is_empty());
    let total = d["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["figure"] == "totals.parameters")
        .unwrap()
        .clone();
    assert_eq!(
        (total["a"].as_i64(), total["b"].as_i64()),
        (Some(12_968), Some(13_093))
    );
}

#[test]
fn saved_bert_base_header_is_small_and_reports_the_same_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("bert-base-uncased");
    layout::write_model_dir(
        &full,
        &layout::bert_pretraining(BERT_BASE),
        BERT_BASE_CONFIG,
    );
    let saved = tmp.path().join("saved");
    let out = run(
        tmp.path(),
        &[
            "inspect",
            full.to_str().unwrap(),
            "--save-header",
            saved.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let size: u64 = std::fs::read_dir(&saved)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(size < 30_000, "saved header and config take {size} bytes");
    let a: Report = crate::common::report(&out.stdout);
    let back = run(
        tmp.path(),
        &["inspect", saved.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    let b: Report = crate::common::report(&back.stdout);
    assert!(b.source.header_only && !a.source.header_only);
    assert_eq!(
        a.totals, b.totals,
        "file_bytes included: the original size is recorded"
    );
    assert_eq!(b.totals.parameters, 110_106_428);
    assert_eq!(a.differences, b.differences);
    assert_eq!(a.tensors.len(), b.tensors.len());
    // Saving the saved header again keeps the original sizes.
    let resaved = tmp.path().join("resaved");
    let again = run(
        tmp.path(),
        &[
            "inspect",
            saved.to_str().unwrap(),
            "--save-header",
            resaved.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let back2 = run(
        tmp.path(),
        &["inspect", resaved.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(back2.code, 0, "{}", back2.stderr);
    let c2: Report = crate::common::report(&back2.stdout);
    assert_eq!(c2.totals, a.totals);
    // check and diff accept it too.
    let expect = tmp.path().join("expected.json");
    std::fs::write(&expect, &out.stdout).unwrap();
    let c = run(
        tmp.path(),
        &[
            "check",
            saved.to_str().unwrap(),
            "--expect",
            expect.to_str().unwrap(),
        ],
    );
    assert_eq!(c.code, 0, "{}", c.stdout);
    let d = run(
        tmp.path(),
        &[
            "diff",
            full.to_str().unwrap(),
            saved.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let v = crate::common::schema::doc("diff", &d.stdout);
    assert!(
        v["only_in_a"].as_array().unwrap().is_empty()
            && v["changed"].as_array().unwrap().is_empty()
    );
    // A saved header cannot satisfy a sha256 pin: that needs the whole file.
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, r#"{"sha256": "00"}"#).unwrap();
    let s = run(
        tmp.path(),
        &[
            "check",
            saved.to_str().unwrap(),
            "--expect",
            pins.to_str().unwrap(),
        ],
    );
    assert_eq!(s.code, 2);
    assert!(s.stderr.contains("header-only"), "{}", s.stderr);
}

#[test]
fn saved_sharded_headers_keep_the_index_and_every_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved");
    let src = fixture("tiny/bert-for-pretraining-sharded");
    let out = run(
        tmp.path(),
        &[
            "inspect",
            src.to_str().unwrap(),
            "--save-header",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&saved)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "config.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
            "model.safetensors.index.json"
        ]
    );
    let c = run(
        tmp.path(),
        &[
            "check",
            saved.to_str().unwrap(),
            "--expect",
            &expected("bert-for-pretraining-sharded"),
        ],
    );
    assert_eq!(c.code, 0, "{}", c.stdout);
}

#[test]
fn a_saved_header_with_data_after_it_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("saved");
    let out = run(
        tmp.path(),
        &[
            "inspect",
            fixture("tiny/bert-model").to_str().unwrap(),
            "--save-header",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0);
    let file = saved.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(&file, bytes).unwrap();
    let back = run(tmp.path(), &["inspect", saved.to_str().unwrap()]);
    assert_eq!(back.code, 2);
    assert!(back.stderr.contains("trailing bytes"), "{}", back.stderr);
}
