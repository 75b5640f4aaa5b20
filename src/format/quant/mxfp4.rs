//! MXFP4 mixture-of-experts weights (`quant_method: mxfp4`; gpt-oss). transformers
//! `integrations/mxfp4.py` `convert_moe_packed_tensors`: `<proj>_blocks` U8 [E, rows, G,
//! 16] holds 32 FP4 (E2M1) values per block, two per byte; `<proj>_scales` U8 [E, rows, G]
//! one E8M0 exponent per block (`blocks.shape[:-1] == scales.shape`). Dequantized, the
//! blocks become [E, rows, G · 32] and are transposed to transformers' parameter
//! [E, G · 32, rows]: `gate_up_proj` [E, hidden, 2 · intermediate], `down_proj`
//! [E, intermediate, hidden]. The logical tensor is named `<proj>` as in the unquantized
//! model; `<proj>_scales` is overhead.

use safetensors::Dtype;

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::store::{dims, module_of, Job, Tensors};
use super::Scheme;

/// The MXFP4 scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &["_blocks"],
    name: "MXFP4",
    methods: &["mxfp4"],
    sniff,
    apply,
};

/// FP4 values per block (16 bytes).
const BLOCK: u64 = 32;

/// Tensor names: U8 blocks beside U8 scales.
fn sniff(t: &Tensors) -> bool {
    t.ending("_blocks").iter().any(|b| {
        let scales = module_of(b, "_blocks").and_then(|p| t.get(&format!("{p}_scales")));
        scales.is_some() && t.get(b).is_some_and(is_u8)
    })
}

fn is_u8(t: &Tensor) -> bool {
    t.dtype.st() == Some(Dtype::U8)
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let mut experts = std::collections::BTreeSet::new();
    for name in job.tensors.ending("_blocks") {
        if let Some(e) = projection(job, &name)? {
            experts.insert(e);
        }
    }
    let e: Vec<String> = experts.iter().map(u64::to_string).collect();
    Ok(format!(
        "FP4 (E2M1) in blocks of {BLOCK} with E8M0 scales, {} expert(s) per tensor",
        if e.is_empty() {
            "no".to_string()
        } else {
            e.join(", ")
        }
    ))
}

/// One `<proj>_blocks`: checked against its scales, rewritten as `<proj>` [E, G · 32,
/// rows]. Returns the expert count.
fn projection(job: &mut Job<'_>, name: &str) -> Result<Option<u64>> {
    let Some(blocks) = job.tensors.get(name).cloned() else {
        return Ok(None);
    };
    let base = module_of(name, "_blocks").unwrap_or_default().to_string();
    let scales = job.require(&format!("{base}_scales"), &blocks)?;
    let Some([experts, rows, groups, 16]) = dims::<4>(&blocks).filter(|_| is_u8(&blocks)) else {
        return Err(job.error(
            &blocks,
            format!(
                "MXFP4 blocks are U8 [experts, rows, blocks, 16], found {} {:?}",
                blocks.dtype, blocks.shape
            ),
        ));
    };
    if dims::<3>(&scales) != Some([experts, rows, groups]) {
        return Err(job.error(&scales, format!("shape {:?}, but blocks {:?} need one scale per block: [{experts}, {rows}, {groups}]", scales.shape, blocks.shape)));
    }
    let cols = groups
        .checked_mul(BLOCK)
        .ok_or_else(|| job.error(&blocks, "its shape overflows"))?;
    job.replace(name, base.clone(), vec![experts, cols, rows])?;
    job.overhead(&[format!("{base}_scales")]);
    Ok(Some(experts))
}
