//! Bad input: every case gets exit code 2 and one line on stderr naming the file and the
//! problem, never a panic.

use std::path::Path;

use crate::common::{fixture, run};

/// A file: 8-byte length of `header`, `header`, then `data` zero bytes.
fn file(header: &str, data: usize) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend(std::iter::repeat_n(0u8, data));
    v
}

const ONE: &str = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;

fn assert_rejected(cwd: &Path, target: &Path, needle: &str) {
    let out = run(cwd, &["inspect", target.to_str().unwrap()]);
    assert_eq!(
        out.code, 2,
        "{needle}: stdout {} stderr {}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.is_empty(), "{needle}: nothing on stdout");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(
        out.stderr.starts_with("paramaudit: error: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&target.display().to_string())
            || out.stderr.contains("model.safetensors"),
        "names the file: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in {}",
        out.stderr
    );
}

#[test]
fn malformed_safetensors_files_are_rejected_with_a_clear_line() {
    let mut huge_len = (200_000_000u64).to_le_bytes().to_vec();
    huge_len.extend_from_slice(b"{}");
    let mut beyond = (1_000u64).to_le_bytes().to_vec();
    beyond.extend_from_slice(b"{}      ");
    let mut not_utf8 = (4u64).to_le_bytes().to_vec();
    not_utf8.extend_from_slice(&[b'{', 0xff, 0xfe, b'}']);
    let deep = format!(
        r#"{{"a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,4]}}}}"#,
        vec!["1"; 65].join(",")
    );
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("short", vec![1, 2, 3, 4], "file is 4 bytes long, too short".into()),
        ("empty", vec![], "file is 0 bytes long".into()),
        ("huge-header", huge_len, "header length 200000000 exceeds the 100000000-byte limit".into()),
        ("beyond", beyond, "header length 1000 runs past the end of the file (16 bytes)".into()),
        ("not-utf8", not_utf8, "header is not valid UTF-8 (first bad byte at header offset 1)".into()),
        ("not-json", file("{not json}", 0), "header is not a valid safetensors JSON object".into()),
        ("array", file("[1,2]", 0), "header is not a valid safetensors JSON object".into()),
        ("missing-field", file(r#"{"a":{"dtype":"F32","shape":[2]}}"#, 8), "tensor `a`: missing field `data_offsets`".into()),
        ("bad-metadata", file(r#"{"__metadata__":{"format":1}}"#, 0), "`__metadata__` must map strings to strings".into()),
        ("deep-shape", file(&deep, 4), "more than 64 dimensions".into()),
        ("unknown-dtype", file(r#"{"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}"#, 8), "tensor `a` has unknown dtype `F12`".into()),
        ("duplicate", file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8), "duplicate tensor key `a`".into()),
        ("gap", file(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, 12), "gap in the data section: bytes 4..8 belong to no tensor (before `b`)".into()),
        ("overlap", file(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8), "tensor `b` overlaps `a`".into()),
        ("reversed", file(r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, 8), "data_offsets [8, 0] that end before they start".into()),
        ("out-of-range", file(r#"{"a":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}}"#, 8), "truncated: the header describes 4000 bytes of tensor data (up to `a`) but the file holds only 8".into()),
        ("extent", file(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#, 8), "tensor `a`: shape [4] of F32 needs 16 bytes but data_offsets span 8".into()),
        ("overflow", file(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#, 8), "tensor `a` has shape [4294967296, 4294967296, 16] whose size overflows".into()),
        ("truncated", file(ONE, 5), "truncated: the header describes 8 bytes of tensor data (up to `a`) but the file holds only 5".into()),
        ("trailing", file(ONE, 11), "3 trailing bytes after the last tensor".into()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (name, bytes, needle) in cases {
        let path = tmp.path().join(format!("{name}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        assert_rejected(tmp.path(), &path, &needle);
    }
}

fn copy_sharded(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(fixture("tiny/bert-for-pretraining-sharded")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn edit_index(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("model.safetensors.index.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&path, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn broken_sharded_checkpoints_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    let missing = t.join("missing");
    copy_sharded(&missing);
    std::fs::remove_file(missing.join("model-00002-of-00003.safetensors")).unwrap();
    assert_rejected(
        t,
        &missing,
        "shard `model-00002-of-00003.safetensors` named in the index is missing",
    );

    let outside = t.join("outside");
    copy_sharded(&outside);
    edit_index(&outside, |v| {
        v["weight_map"]["cls.seq_relationship.bias"] = "../secret.safetensors".into()
    });
    assert_rejected(
        t,
        &outside,
        "shard `../secret.safetensors` is not a plain file name",
    );

    let unlisted = t.join("unlisted");
    copy_sharded(&unlisted);
    edit_index(&unlisted, |v| {
        v["weight_map"]
            .as_object_mut()
            .unwrap()
            .remove("cls.seq_relationship.bias");
    });
    assert_rejected(
        t,
        &unlisted,
        "holds tensor `cls.seq_relationship.bias` that the index does not list",
    );

    let misplaced = t.join("misplaced");
    copy_sharded(&misplaced);
    edit_index(&misplaced, |v| {
        let m = v["weight_map"].as_object_mut().unwrap();
        let (name, shard) = m
            .iter()
            .find(|(_, s)| s.as_str() != Some("model-00001-of-00003.safetensors"))
            .map(|(n, s)| (n.clone(), s.clone()))
            .unwrap();
        let _ = shard;
        m.insert(name, "model-00001-of-00003.safetensors".into());
    });
    assert_rejected(t, &misplaced, "but stored in `model-0000");

    let phantom = t.join("phantom");
    copy_sharded(&phantom);
    edit_index(&phantom, |v| {
        v["weight_map"]["ghost.weight"] = "model-00001-of-00003.safetensors".into()
    });
    assert_rejected(t, &phantom, "tensor `ghost.weight` is mapped to `model-00001-of-00003.safetensors` but that shard does not hold it");

    let garbled = t.join("garbled");
    copy_sharded(&garbled);
    std::fs::write(
        garbled.join("model.safetensors.index.json"),
        "{\"weight_map\": 3}",
    )
    .unwrap();
    assert_rejected(t, &garbled, "not a valid shard index");

    let dup = t.join("dup");
    copy_sharded(&dup);
    std::fs::write(
        dup.join("model.safetensors.index.json"),
        r#"{"weight_map": {"a": "model-00001-of-00003.safetensors", "a": "model-00002-of-00003.safetensors"}}"#,
    )
    .unwrap();
    assert_rejected(t, &dup, "tensor `a` appears twice in weight_map");
}

#[test]
fn directories_and_paths_without_a_checkpoint_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let empty = t.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(t, &["inspect", empty.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "empty: no checkpoint in this directory (looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin"
        ),
        "{}",
        out.stderr
    );

    let bin_only = t.join("bin-only");
    std::fs::create_dir(&bin_only).unwrap();
    std::fs::write(bin_only.join("pytorch_model.bin"), b"x").unwrap();
    let out = run(t, &["inspect", bin_only.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("bin-only/pytorch_model.bin: file is 1 bytes long"),
        "{}",
        out.stderr
    );

    let two = t.join("two-ggufs");
    std::fs::create_dir(&two).unwrap();
    std::fs::write(two.join("a-Q4_0.gguf"), b"GGUF").unwrap();
    std::fs::write(two.join("a-Q8_0.gguf"), b"GGUF").unwrap();
    let out = run(t, &["inspect", two.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("several candidate checkpoints: a-Q4_0.gguf, a-Q8_0.gguf; name one file"),
        "{}",
        out.stderr
    );

    let split = t.join("split");
    std::fs::create_dir(&split).unwrap();
    std::fs::write(split.join("m-00001-of-00003.gguf"), b"GGUF").unwrap();
    std::fs::write(split.join("m-00003-of-00003.gguf"), b"GGUF").unwrap();
    let out = run(t, &["inspect", split.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("split GGUF `m` has 3 parts but m-00002-of-00003.gguf is missing"),
        "{}",
        out.stderr
    );

    let out = run(t, &["inspect", t.join("nope").to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no such file or directory: ")
            && out.stderr.trim_end().ends_with("/nope"),
        "{}",
        out.stderr
    );

    let out = run(t, &["inspect"]);
    assert_eq!(out.code, 2, "usage errors exit 2");
    let out = run(t, &["inspect", ".", "--format", "yaml"]);
    assert_eq!(out.code, 2);
}

#[test]
fn bad_config_is_an_input_error_naming_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixture("tiny/bert-model/model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    for (text, needle) in [
        ("[]", "invalid config: not a JSON object"),
        ("{", "invalid config: not valid JSON"),
        (
            r#"{"hidden_size": "big"}"#,
            "invalid config: `hidden_size` must be a non-negative integer",
        ),
        (
            r#"{"hidden_size": 99999999999}"#,
            "invalid config: `hidden_size` is 99999999999, beyond the supported",
        ),
    ] {
        std::fs::write(dir.join("config.json"), text).unwrap();
        let out = run(tmp.path(), &["inspect", dir.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{text}");
        assert!(
            out.stderr.contains("config.json: ") && out.stderr.contains(needle),
            "{text}: {}",
            out.stderr
        );
    }
}
