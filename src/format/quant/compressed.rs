//! compressed-tensors (`quant_method: compressed-tensors`; llm-compressor's output).
//!
//! `pack-quantized` (compressed-tensors `compressors/pack_quantized`): `weight_packed` I32
//! [out, ceil(in · num_bits / 32)], integers packed densely (a value may straddle two
//! words, `pack_to_int32`), `weight_shape` I64 [2] = the logical [out, in] (read from the
//! file, 16 bytes), `weight_scale` [out, ceil(in / group_size)], and `weight_zero_point`
//! packed along out when asymmetric. Without the data (header only), `in` is
//! `weight_scale` columns · group_size for grouped strategies, else the packing's upper
//! bound ceil-consistent with the words (compressed-tensors' own rule when `weight_shape`
//! is not at hand, `PackedQuantizationCompressor.decompress`).
//!
//! `nvfp4-pack-quantized` / `mxfp4-pack-quantized`: `weight_packed` U8 [out, in / 2], two
//! FP4 values per byte. `naive-quantized`, `int-quantized`, `float-quantized`: `weight`
//! (I8 / F8) is stored as is. Every `weight_*` / `input_*` scale, zero point, global scale,
//! group index and shape is overhead, as are the KV-cache scales (`k_scale`, `v_scale`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::store::{dims, module_of, word_bits, Job, Tensors};
use super::Scheme;

/// The compressed-tensors scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &[".weight_packed"],
    name: "compressed-tensors",
    methods: &["compressed-tensors", "compressed_tensors"],
    sniff,
    apply,
};

/// Companions of a quantized module, all overhead.
const OVERHEAD: [&str; 8] = [
    ".weight_shape",
    ".weight_scale",
    ".weight_zero_point",
    ".weight_g_idx",
    ".weight_global_scale",
    ".input_global_scale",
    ".input_scale",
    ".input_zero_point",
];
/// KV-cache scales of attention modules.
const KV_SCALES: [&str; 3] = [".k_scale", ".v_scale", ".q_scale"];
/// Largest `weight_shape` read: 8 dimensions of I64.
const MAX_SHAPE_BYTES: u64 = 64;

/// Tensor names: packed weights.
fn sniff(t: &Tensors) -> bool {
    t.any_ending(".weight_packed")
}

/// One config group's weight settings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Args {
    bits: u64,
    group: Option<u64>,
    strategy: String,
    symmetric: bool,
    kind: String,
}

/// What the config says, and what was seen.
#[derive(Debug, Default)]
struct Plan {
    format: Option<String>,
    groups: BTreeSet<Args>,
    estimated: u64,
    kept: u64,
}

impl Plan {
    /// The only weight settings, when every group has the same.
    fn single(&self) -> Option<&Args> {
        (self.groups.len() == 1)
            .then(|| self.groups.iter().next())
            .flatten()
    }

    fn bits(&self) -> BTreeSet<u64> {
        self.groups.iter().map(|a| a.bits).collect()
    }
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let mut plan = Plan {
        format: job.params.string(&["format"])?,
        groups: groups(job)?,
        ..Plan::default()
    };
    for name in job.tensors.ending(".weight_packed") {
        packed(job, &name, &mut plan)?;
    }
    for name in job.tensors.ending(".weight_scale") {
        unpacked(job, &name, &mut plan)?;
    }
    let kv: Vec<String> = KV_SCALES
        .iter()
        .flat_map(|s| job.tensors.ending(s))
        .collect();
    job.overhead(&kv);
    if plan.estimated > 0 {
        job.notes.push(format!(
            "header only: {} compressed-tensors weight(s) have their input features from the packing (weight_scale columns × group size, or the packed words' upper bound), not from weight_shape's data",
            plan.estimated
        ));
    }
    Ok(describe(&plan))
}

/// Every config group's `weights` settings.
fn groups(job: &Job<'_>) -> Result<BTreeSet<Args>> {
    let p = job.params;
    let Some(groups) = p.object("config_groups")? else {
        return Ok(BTreeSet::new());
    };
    let mut out = BTreeSet::new();
    for (name, g) in groups {
        let Some(w) = g.get("weights").and_then(Value::as_object) else {
            continue;
        };
        out.insert(args(w).map_err(|m| p.error(format!("config_groups.{name}.weights: {m}")))?);
    }
    Ok(out)
}

