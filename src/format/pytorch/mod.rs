//! PyTorch checkpoints (`pytorch_model.bin`, `*.pt`, `*.pth`), read without executing
//! anything: the zip archive `torch.save` writes since torch 1.6 ([`zip`]) or the legacy
//! stream of pickles before it ([`legacy`]), the pickle evaluated by our own
//! allowlisting evaluator ([`pickle`]), the state dict found in it ([`state`]), and
//! every tensor placed inside its storage's bytes. Storages are never read to inspect:
//! only the central directory (or the legacy storage headers) and the pickle.
//!
//! Tied weights: `torch.save` keeps one storage under every name that shares it
//! (transformers 4.x `.bin` files hold both `lm_head.weight` and the embeddings). The
//! reader lists every name; [`tied::untie`] keeps one per storage view once the family is
//! known (the name the family expects stored) and notes the others.

pub mod legacy;
pub mod pickle;
pub mod state;
pub mod tied;
pub mod zip;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use memmap2::Mmap;
use safetensors::Dtype;

use crate::checkpoint::{FileInfo, Mapped, Tensor};
use crate::error::{Error, Result};
use pickle::{Persistent, TensorRef};

/// The format's name in messages.
pub const FORMAT: &str = "PyTorch";
/// `FileInfo::metadata` key: `zip` or `legacy`.
pub const META_LAYOUT: &str = "pytorch.layout";
/// `FileInfo::metadata` key: the zip's top folder.
pub const META_TOP: &str = "pytorch.top_folder";
/// `FileInfo::metadata` key: `little` or `big`.
pub const META_BYTEORDER: &str = "pytorch.byteorder";
/// `FileInfo::metadata` key: the pickle protocol.
pub const META_PROTOCOL: &str = "pytorch.pickle_protocol";
/// `FileInfo::metadata` key: the wrapper keys read through (`model_state_dict`).
pub const META_WRAPPER: &str = "pytorch.wrapper";
/// `FileInfo::metadata` key: what else the file holds, summarised.
pub const META_OTHERS: &str = "pytorch.also_holds";
/// `FileInfo::metadata` key: tensors that are not contiguous views.
pub const META_STRIDED: &str = "pytorch.strided";
/// Largest `data.pkl` read (the pickle of a state dict is kilobytes to a few megabytes).
pub const MAX_PICKLE_BYTES: u64 = 1 << 30;

fn format_error(path: &Path, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        format: FORMAT,
        message,
    }
}

/// Where a storage's bytes are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// First byte.
    pub start: u64,
    /// Length.
    pub bytes: u64,
}

/// Read a mapped zip archive written by `torch.save`.
pub fn open_zip(path: &Path, map: Mmap, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let bad = |m: String| format_error(path, m);
    let archive = zip::read(&map).map_err(bad)?;
    if archive.has_prefix("code/") || archive.get("constants.pkl").is_some() {
        return Err(bad(
            "a TorchScript archive (torch.jit.save): it holds code; paramaudit reads torch.save state dicts".to_string(),
        ));
    }
    let pkl = archive.get("data.pkl").ok_or_else(|| {
        bad(format!(
            "no `{}/data.pkl` record: not an archive torch.save wrote",
            archive.top
        ))
    })?;
    let pkl_bytes = archive.small(&map, pkl, MAX_PICKLE_BYTES).map_err(bad)?;
    let byteorder = zip_byteorder(&archive, &map).map_err(bad)?;
    let evaluated = pickle::evaluate(pkl_bytes, Persistent::Zip)
        .map_err(|e| bad(format!("`{}` byte {}: {}", pkl.name, e.at, e.message)))?;
    let found = state::find(&evaluated).map_err(|m| bad(format!("`{}`: {m}", pkl.name)))?;
    let places = zip_storages(&archive, &map, &found.tensors).map_err(bad)?;
    let (pkl_start, pkl_len) = archive.data(&map, pkl).map_err(bad)?;
    let mut metadata = common_metadata(&found, evaluated.protocol, byteorder);
    metadata.insert(META_LAYOUT.to_string(), "zip".to_string());
    metadata.insert(META_TOP.to_string(), archive.top.clone());
    let pkl_end = pkl_start + pkl_len;
    finish(path, map, file, &found, &places, pkl_end, metadata)
}

