//! A transformers-style config from a GGUF file's own metadata (the `{arch}.*` keys
//! `convert_hf_to_gguf.py` writes from config.json, read back), and from its tensors
//! where the metadata says nothing: whether the head is tied (no `output` tensor),
//! whether there are biases, which layers are dense.

use serde_json::{json, Map, Value as Json};

use crate::checkpoint::Tensor;

use super::reader::Parsed;
use super::value::Value;

/// Per architecture: transformers' `model_type` and causal-LM class.
const MODEL_TYPES: &[(&str, &str, &str)] = &[
    ("llama", "llama", "LlamaForCausalLM"),
    ("qwen2", "qwen2", "Qwen2ForCausalLM"),
    ("qwen3", "qwen3", "Qwen3ForCausalLM"),
    ("qwen3moe", "qwen3_moe", "Qwen3MoeForCausalLM"),
    ("gemma2", "gemma2", "Gemma2ForCausalLM"),
    ("phi3", "phi3", "Phi3ForCausalLM"),
    ("deepseek2", "deepseek_v3", "DeepseekV3ForCausalLM"),
];

/// The metadata of the first part, read for one architecture.
struct Meta<'a> {
    p: &'a Parsed,
    arch: &'a str,
    notes: Vec<String>,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.p.get(&format!("{}.{key}", self.arch))
    }

    /// A count: a scalar, or a per-layer array whose values are all the same. An array
    /// whose values differ has no transformers equivalent: noted, and left out.
    fn count(&mut self, key: &str) -> Option<u64> {
        let full = format!("{}.{key}", self.arch);
        match self.p.get(&full)? {
            Value::Array(a) => {
                let items = a.items.as_ref()?;
                let values: Option<Vec<u64>> = items.iter().map(Value::as_u64).collect();
                let values = values?;
                match values.split_first() {
                    Some((first, rest)) if rest.iter().all(|v| v == first) => Some(*first),
                    Some(_) => {
                        self.notes.push(format!(
                            "`{full}` differs between layers ({}): no transformers family has per-layer values, so the config leaves it out",
                            Value::Array(a.clone())
                        ));
                        None
                    }
                    None => None,
                }
            }
            v => v.as_u64(),
        }
    }

    fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
}

/// The config of a checkpoint whose first part is `p`, its tensors already translated.
/// `None` (with a note) for an architecture paramaudit has no family for.
pub fn derive(p: &Parsed, tensors: &[Tensor]) -> (Option<Json>, Vec<String>) {
    let Some(arch) = p.get("general.architecture").and_then(Value::as_str) else {
        return (None, Vec::new());
    };
    let Some(&(_, model_type, class)) = MODEL_TYPES.iter().find(|(a, ..)| *a == arch) else {
        return (None, Vec::new());
    };
    let mut m = Meta {
        p,
        arch,
        notes: Vec::new(),
    };
    let mut c = Map::new();
    common(&mut m, &mut c, tensors);
    let (model_type, class) = match arch {
        "llama" if m.count("expert_count").is_some_and(|e| e > 0) => {
            mixtral(&mut m, &mut c);
            ("mixtral", "MixtralForCausalLM")
        }
        "qwen3moe" => {
            qwen3_moe(&mut m, &mut c, tensors);
            (model_type, class)
        }
        "deepseek2" => {
            deepseek(&mut m, &mut c);
            (model_type, class)
        }
        _ => (model_type, class),
    };
    c.insert("model_type".into(), json!(model_type));
    c.insert("architectures".into(), json!([class]));
    (Some(Json::Object(c)), m.notes)
}

fn put(c: &mut Map<String, Json>, key: &str, v: Option<impl Into<Json>>) {
    if let Some(v) = v {
        c.insert(key.into(), v.into());
    }
}

/// The keys every architecture has.
fn common(m: &mut Meta, c: &mut Map<String, Json>, tensors: &[Tensor]) {
    let h = m.count("embedding_length");
    let a = m.count("attention.head_count");
    put(c, "hidden_size", h);
    put(c, "intermediate_size", m.count("feed_forward_length"));
    put(c, "num_hidden_layers", m.count("block_count"));
    put(c, "num_attention_heads", a);
    put(c, "num_key_value_heads", m.count("attention.head_count_kv"));
    // llama.cpp's own default: n_embd_head_k = n_embd / n_head.
    let head_dim = m.count("attention.key_length").or_else(|| match (h, a) {
        (Some(h), Some(a)) if a > 0 => Some(h / a),
        _ => None,
    });
    put(c, "head_dim", head_dim);
    put(c, "vocab_size", vocab_size(m, tensors));
    put(c, "max_position_embeddings", m.count("context_length"));
    put(
        c,
        "rms_norm_eps",
        m.float("attention.layer_norm_rms_epsilon"),
    );
    put(c, "rope_theta", m.float("rope.freq_base"));
    let has = |suffix: &str| tensors.iter().any(|t| t.name.ends_with(suffix));
    c.insert(
        "tie_word_embeddings".into(),
        json!(!tensors.iter().any(|t| t.name == "lm_head.weight")),
    );
    c.insert(
        "attention_bias".into(),
        json!(has("self_attn.q_proj.bias") || has("self_attn.o_proj.bias")),
    );
    c.insert(
        "mlp_bias".into(),
        json!(has("mlp.up_proj.bias") || has("mlp.gate_proj.bias")),
    );
}

