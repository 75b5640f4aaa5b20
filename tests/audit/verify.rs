//! `verify`: planted faults in every float dtype, a flipped byte against a known sha256,
//! statistics against closed forms and numpy, and the real MiniLM checkpoint.

use std::path::Path;

use serde_json::Value;

use crate::common::layout::{self, sha256_hex};
use crate::common::{fixture, output, paramaudit, run};

/// A tensor with its raw little-endian bytes.
struct T {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    data: Vec<u8>,
}

/// Write a safetensors file with real data, laid out in sorted name order like the
/// header layout::header writes.
fn write(path: &Path, mut tensors: Vec<T>) {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let specs: Vec<layout::Spec> = tensors
        .iter()
        .map(|t| (t.name.clone(), t.dtype, t.shape.clone()))
        .collect();
    let (mut bytes, data_len) = layout::header(&specs);
    for t in &tensors {
        bytes.extend_from_slice(&t.data);
    }
    assert_eq!(
        bytes.len() as u64,
        layout::header(&specs).0.len() as u64 + data_len,
        "test data sizes"
    );
    std::fs::write(path, bytes).unwrap();
}

/// Encodings of 1.0, 2.0, NaN, +Inf and 0 in each float format, from the format specs
/// (IEEE 754, bfloat16, OCP FP8); `None` where the format has no infinity.
struct Enc {
    dtype: &'static str,
    width: usize,
    one: u64,
    two: u64,
    nan: u64,
    inf: Option<u64>,
}

const ENCODINGS: &[Enc] = &[
    Enc {
        dtype: "F64",
        width: 8,
        one: 0x3ff0_0000_0000_0000,
        two: 0x4000_0000_0000_0000,
        nan: 0x7ff8_0000_0000_0000,
        inf: Some(0x7ff0_0000_0000_0000),
    },
    Enc {
        dtype: "F32",
        width: 4,
        one: 0x3f80_0000,
        two: 0x4000_0000,
        nan: 0x7fc0_0000,
        inf: Some(0x7f80_0000),
    },
    Enc {
        dtype: "F16",
        width: 2,
        one: 0x3c00,
        two: 0x4000,
        nan: 0x7e00,
        inf: Some(0x7c00),
    },
    Enc {
        dtype: "BF16",
        width: 2,
        one: 0x3f80,
        two: 0x4000,
        nan: 0x7fc0,
        inf: Some(0x7f80),
    },
    Enc {
        dtype: "F8_E4M3",
        width: 1,
        one: 0x38,
        two: 0x40,
        nan: 0x7f,
        inf: None,
    },
    Enc {
        dtype: "F8_E5M2",
        width: 1,
        one: 0x3c,
        two: 0x40,
        nan: 0x7e,
        inf: Some(0x7c),
    },
    Enc {
        dtype: "F8_E4M3FNUZ",
        width: 1,
        one: 0x40,
        two: 0x48,
        nan: 0x80,
        inf: None,
    },
    Enc {
        dtype: "F8_E5M2FNUZ",
        width: 1,
        one: 0x40,
        two: 0x44,
        nan: 0x80,
        inf: None,
    },
];

fn enc(e: &Enc, values: &[u64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| v.to_le_bytes()[..e.width].to_vec())
        .collect()
}

fn verify_json(cwd: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = run(cwd, &all);
    let v = if out.stdout.is_empty() {
        Value::Null
    } else {
        crate::common::schema::doc("verify", &out.stdout)
    };
    (out.code, v, out.stderr)
}

fn tensor<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name}"))
}