/// The `byteorder` record (absent in files of torch < 1.10: little-endian).
fn zip_byteorder(archive: &zip::Archive, map: &[u8]) -> std::result::Result<&'static str, String> {
    let Some(e) = archive.get("byteorder") else {
        return Ok("little");
    };
    match archive.small(map, e, 16)? {
        b"little" => Ok("little"),
        b"big" => Ok("big"),
        other => Err(format!(
            "record `{}` says `{}`, neither `little` nor `big`",
            e.name,
            String::from_utf8_lossy(other)
        )),
    }
}

/// Each storage the tensors use: its record `data/<key>`, checked to be the size its
/// persistent id announces.
fn zip_storages(
    archive: &zip::Archive,
    map: &[u8],
    tensors: &[(String, TensorRef)],
) -> std::result::Result<HashMap<String, Placed>, String> {
    let mut places = HashMap::new();
    let mut named: HashMap<&str, &pickle::StorageRef> = HashMap::new();
    for (name, t) in tensors {
        let s = &t.storage;
        if let Some(first) = named.get(s.key.as_str()) {
            if (first.class, first.numel) != (s.class, s.numel) {
                return Err(format!(
                    "storage `{}` is named as {} × {} and as {} × {}",
                    s.key, first.numel, first.class.name, s.numel, s.class.name
                ));
            }
            continue;
        }
        named.insert(&s.key, s);
        let record = format!("data/{}", s.key);
        let e = archive.get(&record).ok_or_else(|| {
            format!(
                "tensor `{name}` uses storage `{}`, but the archive has no record `{}/{record}`",
                s.key, archive.top
            )
        })?;
        let (start, bytes) = archive.data(map, e)?;
        let want = storage_bytes(t).ok_or_else(|| {
            format!(
                "storage `{}`: {} elements overflow a byte count",
                s.key, s.numel
            )
        })?;
        if bytes != want {
            return Err(format!(
                "storage `{}` ({} × {}) needs {want} bytes but its record holds {bytes}",
                s.key, s.numel, s.class.name
            ));
        }
        places.insert(s.key.clone(), Placed { start, bytes });
    }
    Ok(places)
}

/// Bytes of a tensor's root storage as its persistent id announces them.
fn storage_bytes(t: &TensorRef) -> Option<u64> {
    match t.storage.class.dtype {
        Some(d) => t.storage.numel.checked_mul(itemsize(d)),
        None => Some(t.storage.numel),
    }
}

/// Bytes per element (every dtype a storage holds is whole bytes).
pub fn itemsize(d: Dtype) -> u64 {
    (d.bitsize() / 8) as u64
}

/// Metadata both layouts record.
fn common_metadata(
    found: &state::Found,
    protocol: u8,
    byteorder: &str,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(META_BYTEORDER.to_string(), byteorder.to_string());
    m.insert(META_PROTOCOL.to_string(), protocol.to_string());
    if !found.wrapper.is_empty() {
        m.insert(META_WRAPPER.to_string(), found.wrapper.join("."));
    }
    if !found.others.is_empty() {
        let list: Vec<String> = found
            .others
            .iter()
            .map(|o| match o.tensors {
                0 => format!("{} ({})", o.key, o.kind),
                n => format!(
                    "{} ({} with {n} tensor{}, {} elements)",
                    o.key,
                    o.kind,
                    if n == 1 { "" } else { "s" },
                    o.elements
                ),
            })
            .collect();
        m.insert(META_OTHERS.to_string(), list.join(", "));
    }
    m
}

