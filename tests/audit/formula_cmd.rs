//! `paramaudit formula config.json`: the derivation with its arithmetic, no checkpoint.

use crate::common::layout::BERT_BASE_CONFIG;
use crate::common::run;

#[test]
fn formula_prints_the_reference_derivation_for_bert_base() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.json");
    std::fs::write(&config, BERT_BASE_CONFIG).unwrap();
    let out = run(tmp.path(), &["formula", config.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // docs/reference.md §1, row by row, arithmetic included.
    for needle in [
        "(30522 + 512 + 2) · 768",
        "23,835,648",
        "1,536",
        "4 · 768²",
        "2,359,296",
        "2 · 768 · 3072",
        "4,718,592",
        "3,072",
        "108,808,704",
        "12 · (4 · 768 + 3072 + 768)",
        "82,944",
        "590,592",
        "23,440,896",
        "110,106,428",
        "109,514,298",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    let json = run(
        tmp.path(),
        &["formula", config.to_str().unwrap(), "--format", "json"],
    );
    let v = crate::common::schema::doc("formula", &json.stdout);
    assert_eq!(v["weights_only"], 108_808_704);
    assert_eq!(v["dims"]["hidden_size"], 768);
}

#[test]
fn formula_refuses_other_families_and_bad_configs() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.json");
    std::fs::write(&config, r#"{"model_type": "rwkv"}"#).unwrap();
    let out = run(tmp.path(), &["formula", config.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("config.json: invalid config: no formula for model_type `rwkv`"),
        "{}",
        out.stderr
    );
    std::fs::write(&config, "{not json").unwrap();
    let out = run(tmp.path(), &["formula", config.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("invalid config: not valid JSON"),
        "{}",
        out.stderr
    );
}