fn args(w: &Map<String, Value>) -> std::result::Result<Args, String> {
    let bits =
        super::params::int_value("num_bits", w.get("num_bits").unwrap_or(&Value::Null), 1, 64)?;
    let group = match w.get("group_size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(super::params::int_value("group_size", v, 1, 1 << 30)?.unsigned_abs()),
    };
    let text = |k: &str| {
        w.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    Ok(Args {
        bits: bits.unsigned_abs(),
        group,
        strategy: text("strategy"),
        symmetric: w.get("symmetric").and_then(Value::as_bool).unwrap_or(true),
        kind: text("type"),
    })
}

/// One packed weight: its logical shape from `weight_shape` (or the packing), checked.
fn packed(job: &mut Job<'_>, name: &str, plan: &mut Plan) -> Result<()> {
    let Some(p) = job.tensors.get(name).cloned() else {
        return Ok(());
    };
    let m = module_of(name, ".weight_packed")
        .unwrap_or_default()
        .to_string();
    let scale = job.require(&format!("{m}.weight_scale"), &p)?;
    let shape = match word_bits(&p) {
        Some(8) => fp4_shape(job, &p)?,
        Some(word) => int_shape(job, &p, &m, &scale, word, plan)?,
        None => {
            return Err(job.error(
                &p,
                format!("packed weights are integer words, found {}", p.dtype),
            ))
        }
    };
    job.replace(name, format!("{m}.weight"), shape)?;
    let overhead: Vec<String> = OVERHEAD.iter().map(|s| format!("{m}{s}")).collect();
    job.overhead(&overhead);
    Ok(())
}

/// Two FP4 values per byte along the last dimension.
fn fp4_shape(job: &Job<'_>, p: &Tensor) -> Result<Vec<u64>> {
    let mut shape = p.shape.clone();
    match shape.last_mut() {
        Some(last) => {
            *last = last
                .checked_mul(2)
                .ok_or_else(|| job.error(p, "its shape overflows"))?;
            Ok(shape)
        }
        None => Err(job.error(p, "a packed weight cannot be a scalar")),
    }
}

/// Dense integer packing: the shape `weight_shape` holds, checked against the words; or
/// an estimate from the packing when its data is not at hand.
fn int_shape(
    job: &Job<'_>,
    p: &Tensor,
    m: &str,
    scale: &Tensor,
    word: u64,
    plan: &mut Plan,
) -> Result<Vec<u64>> {
    let shape_t = job.require(&format!("{m}.weight_shape"), p)?;
    let Some(cols) = p.shape.last().copied().filter(|_| p.shape.len() >= 2) else {
        return Err(job.error(
            p,
            format!("weight_packed must be at least 2-D, found {:?}", p.shape),
        ));
    };
    let bits = plan.bits();
    match job.bytes(&shape_t, MAX_SHAPE_BYTES)? {
        Some(bytes) => {
            let shape = read_shape(job, &shape_t, bytes)?;
            check_words(job, p, &shape_t, &shape, word, &bits)?;
            Ok(shape)
        }
        None => {
            plan.estimated += 1;
            let inputs = estimate_inputs(job, p, scale, cols, word, plan)?;
            let mut shape = p.shape.clone();
            if let Some(last) = shape.last_mut() {
                *last = inputs;
            }
            Ok(shape)
        }
    }
}

/// `weight_shape`'s values: I64 (or I32) little-endian, each positive.
fn read_shape(job: &Job<'_>, t: &Tensor, bytes: &[u8]) -> Result<Vec<u64>> {
    let width = match word_bits(t) {
        Some(64) => 8,
        Some(32) => 4,
        _ => {
            return Err(job.error(
                t,
                format!("weight_shape must be I64 or I32, found {}", t.dtype),
            ))
        }
    };
    if dims::<1>(t).is_none() {
        return Err(job.error(t, format!("weight_shape must be 1-D, found {:?}", t.shape)));
    }
    let values: Vec<i64> = bytes
        .chunks_exact(width)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(c);
            if width == 4 {
                i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            } else {
                i64::from_le_bytes(b)
            }
        })
        .collect();
    values
        .iter()
        .map(|&v| u64::try_from(v).ok().filter(|&v| v > 0))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| {
            job.error(
                t,
                format!("holds {values:?}, not a shape of positive dimensions"),
            )
        })
}

