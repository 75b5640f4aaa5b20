//! The data section: every tensor's offset aligned, tensors packed in offset order with
//! only alignment padding between them (what gguf-py's writer and llama.cpp's both
//! write, and what gguf.cpp requires), nothing overlapping, nothing past the end of the
//! file, and no more after the last tensor than its own padding.

use super::reader::{align_up, shown, Parsed, Problem, Res, StoredTensor};

/// Where each tensor's bytes are, relative to the data section, in the order of
/// [`Parsed::tensors`]; and how long the data section is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extents {
    /// `(start, end)` per tensor. For a tensor of unknown type, the end is the next
    /// tensor's offset (or the end of the file): an upper bound, padding included.
    pub spans: Vec<(u64, u64)>,
    /// End of the last tensor's bytes.
    pub data_bytes: u64,
    /// What was settled without stopping (the size of a tensor of unknown type).
    pub notes: Vec<String>,
}

/// Check the data section of a `file_len`-byte file against the tensor infos.
pub fn check(p: &Parsed, file_len: u64) -> Res<Extents> {
    let mut spans = vec![(0u64, 0u64); p.tensors.len()];
    if p.tensors.is_empty() {
        return Ok(Extents {
            spans,
            data_bytes: 0,
            notes: Vec::new(),
        });
    }
    let data_len = file_len.checked_sub(p.data_start).ok_or_else(|| {
        Problem::Bad(format!(
            "truncated: the data section starts at byte {} but the file ends at byte {file_len}",
            p.data_start
        ))
    })?;
    let mut order: Vec<usize> = (0..p.tensors.len()).collect();
    order.sort_by_key(|&i| (p.tensors[i].offset, i));
    for &i in &order {
        let t = &p.tensors[i];
        if !t.offset.is_multiple_of(p.alignment) {
            return Err(Problem::Bad(format!(
                "tensor `{}` has offset {}, not a multiple of the alignment {}",
                shown(&t.name),
                t.offset,
                p.alignment
            )));
        }
    }
    let mut previous: Option<(usize, u64)> = None; // (tensor, end when known)
    let mut notes = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let t = &p.tensors[i];
        check_start(p, previous, t)?;
        let end = match t.bytes {
            Some(b) => t.offset.checked_add(b).ok_or_else(|| overflow(t))?,
            // Unknown type: up to the next tensor, or to the end of the file.
            None => order
                .get(k + 1)
                .map_or(data_len, |&n| p.tensors[n].offset)
                .max(t.offset),
        };
        if end > data_len {
            return Err(Problem::Bad(format!(
                "truncated: tensor `{}` ends at data byte {end} (file byte {}) but the file ends at byte {file_len}",
                shown(&t.name),
                p.data_start.saturating_add(end)
            )));
        }
        if t.bytes.is_none() {
            notes.push(unknown_type_note(t, end - t.offset, k + 1 == order.len()));
        }
        spans[i] = (t.offset, end);
        previous = Some((i, end));
    }
    let last_end = previous.map_or(0, |(_, e)| e);
    check_trailing(p, last_end, data_len)?;
    Ok(Extents {
        spans,
        data_bytes: last_end,
        notes,
    })
}

/// A type id paramaudit does not know (newer than its table): the elements are known,
/// the bytes are not; the extent up to the next tensor stands for them.
fn unknown_type_note(t: &StoredTensor, span: u64, last: bool) -> String {
    format!(
        "tensor `{}` has ggml type id {}, which paramaudit does not know: its {} elements are counted, and the {span} bytes up to the {} (an upper bound, padding included) as its size",
        shown(&t.name),
        t.ggml.0,
        t.elements,
        if last { "end of the file" } else { "next tensor" }
    )
}

fn overflow(t: &StoredTensor) -> Problem {
    Problem::Bad(format!(
        "tensor `{}`: offset {} plus its size overflows",
        shown(&t.name),
        t.offset
    ))
}

/// A tensor starts where the previous one's padding ends: not before (overlap), not
/// after (bytes no tensor owns). After a tensor of unknown size nothing can be said.
fn check_start(p: &Parsed, previous: Option<(usize, u64)>, t: &StoredTensor) -> Res<()> {
    let (expected, before) = match previous {
        None => (0, None),
        Some((i, end)) => {
            let prev = &p.tensors[i];
            if prev.bytes.is_none() {
                return Ok(());
            }
            if t.offset < end {
                return Err(Problem::Bad(format!(
                    "tensor `{}` (data bytes {}..) overlaps `{}` (data bytes {}..{end})",
                    shown(&t.name),
                    t.offset,
                    shown(&prev.name),
                    prev.offset
                )));
            }
            let padded = align_up(end, p.alignment).ok_or_else(|| overflow(prev))?;
            (padded, Some(shown(&prev.name)))
        }
    };
    if t.offset > expected {
        let after = before.map_or(String::new(), |b| format!(" after `{b}`"));
        return Err(Problem::Bad(format!(
            "data bytes {expected}..{} belong to no tensor (a gap{after}, before `{}`)",
            t.offset,
            shown(&t.name)
        )));
    }
    Ok(())
}

/// After the last tensor only its alignment padding may follow (the writers pad every
/// tensor, the last included).
fn check_trailing(p: &Parsed, last_end: u64, data_len: u64) -> Res<()> {
    let padded = align_up(last_end, p.alignment).unwrap_or(u64::MAX);
    if data_len > padded {
        return Err(Problem::Bad(format!(
            "{} trailing bytes after the last tensor (its data ends at byte {}, padded to {}, the file at byte {})",
            data_len - last_end,
            p.data_start.saturating_add(last_end),
            p.data_start.saturating_add(padded),
            p.data_start.saturating_add(data_len)
        )));
    }
    Ok(())
}