/// Place every tensor and build the file's description. `header_end` is where the data
/// section would start if no tensor had a storage.
fn finish(
    path: &Path,
    map: Mmap,
    file: usize,
    found: &state::Found,
    places: &HashMap<String, Placed>,
    header_end: u64,
    mut metadata: BTreeMap<String, String>,
) -> Result<(FileInfo, Vec<Tensor>)> {
    let bad = |m: String| format_error(path, m);
    check_disjoint(places).map_err(bad)?;
    let data_start = places.values().map(|p| p.start).min().unwrap_or(header_end);
    let data_bytes = crate::count::sum(places.values().map(|p| p.bytes))
        .ok_or_else(|| bad("storage sizes overflow".to_string()))?;
    let mut tensors = Vec::with_capacity(found.tensors.len());
    let mut strided = Vec::new();
    for (name, t) in &found.tensors {
        let placed = place(name, t, places, data_start, file).map_err(bad)?;
        if !placed.1 {
            strided.push(format!("{name} (stride {:?})", t.stride));
        }
        tensors.push(placed.0);
    }
    if !strided.is_empty() {
        metadata.insert(META_STRIDED.to_string(), strided.join(", "));
    }
    let info = FileInfo {
        path: path.to_path_buf(),
        format: "pytorch",
        file_bytes: crate::count::len(map.len()),
        header_bytes: data_start,
        data_start,
        data_bytes,
        tensors: tensors.len(),
        metadata,
        header_only: false,
        mapped: Some(Mapped(std::sync::Arc::new(map))),
        config: None,
        notes: Vec::new(),
    };
    let notes = notes(&info.metadata);
    Ok((FileInfo { notes, ..info }, tensors))
}

/// Storages may not share bytes (each is its own record, or its own legacy extent).
fn check_disjoint(places: &HashMap<String, Placed>) -> std::result::Result<(), String> {
    let mut sorted: Vec<(&String, &Placed)> = places.iter().collect();
    sorted.sort_by_key(|(k, p)| (p.start, k.as_str()));
    for pair in sorted.windows(2) {
        let ((a, pa), (b, pb)) = (pair[0], pair[1]);
        if pa.start + pa.bytes > pb.start && pb.bytes > 0 && pa.bytes > 0 {
            return Err(format!("storages `{a}` and `{b}` overlap in the file"));
        }
    }
    Ok(())
}

