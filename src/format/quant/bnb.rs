//! bitsandbytes (`quant_method: bitsandbytes`), as transformers saves it.
//!
//! 4-bit (`load_in_4bit`, nf4 or fp4; bitsandbytes `functional.py` `QuantState.as_dict`,
//! `_ops.py` `quantize_4bit`): `weight` holds two 4-bit values per byte, flattened to
//! [(n + 1) / (2 · itemsize), 1] of the storage dtype (`bnb_4bit_quant_storage`, U8 by
//! default), n = the weight's element count. The logical shape is only in
//! `weight.quant_state.bitsandbytes__<nf4|fp4>`, a U8 tensor holding UTF-8 JSON
//! (`quant_type`, `blocksize`, `dtype`, `shape`, and `nested_*` with double quantization):
//! paramaudit reads those bytes (bounded) from the mapped file. Overhead: `absmax`,
//! `quant_map`, `nested_absmax`, `nested_quant_map` and the quant state itself.
//!
//! 8-bit (`load_in_8bit`, LLM.int8; bitsandbytes `nn/modules.py` `Int8Params`): `weight`
//! I8 [out, in] is already logical; `SCB` F32 [out] (row scales) and `weight_format` are
//! overhead.

use serde_json::Value;

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::store::{dims, module_of, Job, Tensors};
use super::Scheme;

/// The bitsandbytes scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &[
        ".quant_state.bitsandbytes__nf4",
        ".quant_state.bitsandbytes__fp4",
        ".SCB",
    ],
    name: "bitsandbytes",
    methods: &["bitsandbytes"],
    sniff,
    apply,
};

/// Largest quant state JSON read (they are about 200 bytes).
pub const MAX_QUANT_STATE_BYTES: u64 = 64 * 1024;
/// Largest rank of a quant state's shape.
const MAX_QUANT_STATE_RANK: usize = 8;

const QUANT_TYPES: [&str; 2] = ["nf4", "fp4"];
/// What a 4-bit weight's name is followed by in its companions' names.
const COMPANIONS_4BIT: [&str; 4] = [
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
];

fn state_suffix(quant_type: &str) -> String {
    format!(".quant_state.bitsandbytes__{quant_type}")
}

/// Tensor names: a packed quant state, or int8 row scales.
fn sniff(t: &Tensors) -> bool {
    QUANT_TYPES.iter().any(|q| t.any_ending(&state_suffix(q))) || t.any_ending(".SCB")
}

/// What the 4-bit pass found, for the note.
#[derive(Debug, Default)]
struct Found {
    types: std::collections::BTreeSet<String>,
    blocksizes: std::collections::BTreeSet<u64>,
    flat: u64,
    int8: u64,
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let mut found = Found::default();
    for quant_type in QUANT_TYPES {
        for name in job.tensors.ending(&state_suffix(quant_type)) {
            four_bit(job, &name, quant_type, &mut found)?;
        }
    }
    for name in job.tensors.ending(".SCB") {
        eight_bit(job, &name)?;
        found.int8 += 1;
    }
    orphans(job)?;
    if found.flat > 0 {
        job.notes.push(format!(
            "header only: the shapes of {} bitsandbytes 4-bit weight(s) are in their quant_state data, which was not read; each is counted as 2 weights per stored byte (exact for an even number of weights) and shown flat",
            found.flat
        ));
    }
    describe(job, &found)
}

/// One 4-bit weight: its quant state read, its shape checked against the packed bytes.
fn four_bit(
    job: &mut Job<'_>,
    state_name: &str,
    quant_type: &str,
    found: &mut Found,
) -> Result<()> {
    let Some(state) = job.tensors.get(state_name).cloned() else {
        return Ok(());
    };
    let weight_name = module_of(state_name, &state_suffix(quant_type))
        .unwrap_or_default()
        .to_string();
    let weight = job.require(&weight_name, &state)?;
    let itemsize = storage_bytes(job, &weight)?;
    let shape = match job.bytes(&state, MAX_QUANT_STATE_BYTES)? {
        Some(bytes) => {
            let s = read_state(job, &state, bytes, quant_type)?;
            if let Some(b) = s.blocksize {
                found.blocksizes.insert(b);
            }
            check_packing(job, &weight, &s.shape, itemsize)?;
            s.shape
        }
        None => {
            found.flat += 1;
            vec![flat(job, &weight, itemsize)?]
        }
    };
    found.types.insert(quant_type.to_string());
    job.require(&format!("{weight_name}.absmax"), &weight)?;
    job.require(&format!("{weight_name}.quant_map"), &weight)?;
    let mut overhead: Vec<String> = COMPANIONS_4BIT
        .iter()
        .map(|c| format!("{weight_name}{c}"))
        .collect();
    overhead.push(state_name.to_string());
    job.replace(&weight_name, weight_name.clone(), shape)?;
    job.overhead(&overhead);
    Ok(())
}

