//! PyTorch checkpoints, read without running their pickles: every figure checked against
//! what the writer recorded (fixtures/make_pytorch.py: the `.json` twins and
//! `reference.json`, written by torch 2.15 / transformers 5.24 themselves) and against
//! the safetensors twin of the same model; malicious pickles refused with no side
//! effect; hand-crafted malformed archives and pickles refused in one line; a mutation
//! run over the zip and the pickle.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fixture, inspect_json, root, run, Report};
use crate::mutation::{render_everything, Rng};

/// The `.bin` twins (fixtures/pytorch/<name>/).
const TWINS: [&str; 6] = [
    "bert-for-pretraining",
    "llama-for-causal-lm-tied",
    "t5-for-conditional-generation",
    "gpt2-lm-head-model",
    "mixtral-for-causal-lm",
    "bert-for-pretraining-sharded",
];

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A stand-alone file's twin: fixtures/pytorch/files/<name>.json.
fn twin(name: &str) -> Value {
    json(&fixture(&format!("pytorch/files/{name}.json")))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Bytes per element of a torch dtype name, and the report's dtype name.
fn dtype(torch: &str) -> (u64, &'static str) {
    match torch {
        "float32" => (4, "F32"),
        "float16" => (2, "F16"),
        "bfloat16" => (2, "BF16"),
        other => panic!("{other}"),
    }
}

/// The records of a fixture as its twin lists them: (name, bytes), read at the offsets
/// the writer's own zipfile listing gives (not through paramaudit).
fn records(file: &Path, listing: &Value) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(file).unwrap();
    listing
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (at, n) = (u(&r["data_offset"]) as usize, u(&r["size"]) as usize);
            (
                r["name"].as_str().unwrap().to_string(),
                bytes[at..at + n].to_vec(),
            )
        })
        .collect()
}

