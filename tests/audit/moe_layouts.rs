//! Mixture-of-experts layouts as their repositories ship them, beyond what transformers'
//! own save writes: DeepSeek-V3's release, 163 shards named `model-00001-of-000163`
//! (five digits, then six), whose last layer `model.layers.61` is the multi-token-prediction
//! module transformers neither builds nor counts. The tensor list is the one transformers'
//! save produces for the published config (fixtures/families/full-size-tensors/
//! deepseek-v3.json), plus that layer: a full sparse decoder layer and its own embeddings,
//! `enorm`, `hnorm`, `eh_proj`, `shared_head.norm` and `shared_head.head`. BF16 parameters,
//! the routers' `e_score_correction_bias` in F32 (buffers, as transformers registers them).

use std::path::Path;

use serde_json::Value;

use crate::common::layout::{self, Spec};
use crate::common::{fixture, run, schema};

/// The MTP layer: one past the 61 decoder layers (0..=60).
const MTP: u64 = layout::DEEPSEEK_V3_MTP;

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The release's tensors (tests/audit/common/layout.rs builds them from transformers'
/// list for the published config).
fn deepseek_v3_release() -> Vec<Spec> {
    layout::deepseek_v3_release(&read_json(&fixture(
        "families/full-size-tensors/deepseek-v3.json",
    )))
}

/// The published config with the release's `num_nextn_predict_layers`.
fn deepseek_v3_config() -> String {
    let all = read_json(&fixture("families/full-size.json"));
    let mut config = all["models"]["deepseek-v3"]["config"].clone();
    config["num_nextn_predict_layers"] = Value::from(1);
    config["architectures"] = Value::from(vec!["DeepseekV3ForCausalLM"]);
    config.to_string()
}

fn write_release(dir: &Path, tensors: &[Spec]) {
    layout::write_sharded_named(dir, tensors, 163, |i, n| {
        format!("model-{i:05}-of-{n:06}.safetensors")
    });
}

/// The figures every reading of the release gives: transformers' count, the MTP layer as
/// its own ladder step, the routers' biases as buffers, nothing unexplained.
fn assert_release_figures(r: &Value) {
    assert_eq!(r["family"]["name"], "deepseek_v3");
    assert_eq!(r["buckets"]["other"]["tensors"], 0, "{:#}", r["findings"]);
    assert_eq!(r["family"]["recognised"], r["totals"]["tensors"]);
    assert_eq!(r["totals"]["tensors"], 45_395 + 788);
    // 671,026,404,352 parameters transformers counts, 58 · 256 buffer elements it does not,
    // and layer 61: 13,463,426,048 parameters and its own 256-element buffer.
    assert_eq!(r["totals"]["stored_elements"], 684_489_845_504_u64);
    assert_eq!(
        r["totals"]["parameters"],
        671_026_404_352_u64 + 13_463_426_048
    );
    assert_eq!(r["totals"]["buffers"], 59 * 256);
    let d = &r["differences"];
    assert_eq!(d["unexplained"], 0, "{:#}", r["findings"]);
    assert_eq!(d["extra_layers"], 13_463_426_048_u64);
    assert_eq!(d["buffers"], 15_104);
    assert_eq!(d["not_stored"], 0);
    assert_eq!(r["findings"], Value::Array(vec![]));
    let f = &r["formula"];
    assert_eq!(f["num_parameters"], 671_026_404_352_u64);
    assert_eq!(f["active"]["parameters"], 37_552_282_624_u64);
    assert_eq!(f["dims"]["num_hidden_layers"], 61);
    assert_eq!(f["dims"]["num_nextn_predict_layers"], 1);
}

#[test]
fn deepseek_v3_release_with_its_mtp_layer_reconciles_to_transformers_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("DeepSeek-V3");
    write_release(&dir, &deepseek_v3_release());
    std::fs::write(dir.join("config.json"), deepseek_v3_config()).unwrap();
    assert!(dir.join("model-00001-of-000163.safetensors").is_file());
    assert!(dir.join("model-00163-of-000163.safetensors").is_file());
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = schema::doc("report", &out.stdout);
    assert_eq!(r["family"]["selected_by"], "config");
    assert_eq!(r["source"]["layout"], "sharded");
    assert_eq!(r["source"]["files"].as_array().unwrap().len(), 163);
    assert_release_figures(&r);
}

/// Without config.json the dimensions come from the shapes: the MTP module's index gives
/// `num_hidden_layers` (61, not the 62 its decoder-layer names would suggest), and the
/// figures are the same.
#[test]
fn deepseek_v3_release_without_config_reconciles_from_its_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("DeepSeek-V3");
    write_release(&dir, &deepseek_v3_release());
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = schema::doc("report", &out.stdout);
    assert_eq!(r["family"]["selected_by"], "tensors");
    assert_eq!(r["formula"]["dims_source"]["kind"], "inferred");
    assert_release_figures(&r);
}

/// The same release without its MTP layer (what transformers' own save writes): nothing
/// is missing, and the extra-layers step is empty.
#[test]
fn deepseek_v3_without_mtp_layer_expects_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("DeepSeek-V3");
    let tensors: Vec<Spec> = deepseek_v3_release()
        .into_iter()
        .filter(|t| !t.0.starts_with(&format!("model.layers.{MTP}.")))
        .collect();
    write_release(&dir, &tensors);
    std::fs::write(dir.join("config.json"), deepseek_v3_config()).unwrap();
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = schema::doc("report", &out.stdout);
    assert_eq!(r["totals"]["stored_elements"], 671_026_419_200_u64);
    assert_eq!(r["differences"]["unexplained"], 0, "{:#}", r["findings"]);
    assert_eq!(r["differences"]["extra_layers"], 0);
    assert_eq!(r["differences"]["buffers"], 14_848);
    assert_eq!(r["formula"]["num_parameters"], 671_026_404_352_u64);
    assert_eq!(r["formula"]["active"]["parameters"], 37_552_282_624_u64);
}
