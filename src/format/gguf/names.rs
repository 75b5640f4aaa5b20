//! GGUF tensor names → transformers names, one table per llama.cpp architecture: data,
//! read by [`super::logical`]. The GGUF side is gguf-py's `TENSOR_NAMES`
//! (`constants.py`), the transformers side what `convert_hf_to_gguf.py` maps from
//! (`tensor_mapping.py`); both checked against the fixtures converted with gguf-py 0.19
//! (`fixtures/make_gguf.py`).
//!
//! A rule's GGUF side is a base name (`attn_q`: `.weight` and `.bias` follow it and carry
//! over), or a whole name (`exp_probs_b.bias`) when the transformers name does not end
//! the same way. `{E}` stands for an expert number. Per-layer rules apply to
//! `blk.{N}.<rest>` and become `model.layers.{N}.<name>`; global rules give the whole
//! transformers name.

/// What a GGUF tensor becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One transformers tensor of the same shape (PyTorch order).
    Plain,
    /// A stack of experts, PyTorch shape `[E, rows, cols]`: one `[rows, cols]` tensor per
    /// expert, `{E}` in the transformers name.
    Experts,
    /// Half of DeepSeek's `kv_b_proj`: `attn_k_b` `[A, C, DN]` (transposed) or `attn_v_b`
    /// `[A, DV, C]`; together one `[A·(DN + DV), C]` tensor.
    KvHalf,
}

/// One rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The GGUF base name (or whole name) after `blk.{N}.`.
    pub gguf: &'static str,
    /// The transformers name after `model.layers.{N}.` (whole, for global rules).
    pub hf: &'static str,
    /// How shapes and bytes carry over.
    pub kind: Kind,
}

const fn plain(gguf: &'static str, hf: &'static str) -> Rule {
    Rule {
        gguf,
        hf,
        kind: Kind::Plain,
    }
}

const fn experts(gguf: &'static str, hf: &'static str) -> Rule {
    Rule {
        gguf,
        hf,
        kind: Kind::Experts,
    }
}

/// One architecture's names.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// llama.cpp's architecture name (`general.architecture`).
    pub arch: &'static str,
    /// Tensors outside the blocks.
    pub global: &'static [Rule],
    /// Tensors of block `N`, in groups.
    pub layer: &'static [&'static [Rule]],
}

/// Token embeddings, final norm, output head (absent when tied).
#[rustfmt::skip]
const GLOBAL: &[Rule] = &[
    plain("token_embd",         "model.embed_tokens"),
    plain("output_norm",        "model.norm"),
    plain("output",             "lm_head"),
];

/// The pre-attention norm and the four attention projections (biases follow).
#[rustfmt::skip]
const ATTENTION: &[Rule] = &[
    plain("attn_norm",          "input_layernorm"),
    plain("attn_q",             "self_attn.q_proj"),
    plain("attn_k",             "self_attn.k_proj"),
    plain("attn_v",             "self_attn.v_proj"),
    plain("attn_output",        "self_attn.o_proj"),
];

/// The norm before the MLP, which transformers calls `post_attention_layernorm`.
#[rustfmt::skip]
const FFN_NORM: &[Rule] = &[
    plain("ffn_norm",           "post_attention_layernorm"),
];

/// The gated MLP.
#[rustfmt::skip]
const MLP: &[Rule] = &[
    plain("ffn_gate",           "mlp.gate_proj"),
    plain("ffn_up",             "mlp.up_proj"),
    plain("ffn_down",           "mlp.down_proj"),
];

/// Qwen3's per-head query and key RMSNorms.
#[rustfmt::skip]
const QK_NORMS: &[Rule] = &[
    plain("attn_q_norm",        "self_attn.q_norm"),
    plain("attn_k_norm",        "self_attn.k_norm"),
];

/// Mixtral (llama.cpp's `llama` with `expert_count`): router and stacked experts under
/// transformers' on-disk names (w1 gate, w2 down, w3 up); files converted before
/// llama.cpp stacked experts (2024) hold one `ffn_gate.{E}` per expert.
#[rustfmt::skip]
const MIXTRAL_MOE: &[Rule] = &[
    plain("ffn_gate_inp",       "block_sparse_moe.gate"),
    experts("ffn_gate_exps",    "block_sparse_moe.experts.{E}.w1"),
    experts("ffn_down_exps",    "block_sparse_moe.experts.{E}.w2"),
    experts("ffn_up_exps",      "block_sparse_moe.experts.{E}.w3"),
    plain("ffn_gate.{E}",       "block_sparse_moe.experts.{E}.w1"),
    plain("ffn_down.{E}",       "block_sparse_moe.experts.{E}.w2"),
    plain("ffn_up.{E}",         "block_sparse_moe.experts.{E}.w3"),
];