/// A zip archive as torch writes it: stored records, data 64-byte aligned, sizes in the
/// central directory. Returns the bytes and the central directory's offset.
fn zip(records: &[(String, Vec<u8>)]) -> (Vec<u8>, usize) {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in records {
        let local = out.len() as u32;
        let pad = (64 - (out.len() + 30 + name.len() + 4) % 64) % 64;
        out.extend_from_slice(b"PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&((pad + 4) as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"FB");
        out.extend_from_slice(&(pad as u16).to_le_bytes());
        out.extend(std::iter::repeat_n(b'Z', pad));
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02\x00\x00\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&local.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd = out.len();
    out.extend_from_slice(&central);
    let n = (records.len() as u16).to_le_bytes();
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&(cd as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    (out, cd)
}

/// The llama twin's records (`pytorch_model/...`), from reference.json's listing.
fn llama_records() -> Vec<(String, Vec<u8>)> {
    let r = json(&fixture("pytorch/llama-for-causal-lm-tied/reference.json"));
    records(
        &fixture("pytorch/llama-for-causal-lm-tied/pytorch_model.bin"),
        &r["per_file"]["pytorch_model.bin"]["records"],
    )
}

/// The llama twin's records with one replaced (or removed, with `None`).
fn llama_with(name: &str, data: Option<Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    let full = format!("pytorch_model/{name}");
    let mut out = llama_records();
    assert!(out.iter().any(|(n, _)| *n == full), "{full}");
    match data {
        Some(d) => out
            .iter_mut()
            .filter(|(n, _)| *n == full)
            .for_each(|r| r.1 = d.clone()),
        None => out.retain(|(n, _)| *n != full),
    }
    out
}

fn names(r: &Report) -> Vec<&str> {
    r.tensors.iter().map(|t| t.name.as_str()).collect()
}

/// Every bucket's figures, by name.
fn buckets(r: &Report) -> BTreeMap<&'static str, &crate::common::Bucket> {
    let b = &r.buckets;
    BTreeMap::from([
        ("embedding", &b.embedding),
        ("attention", &b.attention),
        ("ffn", &b.ffn),
        ("router", &b.router),
        ("routed_experts", &b.routed_experts),
        ("shared_experts", &b.shared_experts),
        ("norm", &b.norm),
        ("pooler", &b.pooler),
        ("head", &b.head),
        ("quantization", &b.quantization),
        ("buffer", &b.buffer),
        ("other", &b.other),
    ])
}

// 1. The HF `.bin` twins give the report of their safetensors twins, with the writer's
// own figures.

#[test]
fn bin_twins_report_what_the_writer_and_the_safetensors_twin_say() {
    let tmp = tempfile::tempdir().unwrap();
    for name in TWINS {
        let reference = json(&fixture(&format!("pytorch/{name}/reference.json")));
        let bin = inspect_json(tmp.path(), &fixture(&format!("pytorch/{name}")), &[]);
        let source = root().join(reference["source"]["fixture"].as_str().unwrap());
        let st = inspect_json(tmp.path(), &source, &[]);
        // transformers' num_parameters, recorded when the twin was written.
        let num_parameters = u(&reference["source"]["num_parameters"]);
        assert_eq!(bin.totals.parameters, num_parameters, "{name}");
        assert_eq!(st.totals.parameters, num_parameters, "{name}");
        // Each storage once: elements and bytes from torch's own storage listing.
        let storages: Vec<&Value> = reference["per_file"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|f| f["storages"].as_object().unwrap().values())
            .collect();
        let elements: u64 = storages.iter().map(|s| u(&s["numel"])).sum();
        let bytes: u64 = storages.iter().map(|s| u(&s["nbytes"])).sum();
        assert_eq!(
            elements,
            u(&reference["num_elements_unique_storage"]),
            "{name}"
        );
        assert_eq!(bin.totals.stored_elements, elements, "{name}");
        assert_eq!(bin.totals.bytes, bytes, "{name}");
        // Every name, less the tied aliases: one name kept per shared storage.
        let groups = reference["shared_storage"].as_array().unwrap();
        let aliases: u64 = groups
            .iter()
            .map(|g| g["names"].as_array().unwrap().len() as u64 - 1)
            .sum();
        assert_eq!(
            bin.totals.tensors,
            u(&reference["tensor_count"]) - aliases,
            "{name}"
        );
        let files_tensors: u64 = bin.source.files.iter().map(|f| u(&f["tensors"])).sum();
        assert_eq!(files_tensors, bin.totals.tensors, "{name}");
        assert!(bin.source.files.iter().all(|f| f["format"] == "pytorch"));
        // The same report as the safetensors twin.
        assert_eq!(buckets(&bin), buckets(&st), "{name}");
        assert_eq!(bin.differences, st.differences, "{name}");
        assert_eq!(bin.differences.as_ref().unwrap().unexplained, 0, "{name}");
        assert!(bin.findings.is_empty() && st.findings.is_empty(), "{name}");
        assert_eq!(names(&bin), names(&st), "{name}");
        for (a, b) in bin.tensors.iter().zip(&st.tensors) {
            assert_eq!(
                (&a.bucket, &a.role, &a.dtype, &a.shape, a.elements, a.bytes),
                (&b.bucket, &b.role, &b.dtype, &b.shape, b.elements, b.bytes),
                "{name}: {}",
                a.name
            );
        }
        let ladder = |r: &Report| -> Vec<(String, i64)> {
            r.ladder
                .iter()
                .map(|l| (l.step.clone(), l.parameters))
                .collect()
        };
        assert_eq!(ladder(&bin), ladder(&st), "{name}");
        // Each shared storage: one name kept (the safetensors twin's), the others named
        // in a note.
        let kept: HashSet<&str> = names(&bin).into_iter().collect();
        for g in groups {
            let group: Vec<&str> = g["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            let present: Vec<&&str> = group.iter().filter(|n| kept.contains(**n)).collect();
            assert_eq!(present.len(), 1, "{name}: {group:?}");
            let note = bin
                .notes
                .iter()
                .find(|n| n.contains(&format!("the storage of `{}`", present[0])))
                .unwrap_or_else(|| panic!("{name}: no note for {group:?}: {:?}", bin.notes));
            for n in &group {
                assert!(note.contains(&format!("`{n}`")), "{note}");
            }
        }
    }
}

#[test]
fn the_sharded_index_lists_aliases_and_counts_each_storage_once() {
    let dir = fixture("pytorch/bert-for-pretraining-sharded");
    let index = json(&dir.join("pytorch_model.bin.index.json"));
    let map = index["weight_map"].as_object().unwrap();
    // The index names the aliases too (in the same shard as what they alias)...
    assert_eq!(
        map["cls.predictions.decoder.weight"],
        map["bert.embeddings.word_embeddings.weight"]
    );
    let tmp = tempfile::tempdir().unwrap();
    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.source.layout, "sharded");
    assert_eq!(r.source.files.len(), 3);
    // ...and its total_size counts each storage once: the bytes read, with no warning.
    assert_eq!(r.totals.bytes, u(&index["metadata"]["total_size"]));
    assert!(
        !r.notes.iter().any(|n| n.contains("total_size")),
        "{:?}",
        r.notes
    );
}

// 2. Stand-alone files: every layout torch.load accepts.

/// Inspect a stand-alone file with the llama twin's config.
fn inspect_standalone(tmp: &Path, path: &Path) -> Report {
    let config = fixture("families/llama-for-causal-lm-tied/config.json");
    inspect_json(tmp, path, &["--config", config.to_str().unwrap()])
}

/// What a stand-alone file's twin says of the tensors under `prefix`: (name without the
/// prefix, dtype, shape, numel, storage view).
fn twin_tensors(t: &Value, prefix: &str) -> Vec<(String, String, Vec<u64>, u64, String)> {
    t["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| {
            let name = x["name"].as_str().unwrap().strip_prefix(prefix)?;
            let shape = x["shape"].as_array().unwrap().iter().map(u).collect();
            let view = format!(
                "{}:{}:{}",
                x["storage_key"], x["storage_offset"], x["shape"]
            );
            Some((
                name.to_string(),
                x["dtype"].as_str().unwrap().to_string(),
                shape,
                u(&x["numel"]),
                view,
            ))
        })
        .collect()
}

#[test]
fn standalone_files_in_every_layout_give_the_writers_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let llama = json(&fixture("pytorch/llama-for-causal-lm-tied/reference.json"));
    let cases = [
        ("llama-tied-archive.pt", "", "archive"),
        (
            "llama-tied-custom-top.v1.pt",
            "",
            "llama-tied-custom-top.v1",
        ),
        ("llama-tied-legacy.pt", "", ""),
        (
            "training-checkpoint.pt",
            "model_state_dict.",
            "training-checkpoint",
        ),
    ];
    for (file, prefix, top) in cases {
        let t = twin(file);
        if !top.is_empty() {
            assert_eq!(t["top_folder"], top, "{file}");
            assert!(t["records"][0]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{top}/")));
        }
        let r = inspect_standalone(tmp.path(), &fixture(&format!("pytorch/files/{file}")));
        let tensors = twin_tensors(&t, prefix);
        // One count per stored view: the tied alias shares the embeddings' view.
        let mut views = HashSet::new();
        let unique: Vec<_> = tensors
            .iter()
            .filter(|x| views.insert(x.4.clone()))
            .collect();
        let params: u64 = unique.iter().map(|x| x.3).sum();
        assert_eq!(params, u(&llama["source"]["num_parameters"]), "{file}");
        assert_eq!(r.totals.parameters, params, "{file}");
        assert_eq!(r.totals.tensors, unique.len() as u64, "{file}");
        let (size, name) = dtype(&tensors[0].1);
        assert!(tensors.iter().all(|x| x.1 == tensors[0].1));
        assert_eq!(r.totals.bytes, params * size, "{file}");
        assert_eq!(r.dtypes.len(), 1);
        assert_eq!(r.dtypes[0].dtype, name, "{file}");
        assert_eq!(r.totals.file_bytes, u(&t["file_size"]), "{file}");
        let d = r.differences.as_ref().unwrap();
        assert_eq!((d.unexplained, d.tied_not_stored), (0, 2424), "{file}");
        // Every name the writer recorded is a tensor of the report or the tied alias.
        let reported: HashSet<&str> = names(&r).into_iter().collect();
        for x in &tensors {
            assert!(
                reported.contains(x.0.as_str()) || x.0 == "lm_head.weight",
                "{file}: {}",
                x.0
            );
            if let Some(rt) = r.tensors.iter().find(|rt| rt.name == x.0) {
                assert_eq!((&rt.shape, rt.elements), (&x.2, x.3), "{file}: {}", x.0);
            }
        }
        assert!(
            r.notes.iter().any(|n| n
                .contains("`lm_head.weight` shares the storage of `model.embed_tokens.weight`")),
            "{file}: {:?}",
            r.notes
        );
    }
}

#[test]
fn the_legacy_format_is_named_and_its_storages_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let t = twin("llama-tied-legacy.pt");
    assert_eq!(t["format"], "legacy");
    let r = inspect_standalone(tmp.path(), &fixture("pytorch/files/llama-tied-legacy.pt"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("the legacy torch format")),
        "{:?}",
        r.notes
    );
    // The storages' bytes, from the writer's own walk of the storage section.
    let layout = t["storage_layout"].as_array().unwrap();
    let bytes: u64 = layout.iter().map(|s| u(&s["nbytes"])).sum();
    assert_eq!(r.totals.bytes, bytes);
    let last = layout.last().unwrap();
    assert_eq!(
        u(&last["data_offset"]) + u(&last["nbytes"]),
        u(&t["file_size"])
    );
}

