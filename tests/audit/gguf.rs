//! GGUF end to end, against independent figures: every fixture's logical tensors equal
//! the tensors of the Hugging Face model it was converted from (names and shapes from
//! that model's safetensors header, parameters from transformers' `num_parameters` in
//! its reference.json), its bytes equal what gguf-py's writer recorded in the `.gguf.json`
//! twin; variants and splits read as their base file; malformed files exit 2 with one
//! line; verify, diff, check and the remote prefix path; mutations never panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::gguf_writer::{Gguf, T, V};
use crate::common::{fixture, root, run, schema};

fn gguf(name: &str) -> PathBuf {
    fixture("gguf").join(name)
}

fn twin(name: &str) -> Value {
    let text = std::fs::read_to_string(gguf(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `inspect --format json`, exit 0, validated against the report schema.
fn inspect(path: &Path) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &["inspect", path.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}: {}", path.display(), out.stderr);
    schema::doc("report", &out.stdout)
}

/// Names and shapes in a safetensors file's header (read here, not by paramaudit).
fn safetensors_header(path: &Path) -> BTreeMap<String, Vec<u64>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: BTreeMap<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .into_iter()
        .filter(|(k, _)| k != "__metadata__")
        .map(|(k, v)| (k, serde_json::from_value(v["shape"].clone()).unwrap()))
        .collect()
}

fn tensors(r: &Value) -> &Vec<Value> {
    r["tensors"].as_array().unwrap()
}

/// The fixtures converted from a Hugging Face model, with that model's directory.
const CONVERTED: &[&str] = &[
    "llama-tied",
    "llama-untied",
    "qwen2-tied",
    "qwen2-untied",
    "qwen3",
    "gemma2",
    "phi3",
    "mixtral",
    "qwen3moe",
    "deepseek2",
    "deepseek2-no-q-lora",
];

/// What the writer recorded per stored tensor: ggml type name, bytes.
fn stored(j: &Value) -> BTreeMap<String, (String, u64)> {
    j["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                (
                    t["ggml_type"].as_str().unwrap_or("?").to_string(),
                    t["n_bytes"].as_u64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// A logical tensor's bytes and dtype from the writer's listing, following `stored_as`:
/// one expert of a stack is an equal share of it; a joined tensor the sum of its parts.
fn expected_storage(listing: &BTreeMap<String, (String, u64)>, stored_as: &str) -> (String, u64) {
    if let Some((name, expert)) = stored_as.split_once(" [expert ") {
        let of: u64 = expert
            .trim_end_matches(']')
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (ty, bytes) = &listing[name];
        assert_eq!(bytes % of, 0, "{stored_as}");
        return (ty.clone(), bytes / of);
    }
    let parts: Vec<&(String, u64)> = stored_as.split(" + ").map(|n| &listing[n]).collect();
    (parts[0].0.clone(), parts.iter().map(|p| p.1).sum())
}

#[test]
fn every_converted_fixture_reads_as_the_model_it_was_converted_from() {
    for name in CONVERTED {
        let file = format!("{name}.gguf");
        let j = twin(&file);
        let hf_dir = root().join(j["source"]["hf_fixture"].as_str().unwrap());
        let reference = read_json(&hf_dir.join("reference.json"));
        let r = inspect(&gguf(&file));
        let what = file.as_str();

        // The file, as the writer recorded it.
        let f = &r["source"]["files"][0];
        assert_eq!(f["format"], "gguf", "{what}");
        assert_eq!(f["bytes"], j["file_size"], "{what}");
        assert_eq!(f["header_bytes"], j["data_offset"], "{what}");
        assert_eq!(f["tensors"], j["tensor_count"], "{what}");
        assert_eq!(r["totals"]["bytes"], j["n_bytes_total"], "{what}");

        // The counts, as transformers counts the Hugging Face model.
        let t = &r["totals"];
        assert_eq!(t["parameters"], reference["num_parameters"], "{what}");
        assert_eq!(
            t["parameters"].as_u64().unwrap() + t["buffers"].as_u64().unwrap(),
            reference["stored_elements"].as_u64().unwrap(),
            "{what}: parameters + stored buffers"
        );
        assert_eq!(t["tensors"], reference["stored_tensor_count"], "{what}");
        assert_eq!(r["differences"]["unexplained"], 0, "{what}");
        if let Some(active) = reference.get("active_parameters") {
            assert_eq!(&r["formula"]["active"]["parameters"], active, "{what}");
        }

        // Every logical tensor is the Hugging Face model's tensor of that name and shape.
        let hf = safetensors_header(&hf_dir.join("model.safetensors"));
        let ours: BTreeMap<String, Vec<u64>> = tensors(&r)
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    serde_json::from_value(t["shape"].clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(ours, hf, "{what}");

        // Every logical tensor's bytes and type, from the writer's listing.
        let listing = stored(&j);
        for t in tensors(&r) {
            let stored_as = t["stored_as"].as_str().unwrap();
            let (ty, bytes) = expected_storage(&listing, stored_as);
            assert_eq!(t["dtype"], ty, "{what} {stored_as}");
            assert_eq!(t["bytes"], bytes, "{what} {stored_as}");
        }
    }
}

#[test]
fn tied_heads_experts_and_latent_attention_land_where_transformers_has_them() {
    let r = inspect(&gguf("deepseek2.gguf"));
    let bucket = |b: &str| r["buckets"][b]["parameters"].as_u64().unwrap();
    // deepseek-v3-for-causal-lm (reference.json): H 20, 4 routed experts of MI 8 in 2
    // MoE layers (3 projections each), 1 shared expert, kv_b_proj [3·(6 + 5), 12].
    assert_eq!(bucket("routed_experts"), 2 * 4 * 3 * 20 * 8);
    assert_eq!(bucket("shared_experts"), 2 * 3 * 20 * 8);
    assert_eq!(bucket("router"), 2 * 4 * 20);
    assert_eq!(r["buckets"]["buffer"]["buffers"], 2 * 4);
    let kv_b = tensors(&r)
        .iter()
        .find(|t| t["name"] == "model.layers.0.self_attn.kv_b_proj.weight")
        .unwrap();
    assert_eq!(kv_b["shape"], serde_json::json!([33, 12]));
    assert_eq!(
        kv_b["stored_as"],
        "blk.0.attn_k_b.weight + blk.0.attn_v_b.weight"
    );
    assert_eq!(r["formula"]["family"], "deepseek_v3");
    assert!(r["notes"].as_array().unwrap().iter().any(|n| n
        .as_str()
        .unwrap()
        .contains("multi-token-prediction layers")));
    // Tied: no output tensor, no lm_head, the tie in the config.
    for name in ["llama-tied", "qwen2-tied", "gemma2"] {
        let r = inspect(&gguf(&format!("{name}.gguf")));
        assert!(tensors(&r).iter().all(|t| t["name"] != "lm_head.weight"));
        assert_eq!(r["formula"]["dims"]["tie_word_embeddings"], true, "{name}");
    }
}

/// The byte order, the alignment, GGUF v2 and per-layer head arrays change nothing but
/// where the bytes are.
#[test]
fn variants_read_as_their_base_file() {
    let strip = |r: &Value| -> (Value, Value, Value) {
        let mut t = r["totals"].clone();
        t["file_bytes"] = Value::Null;
        (t, r["differences"].clone(), r["tensors"].clone())
    };
    for (variant, base) in [
        ("llama-untied-be", "llama-untied"),
        ("llama-untied-align64", "llama-untied"),
        ("llama-untied-head-count-kv-array", "llama-untied"),
        ("llama-tied-v2", "llama-tied"),
    ] {
        let v = inspect(&gguf(&format!("{variant}.gguf")));
        let b = inspect(&gguf(&format!("{base}.gguf")));
        let mut vt = strip(&v);
        for t in vt.2.as_array_mut().unwrap() {
            t["file"] = Value::Null;
        }
        let mut bt = strip(&b);
        for t in bt.2.as_array_mut().unwrap() {
            t["file"] = Value::Null;
        }
        assert_eq!(vt, bt, "{variant}");
        let j = twin(&format!("{variant}.gguf"));
        assert_eq!(
            v["source"]["files"][0]["header_bytes"], j["data_offset"],
            "{variant}"
        );
    }
    let j = twin("llama-untied-align64.gguf");
    assert_eq!(j["alignment"], 64);
    assert_eq!(j["data_offset"].as_u64().unwrap() % 64, 0);
    assert_eq!(twin("llama-untied-be.gguf")["endianness"], "big");
    assert_eq!(twin("llama-tied-v2.gguf")["version"], 2);
}

#[test]
fn splits_merge_to_the_unsplit_file() {
    let summary = read_json(&gguf("split/llama-untied.split.json"));
    let whole = inspect(&gguf("llama-untied.gguf"));
    for named in [
        gguf("split"),
        gguf("split/llama-untied-00001-of-00003.gguf"),
        gguf("split/llama-untied-00003-of-00003.gguf"),
    ] {
        let r = inspect(&named);
        let files = r["source"]["files"].as_array().unwrap();
        assert_eq!(files.len() as u64, summary["split_count"]);
        let per_file: Vec<u64> = files
            .iter()
            .map(|f| f["tensors"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> =
            serde_json::from_value(summary["tensors_per_file"].clone()).unwrap();
        assert_eq!(per_file, expected);
        assert_eq!(r["totals"]["tensors"], summary["split_tensors_count"]);
        assert_eq!(r["totals"]["parameters"], summary["logical_parameters"]);
        assert_eq!(
            r["totals"]["parameters"],
            summary["source"]["hf_num_parameters"]
        );
        let bytes: u64 = summary["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                twin(&format!("split/{}", f.as_str().unwrap()))["n_bytes_total"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(r["totals"]["bytes"], bytes);
        assert_eq!(r["differences"], whole["differences"]);
        let view = |r: &Value| -> Vec<(Value, Value, Value, Value)> {
            tensors(r)
                .iter()
                .map(|t| {
                    (
                        t["name"].clone(),
                        t["shape"].clone(),
                        t["dtype"].clone(),
                        t["bytes"].clone(),
                    )
                })
                .collect()
        };
        assert_eq!(view(&r), view(&whole));
        for (f, name) in files.iter().zip(summary["files"].as_array().unwrap()) {
            let j = twin(&format!("split/{}", name.as_str().unwrap()));
            assert_eq!(f["header_bytes"], j["data_offset"]);
            assert!(f["path"]
                .as_str()
                .unwrap()
                .ends_with(name.as_str().unwrap()));
        }
    }
}

#[test]
fn quant_zoo_bytes_per_type_are_the_writers() {
    let j = twin("quant-zoo.gguf");
    let r = inspect(&gguf("quant-zoo.gguf"));
    // The writer's listing, per ggml type: tensors, elements, bytes.
    let mut by_type: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    for t in j["tensors"].as_array().unwrap() {
        let e = by_type
            .entry(t["ggml_type"].as_str().unwrap().to_string())
            .or_default();
        e.0 += 1;
        e.1 += t["n_elements"].as_u64().unwrap();
        e.2 += t["n_bytes"].as_u64().unwrap();
    }
    assert_eq!(by_type.len(), 34, "every ggml type of gguf-py 0.19");
    let ours: BTreeMap<String, (u64, u64, u64)> = r["dtypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["dtype"].as_str().unwrap().to_string(),
                (
                    d["tensors"].as_u64().unwrap(),
                    d["elements"].as_u64().unwrap(),
                    d["bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(ours, by_type);
    assert_eq!(r["totals"]["bytes"], j["n_bytes_total"]);
    // Bits per weight over the float and quantized tensors (the integer ones are
    // buffers): 8 · bytes / elements, from the writer's listing.
    let ints = ["I8", "I16", "I32", "I64"];
    let (bytes, elements) = j["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !ints.contains(&t["ggml_type"].as_str().unwrap()))
        .fold((0u64, 0u64), |(b, e), t| {
            (
                b + t["n_bytes"].as_u64().unwrap(),
                e + t["n_elements"].as_u64().unwrap(),
            )
        });
    let bits = (bytes as f64 * 8.0 / elements as f64 * 100.0).round() / 100.0;
    assert_eq!(r["memory"]["bits_per_weight"].as_f64(), Some(bits));
    assert_eq!(r["totals"]["parameters"], elements);
}

#[test]
fn an_unknown_type_id_is_read_with_a_note() {
    let j = twin("llama-tied-unknown-type.gguf");
    let r = inspect(&gguf("llama-tied-unknown-type.gguf"));
    let base = twin("llama-tied.gguf");
    assert_eq!(
        r["totals"]["parameters"],
        base["source"]["hf_num_parameters"]
    );
    assert_eq!(r["differences"]["unexplained"], 0);
    let q = tensors(&r)
        .iter()
        .find(|t| t["stored_as"] == j["patch"]["tensor"])
        .unwrap();
    assert_eq!(q["dtype"], "ggml type 42");
    // Its size is the extent up to the next tensor: here exactly the F16 bytes it had
    // (576 elements, 1,152 bytes, a multiple of 32).
    let listed = j["expected_view"]["tensors"].as_array().unwrap();
    let was = base["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == j["patch"]["tensor"])
        .unwrap();
    assert_eq!(q["elements"], was["n_elements"]);
    assert_eq!(q["bytes"], was["n_bytes"]);
    assert_eq!(
        listed.len() as u64,
        r["totals"]["tensors"].as_u64().unwrap()
    );
    assert_eq!(r["totals"]["bytes"], base["n_bytes_total"]);
    let note = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|n| n.contains("ggml type id 42"))
        .unwrap();
    assert!(
        note.starts_with("llama-tied-unknown-type.gguf: tensor `blk.0.attn_q.weight`"),
        "{note}"
    );
}

/// Malformed files: exit 2, one line on stderr naming the file and the problem.
fn refused(dir: &Path, name: &str, bytes: &[u8], problem: &str) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = run(dir, &["inspect", path.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{name}: {}", out.stderr);
    assert!(out.stdout.is_empty());
    let line = out.stderr.trim_end();
    assert!(!line.contains('\n'), "{name}: one line: {line}");
    assert!(line.contains(&format!("{name}: GGUF: ")), "{name}: {line}");
    assert!(
        line.contains(problem),
        "{name}: expected `{problem}` in: {line}"
    );
}

#[test]
fn malformed_files_exit_2_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let original = std::fs::read(gguf("llama-tied.gguf")).unwrap();
    let data_start = twin("llama-tied.gguf")["data_offset"].as_u64().unwrap() as usize;
    for cut in [
        6,
        20,
        100,
        700,
        data_start - 5,
        data_start + 1000,
        original.len() - 100,
    ] {
        let m = if cut < 24 { "truncated" } else { "" };
        refused(dir, &format!("cut-{cut}.gguf"), &original[..cut], m);
    }
    let cases: Vec<(&str, Gguf, &str)> = vec![
        (
            "huge-count.gguf",
            Gguf {
                tensor_count: Some(u64::MAX),
                ..Gguf::tiny_llama()
            },
            "cannot fit",
        ),
        (
            "huge-kv.gguf",
            Gguf {
                kv_count: Some(1 << 62),
                ..Gguf::tiny_llama()
            },
            "cannot fit",
        ),
        (
            "huge-string.gguf",
            with(|g| g.set("x", V::Raw(8, u64::MAX.to_le_bytes().to_vec()))),
            "string length",
        ),
        (
            "huge-array.gguf",
            with(|g| {
                g.set(
                    "x",
                    V::Raw(
                        9,
                        [
                            5u32.to_le_bytes().to_vec(),
                            (1u64 << 61).to_le_bytes().to_vec(),
                        ]
                        .concat(),
                    ),
                )
            }),
            "cannot fit",
        ),
        (
            "bad-alignment.gguf",
            with(|g| g.set("general.alignment", V::U32(24))),
            "general.alignment is 24, not a power of two",
        ),
        (
            "alignment-type.gguf",
            with(|g| g.set("general.alignment", V::I32(32))),
            "general.alignment must be a UINT32",
        ),
        (
            "overlap.gguf",
            with(|g| g.tensors[3].offset = Some(g.offsets()[2])),
            "overlaps",
        ),
        (
            "misaligned.gguf",
            with(|g| g.tensors[3].offset = Some(g.offsets()[3] + 4)),
            "not a multiple of the alignment 32",
        ),
        (
            "version-1.gguf",
            Gguf {
                version: 1,
                ..Gguf::tiny_llama()
            },
            "GGUF version 1 is not supported",
        ),
        (
            "version-9.gguf",
            Gguf {
                version: 9,
                ..Gguf::tiny_llama()
            },
            "unsupported GGUF version 9",
        ),
        (
            "nesting.gguf",
            with(|g| g.set("bomb", nest(20))),
            "nested more than 8 deep",
        ),
        (
            "dims.gguf",
            with(|g| g.tensors[0].ne = vec![1, 1, 1, 1, 1]),
            "5 dimensions",
        ),
        (
            "blocks.gguf",
            with(|g| g.tensors.push(T::raw("q", &[48, 2], 8, 0))),
            "rows of 48 elements are not whole Q8_0 blocks of 32",
        ),
        (
            "trailing.gguf",
            with(|g| g.trailing = vec![7; 64]),
            "trailing bytes after the last tensor",
        ),
        (
            "value-type.gguf",
            with(|g| g.set("x", V::Raw(77, vec![]))),
            "unknown value type 77",
        ),
        (
            "duplicate.gguf",
            with(|g| g.tensors[1].name = "token_embd.weight".into()),
            "appears twice",
        ),
        (
            "newline-name.gguf",
            with(|g| {
                g.tensors[1].name = "a\nb".into();
                g.tensors[2].name = "a\nb".into();
            }),
            "tensor `a\\nb` appears twice",
        ),
    ];
    // (A newline in a tensor name is escaped in the message: `a\nb`.)
    for (name, g, problem) in cases {
        refused(dir, name, &g.bytes(), problem);
    }
}

fn with(f: impl FnOnce(&mut Gguf)) -> Gguf {
    let mut g = Gguf::tiny_llama();
    f(&mut g);
    g
}

fn nest(depth: usize) -> V {
    let mut v = V::Arr(4, vec![V::U32(1)]);
    for _ in 0..depth {
        v = V::Arr(9, vec![v]);
    }
    v
}

#[test]
fn the_test_writer_writes_what_paramaudit_reads() {
    // The writer's own file is a valid model: counted by hand.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny.gguf");
    std::fs::write(&path, Gguf::tiny_llama().bytes()).unwrap();
    let r = inspect(&path);
    assert_eq!(r["totals"]["parameters"], Gguf::TINY_LLAMA_PARAMETERS);
    assert_eq!(r["differences"]["unexplained"], 0);
    assert_eq!(r["formula"]["family"], "llama");
}

#[test]
fn a_wrong_split_part_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let parts = [
        "llama-untied-00001-of-00003.gguf",
        "llama-untied-00002-of-00003.gguf",
        "llama-untied-00003-of-00003.gguf",
    ];
    let setup = |replace: &str, with: &Path| -> PathBuf {
        let dir = tempfile::tempdir_in(tmp.path()).unwrap().keep();
        for p in parts {
            std::fs::copy(gguf(&format!("split/{p}")), dir.join(p)).unwrap();
        }
        std::fs::copy(with, dir.join(replace)).unwrap();
        dir
    };
    let cases = [
        // Part 3 under part 2's name: its split.no says 3.
        (
            parts[1],
            gguf(&format!("split/{}", parts[2])),
            "named as part 2 of 3, but its split keys say part 3 of 3",
        ),
        // Not a split part at all.
        (
            parts[2],
            gguf("llama-untied.gguf"),
            "has no split.no / split.count / split.tensors.count",
        ),
    ];
    for (replace, with, problem) in cases {
        let dir = setup(replace, &with);
        let out = run(&dir, &["inspect", dir.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        let line = out.stderr.trim_end();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(&format!("{replace}: GGUF: ")), "{line}");
        assert!(line.contains(problem), "{line}");
    }
    // A split whose parts claim a different number of tensors in all.
    let mut g = Gguf::tiny_llama();
    g.set("split.no", V::U16(1));
    g.set("split.count", V::U16(3));
    g.set("split.tensors.count", V::I32(99));
    let dir = setup(parts[1], &{
        let p = tmp.path().join("other.gguf");
        std::fs::write(&p, g.bytes()).unwrap();
        p
    });
    let out = run(&dir, &["inspect", dir.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "llama-untied-00002-of-00003.gguf: GGUF: named as part 2 of 3, but its split keys say part 2 of 3 with 99 tensors in all (the first part says 21)"
        ),
        "{}",
        out.stderr
    );
    // One part opened alone, under another name: refused, not counted short.
    let alone = tmp.path().join("renamed.gguf");
    std::fs::copy(gguf(&format!("split/{}", parts[1])), &alone).unwrap();
    let out = run(tmp.path(), &["inspect", alone.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("renamed.gguf: GGUF: this is part 2 of a 3-part split GGUF"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_against_a_saved_report() {
    let tmp = tempfile::tempdir().unwrap();
    for (model, saved, code) in [
        ("deepseek2.gguf", "gguf-deepseek2.json", 0),
        ("mixtral.gguf", "gguf-mixtral.json", 0),
        ("deepseek2-no-q-lora.gguf", "gguf-deepseek2.json", 1),
    ] {
        let expect = root().join("fixtures/expected").join(saved);
        let out = run(
            tmp.path(),
            &[
                "check",
                gguf(model).to_str().unwrap(),
                "--expect",
                expect.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(out.code, code, "{model} vs {saved}: {}", out.stderr);
        schema::doc("check", &out.stdout);
    }
}

#[test]
fn diff_against_the_safetensors_twin_differs_only_in_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    for (a, b) in [
        (
            gguf("llama-untied.gguf"),
            fixture("families/llama-for-causal-lm-untied"),
        ),
        (
            gguf("qwen3moe.gguf"),
            gguf("hf-twins/qwen3-moe-for-causal-lm-all-sparse"),
        ),
        (
            gguf("deepseek2.gguf"),
            fixture("families/deepseek-v3-for-causal-lm"),
        ),
    ] {
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
        let d = schema::doc("diff", &out.stdout);
        assert!(d["only_in_a"].as_array().unwrap().is_empty(), "{a:?}");
        assert!(d["only_in_b"].as_array().unwrap().is_empty(), "{a:?}");
        for f in d["figures"].as_array().unwrap() {
            let figure = f["figure"].as_str().unwrap();
            if figure == "totals.bytes" {
                // F16/F32 in the GGUF, F32 in the safetensors file.
                assert!(f["change"].as_i64().unwrap() > 0, "{a:?}");
            } else {
                assert_eq!(f["change"], 0, "{a:?} {figure}");
            }
        }
        // Only the dtypes changed, never a shape.
        for c in d["changed"].as_array().unwrap() {
            assert_eq!(c["a"]["shape"], c["b"]["shape"], "{c}");
        }
    }
}

fn verify_json(path: &Path) -> (i32, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &["verify", path.to_str().unwrap(), "--format", "json"],
    );
    (out.code, schema::doc("verify", &out.stdout))
}

/// The NaN / Inf flags.
fn nonfinite(r: &Value) -> Vec<String> {
    flagged(r)
        .into_iter()
        .filter(|f| f.ends_with("non_finite") || f.ends_with("all_nan"))
        .collect()
}

fn flagged(r: &Value) -> Vec<String> {
    r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["tensor"].as_str().unwrap(),
                f["problem"].as_str().unwrap()
            )
        })
        .collect()
}

/// Byte `at` of the data section of `name`, by the writer's listing.
fn data_byte(name: &str, tensor: &str) -> usize {
    let j = twin(name);
    let t = j["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == tensor)
        .unwrap();
    t["absolute_offset"].as_u64().unwrap() as usize
}

#[test]
fn verify_hashes_gguf_and_scans_its_plain_values_in_either_byte_order() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "llama-untied.gguf",
        "llama-untied-be.gguf",
        "deepseek2.gguf",
        "quant-zoo.gguf",
    ] {
        let (code, r) = verify_json(&gguf(name));
        assert_eq!(code, 0, "{name}");
        let sha = format!("{:x}", Sha256::digest(std::fs::read(gguf(name)).unwrap()));
        assert_eq!(r["files"][0]["sha256"], sha, "{name}");
        assert_eq!(r["files"][0]["format"], "gguf");
        assert!(
            flagged(&r).iter().all(|f| !f.ends_with("non_finite")),
            "{name}: {:?}",
            flagged(&r)
        );
    }
    // The same flags as the safetensors model it was converted from (DeepSeek's router
    // score-correction biases are all zero in both).
    let (_, hf) = verify_json(&fixture("families/deepseek-v3-for-causal-lm"));
    let (_, ours) = verify_json(&gguf("deepseek2.gguf"));
    assert_eq!(flagged(&ours), flagged(&hf));
    assert_eq!(flagged(&ours).len(), 2);
    // Both byte orders give the same statistics.
    let (_, le) = verify_json(&gguf("llama-untied.gguf"));
    let (_, be) = verify_json(&gguf("llama-untied-be.gguf"));
    assert_eq!(le["tensors"], be["tensors"]);
    // Quantized blocks are hashed, not scanned: 26 block types and the 3-D Q8_0.
    let (_, zoo) = verify_json(&gguf("quant-zoo.gguf"));
    let unscanned = zoo["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["scanned"] == false)
        .count();
    assert_eq!(unscanned, 27);
    let table = run(
        tmp.path(),
        &["verify", gguf("quant-zoo.gguf").to_str().unwrap()],
    );
    assert!(
        table
            .stdout
            .contains("27 tensors hashed only (quantized blocks"),
        "{}",
        table.stdout
    );

    // A NaN planted in an F16 weight, little- and big-endian (0x7E00).
    for (name, nan) in [
        ("llama-untied.gguf", [0x00u8, 0x7E]),
        ("llama-untied-be.gguf", [0x7E, 0x00]),
    ] {
        let mut bytes = std::fs::read(gguf(name)).unwrap();
        let at = data_byte(name, "blk.1.attn_v.weight") + 2 * 5;
        bytes[at..at + 2].copy_from_slice(&nan);
        let path = tmp.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let (code, r) = verify_json(&path);
        assert_eq!(code, 1, "{name}");
        assert_eq!(
            nonfinite(&r),
            ["model.layers.1.self_attn.v_proj.weight non_finite"],
            "{name}"
        );
    }
    // NaNs in the padding between attn_k_b and attn_v_b (inside kv_b_proj's span) are no
    // tensor's values.
    let name = "deepseek2.gguf";
    let j = twin(name);
    let k_end = data_byte(name, "blk.0.attn_k_b.weight")
        + j["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "blk.0.attn_k_b.weight")
            .unwrap()["n_bytes"]
            .as_u64()
            .unwrap() as usize;
    let v_start = data_byte(name, "blk.0.attn_v_b.weight");
    assert!(v_start > k_end, "the fixture pads between the halves");
    let mut bytes = std::fs::read(gguf(name)).unwrap();
    for b in &mut bytes[k_end..v_start] {
        *b = 0xFF;
    }
    let path = tmp.path().join(name);
    std::fs::write(&path, &bytes).unwrap();
    let (code, r) = verify_json(&path);
    assert_eq!(code, 0, "{:?}", nonfinite(&r));
    // A NaN in the second half is kv_b_proj's.
    bytes[v_start..v_start + 2].copy_from_slice(&[0x00, 0x7E]);
    std::fs::write(&path, &bytes).unwrap();
    let (code, r) = verify_json(&path);
    assert_eq!(code, 1);
    assert_eq!(
        nonfinite(&r),
        ["model.layers.0.self_attn.kv_b_proj.weight non_finite"]
    );
    // One expert's share: expert 2 of blk.1.ffn_up_exps ([4, 8, 20] F16: 320 bytes each).
    let mut bytes = std::fs::read(gguf(name)).unwrap();
    let at = data_byte(name, "blk.1.ffn_up_exps.weight") + 2 * 320 + 10;
    bytes[at..at + 2].copy_from_slice(&[0x00, 0x7C]);
    std::fs::write(&path, &bytes).unwrap();
    let (_, r) = verify_json(&path);
    assert_eq!(
        nonfinite(&r),
        ["model.layers.1.mlp.experts.2.up_proj.weight non_finite"]
    );
}

#[test]
fn a_remote_prefix_reads_as_the_local_file() {
    use paramaudit::checkpoint::Checkpoint;
    use paramaudit::source::{Layout, RemoteFile, RemoteHeaders};
    let name = "deepseek2.gguf";
    let bytes = std::fs::read(gguf(name)).unwrap();
    let data_start = twin(name)["data_offset"].as_u64().unwrap() as usize;
    let remote = |n: usize| {
        Layout::Remote(RemoteHeaders {
            files: vec![RemoteFile {
                name: name.into(),
                url: format!("https://example/{name}"),
                size: bytes.len() as u64,
                prefix: bytes[..n].to_vec(),
            }],
            index: None,
        })
    };
    let local = Checkpoint::open(&Layout::Single(gguf(name))).unwrap();
    let header = Checkpoint::open(&remote(data_start)).unwrap();
    assert!(header.header_only);
    assert_eq!(header.tensors, local.tensors);
    assert_eq!(header.files[0].config, local.files[0].config);
    assert_eq!(
        header.files[0].path,
        PathBuf::from(format!("https://example/{name}"))
    );
    // Too short: an error saying how much is needed (the Hub reader asks
    // `format::gguf::parse_prefix` directly and fetches that much).
    let e = Checkpoint::open(&remote(1000)).unwrap_err().to_string();
    assert!(
        e.contains("GGUF: the header continues past the 1000 bytes read: at least"),
        "{e}"
    );
    match paramaudit::format::gguf::parse_prefix(&bytes[..1000], bytes.len() as u64, 0).unwrap() {
        paramaudit::format::gguf::Prefix::NeedAtLeast(n) => {
            assert!(n > 1000 && n <= data_start as u64)
        }
        other => panic!("{other:?}"),
    }
}

/// The whole pipeline on mutated GGUF fixtures, in a debug build (an overflow panics):
/// open, classify, formula, reconcile, every renderer, diff against the original. Every
/// outcome is a report or one line with exit code 2.
#[test]
fn the_pipeline_survives_mutated_gguf_files() {
    use crate::mutation::{render_everything, Rng};
    use paramaudit::source::{Layout, Resolved};
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x0dd_b1a5_ed5e_ed01);
    let (mut reports, mut errors) = (0, 0);
    for name in [
        "deepseek2.gguf",
        "mixtral.gguf",
        "llama-untied-be.gguf",
        "phi3.gguf",
    ] {
        let original = std::fs::read(gguf(name)).unwrap();
        let header = twin(name)["data_offset"].as_u64().unwrap() as usize;
        let resolved = |p: &Path| Resolved {
            spec: "m".into(),
            layout: Layout::Single(p.to_path_buf()),
            config: None,
        };
        let baseline = paramaudit::inspect(&resolved(&gguf(name))).unwrap();
        let path = tmp.path().join(name);
        for _ in 0..250 {
            let mut bytes = original.clone();
            match rng.next() % 4 {
                0 => {
                    let i = rng.below(header);
                    bytes[i] ^= 1 << (rng.next() % 8);
                }
                1 => bytes.truncate(rng.below(bytes.len())),
                2 => {
                    // A number in the header (a count, length, dim, offset or value)
                    // replaced with an extreme one.
                    let i = rng.below(header - 8);
                    let v = [0u64, 1, 2, u64::MAX, 1 << 63, 1 << 32, 4_294_967_295][rng.below(7)];
                    bytes[i..i + 8].copy_from_slice(&v.to_le_bytes());
                }
                _ => {
                    let i = rng.below(header);
                    bytes[i] = rng.next() as u8;
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            match paramaudit::inspect(&resolved(&path)) {
                Ok(report) => {
                    reports += 1;
                    render_everything(&report);
                    let d = paramaudit::compare::diff("a", &baseline, "b", &report);
                    let _ = d;
                }
                Err(e) => {
                    errors += 1;
                    assert_eq!(e.exit_code(), 2, "{e}");
                    assert!(!e.to_string().contains('\n'), "one line: {e}");
                }
            }
        }
    }
    assert!(
        reports > 100 && errors > 300,
        "{reports} reports, {errors} errors"
    );
}

/// Llama 3.1+ GGUF files carry llama.cpp's `rope_freqs.weight` [head_dim / 2] (RoPE
/// frequency factors transformers computes at load time and never stores): a buffer, not
/// an unexplained parameter. The tiny llama (H 8, 2 heads: head_dim 4) gets the 2 factors.
#[test]
fn llama_rope_frequency_factors_are_a_buffer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Gguf::tiny_llama();
    g.tensors.push(T::f32("rope_freqs.weight", &[2], 1.0));
    let path = tmp.path().join("llama-3.1-like.gguf");
    std::fs::write(&path, g.bytes()).unwrap();
    let r = inspect(&path);
    assert_eq!(r["totals"]["parameters"], Gguf::TINY_LLAMA_PARAMETERS);
    assert_eq!(r["totals"]["buffers"], 2);
    assert_eq!(r["differences"]["unexplained"], 0, "{:#}", r["findings"]);
    assert_eq!(r["buckets"]["other"]["tensors"], 0);
}
