//! Real decoder checkpoint layouts, written sparse from their exact tensor lists (not from
//! paramaudit's tables). The released `gpt2` model.safetensors: no `transformer.` prefix,
//! no `lm_head` (tied to `wte`), and the twelve F32 causal-mask buffers `h.{i}.attn.bias`
//! [1, 1, 1024, 1024] that transformers wrote when it saved them. Its figures:
//! 137,022,720 stored elements = 124,439,808 parameters (transformers 5.24's
//! num_parameters() for GPT2LMHeadModel, fixtures/families/full-size.json) + 12,582,912
//! buffer elements (12 · 1024²).

use serde_json::Value;

use crate::common::layout::{self, Spec};
use crate::common::{fixture, inspect_json, run, schema};

/// The tensors of the released gpt2 `model.safetensors`, all F32.
fn gpt2_released() -> Vec<Spec> {
    let (v, p, h, i, layers) = (50257u64, 1024u64, 768u64, 3072u64, 12u64);
    let mut t: Vec<Spec> = Vec::new();
    let mut add = |name: String, shape: Vec<u64>| t.push((name, "F32", shape));
    add("wte.weight".into(), vec![v, h]);
    add("wpe.weight".into(), vec![p, h]);
    for l in 0..layers {
        let b = format!("h.{l}");
        add(format!("{b}.ln_1.weight"), vec![h]);
        add(format!("{b}.ln_1.bias"), vec![h]);
        add(format!("{b}.attn.bias"), vec![1, 1, p, p]);
        add(format!("{b}.attn.c_attn.weight"), vec![h, 3 * h]);
        add(format!("{b}.attn.c_attn.bias"), vec![3 * h]);
        add(format!("{b}.attn.c_proj.weight"), vec![h, h]);
        add(format!("{b}.attn.c_proj.bias"), vec![h]);
        add(format!("{b}.ln_2.weight"), vec![h]);
        add(format!("{b}.ln_2.bias"), vec![h]);
        add(format!("{b}.mlp.c_fc.weight"), vec![h, i]);
        add(format!("{b}.mlp.c_fc.bias"), vec![i]);
        add(format!("{b}.mlp.c_proj.weight"), vec![i, h]);
        add(format!("{b}.mlp.c_proj.bias"), vec![h]);
    }
    add("ln_f.weight".into(), vec![h]);
    add("ln_f.bias".into(), vec![h]);
    t
}

/// gpt2's published config, as fixtures/families/full-size.json records it.
fn gpt2_config() -> Value {
    let text = std::fs::read_to_string(fixture("families").join("full-size.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["models"]["gpt2"]["config"].clone()
}

#[test]
fn released_gpt2_layout_reconciles_with_its_causal_mask_buffers() {
    let tmp = tempfile::tempdir().unwrap();
    let tensors = gpt2_released();
    assert_eq!(tensors.len(), 160, "148 parameters + 12 masks");
    let mut config = gpt2_config();
    assert_eq!(config["model_type"], "gpt2");
    for (name, architectures) in [
        ("bare", None),
        ("lm-head", Some(serde_json::json!(["GPT2LMHeadModel"]))),
    ] {
        if let Some(a) = architectures {
            config["architectures"] = a;
        }
        let dir = tmp.path().join(name);
        layout::write_model_dir(&dir, &tensors, &config.to_string());
        let r = inspect_json(tmp.path(), &dir, &[]);
        assert_eq!(r.totals.stored_elements, 137_022_720, "{name}");
        assert_eq!(r.totals.parameters, 124_439_808, "{name}");
        assert_eq!(r.totals.buffers, 12_582_912, "{name}");
        assert_eq!(r.buckets.buffer.tensors, 12, "{name}");
        assert_eq!(r.buckets.buffer.buffers, 12_582_912, "{name}");
        assert_eq!(r.buckets.other.tensors, 0, "{name}");
        let f = r.formula.as_ref().unwrap();
        assert_eq!(f.family, "gpt2");
        // The classic (V + P)·H + 12·L·H².
        assert_eq!(f.weights_only, (50257 + 1024) * 768 + 12 * 12 * 768 * 768);
        assert_eq!(f.expected_total, 124_439_808, "{name}");
        let d = r.differences.as_ref().unwrap();
        assert_eq!(d.unexplained, 0, "{name}: {:?}", r.findings);
        assert_eq!(d.buffers, 12_582_912, "{name}");
        assert_eq!(d.biases, 12 * (5 * 768 + 3072), "{name}");
        assert_eq!(d.norms, 12 * 4 * 768 + 2 * 768, "{name}");
        // Claimed GPT2LMHeadModel: the head is wte, tied and not stored.
        let tied = if config.get("architectures").is_some() {
            50257 * 768
        } else {
            0
        };
        assert_eq!(d.tied_not_stored, tied, "{name}");
        assert!(r.findings.is_empty(), "{name}: {:?}", r.findings);
        // transformers' own count: num_parameters() of GPT2LMHeadModel (and GPT2Model).
        let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]);
        let v = schema::doc("report", &out.stdout);
        assert_eq!(v["formula"]["num_parameters"], 124_439_808, "{name}");
    }
}

/// The synthetic 1-trillion-parameter dense decoder (tests/audit/common/layout.rs
/// `one_t`) in 1,000 shards of 2 to 3 tensors: every shard opened, nothing unexplained.
/// Per layer 4·H² + 3·H·I + 2·H = 603,979,776 + 2,604,662,784 + 24,576 = 3,208,667,136;
/// · 311 layers = 997,895,479,296; embeddings and LM head 2 · 128,256 · 12,288 =
/// 3,152,019,456; final norm 12,288: 1,001,047,511,040 parameters in 2,802 tensors.
#[test]
fn a_one_trillion_parameter_layout_in_1000_shards_reconciles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("1t");
    let tensors = layout::one_t();
    assert_eq!(tensors.len(), 2_802);
    layout::write_sharded(&dir, &tensors, 1000);
    std::fs::write(dir.join("config.json"), layout::one_t_config()).unwrap();
    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.source.files.len(), 1000);
    assert_eq!(r.totals.tensors, 2_802);
    assert_eq!(r.totals.parameters, 1_001_047_511_040);
    assert_eq!(r.totals.bytes, 2 * 1_001_047_511_040);
    assert_eq!(r.differences.map(|d| d.unexplained), Some(0));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}