#[test]
fn a_training_checkpoint_reads_its_model_and_names_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let t = twin("training-checkpoint.pt");
    let r = inspect_standalone(tmp.path(), &fixture("pytorch/files/training-checkpoint.pt"));
    let optimizer = twin_tensors(&t, "optimizer_state_dict.");
    let elements: u64 = optimizer.iter().map(|x| x.3).sum();
    assert_eq!((optimizer.len(), elements), (3, 193));
    let note = r
        .notes
        .iter()
        .find(|n| n.contains("`model_state_dict`"))
        .unwrap_or_else(|| panic!("{:?}", r.notes));
    assert!(
        note.contains(&format!(
            "optimizer_state_dict (a dict with {} tensors, {elements} elements)",
            optimizer.len()
        )),
        "{note}"
    );
    for key in t["non_tensor_values"].as_object().unwrap().keys() {
        let top = key.split('.').next().unwrap();
        assert!(note.contains(top), "{note}: {top}");
    }
    assert!(names(&r).iter().all(|n| !n.starts_with("model_state_dict")));
}

#[test]
fn the_top_folder_comes_from_the_archive_not_the_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    let renamed = tmp.path().join("renamed.pt");
    std::fs::copy(
        fixture("pytorch/files/llama-tied-custom-top.v1.pt"),
        &renamed,
    )
    .unwrap();
    let r = inspect_standalone(tmp.path(), &renamed);
    assert_eq!(r.totals.parameters, 12_912);
    // Records under a folder other than the first record's are not read.
    let mut recs = llama_records();
    recs[0].0 = "elsewhere/data.pkl".to_string();
    let (bytes, _) = zip(&recs);
    let path = tmp.path().join("moved.bin");
    std::fs::write(&path, bytes).unwrap();
    let out = run(tmp.path(), &["inspect", path.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("has no record `elsewhere/data/0`"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_protocol_4_pickle_and_big_endian_storages_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    // byteorder `big`: the counts hold; verify refuses to decode the values.
    let (bytes, _) = zip(&llama_with("byteorder", Some(b"big".to_vec())));
    let dir = tmp.path().join("be");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), bytes).unwrap();
    std::fs::copy(
        fixture("pytorch/llama-for-causal-lm-tied/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.totals.parameters, 12_912);
    assert!(
        r.notes.iter().any(|n| n.contains("big-endian")),
        "{:?}",
        r.notes
    );
    let out = run(tmp.path(), &["verify", dir.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("big-endian storages"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);
    // A protocol-4 data.pkl (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL), as
    // torch.save(..., pickle_protocol=4) writes it: {"w": a 2x3 float tensor}.
    let mut p = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01w\x94".to_vec();
    p.extend_from_slice(b"\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93\x94((");
    p.extend_from_slice(b"\x8c\x07storage\x94\x8c\x05torch\x94\x8c\x0cFloatStorage\x94\x93\x94");
    p.extend_from_slice(
        b"\x8c\x010\x94\x8c\x03cpu\x94K\x06t\x94QK\x00K\x02K\x03\x86\x94K\x03K\x01\x86\x94\x89",
    );
    p.extend_from_slice(
        b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94t\x94R\x94s.",
    );
    let recs = vec![
        ("p4/data.pkl".to_string(), p),
        ("p4/byteorder".to_string(), b"little".to_vec()),
        ("p4/data/0".to_string(), vec![0u8; 24]),
    ];
    let path = tmp.path().join("p4.pt");
    std::fs::write(&path, zip(&recs).0).unwrap();
    let r = inspect_json(tmp.path(), &path, &[]);
    assert_eq!(
        (r.totals.tensors, r.totals.stored_elements, r.totals.bytes),
        (1, 6, 24)
    );
    assert_eq!(r.tensors[0].shape, [2, 3]);
}

// 3. Malicious pickles: refused by name, and nothing happens.

#[test]
fn malicious_pickles_are_refused_by_name_and_run_nothing() {
    for file in [
        "malicious-os-system.pt",
        "malicious-builtins-eval.pt",
        "malicious-reduce.pt",
    ] {
        let t = twin(file);
        // The writer checked the payload really runs under torch.load(weights_only=False).
        assert_eq!(t["payload_runs_with_weights_only_false"], true, "{file}");
        let global = t["unsafe_globals"][0].as_str().unwrap();
        let marker = t["marker_file"].as_str().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        // As a lone file and as a model directory's weights; inspect and verify.
        let dir = tmp.path().join("model");
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(
            fixture(&format!("pytorch/files/{file}")),
            dir.join("pytorch_model.bin"),
        )
        .unwrap();
        let lone = fixture(&format!("pytorch/files/{file}"));
        for (cmd, target, shown) in [
            ("inspect", lone.as_path(), file),
            ("inspect", dir.as_path(), "pytorch_model.bin"),
            ("verify", dir.as_path(), "pytorch_model.bin"),
        ] {
            let out = run(tmp.path(), &[cmd, target.to_str().unwrap()]);
            assert_eq!(out.code, 2, "{file} {cmd}: {}", out.stdout);
            assert!(out.stdout.is_empty());
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
            assert!(out.stderr.contains(shown), "{}", out.stderr);
            assert!(
                out.stderr.contains(&format!("refused global `{global}`")),
                "{}",
                out.stderr
            );
            // The marker the payload would create, relative to the working directory.
            assert!(
                !tmp.path().join(marker).exists(),
                "{file}: {marker} created"
            );
            assert!(!dir.join(marker).exists());
        }
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["model"], "{file}: files appeared: {left:?}");
    }
}

// 4. Malformed files: one line, naming the file, exit 2.

/// Write `bytes` as `name` and expect `inspect` to refuse it with `needle`.
fn refused(dir: &Path, name: &str, bytes: &[u8], needle: &str) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = run(dir, &["inspect", path.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{name}: {}", out.stdout);
    assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
    assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "{name}: {needle}: {}",
        out.stderr
    );
}

#[test]
fn malformed_archives_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let original = std::fs::read(fixture(
        "pytorch/llama-for-causal-lm-tied/pytorch_model.bin",
    ))
    .unwrap();
    for (i, cut) in [original.len() - 1, original.len() / 2, 100, 10]
        .into_iter()
        .enumerate()
    {
        refused(
            t,
            &format!("cut{i}.bin"),
            &original[..cut],
            if cut < 22 {
                "too short"
            } else {
                "no end-of-central-directory record"
            },
        );
    }
    let (good, cd) = zip(&llama_records());
    let patch = |at: usize, with: &[u8]| {
        let mut b = good.clone();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    refused(t, "bad-cd.bin", &patch(cd, b"XX"), "no record signature");
    // The first record's local header offset (central directory byte 42) beyond the data.
    refused(
        t,
        "outside.bin",
        &patch(cd + 42, &0x00ff_0000u32.to_le_bytes()),
        "lies outside",
    );
    // Its size (bytes 20 and 24) past the central directory.
    let mut b = patch(cd + 20, &0x00ff_0000u32.to_le_bytes());
    b[cd + 24..cd + 28].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    refused(
        t,
        "long.bin",
        &b,
        "run past the start of the central directory",
    );
    refused(
        t,
        "deflated.bin",
        &patch(cd + 10, &[8]),
        "compressed (method 8, deflate)",
    );
    // The end record announcing more records than the directory holds.
    let n = good.len();
    let mut b = patch(n - 12, &0xfff0u16.to_le_bytes());
    b[n - 14..n - 12].copy_from_slice(&0xfff0u16.to_le_bytes());
    refused(t, "count.bin", &b, "more than a");
    let (b, _) = zip(&llama_with("data/3", None));
    refused(t, "missing.bin", &b, "no record `pytorch_model/data/3`");
    let (b, _) = zip(&llama_with("data/1", Some(vec![0; 92])));
    refused(
        t,
        "short-storage.bin",
        &b,
        "needs 96 bytes but its record holds 92",
    );
    let (b, _) = zip(&llama_with("data.pkl", None));
    refused(t, "no-pickle.bin", &b, "no `pytorch_model/data.pkl` record");
}

#[test]
fn malformed_pickles_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let with_pickle = |p: Vec<u8>| zip(&llama_with("data.pkl", Some(p))).0;
    let marks = [b"\x80\x02".to_vec(), vec![b'('; 5000], b".".to_vec()].concat();
    refused(
        t,
        "marks.bin",
        &with_pickle(marks),
        "MARKs nested deeper than 1000",
    );
    let mut deep = b"\x80\x02}(X\x01\x00\x00\x00a".to_vec();
    deep.extend(std::iter::repeat_n(b"]q\x00", 300).flatten());
    deep.extend(std::iter::repeat_n(b'a', 299));
    deep.extend_from_slice(b"u.");
    refused(
        t,
        "deep.bin",
        &with_pickle(deep),
        "nested deeper than 64 levels",
    );
    refused(
        t,
        "huge.bin",
        &with_pickle(b"\x80\x02X\xff\xff\xff\x7fabc.".to_vec()),
        "runs past the end of the pickle",
    );
    // t(k+1) = (tk, tk): 2^60 paths in 500 bytes.
    let mut bomb = b"\x80\x02}(X\x01\x00\x00\x00a(]q\x00".to_vec();
    for k in 0..60u8 {
        bomb.extend_from_slice(&[b'(', b'h', k, b'h', k, b't', b'q', k + 1]);
    }
    bomb.extend_from_slice(b"tu.");
    refused(t, "bomb.bin", &with_pickle(bomb), "memo bomb");
    refused(
        t,
        "stack-global.bin",
        &with_pickle(b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93.".to_vec()),
        "refused global `builtins.exec`",
    );
    refused(
        t,
        "inst.bin",
        &with_pickle(b"\x80\x02(iposix\nsystem\n.".to_vec()),
        "refused opcode INST (0x69)",
    );
    let two_classes = state_pickle(&[("a", "FloatStorage", "0", 6), ("b", "HalfStorage", "0", 12)]);
    let recs = vec![
        ("two/data.pkl".to_string(), two_classes),
        ("two/data/0".to_string(), vec![0; 24]),
    ];
    refused(
        t,
        "two-classes.bin",
        &zip(&recs).0,
        "storage `0` is named as 6 × FloatStorage and as 12 × HalfStorage",
    );
    let past = state_pickle(&[("a", "FloatStorage", "0", 7)]);
    let recs = vec![
        ("past/data.pkl".to_string(), past),
        ("past/data/0".to_string(), vec![0; 28]),
    ];
    let mut b = zip(&recs).0;
    // Shape 7 on a storage of 7, then the offset moved to 1: one element past the end.
    let at = b.windows(5).position(|w| w == b"tQK\x00J").unwrap();
    b[at + 3] = 1;
    refused(t, "past-storage.bin", &b, "elements up to index 7");
    refused(
        t,
        "truncated-pickle.bin",
        &with_pickle(b"\x80\x02}(".to_vec()),
        "truncated",
    );
    refused(
        t,
        "not-a-dict.bin",
        &with_pickle(b"\x80\x02K\x07.".to_vec()),
        "holds an int, not a dict",
    );
    // A raw pickle that is no torch file, and the legacy file damaged.
    refused(
        t,
        "raw.pkl",
        b"\x80\x02K\x05.",
        "not torch's legacy magic number",
    );
    let legacy = std::fs::read(fixture("pytorch/files/llama-tied-legacy.pt")).unwrap();
    let layout = twin("llama-tied-legacy.pt")["storage_layout"].clone();
    refused(
        t,
        "legacy-cut.pt",
        &legacy[..legacy.len() - 10],
        "legacy torch format: truncated",
    );
    refused(
        t,
        "legacy-long.pt",
        &[&legacy[..], b"xx"].concat(),
        "2 trailing bytes",
    );
    let mut b = legacy.clone();
    let at = u(&layout[0]["header_offset"]) as usize;
    b[at..at + 8].copy_from_slice(&577i64.to_le_bytes());
    refused(
        t,
        "legacy-count.pt",
        &b,
        "holds 577 elements, its persistent id says 576",
    );
}

// 5. Mutations: nothing panics (debug build: overflow panics too).

/// Open, classify, reconcile and render a mutated file; any error is one line, exit 2.
fn survives(path: &Path, config: Option<PathBuf>) -> bool {
    let resolved = paramaudit::source::Resolved {
        spec: "m".to_string(),
        layout: paramaudit::source::Layout::Single(path.to_path_buf()),
        config,
    };
    match paramaudit::inspect(&resolved) {
        Ok(report) => {
            render_everything(&report);
            true
        }
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
            false
        }
    }
}

#[test]
fn mutated_archives_and_pickles_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("m.bin");
    let config = fixture("pytorch/llama-for-causal-lm-tied/config.json");
    let recs = llama_records();
    let pkl = recs[0].1.clone();
    let (good, cd) = zip(&recs);
    let legacy = std::fs::read(fixture("pytorch/files/llama-tied-legacy.pt")).unwrap();
    let legacy_pickles =
        u(&twin("llama-tied-legacy.pt")["storage_layout"][0]["header_offset"]) as usize;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut reports, mut errors) = (0, 0);
    for round in 0..3_000 {
        let bytes = match round % 4 {
            // The pickle, inside a sound archive.
            0 => {
                let mut p = pkl.clone();
                for _ in 0..=rng.below(3) {
                    let i = rng.below(p.len());
                    p[i] = if rng.next().is_multiple_of(2) {
                        rng.next() as u8
                    } else {
                        p[i] ^ (1 << (rng.next() % 8))
                    };
                }
                if rng.next().is_multiple_of(5) {
                    p.truncate(rng.below(p.len()));
                }
                zip(&llama_with("data.pkl", Some(p))).0
            }
            // The archive's structure: local headers, central directory, end record.
            1 => {
                let mut b = good.clone();
                let i = if rng.next().is_multiple_of(2) {
                    cd + rng.below(b.len() - cd)
                } else {
                    rng.below(b.len())
                };
                b[i] = rng.next() as u8;
                if rng.next().is_multiple_of(7) {
                    b.truncate(rng.below(b.len()));
                }
                b
            }
            // The legacy file's pickles and storage headers.
            2 => {
                let mut b = legacy.clone();
                let i = if rng.next().is_multiple_of(3) {
                    rng.below(b.len())
                } else {
                    rng.below(legacy_pickles)
                };
                b[i] ^= 1 << (rng.next() % 8);
                if rng.next().is_multiple_of(7) {
                    b.truncate(rng.below(b.len()));
                }
                b
            }
            _ => good.clone(),
        };
        std::fs::write(&path, &bytes).unwrap();
        if survives(&path, (round % 2 == 0).then(|| config.clone())) {
            reports += 1;
        } else {
            errors += 1;
        }
    }
    assert!(
        reports > 750 && errors > 500,
        "{reports} reports, {errors} errors"
    );
}

