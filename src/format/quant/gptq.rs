//! GPTQ (AutoGPTQ, GPTQModel; `quant_method: gptq`). Per quantized Linear of `in` inputs
//! and `out` outputs, with `bits` per weight and groups of `group_size` inputs
//! (GPTQModel `nn_modules/qlinear/__init__.py` `PackableQuantLinear`):
//!
//! - `qweight` [in · bits / w, out]: w-bit words (`pack_dtype`, I32 by default) each
//!   holding w / bits weights of consecutive inputs;
//! - `qzeros` [ceil(in / group_size), ceil(out · bits / w)]: zero points packed along out;
//! - `scales` [ceil(in / group_size), out];
//! - `g_idx` I32 [in]: each input's group (a permutation with `desc_act`).
//!
//! The logical weight is `weight` [out, in]; `qzeros`, `scales` and `g_idx` are overhead.
//! `dynamic` rules (GPTQModel) override `bits` / `group_size` per module or leave modules
//! unquantized (their plain `weight` passes through).

use std::collections::BTreeMap;

use crate::checkpoint::Tensor;
use crate::error::Result;

use super::rules::{Dynamic, Verdict};
use super::store::{dims, module_of, word_bits, Job, Tensors};
use super::Scheme;

/// The GPTQ scheme.
pub const SCHEME: Scheme = Scheme {
    markers: &[".qweight"],
    name: "GPTQ",
    methods: &["gptq"],
    sniff,
    apply,
};

/// Checkpoint formats whose tensors have the shapes above (`gptq_v2` differs only in the
/// stored zero points' values).
const FORMATS: &[&str] = &["gptq", "gptq_v2"];

/// Tensor names: packed weights with group indices.
fn sniff(t: &Tensors) -> bool {
    t.ending(".qweight")
        .iter()
        .any(|q| module_of(q, ".qweight").is_some_and(|m| t.get(&format!("{m}.g_idx")).is_some()))
}

/// The config's settings.
#[derive(Debug, Clone, Copy)]
struct Settings {
    bits: Option<u64>,
    group: Option<i64>,
}

fn apply(job: &mut Job<'_>) -> Result<String> {
    let p = job.params;
    let format = match p.boolean("is_marlin_format")? {
        Some(true) => "marlin".to_string(),
        _ => p
            .string(&["checkpoint_format", "format"])?
            .unwrap_or_else(|| "gptq".to_string()),
    };
    if !FORMATS.contains(&format.as_str()) {
        job.notes.push(format!(
            "GPTQ checkpoint format `{format}` is not read (paramaudit reads {}): its packed tensors are counted as stored, not as the weights they hold",
            FORMATS.join(", ")
        ));
        return Ok(format!("format {format}, not read"));
    }
    let base = Settings {
        bits: p.int(&["bits"], 1, 8)?.map(|b| b.unsigned_abs()),
        group: group_size(job, p.int(&["group_size"], -1, 1 << 30)?)?,
    };
    let dynamic = Dynamic::read(p)?;
    let mut used: BTreeMap<(u64, i64), u64> = BTreeMap::new();
    for name in job.tensors.ending(".qweight") {
        let key = module(job, &dynamic, base, &name)?;
        *used.entry(key).or_default() += 1;
    }
    orphans(job)?;
    describe(job, base, &format, &dynamic, &used)
}

/// `group_size`: -1 (one group) or positive.
fn group_size(job: &Job<'_>, g: Option<i64>) -> Result<Option<i64>> {
    match g {
        Some(0) => Err(job
            .params
            .error("`group_size` must be positive or -1, found 0".to_string())),
        other => Ok(other),
    }
}

