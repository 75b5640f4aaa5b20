//! The logical view of a GGUF checkpoint: stored tensors renamed to transformers names
//! ([`super::names`]), shapes in PyTorch order, stacked experts cut into one tensor per
//! expert (bytes and data offsets an exact share of the stack), DeepSeek's `attn_k_b` and
//! `attn_v_b` joined into `kv_b_proj`. A name no table knows keeps its GGUF name (it is
//! then bucketed as `other`, visibly).

use std::collections::{BTreeMap, HashSet};

use crate::checkpoint::Tensor;
use crate::dtype::DType;

use super::layout::Extents;
use super::names::{self, Kind, Table};
use super::reader::{align_up, shown, Parsed, Problem, Res, StoredTensor};

/// One GGUF file of a checkpoint, read and checked.
#[derive(Debug, Clone)]
pub struct Part {
    /// Index of the file in the checkpoint.
    pub file: usize,
    /// Its header.
    pub parsed: Parsed,
    /// Its tensors' extents.
    pub extents: Extents,
}

/// A stored tensor with where it is.
#[derive(Clone, Copy)]
struct Located<'a> {
    t: &'a StoredTensor,
    file: usize,
    span: (u64, u64),
    alignment: u64,
}

impl Located<'_> {
    fn dtype(&self) -> DType {
        match self.t.ggml.plain() {
            Some(d) => DType::St(d),
            None => DType::Ggml(self.t.ggml),
        }
    }

    fn bytes(&self) -> u64 {
        self.span.1 - self.span.0
    }

    /// The tensor as stored, under `name`.
    fn whole(&self, name: String, stored_as: Option<String>) -> Tensor {
        Tensor {
            name,
            stored_as,
            stored_elements: self.t.elements,
            overhead: false,
            dtype: self.dtype(),
            shape: self.t.shape(),
            elements: self.t.elements,
            bytes: self.bytes(),
            file: self.file,
            data_offsets: self.span,
        }
    }
}

/// Translate the tensors of every part with the table of `arch` (the first part's
/// `general.architecture`). Returns the tensors and notes.
pub fn translate(parts: &[Part], arch: Option<&str>) -> Res<(Vec<Tensor>, Vec<String>)> {
    let located: Vec<Located> = parts
        .iter()
        .flat_map(|p| {
            p.parsed
                .tensors
                .iter()
                .zip(&p.extents.spans)
                .map(move |(t, &span)| Located {
                    t,
                    file: p.file,
                    span,
                    alignment: p.parsed.alignment,
                })
        })
        .collect();
    let mut notes = Vec::new();
    let table = arch.and_then(names::table);
    let out = match table {
        Some(table) => with_table(table, &located, &mut notes)?,
        None => {
            notes.push(format!(
                "GGUF architecture `{}` has no name table in paramaudit: tensors keep their GGUF names",
                arch.map_or_else(|| "(none: general.architecture is missing)".to_string(), shown)
            ));
            located
                .iter()
                .map(|l| l.whole(l.t.name.clone(), None))
                .collect()
        }
    };
    check_unique(&out)?;
    Ok((out, notes))
}

fn with_table(table: &Table, located: &[Located], notes: &mut Vec<String>) -> Res<Vec<Tensor>> {
    let mut out = Vec::with_capacity(located.len());
    let mut halves: BTreeMap<String, Vec<Located>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for l in located {
        match names::translate(table, &l.t.name) {
            Some((name, Kind::Plain, _)) => out.push(l.whole(name, Some(l.t.name.clone()))),
            Some((name, Kind::Experts, _)) => match split_experts(l, &name) {
                Some(experts) => out.extend(experts),
                None => {
                    notes.push(format!(
                        "`{}` has shape {:?}, not a stack [experts, rows, columns] of at most {MAX_EXPERTS} non-empty experts: kept under its GGUF name",
                        shown(&l.t.name),
                        l.t.shape()
                    ));
                    out.push(l.whole(l.t.name.clone(), None));
                }
            },
            Some((name, Kind::KvHalf, _)) => halves.entry(name).or_default().push(*l),
            None => {
                unknown.push(l.t.name.clone());
                out.push(l.whole(l.t.name.clone(), None));
            }
        }
    }
    let taken: HashSet<String> = out.iter().map(|t| t.name.clone()).collect();
    for (name, parts) in halves {
        out.extend(join_kv_halves(&name, &parts, &taken, notes));
    }
    if !unknown.is_empty() {
        notes.push(unknown_note(table, &unknown));
    }
    Ok(out)
}

fn unknown_note(table: &Table, unknown: &[String]) -> String {
    let listed: Vec<String> = unknown.iter().take(5).map(|n| shown(n)).collect();
    let more = if unknown.len() > 5 {
        format!(" and {} more", unknown.len() - 5)
    } else {
        String::new()
    };
    let rope = if unknown.iter().any(|n| n == "rope_freqs.weight") {
        " (rope_freqs.weight holds llama.cpp's precomputed RoPE frequency factors, which transformers computes when it loads the model and never stores)"
    } else {
        ""
    };
    format!(
        "{} of the `{}` file's tensors have no transformers name in paramaudit's table and keep their GGUF names: {}{more}{rope}",
        unknown.len(),
        table.arch,
        listed.join(", ")
    )
}

