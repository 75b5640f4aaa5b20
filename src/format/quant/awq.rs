//! AWQ (AutoAWQ; `quant_method: awq`). Per quantized Linear of `in` inputs and `out`
//! outputs, `w_bit` bits (4) and groups of `group_size` inputs, in I32 words of
//! pack = 32 / w_bit weights (AutoAWQ `awq/modules/linear/gemm.py`, `gemv.py`):
//!
//! - GEMM (also the `exllama` and `ipex` versions, which load GEMM's state dict):
//!   `qweight` [in, out / pack], `qzeros` [in / group, out / pack], `scales` [in / group,
//!   out];
//! - GEMV: `qweight` [out, in / pack], `qzeros` [out, zw], `scales` [out, zw · pack] with
//!   zw = `calculate_zeros_width(in, group)` = ceil(ceil((in / group) / 8) / m) · m, m = 1
//!   for group ≥ 128, 2 for 64, 4 for 32 (padded: only in / group columns are real).
//!
//! The logical weight is `weight` [out, in]; `qzeros` and `scales` are overhead.

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::store::{dims, module_of, word_bits, Job, Tensors};
use super::Scheme;

/// The AWQ scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &[".qweight"],
    name: "AWQ",
    methods: &["awq"],
    sniff,
    apply,
};

/// Tensor names: packed weights with scales and no group indices.
fn sniff(t: &Tensors) -> bool {
    t.ending(".qweight").iter().any(|q| {
        module_of(q, ".qweight").is_some_and(|m| {
            t.get(&format!("{m}.g_idx")).is_none() && t.get(&format!("{m}.scales")).is_some()
        })
    })
}

/// Where `in` and `out` sit in the stored tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `qweight` [in, out / pack].
    Gemm,
    /// `qweight` [out, in / pack].
    Gemv,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Gemm => "GEMM",
            Layout::Gemv => "GEMV",
        }
    }
}

/// The config's settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    bits: u64,
    /// `None` without a config: the stored shapes give the groups.
    group: Option<i64>,
    zero_point: bool,
    /// `None` without a config: the stored shapes give the layout.
    layout: Option<Layout>,
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let p = job.params;
    let version = p
        .string(&["version", "format"])?
        .unwrap_or_else(|| "gemm".to_string());
    let layout = match version.as_str() {
        "gemm" | "exllama" | "ipex" => Layout::Gemm,
        "gemv" => Layout::Gemv,
        other => {
            job.notes.push(format!(
                "AWQ version `{other}` is not read (paramaudit reads gemm, gemv, exllama, ipex): its packed tensors are counted as stored, not as the weights they hold"
            ));
            return Ok(format!("version {other}, not read"));
        }
    };
    let configured = p.origin != super::params::Origin::Tensors;
    let settings = Settings {
        // AutoAWQ packs 4-bit weights only; AwqConfig's defaults are 4 bits, group 128.
        bits: p
            .int(&["bits", "w_bit"], 1, 8)?
            .map_or(4, i64::unsigned_abs),
        group: match p.int(&["group_size", "q_group_size"], -1, 1 << 30)? {
            Some(0) => return Err(p.error("`group_size` must be positive or -1, found 0".into())),
            g => configured.then(|| g.unwrap_or(128)),
        },
        zero_point: p.boolean("zero_point")?.unwrap_or(true),
        layout: configured.then_some(layout),
    };
    let mut seen = Vec::new();
    for name in job.tensors.ending(".qweight") {
        seen.push(module(job, settings, &name)?);
    }
    Ok(describe(settings, &version, &seen))
}

/// One module: its layout, checked logical shape, then the rewrite.
fn module(job: &mut Job<'_>, s: Settings, qweight: &str) -> Result<Layout> {
    let Some(q) = job.tensors.get(qweight).cloned() else {
        return Ok(Layout::Gemm);
    };
    let m = module_of(qweight, ".qweight")
        .unwrap_or_default()
        .to_string();
    if word_bits(&q) != Some(32) || 32 % s.bits != 0 {
        return Err(job.error(
            &q,
            format!(
                "AutoAWQ packs {}-bit weights into I32 words, found {}",
                s.bits, q.dtype
            ),
        ));
    }
    let pack = 32 / s.bits;
    let [rows, cols] = dims::<2>(&q)
        .ok_or_else(|| job.error(&q, format!("qweight must be 2-D, found {:?}", q.shape)))?;
    let scales = job.require(&format!("{m}.scales"), &q)?;
    let layout = match s.layout {
        Some(l) => l,
        None => layout_from_shapes(job, &q, &scales, pack)?,
    };
    let wide = |n: u64| {
        n.checked_mul(pack)
            .ok_or_else(|| job.error(&q, "its shape overflows"))
    };
    let [out, inputs] = match layout {
        Layout::Gemm => [wide(cols)?, rows],
        Layout::Gemv => [rows, wide(cols)?],
    };
    companions(job, &q, &m, s, layout, [out, inputs])?;
    job.replace(qweight, format!("{m}.weight"), vec![out, inputs])?;
    job.overhead(&[format!("{m}.qzeros"), format!("{m}.scales")]);
    Ok(layout)
}

