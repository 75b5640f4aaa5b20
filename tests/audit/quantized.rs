//! Quantized safetensors (fixtures/quantized, written by fixtures/make_quantized.py): each
//! scheme's packed tensors count as the logical parameters of the unquantized model.
//! Every expected figure comes from the fixture's reference.json (what the writer stored,
//! and its unquantized twin's transformers `num_parameters()`) or from arithmetic written
//! out here, never from paramaudit's own output.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{fixture, run, schema};
use crate::mutation::{mutate_file, render_everything, replace_number, Rng};

/// Every quantized fixture.
const QUANTIZED: [&str; 13] = [
    "gptq-4bit-g32",
    "gptq-4bit-g32-desc-act",
    "gptq-dynamic",
    "awq-gemm",
    "awq-gemv",
    "bnb-nf4",
    "bnb-fp4-bf16-storage",
    "bnb-int8",
    "fp8-block",
    "ct-w4a16-g32-sym",
    "ct-w4a16-g32-asym",
    "ct-w3a16-g32-sym",
    "mxfp4",
];

fn dir(name: &str) -> PathBuf {
    fixture("quantized").join(name)
}

fn reference(path: &Path) -> Value {
    let text = std::fs::read_to_string(path.join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `inspect --format json`, exit 0, validated against the report schema.
fn inspect(cwd: &Path, path: &Path) -> Value {
    let out = run(
        cwd,
        &["inspect", path.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}: {}", path.display(), out.stderr);
    schema::doc("report", &out.stdout)
}

fn tensor<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tensor `{name}` in the report"))
}

/// The reference's stored tensors of one role, summed: (elements, bytes).
fn stored_sum(r: &Value, role: &str) -> (u64, u64) {
    r["stored"]
        .as_object()
        .unwrap()
        .values()
        .filter(|t| t["role"] == role)
        .fold((0, 0), |(e, b), t| {
            (e + u(&t["elements"]), b + u(&t["bytes"]))
        })
}

#[test]
fn every_scheme_counts_the_parameters_of_its_unquantized_twin() {
    let tmp = tempfile::tempdir().unwrap();
    for name in QUANTIZED {
        let r = reference(&dir(name));
        let twin_dir = fixture(r["unquantized_twin"].as_str().unwrap());
        let twin_ref = reference(&twin_dir);
        let logical = u(&r["totals"]["logical_parameters"]);
        // The writer's own figures agree: logical count = the twin's num_parameters().
        assert_eq!(
            logical,
            u(&r["totals"]["unquantized_twin_num_parameters"]),
            "{name}"
        );
        assert_eq!(logical, u(&twin_ref["num_parameters"]), "{name}");

        let report = inspect(tmp.path(), &dir(name));
        let twin = inspect(tmp.path(), &twin_dir);
        assert_eq!(
            u(&twin["totals"]["parameters"]),
            logical,
            "{name}: the twin"
        );
        assert_eq!(u(&report["totals"]["parameters"]), logical, "{name}");
        same_buckets(name, &report, &twin);
        // Every scheme's model has a family (gpt-oss's too): nothing unexplained.
        assert_eq!(report["differences"]["unexplained"], 0, "{name}");
        assert_eq!(twin["differences"]["unexplained"], 0, "{name}: the twin");
        stored_figures(name, &r, &report);
        logical_tensors(name, &r, &report);
    }
}

/// Parameters, weights and biases of every bucket equal the twin's; the quantization
/// bucket holds only overhead.
fn same_buckets(name: &str, report: &Value, twin: &Value) {
    for (bucket, row) in twin["buckets"].as_object().unwrap() {
        for figure in ["parameters", "weights", "biases", "buffers"] {
            assert_eq!(
                report["buckets"][bucket][figure], row[figure],
                "{name}: buckets.{bucket}.{figure}"
            );
        }
    }
    let q = &report["buckets"]["quantization"];
    assert_eq!((u(&q["parameters"]), u(&q["weights"])), (0, 0), "{name}");
}

/// Overhead, bytes, stored elements and tensor count: the reference's sums.
fn stored_figures(name: &str, r: &Value, report: &Value) {
    let t = &report["totals"];
    let (overhead, overhead_bytes) = stored_sum(r, "quantization_overhead");
    assert_eq!(overhead, u(&r["totals"]["overhead_elements"]), "{name}");
    assert_eq!(u(&t["overhead"]), overhead, "{name}: totals.overhead");
    assert_eq!(
        u(&report["buckets"]["quantization"]["overhead"]),
        overhead,
        "{name}"
    );
    assert_eq!(
        u(&report["memory"]["overhead_bytes"]),
        overhead_bytes,
        "{name}"
    );
    assert_eq!(
        u(&report["buckets"]["quantization"]["bytes"]),
        overhead_bytes,
        "{name}"
    );
    assert_eq!(
        u(&t["bytes"]),
        u(&r["totals"]["stored_bytes"]),
        "{name}: bytes"
    );
    assert_eq!(
        u(&t["stored_elements"]),
        u(&r["totals"]["stored_elements"]),
        "{name}"
    );
    assert_eq!(
        u(&t["tensors"]),
        u(&r["totals"]["stored_tensor_count"]),
        "{name}"
    );
    let (weights, weight_bytes) = stored_sum(r, "quantized_weight");
    let (plain, plain_bytes) = stored_sum(r, "unquantized");
    assert_eq!(
        u(&report["memory"]["stored_bytes"]),
        weight_bytes + plain_bytes,
        "{name}: parameter bytes as stored"
    );
    assert_eq!(
        weights + plain + overhead,
        u(&t["stored_elements"]),
        "{name}: every stored element is a weight, a plain tensor or overhead"
    );
}

/// Each quantized module: one logical weight of the reference's logical shape, stored
/// as its packed tensor; its overhead tensors in the quantization bucket; every
/// unquantized tensor as stored.
fn logical_tensors(name: &str, r: &Value, report: &Value) {
    for (module, m) in r["modules"].as_object().unwrap() {
        let packed = m["packed"][0].as_str().unwrap();
        let logical = match packed.strip_suffix("_blocks") {
            Some(p) => p.to_string(),
            None => format!("{module}.weight"),
        };
        let stored = &m["stored"][packed];
        let t = tensor(report, &logical);
        assert_eq!(t["shape"], m["logical_shape"], "{name}: {logical}");
        assert_eq!(t["elements"], m["logical_elements"], "{name}: {logical}");
        assert_eq!(t["role"], "weight", "{name}: {logical}");
        assert_eq!(t["stored_as"], packed, "{name}: {logical}");
        assert_eq!(t["dtype"], stored["dtype"], "{name}: {logical}");
        assert_eq!(t["bytes"], stored["bytes"], "{name}: {logical}");
        let stored_elements = if stored["elements"] == m["logical_elements"] {
            Value::Null
        } else {
            stored["elements"].clone()
        };
        assert_eq!(t["stored_elements"], stored_elements, "{name}: {logical}");
        for o in m["overhead"].as_array().unwrap() {
            let t = tensor(report, o.as_str().unwrap());
            assert_eq!(
                (&t["bucket"], &t["role"]),
                (&json!("quantization"), &json!("overhead")),
                "{name}: {o}"
            );
        }
    }
    for (stored_name, s) in r["stored"].as_object().unwrap() {
        if s["role"] == "unquantized" {
            let t = tensor(report, stored_name);
            assert_eq!(
                (&t["shape"], &t["stored_as"]),
                (&s["shape"], &Value::Null),
                "{name}: {stored_name}"
            );
            assert_ne!(t["role"], "overhead", "{name}: {stored_name}");
        }
    }
}

/// Bits per weight = (packed weight bytes + unquantized bytes + overhead bytes) · 8 /
/// logical parameters, to two decimals; the byte figures are the reference's.
#[test]
fn bits_per_weight_count_the_overhead() {
    let tmp = tempfile::tempdir().unwrap();
    // (fixture, packed weight bytes, unquantized bytes, overhead bytes, parameters, bits)
    let cases: [(&str, u64, u64, u64, u64, f64); 13] = [
        // (147,456 + 66,816 + 31,232) · 8 / 328,320 = 1,964,032 / 328,320 = 5.982...
        ("gptq-4bit-g32", 147_456, 66_816, 31_232, 328_320, 5.98),
        (
            "gptq-4bit-g32-desc-act",
            147_456,
            66_816,
            31_232,
            328_320,
            5.98,
        ),
        // (114,688 + 263,424 + 20,480) · 8 / 328,320 = 3,188,736 / 328,320 = 9.712...
        ("gptq-dynamic", 114_688, 263_424, 20_480, 328_320, 9.71),
        // (147,456 + 66,816 + 11,520) · 8 / 328,320 = 1,806,336 / 328,320 = 5.501...
        ("awq-gemm", 147_456, 66_816, 11_520, 328_320, 5.50),
        // (147,456 + 66,816 + 81,920) · 8 / 328,320 = 2,369,536 / 328,320 = 7.217...
        ("awq-gemv", 147_456, 66_816, 81_920, 328_320, 7.22),
        // (147,456 + 66,816 + 22,294) · 8 / 328,320 = 1,892,528 / 328,320 = 5.764...
        ("bnb-nf4", 147_456, 66_816, 22_294, 328_320, 5.76),
        // (147,456 + 66,816 + 20,444) · 8 / 328,320 = 1,877,728 / 328,320 = 5.719...
        (
            "bnb-fp4-bf16-storage",
            147_456,
            66_816,
            20_444,
            328_320,
            5.72,
        ),
        // (294,912 + 66,816 + 8,206) · 8 / 328,320 = 2,959,472 / 328,320 = 9.013...
        ("bnb-int8", 294_912, 66_816, 8_206, 328_320, 9.01),
        // (294,912 + 66,816 + 80) · 8 / 328,320 = 2,894,464 / 328,320 = 8.815...
        ("fp8-block", 294_912, 66_816, 80, 328_320, 8.82),
        // (147,456 + 66,816 + 18,656) · 8 / 328,320 = 1,863,424 / 328,320 = 5.675...
        ("ct-w4a16-g32-sym", 147_456, 66_816, 18_656, 328_320, 5.68),
        // (147,456 + 66,816 + 23,264) · 8 / 328,320 = 1,900,288 / 328,320 = 5.787...
        ("ct-w4a16-g32-asym", 147_456, 66_816, 23_264, 328_320, 5.79),
        // (110,592 + 66,816 + 18,656) · 8 / 328,320 = 1,568,512 / 328,320 = 4.777...
        ("ct-w3a16-g32-sym", 110_592, 66_816, 18_656, 328_320, 4.78),
        // (49,152 + 87,456 + 3,072) · 8 / 142,032 = 1,117,440 / 142,032 = 7.867...
        ("mxfp4", 49_152, 87_456, 3_072, 142_032, 7.87),
    ];
    for (name, packed, plain, overhead, parameters, bits) in cases {
        let t = &reference(&dir(name))["totals"];
        assert_eq!(
            [packed, plain, overhead, parameters],
            [
                u(&t["quantized_weight_bytes"]),
                u(&t["unquantized_bytes"]),
                u(&t["overhead_bytes"]),
                u(&t["logical_parameters"])
            ],
            "{name}: the figures above are the reference's"
        );
        let exact = (packed + plain + overhead) as f64 * 8.0 / parameters as f64;
        assert!(
            (exact - bits).abs() <= 0.005,
            "{name}: {exact} rounds to {bits}"
        );
        let report = inspect(tmp.path(), &dir(name));
        let found = report["memory"]["bits_per_weight"].as_f64().unwrap();
        assert!((found - bits).abs() < 1e-9, "{name}: {found} != {bits}");
    }
}

#[test]
fn the_text_and_markdown_reports_show_overhead_bits_per_weight_and_the_scheme() {
    let tmp = tempfile::tempdir().unwrap();
    let path = dir("gptq-4bit-g32");
    for format in ["table", "markdown"] {
        let out = run(
            tmp.path(),
            &["inspect", path.to_str().unwrap(), "--format", format],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        for line in [
            "parameters 328,320",
            // reference overhead: 12,416 elements, 31,232 bytes
            "quantization overhead: 12,416 elements in 31,232 bytes",
            "(5.98 bits per weight)",
            "quantized with GPTQ (4-bit, group size 32, desc_act false, symmetric, checkpoint format gptq)",
            "14 quantized module(s) store 36,864 elements for 294,912 logical weights",
        ] {
            assert!(out.stdout.contains(line), "{format}: {line:?} in\n{}", out.stdout);
        }
    }
}

#[test]
fn diff_against_the_unquantized_twin_changes_bytes_not_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let base = dir("llama-base");
    let base_ref = reference(&base);
    let base_bytes = u(&base_ref["stored_bytes"]);
    let base_tensors = base_ref["stored"].as_object().unwrap().len() as i64;
    for name in [
        "gptq-4bit-g32",
        "awq-gemv",
        "bnb-nf4",
        "ct-w3a16-g32-sym",
        "fp8-block",
    ] {
        let out = run(
            tmp.path(),
            &[
                "diff",
                base.to_str().unwrap(),
                dir(name).to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let d = schema::doc("diff", &out.stdout);
        let r = reference(&dir(name));
        for f in d["figures"].as_array().unwrap() {
            let figure = f["figure"].as_str().unwrap();
            let expected = match figure {
                "totals.bytes" => u(&r["totals"]["stored_bytes"]) as i64 - base_bytes as i64,
                "totals.overhead" => u(&r["totals"]["overhead_elements"]) as i64,
                "totals.tensors" => u(&r["totals"]["stored_tensor_count"]) as i64 - base_tensors,
                _ => 0,
            };
            assert_eq!(f["change"], expected, "{name}: {figure}");
        }
        assert!(d["figures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["figure"] == "totals.parameters"));
    }
}

#[test]
fn check_holds_a_quantized_model_to_a_saved_report() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("gptq.json");
    let out = run(
        tmp.path(),
        &[
            "inspect",
            dir("gptq-4bit-g32").to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    std::fs::write(&saved, out.stdout).unwrap();
    let same = run(
        tmp.path(),
        &[
            "check",
            dir("gptq-4bit-g32").to_str().unwrap(),
            "--expect",
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(same.stdout.starts_with("check passed:"), "{}", same.stdout);
    // Another scheme of the same model: every parameter figure holds, storage drifts.
    let other = run(
        tmp.path(),
        &[
            "check",
            dir("awq-gemm").to_str().unwrap(),
            "--expect",
            saved.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(other.code, 1, "{}", other.stderr);
    let c = schema::doc("check", &other.stdout);
    let drift: Vec<&str> = c["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["figure"].as_str().unwrap())
        .collect();
    assert_eq!(drift, ["totals.overhead", "totals.tensors", "totals.bytes"]);
    let held: Vec<&str> = c["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(held.contains(&"totals.parameters") && held.contains(&"differences.unexplained"));
    let overhead = c["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["figure"] == "totals.overhead")
        .unwrap();
    // reference overhead elements: GPTQ 12,416, AWQ GEMM 5,184
    assert_eq!(
        (&overhead["expected"], &overhead["found"]),
        (&json!(12_416), &json!(5_184))
    );
}

#[test]
fn verify_scans_floats_and_leaves_packed_words_alone() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "gptq-4bit-g32",
        "bnb-fp4-bf16-storage",
        "fp8-block",
        "mxfp4",
        "bnb-int8",
    ] {
        let out = run(
            tmp.path(),
            &["verify", dir(name).to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(out.code, 0, "{name}: {}{}", out.stdout, out.stderr);
        let v = schema::doc("verify", &out.stdout);
        assert_eq!(v["passed"], true, "{name}");
        let r = reference(&dir(name));
        let stats = |n: &str| {
            v["tensors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == n)
                .unwrap_or_else(|| panic!("{n}"))
                .clone()
        };
        for (module, m) in r["modules"].as_object().unwrap() {
            let packed = m["packed"][0].as_str().unwrap();
            let logical = packed
                .strip_suffix("_blocks")
                .map_or(format!("{module}.weight"), str::to_string);
            let s = stats(&logical);
            // Packed words are not values; FP8 and int8 weights hold one value each.
            let one_value_each = m["stored"][packed]["elements"] == m["logical_elements"];
            assert_eq!(s["scanned"], one_value_each, "{name}: {logical}");
            assert_eq!(s["nan"], 0, "{name}: {logical}");
        }
        for (stored_name, s) in r["stored"].as_object().unwrap() {
            let float = s["dtype"] == "F16" || s["dtype"] == "BF16";
            if float && s["role"] != "quantized_weight" {
                let t = stats(stored_name);
                assert_eq!(
                    (&t["scanned"], &t["nan"]),
                    (&json!(true), &json!(0)),
                    "{name}: {stored_name}"
                );
            }
        }
        let zero_flags: Vec<&Value> = v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["problem"] == "all_zero"
                    && r["stored"][f["tensor"].as_str().unwrap()]["role"] == "quantization_overhead"
            })
            .collect();
        assert!(
            zero_flags.is_empty(),
            "{name}: overhead of zeros is not flagged: {zero_flags:?}"
        );
    }
}

#[test]
fn without_any_config_the_tensor_names_show_the_scheme() {
    let tmp = tempfile::tempdir().unwrap();
    for name in QUANTIZED {
        let only = tmp.path().join(name);
        std::fs::create_dir_all(&only).unwrap();
        std::fs::copy(
            dir(name).join("model.safetensors"),
            only.join("model.safetensors"),
        )
        .unwrap();
        let report = inspect(tmp.path(), &only);
        let r = reference(&dir(name));
        assert_eq!(
            u(&report["totals"]["parameters"]),
            u(&r["totals"]["logical_parameters"]),
            "{name}"
        );
        assert_eq!(
            u(&report["totals"]["overhead"]),
            u(&r["totals"]["overhead_elements"]),
            "{name}"
        );
        let notes = report["notes"].to_string();
        assert!(
            notes.contains("recognised from tensor names (no quantization config)"),
            "{name}: {notes}"
        );
    }
}

#[test]
fn header_only_reads_count_from_the_shapes_and_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, says) in [
        ("bnb-nf4", "each is counted as 2 weights per stored byte"),
        (
            "bnb-fp4-bf16-storage",
            "each is counted as 2 weights per stored byte",
        ),
        ("ct-w4a16-g32-asym", "input features from the packing"),
        ("ct-w3a16-g32-sym", "input features from the packing"),
    ] {
        let saved = tmp.path().join(name);
        let out = run(
            tmp.path(),
            &[
                "inspect",
                dir(name).to_str().unwrap(),
                "--save-header",
                saved.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        let report = inspect(tmp.path(), &saved);
        let r = reference(&dir(name));
        assert_eq!(report["source"]["header_only"], true);
        assert_eq!(
            u(&report["totals"]["parameters"]),
            u(&r["totals"]["logical_parameters"]),
            "{name}"
        );
        assert_eq!(report["differences"]["unexplained"], 0, "{name}");
        assert!(
            report["notes"].to_string().contains(says),
            "{name}: {}",
            report["notes"]
        );
    }
}

// ---------------------------------------------------------------------------------------
// Malformed variants, written at test time from a fixture.

/// One tensor: name, dtype, shape, data.
type Entry = (String, String, Vec<u64>, Vec<u8>);

/// A safetensors file as its tensors in data order, with its metadata.
struct St {
    metadata: Value,
    tensors: Vec<Entry>,
}

impl St {
    fn read(path: &Path) -> St {
        let bytes = std::fs::read(path).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Map<String, Value> =
            serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        let data = &bytes[8 + n..];
        let mut tensors: Vec<(u64, Entry)> = header
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .map(|(k, v)| {
                let (s, e) = (u(&v["data_offsets"][0]), u(&v["data_offsets"][1]));
                let shape = v["shape"].as_array().unwrap().iter().map(u).collect();
                let dtype = v["dtype"].as_str().unwrap().to_string();
                let bytes = data[s as usize..e as usize].to_vec();
                (s, (k.clone(), dtype, shape, bytes))
            })
            .collect();
        tensors.sort_by_key(|t| t.0);
        St {
            metadata: header.get("__metadata__").cloned().unwrap_or(Value::Null),
            tensors: tensors.into_iter().map(|(_, e)| e).collect(),
        }
    }

    fn write(&self, path: &Path) {
        let mut header = serde_json::Map::new();
        if !self.metadata.is_null() {
            header.insert("__metadata__".into(), self.metadata.clone());
        }
        let mut at = 0usize;
        for (name, dtype, shape, data) in &self.tensors {
            header.insert(
                name.clone(),
                json!({"dtype": dtype, "shape": shape, "data_offsets": [at, at + data.len()]}),
            );
            at += data.len();
        }
        let mut text = serde_json::to_string(&header).unwrap();
        while !text.len().is_multiple_of(8) {
            text.push(' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
        }
        std::fs::write(path, out).unwrap();
    }

    fn get(&mut self, name: &str) -> &mut Entry {
        self.tensors
            .iter_mut()
            .find(|t| t.0 == name)
            .unwrap_or_else(|| panic!("{name}"))
    }
}

/// A copy of fixture `name` in `at` whose model.safetensors `edit` rewrites.
fn variant(at: &Path, name: &str, edit: impl FnOnce(&mut St)) -> PathBuf {
    std::fs::create_dir_all(at).unwrap();
    for f in std::fs::read_dir(dir(name)).unwrap().flatten() {
        std::fs::copy(f.path(), at.join(f.file_name())).unwrap();
    }
    let mut st = St::read(&dir(name).join("model.safetensors"));
    edit(&mut st);
    st.write(&at.join("model.safetensors"));
    at.to_path_buf()
}

/// Exit 2, nothing on stdout, one line on stderr naming the file and containing `needle`.
fn rejected(cwd: &Path, target: &Path, file: &str, needle: &str) {
    let out = run(cwd, &["inspect", target.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{needle}: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty(), "{needle}: nothing on stdout");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(
        out.stderr.starts_with("paramaudit: error: "),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(out.stderr.contains(file), "names {file}: {}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in {}",
        out.stderr
    );
}

const Q: &str = "model.layers.0.self_attn.q_proj";

#[test]
fn malformed_quantized_tensors_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let file = "model.safetensors";
    // qweight one row short: 15 rows of 8 4-bit weights = 120 inputs, g_idx holds 128.
    let short = variant(&t.join("short"), "gptq-4bit-g32", |st| {
        let q = st.get(&format!("{Q}.qweight"));
        q.2 = vec![15, 128];
        q.3.truncate(15 * 128 * 4);
    });
    rejected(t, &short, file, "at 4 bits holds 120 input features");
    let no_scales = variant(&t.join("no-scales"), "gptq-4bit-g32", |st| {
        st.tensors
            .retain(|x| x.0 != "model.layers.1.mlp.up_proj.scales")
    });
    rejected(
        t,
        &no_scales,
        file,
        "its companion `model.layers.1.mlp.up_proj.scales` is missing",
    );
    let zeros = variant(&t.join("awq-zeros"), "awq-gemm", |st| {
        let z = st.get(&format!("{Q}.qzeros"));
        z.2 = vec![4, 16];
        z.3 = vec![0; 4 * 16 * 4];
    });
    rejected(
        t,
        &zeros,
        file,
        "qzeros`: shape [4, 16], but a GEMM module of 128 outputs and 128 inputs",
    );
    let state = format!("{Q}.weight.quant_state.bitsandbytes__nf4");
    let cut = variant(&t.join("bnb-cut"), "bnb-nf4", |st| {
        let s = st.get(&state);
        s.3 = br#"{"quant_type": "nf4", "shape": [128,"#.to_vec();
        s.2 = vec![s.3.len() as u64];
    });
    rejected(t, &cut, file, "quant_state is not bitsandbytes' JSON");
    let huge = variant(&t.join("bnb-huge"), "bnb-nf4", |st| {
        let s = st.get(&state);
        s.3 = vec![b' '; 70_000];
        s.2 = vec![70_000];
    });
    rejected(
        t,
        &huge,
        file,
        "holds 70000 bytes, over the 65536-byte limit",
    );
    let wrong = variant(&t.join("bnb-shape"), "bnb-nf4", |st| {
        let s = st.get(&state);
        s.3 =
            br#"{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [128, 129]}"#
                .to_vec();
        s.2 = vec![s.3.len() as u64];
    });
    rejected(
        t,
        &wrong,
        file,
        "quant_state shape [128, 129] (16512 weights) packs into 8256",
    );
    let shape = format!("{Q}.weight_shape");
    let negative = variant(&t.join("ct-negative"), "ct-w4a16-g32-sym", |st| {
        st.get(&shape).3 = [(-1i64).to_le_bytes(), 128i64.to_le_bytes()].concat();
    });
    rejected(
        t,
        &negative,
        file,
        "holds [-1, 128], not a shape of positive dimensions",
    );
    let absurd = variant(&t.join("ct-absurd"), "ct-w4a16-g32-sym", |st| {
        st.get(&shape).3 = [(1i64 << 40).to_le_bytes(), (1i64 << 40).to_le_bytes()].concat();
    });
    rejected(
        t,
        &absurd,
        file,
        "holds [1099511627776, 1099511627776], which 16 32-bit words",
    );
    let blocks = variant(&t.join("mxfp4"), "mxfp4", |st| {
        let b = st.get("model.layers.1.mlp.experts.down_proj_blocks");
        b.2 = vec![4, 64, 2, 15];
        b.3.truncate(4 * 64 * 2 * 15);
    });
    rejected(
        t,
        &blocks,
        file,
        "MXFP4 blocks are U8 [experts, rows, blocks, 16], found U8 [4, 64, 2, 15]",
    );
    let scb = variant(&t.join("int8"), "bnb-int8", |st| {
        let s = st.get(&format!("{Q}.SCB"));
        s.2 = vec![127];
        s.3.truncate(127 * 4);
    });
    rejected(t, &scb, file, "needs one scale per row");
}

#[test]
fn contradictory_or_oversized_configs_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let edit_config = |at: &str, name: &str, edit: &dyn Fn(&mut Value)| {
        let d = variant(&t.join(at), name, |_| {});
        let mut c: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
        edit(&mut c);
        std::fs::write(d.join("config.json"), c.to_string()).unwrap();
        d
    };
    let excluded = edit_config("excluded", "gptq-4bit-g32", &|c| {
        c["quantization_config"]["dynamic"] =
            json!({ r"-:model\.layers\.0\.self_attn\.q_proj": {} });
    });
    rejected(
        t,
        &excluded,
        "model.safetensors",
        "leaves `model.layers.0.self_attn.q_proj` unquantized, yet it is stored packed",
    );
    let bits = edit_config("bits", "gptq-4bit-g32", &|c| {
        c["quantization_config"]["bits"] = json!(3)
    });
    rejected(
        t,
        &bits,
        "model.safetensors",
        "down_proj.qweight`: 32 rows of 32-bit words do not hold a whole number of 3-bit weights",
    );
    let not_object = edit_config("not-object", "awq-gemm", &|c| {
        c["quantization_config"] = json!("awq")
    });
    rejected(
        t,
        &not_object,
        "config.json",
        "`quantization_config` must be an object",
    );
    let regex = edit_config("regex", "gptq-dynamic", &|c| {
        c["quantization_config"]["dynamic"] = json!({ "+:(?<=x)y": {"bits": 8} });
    });
    rejected(
        t,
        &regex,
        "config.json",
        "dynamic rule `+:(?<=x)y` is not a regular expression paramaudit can match",
    );
    // An older GPTQ: no quantization_config, an oversized quantize_config.json beside.
    let oversized = edit_config("oversized", "gptq-4bit-g32", &|c| {
        c.as_object_mut().unwrap().remove("quantization_config");
    });
    std::fs::write(oversized.join("quantize_config.json"), " ".repeat(2 << 20)).unwrap();
    rejected(
        t,
        &oversized,
        "quantize_config.json",
        "over the 1048576-byte limit",
    );
}

#[test]
fn an_older_gptq_reads_quantize_config_json_beside_config_json() {
    let tmp = tempfile::tempdir().unwrap();
    let d = variant(&tmp.path().join("older"), "gptq-dynamic", |_| {});
    let mut c: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    c.as_object_mut().unwrap().remove("quantization_config");
    std::fs::write(d.join("config.json"), c.to_string()).unwrap();
    let report = inspect(tmp.path(), &d);
    assert_eq!(u(&report["totals"]["parameters"]), 328_320);
    assert_eq!(report["differences"]["unexplained"], 0);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("quantize_config.json (quant_method `gptq`)"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "1 module(s) at 8-bit group size 64, 3 module(s) left unquantized by `-:` rules"
        ),
        "{notes}"
    );
}

#[test]
fn an_unknown_quant_method_is_counted_as_stored_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let d = variant(&tmp.path().join("hqq"), "gptq-4bit-g32", |_| {});
    let text = std::fs::read_to_string(d.join("config.json")).unwrap();
    std::fs::write(
        d.join("config.json"),
        text.replace(r#""quant_method": "gptq""#, r#""quant_method": "hqq""#),
    )
    .unwrap();
    let report = inspect(tmp.path(), &d);
    assert!(
        report["notes"].to_string().contains("quant_method `hqq`"),
        "{}",
        report["notes"]
    );
    assert_eq!(u(&report["totals"]["overhead"]), 0, "nothing was rewritten");
}

/// The quantized parsers under mutation, in a debug build (overflow panics): headers,
/// configs and the data paramaudit reads (quant states, weight shapes) mutated; every
/// outcome a report or a one-line error.
#[test]
fn the_quantized_parsers_survive_mutated_headers_configs_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = [
        "gptq-dynamic",
        "awq-gemv",
        "bnb-nf4",
        "bnb-int8",
        "ct-w4a16-g32-asym",
        "fp8-block",
        "mxfp4",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut reports, mut errors) = (0, 0);
    for round in 0..1_400 {
        let name = fixtures[round % fixtures.len()];
        let at = tmp.path().join(format!("m{}", round % fixtures.len()));
        let model = at.join("model.safetensors");
        std::fs::create_dir_all(&at).unwrap();
        let config = std::fs::read_to_string(dir(name).join("config.json")).unwrap();
        std::fs::write(
            at.join("config.json"),
            if round % 2 == 0 {
                replace_number(&config, &mut rng)
            } else {
                config
            },
        )
        .unwrap();
        let original = std::fs::read(dir(name).join("model.safetensors")).unwrap();
        let bytes = match round % 3 {
            0 => mutate_file(&original, &mut rng),
            1 => mutate_data(&dir(name).join("model.safetensors"), &model, &mut rng),
            _ => original,
        };
        std::fs::write(&model, &bytes).unwrap();
        let resolved = paramaudit::source::Resolved {
            spec: "m".to_string(),
            layout: paramaudit::source::Layout::Single(model.clone()),
            config: (round % 7 != 6).then(|| at.join("config.json")),
        };
        match paramaudit::inspect(&resolved) {
            Ok(report) => {
                reports += 1;
                render_everything(&report);
            }
            Err(e) => {
                errors += 1;
                assert_eq!(e.exit_code(), 2, "{e}");
                assert!(!e.to_string().contains('\n'), "one line: {e}");
            }
        }
    }
    assert!(
        reports > 300 && errors > 300,
        "{reports} reports, {errors} errors"
    );
}

/// The file with the bytes of its quant states or weight shapes mutated: JSON numbers
/// replaced by extremes, or random bytes.
fn mutate_data(path: &Path, out: &Path, rng: &mut Rng) -> Vec<u8> {
    let mut st = St::read(path);
    let targets: Vec<usize> = (0..st.tensors.len())
        .filter(|&i| {
            let n = &st.tensors[i].0;
            n.contains("quant_state") || n.ends_with("weight_shape") || n.ends_with("_blocks")
        })
        .collect();
    if let Some(&i) = targets.get(rng.below(targets.len().max(1))) {
        let t = &mut st.tensors[i];
        if rng.next().is_multiple_of(2) {
            if let Ok(text) = std::str::from_utf8(&t.3) {
                t.3 = replace_number(text, rng).into_bytes();
                t.2 = vec![t.3.len() as u64];
            }
        } else if !t.3.is_empty() {
            let at = rng.below(t.3.len());
            t.3[at] = rng.next() as u8;
        }
    }
    st.write(out);
    std::fs::read(out).unwrap()
}

#[test]
fn a_module_the_config_keeps_unconverted_but_stored_quantized_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = variant(&tmp.path().join("listed"), "mxfp4", |_| {});
    let mut c: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    c["quantization_config"]["modules_to_not_convert"] = json!(["model.layers.*.mlp.experts"]);
    std::fs::write(d.join("config.json"), c.to_string()).unwrap();
    let report = inspect(tmp.path(), &d);
    // Counted as stored all the same: the logical count of the gpt-oss twin, 142,032.
    assert_eq!(u(&report["totals"]["parameters"]), 142_032);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("modules_to_not_convert lists 4 quantized weight(s) as not converted"),
        "{notes}"
    );
}

#[test]
fn a_sharded_checkpoint_reads_each_quant_state_from_its_own_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("sharded");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(dir("bnb-nf4").join("config.json"), d.join("config.json")).unwrap();
    let st = St::read(&dir("bnb-nf4").join("model.safetensors"));
    // Alternate tensors between two shards: a weight and its quant state often part.
    let mut shards = [Vec::new(), Vec::new()];
    for (i, t) in st.tensors.iter().enumerate() {
        shards[i % 2].push(t.clone());
    }
    let mut weight_map = serde_json::Map::new();
    for (i, tensors) in shards.into_iter().enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        for t in &tensors {
            weight_map.insert(t.0.clone(), json!(file));
        }
        St {
            metadata: st.metadata.clone(),
            tensors,
        }
        .write(&d.join(&file));
    }
    let index = json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let report = inspect(tmp.path(), &d);
    let r = reference(&dir("bnb-nf4"));
    assert_eq!(report["source"]["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        u(&report["totals"]["parameters"]),
        u(&r["totals"]["logical_parameters"])
    );
    assert_eq!(
        u(&report["totals"]["overhead"]),
        u(&r["totals"]["overhead_elements"])
    );
    assert_eq!(
        u(&report["totals"]["bytes"]),
        u(&r["totals"]["stored_bytes"])
    );
    assert_eq!(report["differences"]["unexplained"], 0);
    let q = tensor(&report, "model.layers.0.mlp.down_proj.weight");
    assert_eq!(
        q["shape"],
        json!([128, 256]),
        "from the quant state in the other shard"
    );
}
