//! Every registered family against what transformers itself says (docs/families.md):
//! the tiny checkpoints `save_pretrained` wrote (fixtures/families/, with transformers'
//! own counts in each `reference.json`), the full-size formulas of the published
//! configs, and sparse full-size sharded layouts written from the tensor lists
//! transformers' save produces for those configs.
//!
//! `PARAMAUDIT_ONLY=t5,bart` restricts the fixtures to those model_types (exactly; `qwen2*`
//! for every model_type starting with `qwen2`) while a family is being written; CI runs
//! them all.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::layout::{self, Spec};
use crate::common::{fixture, run, schema};

fn families_dir() -> PathBuf {
    fixture("families")
}

fn wanted(model_type: &str) -> bool {
    match std::env::var("PARAMAUDIT_ONLY") {
        Ok(list) => list
            .split(',')
            .map(str::trim)
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => model_type.starts_with(prefix),
                None => model_type == p,
            }),
        Err(_) => true,
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture directory with its reference, sorted.
fn fixtures() -> Vec<(String, PathBuf, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(families_dir()).unwrap() {
        let dir = e.unwrap().path();
        let reference = dir.join("reference.json");
        if !reference.is_file() {
            continue;
        }
        let r = read_json(&reference);
        if wanted(r["model_type"].as_str().unwrap()) {
            let name = dir.file_name().unwrap().to_str().unwrap().to_string();
            out.push((name, dir, r));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn inspect(cwd: &Path, target: &Path) -> Value {
    let out = run(cwd, &["inspect", target.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}: {}", target.display(), out.stderr);
    schema::doc("report", &out.stdout)
}

/// The checks every reconciled checkpoint passes: its family chosen by model_type, no
/// tensor left in `other`, every tensor recognised, nothing unexplained.
fn assert_reconciled(name: &str, r: &Value, model_type: &str) {
    assert_eq!(
        r["family"]["selected_by"], "config",
        "{name}: family chosen by model_type `{model_type}`"
    );
    assert_eq!(
        r["buckets"]["other"]["tensors"],
        0,
        "{name}: tensors in `other`: {:?}",
        r["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["bucket"] == "other")
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        r["family"]["recognised"], r["totals"]["tensors"],
        "{name}: every tensor recognised"
    );
    assert_eq!(
        r["differences"]["unexplained"], 0,
        "{name}: {:#}",
        r["findings"]
    );
    assert_eq!(r["findings"], Value::Array(vec![]), "{name}");
}

#[test]
fn every_family_fixture_reconciles_to_what_transformers_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let list = fixtures();
    assert!(!list.is_empty(), "no fixture selected");
    for (name, dir, reference) in list {
        let model_type = reference["model_type"].as_str().unwrap();
        let r = inspect(tmp.path(), &dir);
        assert_reconciled(&name, &r, model_type);
        // transformers' own figures: what it wrote, and what it counts.
        let stored = reference["stored"].as_object().unwrap();
        assert_eq!(r["totals"]["tensors"], stored.len(), "{name}: tensors");
        assert_eq!(
            r["totals"]["stored_elements"], reference["stored_elements"],
            "{name}: stored elements"
        );
        for t in r["tensors"].as_array().unwrap() {
            let want = &stored[t["name"].as_str().unwrap()];
            assert_eq!(t["shape"], want["shape"], "{name}: {}", t["name"]);
            assert_eq!(t["dtype"], want["dtype"], "{name}: {}", t["name"]);
        }
        assert_eq!(
            r["formula"]["num_parameters"], reference["num_parameters"],
            "{name}: num_parameters() (ladder: {:#})",
            r["ladder"]
        );
        // Stored parameters differ from num_parameters() only by named ladder steps.
        let d = &r["differences"];
        let explained = r["totals"]["parameters"].as_i64().unwrap()
            + d["not_stored"].as_i64().unwrap()
            - d["extra_layers"].as_i64().unwrap();
        assert_eq!(
            explained,
            reference["num_parameters"].as_i64().unwrap(),
            "{name}"
        );
        if let Some(active) = reference.get("active_parameters") {
            assert_eq!(
                r["formula"]["active"]["parameters"], *active,
                "{name}: active parameters"
            );
        }
    }
}

/// Published configs and what transformers 5.24 counts for them on the meta device.
fn full_size() -> Vec<(String, Value)> {
    let v = read_json(&families_dir().join("full-size.json"));
    v["models"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, m)| wanted(m["config"]["model_type"].as_str().unwrap()))
        .map(|(k, m)| (k.clone(), m.clone()))
        .collect()
}

#[test]
fn full_size_formulas_reproduce_transformers_counts_for_published_configs() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, m) in full_size() {
        let config = tmp.path().join(format!("{name}.json"));
        std::fs::write(&config, m["config"].to_string()).unwrap();
        let out = run(tmp.path(), &["formula", config.to_str().unwrap(), "--json"]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let doc = schema::doc("formula", &out.stdout);
        let class = m["class"].as_str().unwrap();
        let line = doc["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["part"] == class)
            .unwrap_or_else(|| panic!("{name}: no `{class}` line in {:#}", doc["models"]));
        assert_eq!(line["value"], m["num_parameters"], "{name}: {class}");
        if let Some(active) = m.get("active_parameters") {
            assert_eq!(doc["active"]["value"], *active, "{name}: active");
        }
    }
}

/// The tensor list transformers' save produces for a published config: a full
/// `[name, shape]` list, or naming patterns with layer and expert ranges.
fn tensor_list(name: &str) -> Option<Vec<(String, Vec<u64>)>> {
    let path = families_dir()
        .join("full-size-tensors")
        .join(format!("{name}.json"));
    if !path.is_file() {
        return None;
    }
    Some(layout::expand_list(&read_json(&path)))
}

/// A layout as the real repositories ship it: BF16 parameters, F32 buffers, sharded with
/// an index when large.
fn specs(list: &[(String, Vec<u64>)], buffers: &Value) -> Vec<Spec> {
    list.iter()
        .map(|(n, s)| {
            let dtype = if buffers.get(n).is_some() || n.ends_with("final_logits_bias") {
                "F32"
            } else {
                "BF16"
            };
            (n.clone(), dtype, s.clone())
        })
        .collect()
}

#[test]
fn full_size_sparse_layouts_reconcile_to_transformers_counts() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, m) in full_size() {
        let Some(list) = tensor_list(&name) else {
            continue;
        };
        let dir = tmp.path().join(&name);
        let specs = specs(&list, &m["buffers"]);
        let shards = (list.len() / 150).clamp(1, 163);
        if shards == 1 {
            layout::write_model_dir(&dir, &specs, &m["config"].to_string());
        } else {
            layout::write_sharded(&dir, &specs, shards);
            std::fs::write(dir.join("config.json"), m["config"].to_string()).unwrap();
        }
        let r = inspect(tmp.path(), &dir);
        assert_reconciled(&name, &r, m["config"]["model_type"].as_str().unwrap());
        assert_eq!(r["totals"]["tensors"], list.len(), "{name}");
        assert_eq!(
            r["totals"]["stored_elements"], m["saved_elements"],
            "{name}: stored elements"
        );
        assert_eq!(
            r["formula"]["num_parameters"], m["num_parameters"],
            "{name}: num_parameters()"
        );
        if let Some(active) = m.get("active_parameters") {
            assert_eq!(r["formula"]["active"]["parameters"], *active, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn every_fixture_model_type_has_a_family() {
    let out = run(Path::new("."), &["families", "--json"]);
    assert_eq!(out.code, 0);
    let list = schema::doc("families", &out.stdout);
    let served: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["model_types"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    let index = read_json(&families_dir().join("index.json"));
    for (fixture, v) in index.as_object().unwrap() {
        let t = v["model_type"].as_str().unwrap();
        assert!(served.contains(&t), "{fixture}: no family serves `{t}`");
    }
}