/// One module: its settings after the dynamic rules, its checked logical shape, then the
/// rewrite. Returns the bits and group size used (group 0 when no config gives it).
fn module(
    job: &mut Job<'_>,
    dynamic: &Dynamic,
    base: Settings,
    qweight: &str,
) -> Result<(u64, i64)> {
    let Some(q) = job.tensors.get(qweight).cloned() else {
        return Ok((0, 0));
    };
    let Some(m) = module_of(qweight, ".qweight").map(str::to_string) else {
        return Err(job.error(&q, "names no module"));
    };
    let s = match dynamic.verdict(&m) {
        Verdict::Excluded(rule) => {
            return Err(job.error(
                &q,
                format!("dynamic rule `{rule}` leaves `{m}` unquantized, yet it is stored packed"),
            ))
        }
        Verdict::Override(o) => Settings {
            bits: overridden_bits(job, &q, o.bits)?.or(base.bits),
            group: group_size(job, o.group_size)?.or(base.group),
        },
        Verdict::Default => base,
    };
    let (shape, bits) = logical(job, &q, &m, s)?;
    let names = [
        format!("{m}.qzeros"),
        format!("{m}.scales"),
        format!("{m}.g_idx"),
    ];
    job.replace(qweight, format!("{m}.weight"), shape)?;
    job.overhead(&names);
    Ok((bits, s.group.unwrap_or(0)))
}

fn overridden_bits(job: &Job<'_>, q: &Tensor, bits: Option<i64>) -> Result<Option<u64>> {
    match bits {
        None => Ok(None),
        Some(b @ 1..=8) => Ok(Some(b.unsigned_abs())),
        Some(b) => Err(job.error(
            q,
            format!("a dynamic rule sets bits to {b}, outside 1 to 8"),
        )),
    }
}

/// The logical [out, in] of one module, every companion's shape checked against it.
/// Returns it with the bits per weight.
fn logical(job: &Job<'_>, q: &Tensor, m: &str, s: Settings) -> Result<(Vec<u64>, u64)> {
    let word = word_bits(q).ok_or_else(|| {
        job.error(
            q,
            format!("packed weights are integer words, found {}", q.dtype),
        )
    })?;
    let [rows, out] = dims::<2>(q).ok_or_else(|| {
        job.error(
            q,
            format!(
                "qweight must be 2-D [in · bits / {word}, out], found {:?}",
                q.shape
            ),
        )
    })?;
    let g_idx = job.tensors.get(&format!("{m}.g_idx")).cloned();
    let bits = match s.bits {
        Some(b) => b,
        None => inferred_bits(job, q, rows, word, g_idx.as_ref())?,
    };
    let packed = rows
        .checked_mul(word)
        .ok_or_else(|| job.error(q, "its row count overflows"))?;
    if packed % bits != 0 {
        return Err(job.error(
            q,
            format!(
                "{rows} rows of {word}-bit words do not hold a whole number of {bits}-bit weights"
            ),
        ));
    }
    let inputs = packed / bits;
    if let Some(g) = &g_idx {
        if dims::<1>(g) != Some([inputs]) {
            return Err(job.error(
                g,
                format!(
                    "shape {:?}, but qweight {:?} at {bits} bits holds {inputs} input features",
                    g.shape, q.shape
                ),
            ));
        }
    }
    companions(job, q, m, [inputs, out], bits, word, s.group)?;
    Ok((vec![out, inputs], bits))
}

/// Bits per weight from `g_idx` (one entry per input) when no config gives them.
fn inferred_bits(
    job: &Job<'_>,
    q: &Tensor,
    rows: u64,
    word: u64,
    g_idx: Option<&Tensor>,
) -> Result<u64> {
    let inputs = g_idx.and_then(dims::<1>).map(|[n]| n).filter(|&n| n > 0);
    let Some(inputs) = inputs else {
        return Err(job.error(
            q,
            "no config gives its bits, and no g_idx shows its input features",
        ));
    };
    let packed = rows.saturating_mul(word);
    match (packed % inputs, packed / inputs) {
        (0, b @ 1..=8) => Ok(b),
        _ => Err(job.error(
            q,
            format!("{rows} rows of {word}-bit words cannot pack g_idx's {inputs} input features at 1 to 8 bits"),
        )),
    }
}