/// Qwen-MoE and DeepSeek routers and stacked routed experts.
#[rustfmt::skip]
const ROUTED_EXPERTS: &[Rule] = &[
    plain("ffn_gate_inp",       "mlp.gate"),
    experts("ffn_gate_exps",    "mlp.experts.{E}.gate_proj"),
    experts("ffn_up_exps",      "mlp.experts.{E}.up_proj"),
    experts("ffn_down_exps",    "mlp.experts.{E}.down_proj"),
];

/// Gemma 2's four norms per layer.
#[rustfmt::skip]
const GEMMA2_NORMS: &[Rule] = &[
    plain("post_attention_norm", "post_attention_layernorm"),
    plain("ffn_norm",           "pre_feedforward_layernorm"),
    plain("post_ffw_norm",      "post_feedforward_layernorm"),
];

/// Phi-3's fused projections: `attn_qkv` is `qkv_proj`, `ffn_up` is `gate_up_proj`
/// (2·I rows; there is no `ffn_gate`).
#[rustfmt::skip]
const PHI3: &[Rule] = &[
    plain("attn_norm",          "input_layernorm"),
    plain("attn_qkv",           "self_attn.qkv_proj"),
    plain("attn_output",        "self_attn.o_proj"),
    plain("ffn_norm",           "post_attention_layernorm"),
    plain("ffn_up",             "mlp.gate_up_proj"),
    plain("ffn_down",           "mlp.down_proj"),
];

/// DeepSeek-V2/V3 multi-head latent attention. The converter writes `kv_b_proj` split
/// into `attn_k_b` and `attn_v_b` (files from before 2025 hold one `attn_kv_b`).
#[rustfmt::skip]
const MLA: &[Rule] = &[
    plain("attn_norm",          "input_layernorm"),
    plain("attn_q",             "self_attn.q_proj"),
    plain("attn_q_a",           "self_attn.q_a_proj"),
    plain("attn_q_a_norm",      "self_attn.q_a_layernorm"),
    plain("attn_q_b",           "self_attn.q_b_proj"),
    plain("attn_kv_a_mqa",      "self_attn.kv_a_proj_with_mqa"),
    plain("attn_kv_a_norm",     "self_attn.kv_a_layernorm"),
    plain("attn_kv_b",          "self_attn.kv_b_proj"),
    Rule { gguf: "attn_k_b",    hf: "self_attn.kv_b_proj", kind: Kind::KvHalf },
    Rule { gguf: "attn_v_b",    hf: "self_attn.kv_b_proj", kind: Kind::KvHalf },
    plain("attn_output",        "self_attn.o_proj"),
];

/// DeepSeek's shared experts and the router's score-correction bias (a buffer).
#[rustfmt::skip]
const DEEPSEEK_MOE: &[Rule] = &[
    plain("ffn_gate_shexp",     "mlp.shared_experts.gate_proj"),
    plain("ffn_up_shexp",       "mlp.shared_experts.up_proj"),
    plain("ffn_down_shexp",     "mlp.shared_experts.down_proj"),
    plain("exp_probs_b.bias",   "mlp.gate.e_score_correction_bias"),
];

/// Every architecture with a table.
pub const TABLES: &[Table] = &[
    Table {
        arch: "llama",
        global: GLOBAL,
        layer: &[ATTENTION, FFN_NORM, MLP, MIXTRAL_MOE],
    },
    Table {
        arch: "qwen2",
        global: GLOBAL,
        layer: &[ATTENTION, FFN_NORM, MLP],
    },
    Table {
        arch: "qwen3",
        global: GLOBAL,
        layer: &[ATTENTION, QK_NORMS, FFN_NORM, MLP],
    },
    Table {
        arch: "qwen3moe",
        global: GLOBAL,
        layer: &[ATTENTION, QK_NORMS, FFN_NORM, MLP, ROUTED_EXPERTS],
    },
    Table {
        arch: "gemma2",
        global: GLOBAL,
        layer: &[ATTENTION, GEMMA2_NORMS, MLP],
    },
    Table {
        arch: "phi3",
        global: GLOBAL,
        layer: &[PHI3],
    },
    Table {
        arch: "deepseek2",
        global: GLOBAL,
        layer: &[MLA, FFN_NORM, MLP, ROUTED_EXPERTS, DEEPSEEK_MOE],
    },
];

/// The table of `arch`.
pub fn table(arch: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.arch == arch)
}