/// Row-major strides for `shape`, the layout `.contiguous()` gives.
fn is_contiguous(shape: &[u64], stride: &[u64]) -> bool {
    let mut expected = 1u64;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

/// One tensor inside its storage: a [`Tensor`] with offsets from `data_start`, and
/// whether it is contiguous.
fn place(
    name: &str,
    t: &TensorRef,
    places: &HashMap<String, Placed>,
    data_start: u64,
    file: usize,
) -> std::result::Result<(Tensor, bool), String> {
    let bad = |m: String| format!("tensor `{name}`: {m}");
    let dtype = tensor_dtype(t).map_err(bad)?;
    let size = itemsize(dtype);
    let s = &t.storage;
    // Elements of the storage (bytes / itemsize for an untyped one) and where the
    // tensor's addressable range starts (a legacy view's offset).
    let capacity = match s.class.dtype {
        Some(_) => s.numel,
        None => s.numel / size,
    };
    let (base, limit) = match &s.view {
        Some(v) => {
            let end = v.offset.checked_add(v.numel).filter(|&e| e <= capacity);
            if end.is_none() {
                return Err(bad(format!(
                    "its storage view ({} elements at {}) runs past the {capacity} elements of storage `{}`",
                    v.numel, v.offset, s.key
                )));
            }
            (v.offset, v.numel)
        }
        None => (0, capacity),
    };
    let elements = crate::count::product(t.shape.iter().copied())
        .ok_or_else(|| bad(format!("shape {:?} overflows", t.shape)))?;
    let last = last_index(t).ok_or_else(|| bad("its extent overflows".to_string()))?;
    // An empty tensor addresses nothing, but its offset may be at most the end.
    if last.unwrap_or(t.offset) >= limit && !(last.is_none() && t.offset == limit) {
        return Err(bad(format!(
            "elements up to index {} (offset {}, shape {:?}, stride {:?}) lie outside the {limit} elements of storage `{}`",
            last.unwrap_or(t.offset), t.offset, t.shape, t.stride, s.key
        )));
    }
    let placed = places
        .get(&s.key)
        .ok_or_else(|| bad(format!("storage `{}` has no bytes in the file", s.key)))?;
    // All bounded by the storage's extent in the file, checked above.
    let start = placed.start + (base + t.offset) * size;
    let bytes = elements
        .checked_mul(size)
        .ok_or_else(|| bad(format!("{elements} elements overflow a byte count")))?;
    let contiguous = elements == 0 || is_contiguous(&t.shape, &t.stride);
    let end = match last {
        Some(last) if !contiguous => placed.start + (base + last + 1) * size,
        // Contiguous: `bytes` lies inside the storage.
        _ => start + bytes,
    };
    let tensor = Tensor {
        name: name.to_string(),
        stored_as: None,
        stored_elements: elements,
        overhead: false,
        dtype: dtype.into(),
        shape: t.shape.clone(),
        elements,
        bytes,
        file,
        data_offsets: (start - data_start, end - data_start),
    };
    Ok((tensor, contiguous))
}

/// The index of the last element a view addresses (`None` inside: no element).
fn last_index(t: &TensorRef) -> Option<Option<u64>> {
    if t.shape.contains(&0) {
        return Some(None);
    }
    let mut last = t.offset;
    for (&d, &s) in t.shape.iter().zip(&t.stride) {
        last = last.checked_add((d - 1).checked_mul(s)?)?;
    }
    Some(Some(last))
}

/// The tensor's dtype: `_rebuild_tensor_v3`'s, else its storage class's.
fn tensor_dtype(t: &TensorRef) -> std::result::Result<Dtype, String> {
    match (t.dtype, t.storage.class.dtype) {
        (Some(d), None) => Ok(d),
        (None, Some(d)) => Ok(d),
        (Some(d), Some(s)) if d == s => Ok(d),
        (Some(d), Some(_)) => Err(format!(
            "dtype {d} on a typed storage {}",
            t.storage.class.name
        )),
        (None, None) => Err("an untyped storage without a dtype".to_string()),
    }
}

/// Notes on what the PyTorch files hold beside their tensors (a training checkpoint's
/// optimizer state, the legacy format, big-endian storages, strided views).
fn notes(m: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    if m.get(META_LAYOUT).map(String::as_str) == Some("legacy") {
        out.push(
            "the legacy torch format (torch.save before torch 1.6): its pickles were evaluated, never run"
                .to_string(),
        );
    }
    if let Some(w) = m.get(META_WRAPPER) {
        let others = m
            .get(META_OTHERS)
            .map(|o| format!("; the file also holds {o}: not model weights, not counted"))
            .unwrap_or_default();
        out.push(format!("the model's tensors are read from `{w}`{others}"));
    } else if let Some(o) = m.get(META_OTHERS) {
        out.push(format!("also holds {o}"));
    }
    if m.get(META_BYTEORDER).map(String::as_str) == Some("big") {
        out.push(
            "big-endian storages: figures are exact, but verify cannot scan their values"
                .to_string(),
        );
    }
    if let Some(s) = m.get(META_STRIDED) {
        out.push(format!(
            "non-contiguous views, counted by shape; verify scans the storage span each covers: {s}"
        ));
    }
    out
}

/// Refuse to scan storages whose byte order is not little-endian (verify decodes
/// little-endian values).
pub fn check_verifiable(f: &FileInfo) -> Result<()> {
    if f.format == "pytorch" && f.metadata.get(META_BYTEORDER).map(String::as_str) == Some("big") {
        return Err(format_error(
            &f.path,
            "big-endian storages: verify scans little-endian values only (inspect reads this file)"
                .to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguity_ignores_unit_dimensions() {
        assert!(is_contiguous(&[2, 3], &[3, 1]));
        assert!(is_contiguous(&[1, 3], &[99, 1]));
        assert!(!is_contiguous(&[3, 2], &[1, 3]));
        assert!(is_contiguous(&[], &[]));
    }
}