/// Check `scales` [groups, out] and `qzeros` [groups, ceil(out · bits / word)].
fn companions(
    job: &Job<'_>,
    q: &Tensor,
    m: &str,
    [inputs, out]: [u64; 2],
    bits: u64,
    word: u64,
    group: Option<i64>,
) -> Result<()> {
    let scales = job.require(&format!("{m}.scales"), q)?;
    let qzeros = job.require(&format!("{m}.qzeros"), q)?;
    let groups = match group {
        Some(g) if g > 0 => inputs.div_ceil(g.unsigned_abs()),
        Some(_) => 1,
        None => dims::<2>(&scales).map_or(0, |[g, _]| g),
    };
    if dims::<2>(&scales) != Some([groups, out]) {
        return Err(job.error(
            &scales,
            format!("shape {:?}, expected [{groups}, {out}] ({groups} groups of {inputs} inputs, {out} outputs)", scales.shape),
        ));
    }
    let zero_words = out
        .checked_mul(bits)
        .map(|b| b.div_ceil(word))
        .ok_or_else(|| job.error(q, "its output count overflows"))?;
    if dims::<2>(&qzeros) != Some([groups, zero_words]) {
        return Err(job.error(
            &qzeros,
            format!("shape {:?}, expected [{groups}, {zero_words}] ({out} {bits}-bit zero points per group in {word}-bit words)", qzeros.shape),
        ));
    }
    Ok(())
}

/// Zero points or group indices whose module stores no packed weight.
fn orphans(job: &Job<'_>) -> Result<()> {
    for suffix in [".qzeros", ".g_idx"] {
        for name in job.tensors.ending(suffix) {
            let m = module_of(&name, suffix).unwrap_or_default();
            let weight = format!("{m}.weight");
            let converted = job
                .tensors
                .get(&weight)
                .is_some_and(|w| w.stored_as.is_some());
            if !converted {
                if let Some(t) = job.tensors.get(&name) {
                    return Err(job.error(t, format!("its packed weight `{m}.qweight` is missing")));
                }
            }
        }
    }
    Ok(())
}

/// The settings, for the note.
fn describe(
    job: &Job<'_>,
    base: Settings,
    format: &str,
    dynamic: &Dynamic,
    used: &BTreeMap<(u64, i64), u64>,
) -> Result<String> {
    let p = job.params;
    let mut parts = Vec::new();
    match base.bits {
        Some(b) => parts.push(format!("{b}-bit")),
        None => parts.push(format!("bits from g_idx's input count: {}", by_bits(used))),
    }
    match base.group {
        Some(-1) => parts.push("one group per row".to_string()),
        Some(g) => parts.push(format!("group size {g}")),
        None => {}
    }
    if let Some(d) = p.boolean("desc_act")? {
        parts.push(format!("desc_act {d}"));
    }
    if let Some(s) = p.boolean("sym")? {
        parts.push(if s { "symmetric" } else { "asymmetric" }.to_string());
    }
    parts.push(format!("checkpoint format {format}"));
    if !dynamic.is_empty() {
        parts.push(dynamic_summary(job, base, dynamic, used));
    }
    Ok(parts.join(", "))
}

/// What the dynamic rules did: modules with other settings, modules left unquantized.
fn dynamic_summary(
    job: &Job<'_>,
    base: Settings,
    dynamic: &Dynamic,
    used: &BTreeMap<(u64, i64), u64>,
) -> String {
    let mut parts: Vec<String> = used
        .iter()
        .filter(|((b, g), _)| (Some(*b), Some(*g)) != (base.bits, base.group))
        .map(|((b, g), n)| format!("{n} module(s) at {b}-bit group size {g}"))
        .collect();
    let excluded = job
        .tensors
        .iter()
        .filter(|t| t.stored_as.is_none())
        .filter_map(|t| module_of(&t.name, ".weight"))
        .filter(|m| matches!(dynamic.verdict(m), Verdict::Excluded(_)))
        .count();
    if excluded > 0 {
        parts.push(format!(
            "{excluded} module(s) left unquantized by `-:` rules"
        ));
    }
    if parts.is_empty() {
        parts.push("no module matched".to_string());
    }
    format!("dynamic rules: {}", parts.join(", "))
}

/// Module counts by bits (`14 at 4-bit`).
fn by_bits(used: &BTreeMap<(u64, i64), u64>) -> String {
    let mut bits: BTreeMap<u64, u64> = BTreeMap::new();
    for ((b, _), n) in used {
        *bits.entry(*b).or_default() += n;
    }
    bits.iter()
        .map(|(b, n)| format!("{n} at {b}-bit"))
        .collect::<Vec<_>>()
        .join(", ")
}