/// The transformers name of a stored GGUF name, with the rule that gave it and the
/// expert number `{E}` captured, if any.
pub fn translate(table: &Table, stored: &str) -> Option<(String, Kind, Option<u64>)> {
    match layer_of(stored) {
        Some((n, rest)) => {
            let rules = table.layer.iter().flat_map(|g| g.iter());
            let (name, kind, e) = match_rules(rules, rest)?;
            Some((format!("model.layers.{n}.{name}"), kind, e))
        }
        None => match_rules(table.global.iter(), stored),
    }
}

/// `blk.12.attn_q.weight` → (12, `attn_q.weight`).
pub fn layer_of(name: &str) -> Option<(u64, &str)> {
    let rest = name.strip_prefix("blk.")?;
    let (n, rest) = rest.split_once('.')?;
    if n.is_empty() || n.len() > 19 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((n.parse().ok()?, rest))
}

fn match_rules<'a>(
    rules: impl Iterator<Item = &'a Rule> + Clone,
    rest: &str,
) -> Option<(String, Kind, Option<u64>)> {
    // A whole-name rule first (`exp_probs_b.bias`), then base name + suffix.
    if let Some(r) = rules.clone().find(|r| r.gguf == rest) {
        return Some((r.hf.to_string(), r.kind, None));
    }
    let (base, suffix) = match rest.rsplit_once('.') {
        Some((b, s)) if s == "weight" || s == "bias" => (b, Some(s)),
        _ => (rest, None),
    };
    for r in rules {
        if let Some(e) = matches(r.gguf, base) {
            let hf = match e {
                Some(e) => r.hf.replace("{E}", &e.to_string()),
                None => r.hf.to_string(),
            };
            let name = match suffix {
                Some(s) => format!("{hf}.{s}"),
                None => hf,
            };
            return Some((name, r.kind, e));
        }
    }
    None
}

/// Whether `base` matches `pattern` (at most one `{E}`, standing for digits): `None` for
/// no match, `Some(expert)` for a match.
fn matches(pattern: &str, base: &str) -> Option<Option<u64>> {
    match pattern.split_once("{E}") {
        None => (pattern == base).then_some(None),
        Some((before, after)) => {
            let digits = base.strip_prefix(before)?.strip_suffix(after)?;
            if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            Some(Some(digits.parse().ok()?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_maps_distinct_gguf_names_to_distinct_transformers_names() {
        for t in TABLES {
            let rules: Vec<&Rule> = t.layer.iter().flat_map(|g| g.iter()).collect();
            for (i, a) in rules.iter().enumerate() {
                for b in &rules[i + 1..] {
                    assert_ne!(a.gguf, b.gguf, "{}: {} twice", t.arch, a.gguf);
                    if a.kind != Kind::KvHalf && b.kind != Kind::KvHalf {
                        assert!(
                            a.hf != b.hf || a.gguf.contains("{E}") != b.gguf.contains("{E}"),
                            "{}: {} and {} both give {}",
                            t.arch,
                            a.gguf,
                            b.gguf,
                            a.hf
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn names_translate_as_the_converter_maps_them() {
        let llama = table("llama").unwrap();
        let t = |name: &str| translate(llama, name);
        assert_eq!(
            t("blk.12.attn_q.weight").unwrap().0,
            "model.layers.12.self_attn.q_proj.weight"
        );
        assert_eq!(t("output.weight").unwrap().0, "lm_head.weight");
        assert_eq!(
            t("blk.0.ffn_up_exps.weight").unwrap(),
            (
                "model.layers.0.block_sparse_moe.experts.{E}.w3.weight".to_string(),
                Kind::Experts,
                None
            )
        );
        assert_eq!(
            t("blk.1.ffn_gate.7.weight").unwrap().0,
            "model.layers.1.block_sparse_moe.experts.7.w1.weight"
        );
        assert_eq!(t("rope_freqs.weight"), None);
        assert_eq!(t("blk.x.attn_q.weight"), None);
        let ds = table("deepseek2").unwrap();
        assert_eq!(
            translate(ds, "blk.2.exp_probs_b.bias").unwrap().0,
            "model.layers.2.mlp.gate.e_score_correction_bias"
        );
        assert_eq!(
            translate(ds, "blk.2.attn_k_b.weight").unwrap().1,
            Kind::KvHalf
        );
        let qwen2 = table("qwen2").unwrap();
        assert_eq!(
            translate(qwen2, "blk.0.attn_k.bias").unwrap().0,
            "model.layers.0.self_attn.k_proj.bias"
        );
    }
}