/// `{arch}.vocab_size`, else the tokenizer's token count, else the embedding's rows.
fn vocab_size(m: &mut Meta, tensors: &[Tensor]) -> Option<u64> {
    if let Some(v) = m.count("vocab_size") {
        return Some(v);
    }
    if let Some(Value::Array(a)) = m.p.get("tokenizer.ggml.tokens") {
        return Some(a.len);
    }
    let rows = tensors
        .iter()
        .find(|t| t.name == "model.embed_tokens.weight")
        .and_then(|t| t.shape.first().copied());
    if let Some(rows) = rows {
        m.notes.push(format!(
            "no `{}.vocab_size` and no tokenizer.ggml.tokens: vocab_size is read from token_embd's {rows} rows",
            m.arch
        ));
    }
    rows
}

/// Mixtral: llama.cpp's `llama` with experts.
fn mixtral(m: &mut Meta, c: &mut Map<String, Json>) {
    put(c, "num_local_experts", m.count("expert_count"));
    put(c, "num_experts_per_tok", m.count("expert_used_count"));
}

/// Qwen3-MoE: every layer sparse unless it stores a dense MLP.
fn qwen3_moe(m: &mut Meta, c: &mut Map<String, Json>, tensors: &[Tensor]) {
    put(c, "num_experts", m.count("expert_count"));
    put(c, "num_experts_per_tok", m.count("expert_used_count"));
    put(
        c,
        "moe_intermediate_size",
        m.count("expert_feed_forward_length"),
    );
    c.insert("decoder_sparse_step".into(), json!(1));
    let mut dense: Vec<u64> = tensors
        .iter()
        .filter(|t| t.name.ends_with(".mlp.gate_proj.weight"))
        .filter_map(|t| super::names::layer_of(t.stored_as.as_deref().unwrap_or("")))
        .map(|(n, _)| n)
        .collect();
    dense.sort_unstable();
    dense.dedup();
    c.insert("mlp_only_layers".into(), json!(dense));
}

/// DeepSeek-V2/V3 (llama.cpp's `deepseek2`), read with transformers' DeepSeek-V3 keys.
/// The converter stores MLA as one key/value head (`head_count_kv` 1) with
/// `key_length` = kv_lora_rank + qk_rope_head_dim; the per-head dimensions are in
/// `key_length_mla` / `value_length_mla` (files from before 2025: `key_length` =
/// qk_nope + qk_rope and `value_length` = v_head_dim).
fn deepseek(m: &mut Meta, c: &mut Map<String, Json>) {
    let rope = m.count("rope.dimension_count");
    let (qk, v) = match m.count("attention.key_length_mla") {
        Some(k) => (Some(k), m.count("attention.value_length_mla")),
        None => (
            m.count("attention.key_length"),
            m.count("attention.value_length"),
        ),
    };
    c.remove("head_dim");
    put(c, "num_key_value_heads", m.count("attention.head_count"));
    put(c, "q_lora_rank", m.count("attention.q_lora_rank"));
    if !c.contains_key("q_lora_rank") {
        c.insert("q_lora_rank".into(), Json::Null);
    }
    put(c, "kv_lora_rank", m.count("attention.kv_lora_rank"));
    put(c, "qk_rope_head_dim", rope);
    put(
        c,
        "qk_nope_head_dim",
        qk.zip(rope).and_then(|(k, r)| k.checked_sub(r)),
    );
    put(c, "v_head_dim", v);
    put(c, "n_routed_experts", m.count("expert_count"));
    put(c, "num_experts_per_tok", m.count("expert_used_count"));
    put(
        c,
        "moe_intermediate_size",
        m.count("expert_feed_forward_length"),
    );
    put(c, "n_shared_experts", m.count("expert_shared_count"));
    put(
        c,
        "first_k_dense_replace",
        m.count("leading_dense_block_count"),
    );
    put(c, "n_group", m.count("expert_group_count"));
    put(c, "topk_group", m.count("expert_group_used_count"));
    put(c, "routed_scaling_factor", m.float("expert_weights_scale"));
    put(
        c,
        "norm_topk_prob",
        m.get("expert_weights_norm").and_then(Value::as_bool),
    );
    // llama.cpp's converter skips DeepSeek's multi-token-prediction layers: none stored.
    c.insert(
        "num_nextn_predict_layers".into(),
        json!(m.count("nextn_predict_layers").unwrap_or(0)),
    );
    m.notes.push(
        "llama.cpp's `deepseek2` (DeepSeek-V2, V2.5, V3, R1) is read with the DeepSeek-V3 family: the tensor shapes are the same (a V2 router has no score-correction bias, exp_probs_b); multi-head latent attention stored as one key/value head (head_count_kv 1) is read back with transformers' per-head dimensions; the converter drops DeepSeek's multi-token-prediction layers, which transformers does not count either".to_string(),
    );
}