/// GEMM or GEMV from the shapes, when no config says: GEMM's scales have `out` =
/// qweight columns · pack columns; GEMV's scales have qweight's rows.
fn layout_from_shapes(job: &Job<'_>, q: &Tensor, scales: &Tensor, pack: u64) -> Result<Layout> {
    let ([rows, cols], Some([s_rows, s_cols])) =
        (dims::<2>(q).unwrap_or_default(), dims::<2>(scales))
    else {
        return Err(job.error(
            scales,
            format!("scales must be 2-D, found {:?}", scales.shape),
        ));
    };
    let gemm = cols.checked_mul(pack) == Some(s_cols);
    let gemv = rows == s_rows;
    match (gemm, gemv) {
        (true, false) => Ok(Layout::Gemm),
        (false, true) => Ok(Layout::Gemv),
        _ => Err(job.error(
            q,
            format!("without a quantization config, qweight {:?} and scales {:?} fit both or neither of AWQ's GEMM and GEMV layouts", q.shape, scales.shape),
        )),
    }
}

/// Check `scales` and `qzeros` against the module's [out, in].
fn companions(
    job: &Job<'_>,
    q: &Tensor,
    m: &str,
    s: Settings,
    layout: Layout,
    [out, inputs]: [u64; 2],
) -> Result<()> {
    let scales = job.require(&format!("{m}.scales"), q)?;
    let zeros_name = format!("{m}.qzeros");
    let qzeros = match job.tensors.get(&zeros_name).cloned() {
        Some(z) => Some(z),
        None if !s.zero_point => None,
        None => {
            return Err(job.error(
                q,
                format!("its companion `{zeros_name}` is missing (zero_point is true)"),
            ))
        }
    };
    let (want_scales, want_zeros) =
        expected(job, q, &scales, qzeros.as_ref(), s, layout, [out, inputs])?;
    let check = |t: &Tensor, want: [u64; 2]| {
        if dims::<2>(t) == Some(want) {
            Ok(())
        } else {
            let group = s
                .group
                .map_or("from the shapes".to_string(), |g| g.to_string());
            Err(job.error(t, format!("shape {:?}, but a {} module of {out} outputs and {inputs} inputs at group size {group} stores {want:?}", t.shape, layout.name())))
        }
    };
    check(&scales, want_scales)?;
    qzeros.map_or(Ok(()), |z| check(&z, want_zeros))
}

/// The shapes `scales` and `qzeros` must have. Without a configured group size, GEMM's
/// group count is the scales' rows and GEMV's zeros width the qzeros' (or scales')
/// columns.
fn expected(
    job: &Job<'_>,
    q: &Tensor,
    scales: &Tensor,
    qzeros: Option<&Tensor>,
    s: Settings,
    layout: Layout,
    [out, inputs]: [u64; 2],
) -> Result<([u64; 2], [u64; 2])> {
    let pack = 32 / s.bits;
    let stored = |t: Option<&Tensor>, i: usize| t.and_then(|t| t.shape.get(i).copied());
    match (layout, s.group) {
        (Layout::Gemm, g) => {
            let groups = match g {
                Some(g) if g > 0 => inputs / g.unsigned_abs(),
                Some(_) => 1,
                None => stored(Some(scales), 0).unwrap_or(0),
            };
            Ok(([groups, out], [groups, out / pack]))
        }
        (Layout::Gemv, Some(g)) => match zeros_width(inputs, g) {
            Some(zw) => Ok(([out, zw.saturating_mul(pack)], [out, zw])),
            None => Err(job.error(
                q,
                format!("AutoAWQ's GEMV has no zeros width for group size {g}"),
            )),
        },
        (Layout::Gemv, None) => {
            let zw = stored(qzeros, 1).unwrap_or(stored(Some(scales), 1).unwrap_or(0) / pack);
            Ok(([out, zw.saturating_mul(pack)], [out, zw]))
        }
    }
}

/// AutoAWQ `gemv.py` `calculate_zeros_width(in, group)` (pack_num 8); `None` for a group
/// size it raises on.
fn zeros_width(inputs: u64, group: i64) -> Option<u64> {
    let group = if group > 0 {
        group.unsigned_abs()
    } else {
        inputs.max(1)
    };
    let multiplier = match group {
        g if g >= 128 => 1,
        64 => 2,
        32 => 4,
        _ => return None,
    };
    Some((inputs / group).div_ceil(8).div_ceil(multiplier) * multiplier)
}

/// The settings, for the note.
fn describe(s: Settings, version: &str, seen: &[Layout]) -> String {
    let layout = match s.layout {
        Some(_) => format!("version {version}"),
        None => {
            let gemv = seen.iter().filter(|l| **l == Layout::Gemv).count();
            format!(
                "layout from shapes: {} GEMM, {gemv} GEMV",
                seen.len() - gemv
            )
        }
    };
    let group = match s.group {
        Some(g) if g > 0 => format!("group size {g}"),
        Some(_) => "one group per row".into(),
        None => "groups from the shapes".into(),
    };
    let zero = if s.zero_point {
        "zero points"
    } else {
        "no zero points"
    };
    format!("{}-bit, {group}, {zero}, {layout}", s.bits)
}

#[cfg(test)]
mod tests {
    use super::zeros_width;

    #[test]
    fn zeros_width_follows_autoawq() {
        // in 128 / 256, group 64: ceil(2/8) = 1, ceil(4/8) = 1, rounded up to 2.
        assert_eq!(zeros_width(128, 64), Some(2));
        assert_eq!(zeros_width(256, 64), Some(2));
        // 4096 / 128 = 32 groups: ceil(32/8) = 4.
        assert_eq!(zeros_width(4096, 128), Some(4));
        // group 32: 4096 / 32 = 128, /8 = 16, multiple of 4.
        assert_eq!(zeros_width(4096, 32), Some(16));
        assert_eq!(zeros_width(4096, 48), None);
    }
}