/// Most experts a stack is cut into (real models have up to a few hundred).
pub const MAX_EXPERTS: u64 = 65_536;

/// One tensor per expert of a stack `[E, rows, cols]`: expert `e`'s bytes are the `e`-th
/// equal share of the stack's (whole blocks: ggml rows are whole blocks). `None` for
/// another shape, no experts, more than [`MAX_EXPERTS`], or empty experts.
fn split_experts(l: &Located, pattern: &str) -> Option<Vec<Tensor>> {
    let shape = l.t.shape();
    let [e, rows, cols] = shape[..] else {
        return None;
    };
    if e == 0 || e > MAX_EXPERTS || rows == 0 || cols == 0 {
        return None;
    }
    let per_elements = rows.checked_mul(cols)?;
    let total = l.bytes();
    let per_bytes = total / e;
    let mut out = Vec::new();
    for i in 0..e {
        let start = l.span.0 + i * per_bytes;
        // An unknown type's span need not divide: the last expert takes the rest.
        let end = if i + 1 == e {
            l.span.1
        } else {
            start + per_bytes
        };
        out.push(Tensor {
            name: pattern.replace("{E}", &i.to_string()),
            stored_as: Some(format!("{} [expert {i} of {e}]", l.t.name)),
            stored_elements: per_elements,
            overhead: false,
            dtype: l.dtype(),
            shape: vec![rows, cols],
            elements: per_elements,
            bytes: end - start,
            file: l.file,
            data_offsets: (start, end),
        });
    }
    Some(out)
}

/// DeepSeek's `kv_b_proj` from its two stored halves: `attn_k_b` `[A, C, DN]` and
/// `attn_v_b` `[A, DV, C]` make `[A·(DN + DV), C]`. Joined only when both are there, in
/// the same file, one right after the other (so the joined extent holds nothing else),
/// of known size, and no `attn_kv_b` of the same layer exists; otherwise both keep
/// their GGUF names (said in a note).
fn join_kv_halves(
    name: &str,
    parts: &[Located],
    taken: &HashSet<String>,
    notes: &mut Vec<String>,
) -> Vec<Tensor> {
    let k = parts.iter().find(|l| l.t.name.contains("attn_k_b"));
    let v = parts.iter().find(|l| l.t.name.contains("attn_v_b"));
    let joined = match (k, v) {
        (Some(k), Some(v)) if parts.len() == 2 && !taken.contains(name) => join(name, k, v),
        _ => None,
    };
    if let Some(t) = joined {
        if k.zip(v).is_some_and(|(k, v)| k.t.ggml != v.t.ggml) {
            notes.push(format!(
                "`{name}` is stored as {} of {} and {} of {}: the storage table counts its bytes under {}",
                parts[0].t.name,
                parts[0].dtype(),
                parts[1].t.name,
                parts[1].dtype(),
                t.dtype
            ));
        }
        return vec![t];
    }
    let stored: Vec<String> = parts.iter().map(|l| shown(&l.t.name)).collect();
    notes.push(format!(
        "{} could not be joined into `{name}` (both halves, adjacent in one file, of known types and matching shapes are needed): kept under their GGUF names",
        stored.join(" and ")
    ));
    parts
        .iter()
        .map(|l| l.whole(l.t.name.clone(), None))
        .collect()
}

fn join(name: &str, k: &Located, v: &Located) -> Option<Tensor> {
    let (ks, vs) = (k.t.shape(), v.t.shape());
    let (&[a, c, dn], &[a2, dv, c2]) = (ks.as_slice(), vs.as_slice()) else {
        return None;
    };
    if a != a2 || c != c2 || k.file != v.file || k.t.bytes.is_none() || v.t.bytes.is_none() {
        return None;
    }
    let (first, second) = if k.span.0 <= v.span.0 { (k, v) } else { (v, k) };
    if align_up(first.span.1, first.alignment) != Some(second.span.0) {
        return None;
    }
    let rows = a.checked_mul(dn.checked_add(dv)?)?;
    let elements = rows.checked_mul(c)?;
    let stored = k.t.elements.checked_add(v.t.elements)?;
    (elements == stored).then(|| Tensor {
        name: name.to_string(),
        stored_as: Some(format!("{} + {}", k.t.name, v.t.name)),
        stored_elements: stored,
        overhead: false,
        dtype: k.dtype(),
        shape: vec![rows, c],
        elements,
        bytes: k.bytes() + v.bytes(),
        file: k.file,
        data_offsets: (first.span.0, second.span.1),
    })
}

fn check_unique(tensors: &[Tensor]) -> Res<()> {
    let mut seen: BTreeMap<&str, &Tensor> = BTreeMap::new();
    for t in tensors {
        if let Some(other) = seen.insert(&t.name, t) {
            let stored = |t: &Tensor| shown(t.stored_as.as_deref().unwrap_or(&t.name));
            return Err(Problem::Bad(format!(
                "tensors `{}` and `{}` both read as `{}`",
                stored(other),
                stored(t),
                shown(&t.name)
            )));
        }
    }
    Ok(())
}