/// The logical shape must have the packed tensor's leading dims and, for some config
/// num_bits, ceil(in · num_bits / word) = the packed columns.
fn check_words(
    job: &Job<'_>,
    p: &Tensor,
    shape_t: &Tensor,
    shape: &[u64],
    word: u64,
    bits: &BTreeSet<u64>,
) -> Result<()> {
    let n = p.shape.len();
    let (lead, cols) = (&p.shape[..n - 1], p.shape[n - 1]);
    let words = |b: u64| {
        shape
            .last()
            .and_then(|i| i.checked_mul(b))
            .map(|x| x.div_ceil(word))
    };
    let candidates: Vec<u64> = if bits.is_empty() {
        (1..=8).collect()
    } else {
        bits.iter().copied().collect()
    };
    let fits = shape.len() == n
        && shape[..n - 1] == *lead
        && candidates.iter().any(|&b| words(b) == Some(cols));
    if fits {
        return job.elements(p, shape).map(|_| ());
    }
    let b: Vec<String> = candidates.iter().map(u64::to_string).collect();
    Err(job.error(
        shape_t,
        format!("holds {shape:?}, which {} {word}-bit words of {}-bit values cannot give: weight_packed is {:?}", cols, b.join(" or "), p.shape),
    ))
}

/// Input features without `weight_shape`'s data: scale columns × group size for grouped
/// strategies when that fits the words, else the words' upper bound.
fn estimate_inputs(
    job: &Job<'_>,
    p: &Tensor,
    scale: &Tensor,
    cols: u64,
    word: u64,
    plan: &Plan,
) -> Result<u64> {
    let Some(args) = plan.single() else {
        return Err(job.error(p, "its weight_shape data was not read, and the config does not give one num_bits to unpack it with"));
    };
    let upper = cols
        .checked_mul(word)
        .map(|b| b / args.bits)
        .ok_or_else(|| job.error(p, "its shape overflows"))?;
    let grouped = args
        .group
        .zip(scale.shape.last().copied())
        .and_then(|(g, c)| g.checked_mul(c))
        .filter(|i| i.checked_mul(args.bits).map(|b| b.div_ceil(word)) == Some(cols));
    Ok(grouped.unwrap_or(upper))
}

/// An unpacked quantized weight (`naive-quantized`, `int-quantized`, `float-quantized`):
/// `weight` stays; its scales are overhead.
fn unpacked(job: &mut Job<'_>, scale_name: &str, plan: &mut Plan) -> Result<()> {
    let m = module_of(scale_name, ".weight_scale")
        .unwrap_or_default()
        .to_string();
    let weight = format!("{m}.weight");
    let Some(w) = job.tensors.get(&weight) else {
        return Ok(());
    };
    if w.stored_as.is_some() || w.overhead {
        return Ok(());
    }
    job.keep(&weight)?;
    plan.kept += 1;
    let overhead: Vec<String> = OVERHEAD.iter().map(|s| format!("{m}{s}")).collect();
    job.overhead(&overhead);
    Ok(())
}

/// The settings, for the note.
fn describe(plan: &Plan) -> String {
    let mut parts = Vec::new();
    if let Some(f) = &plan.format {
        parts.push(format!("format {f}"));
    }
    match plan.single() {
        Some(a) => {
            parts.push(format!(
                "{}-bit {}",
                a.bits,
                if a.kind.is_empty() { "int" } else { &a.kind }
            ));
            if let Some(g) = a.group {
                parts.push(format!("group size {g}"));
            }
            if !a.strategy.is_empty() {
                parts.push(format!("strategy {}", a.strategy));
            }
            parts.push(
                if a.symmetric {
                    "symmetric"
                } else {
                    "asymmetric"
                }
                .to_string(),
            );
        }
        None if plan.groups.is_empty() => {}
        None => {
            let b: Vec<String> = plan.bits().iter().map(|b| format!("{b}-bit")).collect();
            parts.push(format!(
                "{} config groups ({})",
                plan.groups.len(),
                b.join(", ")
            ));
        }
    }
    if plan.kept > 0 {
        parts.push(format!("{} weight(s) stored unpacked", plan.kept));
    }
    parts.join(", ")
}