fn flags(r: &Value, name: &str) -> Vec<String> {
    r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["tensor"] == name)
        .map(|f| f["problem"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn planted_faults_are_found_in_every_float_dtype() {
    let tmp = tempfile::tempdir().unwrap();
    for e in ENCODINGS {
        let path = tmp.path().join(format!("{}.safetensors", e.dtype));
        // clean: 1, 2, 1, 2 -> mean 1.5, std 0.5.
        let mut t = vec![
            T {
                name: "clean".into(),
                dtype: e.dtype,
                shape: vec![4],
                data: enc(e, &[e.one, e.two, e.one, e.two]),
            },
            T {
                name: "has_nan".into(),
                dtype: e.dtype,
                shape: vec![3],
                data: enc(e, &[e.one, e.nan, e.two]),
            },
            T {
                name: "all_zero".into(),
                dtype: e.dtype,
                shape: vec![2, 2],
                data: vec![0; 4 * e.width],
            },
        ];
        if let Some(inf) = e.inf {
            t.push(T {
                name: "has_inf".into(),
                dtype: e.dtype,
                shape: vec![2],
                data: enc(e, &[inf, e.one]),
            });
        }
        write(&path, t);
        let (code, r, err) = verify_json(tmp.path(), &[path.to_str().unwrap()]);
        assert_eq!(code, 1, "{}: NaN must fail: {err}", e.dtype);
        assert_eq!(r["passed"], false);
        let clean = tensor(&r, "clean");
        assert_eq!(
            (clean["mean"].as_f64(), clean["std"].as_f64()),
            (Some(1.5), Some(0.5)),
            "{}",
            e.dtype
        );
        assert_eq!(
            (clean["min"].as_f64(), clean["max"].as_f64()),
            (Some(1.0), Some(2.0)),
            "{}",
            e.dtype
        );
        assert!(flags(&r, "clean").is_empty(), "{}", e.dtype);
        assert_eq!(tensor(&r, "has_nan")["nan"], 1, "{}", e.dtype);
        assert_eq!(flags(&r, "has_nan"), ["non_finite"], "{}", e.dtype);
        assert_eq!(tensor(&r, "all_zero")["zeros"], 4, "{}", e.dtype);
        assert_eq!(flags(&r, "all_zero"), ["all_zero"], "{}", e.dtype);
        if e.inf.is_some() {
            assert_eq!(tensor(&r, "has_inf")["pos_inf"], 1, "{}", e.dtype);
            assert_eq!(flags(&r, "has_inf"), ["non_finite"], "{}", e.dtype);
        }
        let (relaxed, r2, _) =
            verify_json(tmp.path(), &[path.to_str().unwrap(), "--allow-nonfinite"]);
        assert_eq!(relaxed, 0, "{}: --allow-nonfinite", e.dtype);
        assert_eq!(r2["passed"], true);
        // The table names the tensor too.
        let table = run(tmp.path(), &["verify", path.to_str().unwrap()]);
        assert!(
            table.stdout.contains("has_nan") && table.stdout.contains("non_finite"),
            "{}",
            table.stdout
        );
    }
}

#[test]
fn an_all_nan_tensor_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.safetensors");
    let nan = 0x7fc0_0000u32.to_le_bytes();
    write(
        &path,
        vec![T {
            name: "w".into(),
            dtype: "F32",
            shape: vec![3],
            data: nan.repeat(3),
        }],
    );
    let (code, r, _) = verify_json(tmp.path(), &[path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(flags(&r, "w"), ["all_nan"]);
    assert!(
        tensor(&r, "w")["mean"].is_null(),
        "no finite value, no mean"
    );
}

#[test]
fn statistics_match_closed_forms_and_integers_get_their_range() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.safetensors");
    // 1.2 MB of data: many 4,096-element blocks merged pairwise, each tensor one piece, all
    // in one window (src/verify's own tests cover several pieces and windows).
    let n = 100_003u64;
    let f32s: Vec<u8> = (1..=n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let f64s: Vec<u8> = (1..=n).flat_map(|i| (i as f64).to_le_bytes()).collect();
    // bf16 holds the integers 1..=256 exactly: 0x3f80 is 1.0, and i = 2^e · 1.m.
    let bf16s: Vec<u8> = (1..=256u32)
        .flat_map(|i| ((f32::to_bits(i as f32) >> 16) as u16).to_le_bytes())
        .collect();
    let ints: Vec<u8> = [-7i64, 0, 42, i64::MIN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write(
        &path,
        vec![
            T {
                name: "a.f32".into(),
                dtype: "F32",
                shape: vec![n],
                data: f32s,
            },
            T {
                name: "b.f64".into(),
                dtype: "F64",
                shape: vec![n],
                data: f64s,
            },
            T {
                name: "c.bf16".into(),
                dtype: "BF16",
                shape: vec![256],
                data: bf16s,
            },
            T {
                name: "d.ids".into(),
                dtype: "I64",
                shape: vec![4],
                data: ints,
            },
        ],
    );
    let (code, r, err) = verify_json(tmp.path(), &[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for (name, n) in [("a.f32", n as f64), ("b.f64", n as f64), ("c.bf16", 256.0)] {
        let t = tensor(&r, name);
        let mean = (n + 1.0) / 2.0;
        let std = ((n * n - 1.0) / 12.0).sqrt();
        assert!(
            (t["mean"].as_f64().unwrap() - mean).abs() < 1e-9 * mean,
            "{name}"
        );
        assert!(
            (t["std"].as_f64().unwrap() - std).abs() < 1e-9 * std,
            "{name}"
        );
        assert_eq!(
            (t["min"].as_f64(), t["max"].as_f64()),
            (Some(1.0), Some(n)),
            "{name}"
        );
    }
    let ids = tensor(&r, "d.ids");
    assert_eq!(
        (
            ids["min"].as_i64(),
            ids["max"].as_i64(),
            ids["zeros"].as_u64()
        ),
        (Some(i64::MIN), Some(42), Some(1))
    );
    assert!(ids["mean"].is_null());
}

#[test]
fn one_flipped_byte_fails_against_the_known_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("model.safetensors");
    std::fs::copy(fixture("tiny/bert-model/model.safetensors"), &path).unwrap();
    let good = sha256_hex(&path);
    let (code, r, err) = verify_json(tmp.path(), &[path.to_str().unwrap(), "--sha256", &good]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["files"][0]["matches"], true);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let (code, r, _) = verify_json(tmp.path(), &[path.to_str().unwrap(), "--sha256", &good]);
    assert_eq!(code, 1);
    assert_eq!(r["files"][0]["matches"], false);
    assert_eq!(r["files"][0]["expected"], good.as_str());
    assert_eq!(r["files"][0]["expected_from"], "flag");
    // The same pin from a check expectations file.
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, format!(r#"{{"sha256": "{good}"}}"#)).unwrap();
    let (code, r, _) = verify_json(
        tmp.path(),
        &[path.to_str().unwrap(), "--expect", pins.to_str().unwrap()],
    );
    assert_eq!(
        (code, &r["files"][0]["expected_from"]),
        (1, &Value::from("expectations"))
    );
}

#[test]
fn sharded_checkpoints_are_verified_shard_by_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("tiny/bert-for-pretraining-sharded");
    let first = sha256_hex(&dir.join("model-00001-of-00003.safetensors"));
    let pin = format!("model-00001-of-00003.safetensors={first}");
    let (code, r, err) = verify_json(tmp.path(), &[dir.to_str().unwrap(), "--sha256", &pin]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["files"].as_array().unwrap().len(), 3);
    assert_eq!(r["tensors"].as_array().unwrap().len(), 46);
    let bare = run(
        tmp.path(),
        &["verify", dir.to_str().unwrap(), "--sha256", &first],
    );
    assert_eq!(bare.code, 2);
    assert!(
        bare.stderr.contains("give each sha256 as FILE=HEX"),
        "{}",
        bare.stderr
    );
}

#[test]
fn input_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-model");
    for (args, needle) in [
        (
            vec!["verify", m.to_str().unwrap(), "--sha256", "xyz"],
            "is not a sha256",
        ),
        (
            vec![
                "verify",
                m.to_str().unwrap(),
                "--sha256",
                &"0".repeat(64),
                "--sha256",
                "other.safetensors=00",
            ],
            "is not a sha256",
        ),
        (
            vec![
                "verify",
                m.to_str().unwrap(),
                "--sha256",
                &format!("other.safetensors={}", "0".repeat(64)),
            ],
            "not a file of",
        ),
        (
            vec!["verify", m.to_str().unwrap(), "--header-only"],
            "unexpected argument '--header-only'",
        ),
    ] {
        let out = run(tmp.path(), &args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stdout);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let saved = tmp.path().join("saved");
    assert_eq!(
        run(
            tmp.path(),
            &[
                "inspect",
                m.to_str().unwrap(),
                "--save-header",
                saved.to_str().unwrap()
            ]
        )
        .code,
        0
    );
    let out = run(tmp.path(), &["verify", saved.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    // The saved header is named; no flag the user never passed is mentioned.
    assert!(
        out.stderr
            .contains("holds only a header (saved with --save-header")
            && out
                .stderr
                .contains("verify needs the original checkpoint's files")
            && !out.stderr.contains("drop --header-only"),
        "{}",
        out.stderr
    );
}

/// numpy 2.4.6 on `safetensors.numpy.load_file` of the same file, float64 arithmetic:
/// (min, max, mean, std, zeros).
const NUMPY: &[(&str, f64, f64, f64, f64, u64)] = &[
    (
        "embeddings.word_embeddings.weight",
        -0.50732421875,
        1.049399971961975,
        1.177862161491064e-05,
        0.0556233410704887,
        3,
    ),
    (
        "encoder.layer.3.intermediate.dense.weight",
        -0.474422425031662,
        0.48703646659851074,
        0.00038963333958415774,
        0.06474500095844025,
        0,
    ),
    (
        "embeddings.LayerNorm.weight",
        0.14528129994869232,
        0.917343020439148,
        0.6168082091414059,
        0.0419182300321821,
        0,
    ),
];

/// Part of `minilm::real_all_minilm_l6_v2_weights`, which checks the weights are there.
pub fn real_minilm_verifies_clean_and_matches_its_sha256_and_numpy(dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    // docs/reference.md §4 sha256, given as the Hub cache would: the blob name.
    let sha = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = tmp
        .path()
        .join("hub/models--sentence-transformers--all-MiniLM-L6-v2");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    std::fs::copy(dir.join("model.safetensors"), repo.join("blobs").join(sha)).unwrap();
    std::os::unix::fs::symlink(
        format!("../../blobs/{sha}"),
        repo.join("snapshots")
            .join(commit)
            .join("model.safetensors"),
    )
    .unwrap();
    let out = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_HUB_OFFLINE", "1")
            .args([
                "verify",
                "sentence-transformers/all-MiniLM-L6-v2",
                "--format",
                "json",
            ]),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let r = crate::common::schema::doc("verify", &out.stdout);
    assert_eq!(r["passed"], true);
    assert_eq!(r["files"][0]["sha256"], sha);
    assert_eq!(r["files"][0]["expected_from"], "hub_cache");
    assert_eq!(r["files"][0]["matches"], true);
    assert_eq!(r["bytes"], 90_868_376);
    for (name, min, max, mean, std, zeros) in NUMPY {
        let t = tensor(&r, name);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);
        assert_eq!(
            (t["min"].as_f64(), t["max"].as_f64()),
            (Some(*min), Some(*max)),
            "{name}"
        );
        assert!(
            close(t["mean"].as_f64().unwrap(), *mean),
            "{name} mean {}",
            t["mean"]
        );
        assert!(
            close(t["std"].as_f64().unwrap(), *std),
            "{name} std {}",
            t["std"]
        );
        assert_eq!(t["zeros"].as_u64(), Some(*zeros), "{name}");
        assert_eq!(
            t["nan"].as_u64().unwrap()
                + t["pos_inf"].as_u64().unwrap()
                + t["neg_inf"].as_u64().unwrap(),
            0
        );
    }
    let pos = tensor(&r, "embeddings.position_ids");
    assert_eq!(
        (pos["min"].as_i64(), pos["max"].as_i64()),
        (Some(0), Some(511))
    );
    // The one flag on the real weights is true: the unused pooler bias is all zeros.
    let flagged: Vec<&str> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tensor"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["pooler.dense.bias"]);

    // A corrupted blob in the cache no longer matches its own name.
    let blob = repo.join("blobs").join(sha);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x80;
    std::fs::write(&blob, bytes).unwrap();
    let bad = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_HUB_OFFLINE", "1")
            .args(["verify", "sentence-transformers/all-MiniLM-L6-v2"]),
    );
    assert_eq!(bad.code, 1, "{}", bad.stdout);
    assert!(
        bad.stdout.contains("NO (expected 53aa5117"),
        "{}",
        bad.stdout
    );
}