// 6. check, diff and verify.

#[test]
fn a_bin_holds_to_the_saved_report_of_its_safetensors_twin_and_diffs_to_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["bert-for-pretraining", "bert-for-pretraining-sharded"] {
        let saved = fixture(&format!("expected/{name}.json"));
        let bin = fixture(&format!("pytorch/{name}"));
        let out = run(
            tmp.path(),
            &[
                "check",
                bin.to_str().unwrap(),
                "--expect",
                saved.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 0, "{name}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("check passed"), "{}", out.stdout);
    }
    for name in TWINS {
        let reference = json(&fixture(&format!("pytorch/{name}/reference.json")));
        let st = root().join(reference["source"]["fixture"].as_str().unwrap());
        let bin = fixture(&format!("pytorch/{name}"));
        let out = run(
            tmp.path(),
            &[
                "diff",
                st.to_str().unwrap(),
                bin.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let d = crate::common::schema::doc("diff", &out.stdout);
        let figures = d["figures"].as_array().unwrap();
        assert!(!figures.is_empty());
        for f in figures {
            assert_eq!(f["change"], 0, "{name}: {f}");
        }
        for key in ["only_in_a", "only_in_b", "changed"] {
            if let Some(list) = d.get(key).and_then(Value::as_array) {
                assert!(list.is_empty(), "{name}: {key}: {list:?}");
            }
        }
    }
}

fn verify(cwd: &Path, target: &Path) -> (i32, Value) {
    let out = run(
        cwd,
        &["verify", target.to_str().unwrap(), "--format", "json"],
    );
    let v = if out.stdout.is_empty() {
        Value::Null
    } else {
        crate::common::schema::doc("verify", &out.stdout)
    };
    (out.code, v)
}

/// name -> (elements, min, max, mean) of a verify report.
fn stats(v: &Value) -> BTreeMap<String, (u64, f64, f64, f64)> {
    v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_f64().unwrap();
            (
                t["name"].as_str().unwrap().to_string(),
                (u(&t["elements"]), f("min"), f("max"), f("mean")),
            )
        })
        .collect()
}

#[test]
fn verify_hashes_the_file_and_scans_every_storage_where_it_lies() {
    let tmp = tempfile::tempdir().unwrap();
    for name in TWINS {
        let reference = json(&fixture(&format!("pytorch/{name}/reference.json")));
        let st = root().join(reference["source"]["fixture"].as_str().unwrap());
        let dir = fixture(&format!("pytorch/{name}"));
        let (code, v) = verify(tmp.path(), &dir);
        assert_eq!(code, 0, "{name}");
        for f in v["files"].as_array().unwrap() {
            let path = PathBuf::from(f["path"].as_str().unwrap());
            assert_eq!(
                f["sha256"],
                crate::common::layout::sha256_hex(&path),
                "{name}"
            );
            assert_eq!(f["format"], "pytorch");
        }
        // The same weights as the safetensors twin: the same values, tensor by tensor.
        let (code, w) = verify(tmp.path(), &st);
        assert_eq!(code, 0);
        assert_eq!(stats(&v), stats(&w), "{name}");
    }
    // fp16 (legacy) and bf16 copies of the float32 llama: values within their rounding
    // (half a unit in the last place: 2^-11 of the magnitude for fp16, 2^-8 for bf16).
    let (_, f32s) = verify(tmp.path(), &fixture("families/llama-for-causal-lm-tied"));
    let exact = stats(&f32s);
    for (file, tolerance) in [
        ("llama-tied-legacy.pt", 2f64.powi(-11)),
        ("llama-tied-custom-top.v1.pt", 2f64.powi(-8)),
    ] {
        let (code, v) = verify(tmp.path(), &fixture(&format!("pytorch/files/{file}")));
        assert_eq!(code, 0, "{file}");
        let got = stats(&v);
        assert_eq!(got.len(), exact.len(), "{file}");
        for (n, (e, lo, hi, mean)) in &got {
            let (e2, lo2, hi2, mean2) = exact[n];
            assert_eq!(*e, e2, "{file}: {n}");
            let scale = lo2.abs().max(hi2.abs());
            for (a, b) in [(lo, lo2), (hi, hi2), (mean, mean2)] {
                assert!(
                    (a - b).abs() <= tolerance * scale,
                    "{file}: {n}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn a_nan_planted_in_a_storage_is_found_in_its_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = json(&fixture("pytorch/llama-for-causal-lm-tied/reference.json"));
    let file = &reference["per_file"]["pytorch_model.bin"];
    // Element 3 of storage 5, and the tensor the writer's listing puts on it.
    let tensor = file["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["storage_key"] == "5")
        .unwrap();
    let record = file["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pytorch_model/data/5")
        .unwrap();
    let dir = tmp.path().join("nan");
    std::fs::create_dir(&dir).unwrap();
    let mut bytes = std::fs::read(fixture(
        "pytorch/llama-for-causal-lm-tied/pytorch_model.bin",
    ))
    .unwrap();
    let at = u(&record["data_offset"]) as usize + 3 * 4;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(dir.join("pytorch_model.bin"), bytes).unwrap();
    std::fs::copy(
        fixture("pytorch/llama-for-causal-lm-tied/config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let (code, v) = verify(tmp.path(), &dir);
    assert_eq!(code, 1);
    let name = tensor["name"].as_str().unwrap();
    let flagged: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["tensor"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, [name]);
    let t = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap();
    assert_eq!(t["nan"], 1);
}

// 7. What else torch's weights_only unpickler reads, in files torch wrote
// (fixtures/make_pytorch_extra.py): views, protocol 4, untyped storages with a dtype
// (_rebuild_tensor_v3), nn.Module state dicts (BUILD of _metadata), Parameters and
// tensors with attributes.

/// The report's dtype name of a torch dtype.
fn report_dtype(torch: &str) -> &'static str {
    match torch {
        "float32" => "F32",
        "bfloat16" => "BF16",
        "float8_e4m3fn" => "F8_E4M3",
        "float8_e5m2" => "F8_E5M2",
        "uint16" => "U16",
        "int64" => "I64",
        other => panic!("{other}"),
    }
}

#[test]
fn files_torch_wrote_with_every_allowed_construct_are_read_as_torch_loads_them() {
    let tmp = tempfile::tempdir().unwrap();
    for file in [
        "views.pt",
        "protocol4.pt",
        "v3-dtypes.pt",
        "module-state-dict.pt",
        "parameters.pt",
    ] {
        let t = twin(&format!("extra/{file}"));
        let r = inspect_json(
            tmp.path(),
            &fixture(&format!("pytorch/files/extra/{file}")),
            &[],
        );
        assert_eq!(r.totals.tensors, u(&t["tensor_count"]), "{file}");
        assert_eq!(r.totals.stored_elements, u(&t["num_elements"]), "{file}");
        for x in t["tensors"].as_array().unwrap() {
            let name = x["name"].as_str().unwrap();
            let rt = r
                .tensors
                .iter()
                .find(|rt| rt.name == name)
                .unwrap_or_else(|| panic!("{file}: {name}"));
            let shape: Vec<u64> = x["shape"].as_array().unwrap().iter().map(u).collect();
            assert_eq!(rt.shape, shape, "{file}: {name}");
            assert_eq!(rt.elements, u(&x["numel"]), "{file}: {name}");
            assert_eq!(
                rt.dtype,
                report_dtype(x["dtype"].as_str().unwrap()),
                "{file}: {name}"
            );
            assert_eq!(
                rt.bytes,
                u(&x["numel"]) * u(&x["element_size"]),
                "{file}: {name}"
            );
            if x["contiguous"] == false {
                assert!(
                    r.notes
                        .iter()
                        .any(|n| n.contains("non-contiguous") && n.contains(name)),
                    "{file}: {name}: {:?}",
                    r.notes
                );
            }
        }
    }
    // The protocol-4 file is one torch's own weights_only unpickler refuses (FRAME).
    let p4 = twin("extra/protocol4.pt");
    assert_eq!(p4["pickle_protocol"], 4);
    assert!(p4["torch_load_weights_only_true_error"]
        .as_str()
        .unwrap()
        .contains("149"));
}

#[test]
fn views_of_one_storage_are_scanned_at_their_own_offsets() {
    // views.pt: base = arange(24).reshape(4, 6) and views of it; a contiguous view at
    // storage offset o with n elements holds o, o+1, ..., o+n-1.
    let tmp = tempfile::tempdir().unwrap();
    let t = twin("extra/views.pt");
    let (code, v) = verify(tmp.path(), &fixture("pytorch/files/extra/views.pt"));
    assert_eq!(code, 0);
    let got = stats(&v);
    for x in t["tensors"].as_array().unwrap() {
        let name = x["name"].as_str().unwrap();
        let (o, n) = (u(&x["storage_offset"]) as f64, u(&x["numel"]) as f64);
        let (elements, min, max, mean) = got[name];
        assert_eq!(elements, u(&x["numel"]), "{name}");
        if x["contiguous"] == true {
            assert_eq!(
                (min, max, mean),
                (o, o + n - 1.0, o + (n - 1.0) / 2.0),
                "{name}"
            );
        }
    }
    // The transposed view covers the whole storage: the same values as `base`.
    assert_eq!(got["transposed"].1..=got["transposed"].2, 0.0..=23.0);
}

// 8. ZIP64: a checkpoint past 4 GB (sparse: the storages are holes, never read).

/// A record's data: bytes, or a hole of that many zero bytes.
enum Data {
    Bytes(Vec<u8>),
    Hole(u64),
}

/// Write a torch-style archive whose sizes and offsets all go through ZIP64 (saturated
/// 32-bit fields, the values in the extra field; ZIP64 end record and locator).
fn write_zip64(path: &Path, records: &[(&str, Data)]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::create(path).unwrap();
    let mut central = Vec::new();
    let mut at = 0u64;
    for (name, data) in records {
        let local = at;
        let pad = (64 - (at as usize + 30 + name.len() + 4) % 64) % 64;
        let mut header = b"PK\x03\x04\x2d\x00\x08\x08\x00\x00\x00\x00\x00\x00".to_vec();
        header.extend_from_slice(&[0; 12]);
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(&((pad + 4) as u16).to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        header.extend_from_slice(b"FB");
        header.extend_from_slice(&(pad as u16).to_le_bytes());
        header.extend(std::iter::repeat_n(b'Z', pad));
        f.write_all(&header).unwrap();
        at += header.len() as u64;
        let size = match data {
            Data::Bytes(b) => {
                f.write_all(b).unwrap();
                b.len() as u64
            }
            Data::Hole(n) => {
                f.seek(SeekFrom::Current(*n as i64)).unwrap();
                *n
            }
        };
        at += size;
        central.extend_from_slice(b"PK\x01\x02\x2d\x00\x2d\x00\x08\x08\x00\x00\x00\x00\x00\x00");
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&[0xff; 8]);
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&28u16.to_le_bytes());
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&[0xff; 4]);
        central.extend_from_slice(name.as_bytes());
        central.extend_from_slice(&[1, 0, 24, 0]);
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&local.to_le_bytes());
    }
    let n = records.len() as u64;
    let mut tail = central.clone();
    let eocd64 = at + central.len() as u64;
    tail.extend_from_slice(b"PK\x06\x06");
    tail.extend_from_slice(&44u64.to_le_bytes());
    tail.extend_from_slice(&[0x1e, 3, 0x2d, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    tail.extend_from_slice(&n.to_le_bytes());
    tail.extend_from_slice(&n.to_le_bytes());
    tail.extend_from_slice(&(central.len() as u64).to_le_bytes());
    tail.extend_from_slice(&at.to_le_bytes());
    tail.extend_from_slice(b"PK\x06\x07\x00\x00\x00\x00");
    tail.extend_from_slice(&eocd64.to_le_bytes());
    tail.extend_from_slice(&1u32.to_le_bytes());
    tail.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    tail.extend_from_slice(&[0xff; 4]);
    tail.extend_from_slice(&(central.len() as u32).to_le_bytes());
    tail.extend_from_slice(&[0xff; 4]);
    tail.extend_from_slice(&[0, 0]);
    f.write_all(&tail).unwrap();
}

#[test]
fn a_checkpoint_past_4_gb_is_read_through_zip64() {
    // {"big": 1,200,000,000 float32 (4.8 GB, storage 0), "small": 6 float32 (storage 1,
    // whose record starts past 4 GB)}.
    const BIG: u64 = 1_200_000_000;
    let p = state_pickle(&[
        ("big", "FloatStorage", "0", BIG),
        ("small", "FloatStorage", "1", 6),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.pt");
    write_zip64(
        &path,
        &[
            ("big/data.pkl", Data::Bytes(p)),
            ("big/byteorder", Data::Bytes(b"little".to_vec())),
            ("big/data/0", Data::Hole(BIG * 4)),
            ("big/data/1", Data::Bytes(vec![0; 24])),
            ("big/version", Data::Bytes(b"3\n".to_vec())),
        ],
    );
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 4 * BIG, "{size}");
    let r = inspect_json(tmp.path(), &path, &[]);
    assert_eq!(r.totals.parameters, BIG + 6);
    assert_eq!(r.totals.bytes, (BIG + 6) * 4);
    assert_eq!(r.totals.file_bytes, size);
    let small = r.tensors.iter().find(|t| t.name == "small").unwrap();
    assert_eq!((small.elements, small.bytes), (6, 24));
}

fn bin_unicode(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

/// A protocol-2 state dict as torch.save writes it: per entry (name, storage class,
/// storage key, elements), a 1-D tensor on the whole storage.
fn state_pickle(entries: &[(&str, &str, &str, u64)]) -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    for (name, class, key, n) in entries {
        bin_unicode(&mut p, name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        bin_unicode(&mut p, "storage");
        p.extend_from_slice(format!("ctorch\n{class}\n").as_bytes());
        bin_unicode(&mut p, key);
        bin_unicode(&mut p, "cpu");
        p.push(b'J');
        p.extend_from_slice(&(*n as i32).to_le_bytes());
        p.extend_from_slice(b"tQK\x00J");
        p.extend_from_slice(&(*n as i32).to_le_bytes());
        p.extend_from_slice(b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR");
    }
    p.extend_from_slice(b"u.");
    p
}