/// Bytes per element of the packed weight's storage dtype.
fn storage_bytes(job: &Job<'_>, weight: &Tensor) -> Result<u64> {
    weight
        .dtype
        .st()
        .map(|d| d.bitsize() as u64)
        .filter(|b| *b >= 8 && b % 8 == 0)
        .map(|b| b / 8)
        .ok_or_else(|| {
            job.error(
                weight,
                format!(
                    "4-bit weights are stored in whole bytes, found {}",
                    weight.dtype
                ),
            )
        })
}

/// What a quant state says.
struct State {
    shape: Vec<u64>,
    blocksize: Option<u64>,
}

/// Parse a quant state's JSON: an object whose `quant_type` is the name's and whose
/// `shape` is a list of non-negative integers.
fn read_state(job: &Job<'_>, state: &Tensor, bytes: &[u8], quant_type: &str) -> Result<State> {
    let bad = |m: String| job.error(state, format!("quant_state is not bitsandbytes' JSON: {m}"));
    let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(bad("not a JSON object".to_string()));
    };
    match map.get("quant_type").and_then(Value::as_str) {
        Some(t) if t == quant_type => {}
        other => {
            return Err(bad(format!(
                "quant_type {other:?}, but the tensor is named for `{quant_type}`"
            )))
        }
    }
    let shape = match map.get("shape") {
        Some(Value::Array(dims)) if dims.len() <= MAX_QUANT_STATE_RANK => dims
            .iter()
            .map(Value::as_u64)
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                bad(format!(
                    "shape {} is not a list of non-negative integers",
                    Value::Array(dims.clone())
                ))
            })?,
        other => {
            return Err(bad(format!(
                "shape must be a list of at most {MAX_QUANT_STATE_RANK} integers, found {other:?}"
            )))
        }
    };
    Ok(State {
        shape,
        blocksize: map.get("blocksize").and_then(Value::as_u64),
    })
}

/// The packed weight must hold exactly (n + 1) / (2 · itemsize) elements for the n the
/// quant state's shape gives (bitsandbytes `_ops.py` `quantize_4bit`).
fn check_packing(job: &Job<'_>, weight: &Tensor, shape: &[u64], itemsize: u64) -> Result<()> {
    let n = job.elements(weight, shape)?;
    let want = (n + 1) / (2 * itemsize);
    if weight.elements != want {
        return Err(job.error(
            weight,
            format!("{} stored elements of {}, but its quant_state shape {shape:?} ({n} weights) packs into {want}", weight.elements, weight.dtype),
        ));
    }
    Ok(())
}

/// Header only: 2 weights per stored byte.
fn flat(job: &Job<'_>, weight: &Tensor, itemsize: u64) -> Result<u64> {
    weight
        .elements
        .checked_mul(2 * itemsize)
        .filter(|n| *n <= super::store::MAX_ELEMENTS)
        .ok_or_else(|| job.error(weight, "its element count overflows"))
}

/// One int8 weight: `weight` I8 [out, in] with `SCB` [out].
fn eight_bit(job: &mut Job<'_>, scb_name: &str) -> Result<()> {
    let Some(scb) = job.tensors.get(scb_name).cloned() else {
        return Ok(());
    };
    let m = module_of(scb_name, ".SCB").unwrap_or_default().to_string();
    let weight = job.require(&format!("{m}.weight"), &scb)?;
    let rows = weight.shape.first().copied();
    if dims::<1>(&scb).map(|[n]| n) != rows || weight.shape.len() != 2 {
        return Err(job.error(
            &scb,
            format!(
                "shape {:?}, but `{}` {:?} needs one scale per row",
                scb.shape, weight.name, weight.shape
            ),
        ));
    }
    job.keep(&weight.name)?;
    job.overhead(&[scb_name.to_string(), format!("{m}.weight_format")]);
    Ok(())
}

/// 4-bit companions whose weight has no quant state.
fn orphans(job: &Job<'_>) -> Result<()> {
    for name in job.tensors.ending(".weight.absmax") {
        let Some(t) = job.tensors.get(&name) else {
            continue;
        };
        if !t.overhead {
            let w = module_of(&name, ".absmax").unwrap_or_default();
            return Err(job.error(
                t,
                format!(
                    "its quant state `{w}.quant_state.bitsandbytes__nf4` (or `__fp4`) is missing"
                ),
            ));
        }
    }
    Ok(())
}

/// The settings, for the note.
fn describe(job: &Job<'_>, found: &Found) -> Result<String> {
    let p = job.params;
    let mut parts = Vec::new();
    if !found.types.is_empty() {
        let types: Vec<&str> = found.types.iter().map(String::as_str).collect();
        parts.push(format!("4-bit {}", types.join(" and ")));
        if !found.blocksizes.is_empty() {
            let b: Vec<String> = found.blocksizes.iter().map(u64::to_string).collect();
            parts.push(format!("blocksize {}", b.join(", ")));
        }
        if p.boolean("bnb_4bit_use_double_quant")? == Some(true) {
            parts.push("double quantization".to_string());
        }
        if let Some(s) = p.string(&["bnb_4bit_quant_storage"])? {
            parts.push(format!("storage {s}"));
        }
    }
    if found.int8 > 0 {
        parts.push("8-bit LLM.int8 (I8 weights, SCB row scales)".to_string());
    }
    Ok(parts.join(", "))
}
