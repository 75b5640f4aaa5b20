//! FP8 weights with scales (`quant_method: fp8`, transformers
//! `integrations/finegrained_fp8.py` `FP8Linear`; DeepSeek-V3's layout; also
//! `fbgemm_fp8`). `weight` F8_E4M3 [out, in] holds one value per element: it is the
//! logical weight as stored. With `weight_block_size` [bo, bi], `weight_scale_inv` F32
//! [ceil(out / bo), ceil(in / bi)] holds one scale per block (per expert for 3-D expert
//! weights); without it, one scale per tensor. Scales (`weight_scale_inv`,
//! `weight_scale`, `input_scale`, `activation_scale`) are overhead.

use safetensors::Dtype;

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::params::int_value;
use super::store::{module_of, Job, Tensors};
use super::Scheme;

/// The FP8 scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &[".weight_scale_inv"],
    name: "FP8",
    methods: &["fp8", "fbgemm_fp8"],
    sniff,
    apply,
};

const SCALE_SUFFIXES: [&str; 2] = [".weight_scale_inv", ".weight_scale"];
const ACTIVATION_SCALES: [&str; 2] = [".input_scale", ".activation_scale"];

/// Tensor names: block scales beside FP8 weights.
fn sniff(t: &Tensors) -> bool {
    t.ending(".weight_scale_inv").iter().any(|s| {
        module_of(s, ".weight_scale_inv")
            .and_then(|m| t.get(&format!("{m}.weight")))
            .is_some_and(is_fp8)
    })
}

fn is_fp8(t: &Tensor) -> bool {
    matches!(
        t.dtype.st(),
        Some(Dtype::F8_E4M3 | Dtype::F8_E5M2 | Dtype::F8_E4M3FNUZ | Dtype::F8_E5M2FNUZ)
    )
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let block = block_size(job)?;
    for suffix in SCALE_SUFFIXES {
        for name in job.tensors.ending(suffix) {
            module(job, &name, suffix, block)?;
        }
    }
    let mut parts = Vec::new();
    if let Some(f) = job.params.string(&["fmt"])? {
        parts.push(f);
    }
    parts.push(match block {
        Some([o, i]) => format!("{o}×{i} blocks"),
        None if job.params.origin == super::params::Origin::Tensors => {
            "scale grid from the shapes".to_string()
        }
        None => "one scale per tensor or channel".to_string(),
    });
    if let Some(a) = job.params.string(&["activation_scheme"])? {
        parts.push(format!("activation scheme {a}"));
    }
    Ok(parts.join(", "))
}

/// `weight_block_size` [bo, bi], when set.
fn block_size(job: &Job<'_>) -> Result<Option<[u64; 2]>> {
    let p = job.params;
    let Some(v) = p.fields.get("weight_block_size").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let dims = v.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
        p.error(format!(
            "`weight_block_size` must be [rows, columns], found {v}"
        ))
    })?;
    let mut out = [0u64; 2];
    for (o, d) in out.iter_mut().zip(dims) {
        *o = int_value("weight_block_size", d, 1, 1 << 30)
            .map_err(|m| p.error(m))?
            .unsigned_abs();
    }
    Ok(Some(out))
}

/// One FP8 weight and its scales.
fn module(
    job: &mut Job<'_>,
    scale_name: &str,
    suffix: &str,
    block: Option<[u64; 2]>,
) -> Result<()> {
    let Some(scale) = job.tensors.get(scale_name).cloned() else {
        return Ok(());
    };
    let m = module_of(scale_name, suffix)
        .unwrap_or_default()
        .to_string();
    let weight = job.require(&format!("{m}.weight"), &scale)?;
    if weight.overhead || weight.stored_as.is_some() {
        return Ok(());
    }
    if !is_fp8(&weight) {
        return Err(job.error(
            &weight,
            format!(
                "an FP8 scheme's weight is an F8 type, found {}",
                weight.dtype
            ),
        ));
    }
    check_scale(job, &weight, &scale, block)?;
    job.keep(&weight.name)?;
    let mut overhead = vec![scale_name.to_string()];
    overhead.extend(ACTIVATION_SCALES.iter().map(|s| format!("{m}{s}")));
    job.overhead(&overhead);
    Ok(())
}

/// Block scales: the weight's leading dims, then ceil(out / bo), ceil(in / bi). Without
/// blocks: one scale, or one per output row. Without a config, any block grid fits: the
/// weight's rank, each dimension at most the weight's.
fn check_scale(
    job: &Job<'_>,
    weight: &Tensor,
    scale: &Tensor,
    block: Option<[u64; 2]>,
) -> Result<()> {
    let w = &weight.shape;
    let ok = match (block, w.len()) {
        (Some([bo, bi]), n) if n >= 2 => {
            let mut want = w[..n - 2].to_vec();
            want.extend([w[n - 2].div_ceil(bo), w[n - 1].div_ceil(bi)]);
            scale.shape == want
        }
        _ if job.params.origin == super::params::Origin::Tensors => {
            scale.shape.len() == w.len()
                && scale.shape.iter().zip(w).all(|(s, d)| (1..=*d).contains(s))
        }
        _ => scale.elements == 1 || w.first().is_some_and(|&rows| scale.elements == rows),
    };
    if ok {
        return Ok(());
    }
    let blocks = block.map_or("per tensor or row".to_string(), |[o, i]| {
        format!("{o}×{i} blocks")
    });
    Err(job.error(
        scale,
        format!(
            "shape {:?} does not give one scale per {blocks} of `{}` {w:?}",
            scale.shape, weight.name
        ),
    ))
}
