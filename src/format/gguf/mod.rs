//! GGUF (llama.cpp, Ollama, LM Studio): versions 2 and 3, little- and big-endian, every
//! metadata value type, split files. Facts and their origin: docs/formats.md, `## GGUF`.
//!
//! [`reader`] reads the header (bounded at every step), [`layout`] checks the data
//! section, [`logical`] renames and reshapes the tensors into transformers' view with the
//! tables of [`names`], and [`config`] reads the model's dimensions from the metadata.
//! Only the header pages of the map are touched; the data is read by `verify` alone.

pub mod config;
pub mod layout;
pub mod logical;
pub mod names;
pub mod reader;
pub mod value;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use safetensors::Dtype;

use crate::checkpoint::{FileInfo, Mapped, Tensor};
use crate::error::{Error, Result};
use logical::Part;
use reader::{Parsed, Problem};
use value::Value;

/// The format's name in messages.
pub const FORMAT: &str = "GGUF";

/// The first four bytes of every GGUF file, whatever its byte order.
pub const MAGIC: &[u8; 4] = b"GGUF";

fn format_error(path: &Path, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        format: FORMAT,
        message,
    }
}

/// A problem of a whole file: needing more bytes than the whole file cannot happen, so it
/// reads as truncation.
fn whole_file_error(path: &Path, p: Problem) -> Error {
    match p {
        Problem::Bad(m) => format_error(path, m),
        Problem::Need(n) => format_error(path, format!("truncated: {n} bytes needed")),
    }
}

/// Header and data layout of one file's bytes (all of them, or a prefix of a
/// `file_len`-byte file).
fn read_part(bytes: &[u8], file_len: u64, file: usize) -> std::result::Result<Part, Problem> {
    let parsed = reader::parse(bytes, file_len)?;
    let extents = layout::check(&parsed, file_len)?;
    Ok(Part {
        file,
        parsed,
        extents,
    })
}

/// Read and validate one mapped GGUF file (not a part of a split: see [`open_split`]).
pub fn open_mapped(path: &Path, map: Mmap, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let file_len = crate::count::len(map.len());
    let part = read_part(&map, file_len, file).map_err(|p| whole_file_error(path, p))?;
    refuse_lone_split_part(path, &part.parsed)?;
    let (info, tensors) = finish(vec![part], &[file_len]).map_err(|p| whole_file_error(path, p))?;
    let info = info.into_iter().next().map(|i| FileInfo {
        path: path.to_path_buf(),
        mapped: Some(Mapped(Arc::new(map))),
        ..i
    });
    info.map(|i| (i, tensors))
        .ok_or_else(|| format_error(path, "no file read".to_string()))
}

/// What reading a prefix of a GGUF file gives.
#[derive(Debug)]
pub enum Prefix {
    /// The whole header was there: the file, header-only, and its tensors.
    Read(Box<FileInfo>, Vec<Tensor>),
    /// The header continues past the prefix: fetch at least this many bytes from the
    /// start of the file and read again.
    NeedAtLeast(u64),
}

/// Read a GGUF file from a prefix of it, the whole file being `file_len` bytes (a ranged
/// remote read). The data section is not needed: its layout is checked against
/// `file_len`. Errors are one-line messages (the caller names the file).
pub fn parse_prefix(
    prefix: &[u8],
    file_len: u64,
    file: usize,
) -> std::result::Result<Prefix, String> {
    let part = match read_part(prefix, file_len, file) {
        Ok(p) => p,
        Err(Problem::Need(n)) => return Ok(Prefix::NeedAtLeast(n)),
        Err(Problem::Bad(m)) => return Err(m),
    };
    if let Some(m) = lone_split_part(&part.parsed) {
        return Err(m);
    }
    let (info, tensors) = finish(vec![part], &[file_len]).map_err(|p| match p {
        Problem::Bad(m) => m,
        Problem::Need(n) => format!("truncated: {n} bytes needed"),
    })?;
    let info = info
        .into_iter()
        .next()
        .ok_or_else(|| "no file read".to_string())?;
    Ok(Prefix::Read(
        Box::new(FileInfo {
            header_only: true,
            ..info
        }),
        tensors,
    ))
}

/// The logical tensors of all parts, and one [`FileInfo`] per part (paths empty, no
/// map); the config from the first part's metadata.
fn finish(
    parts: Vec<Part>,
    file_lens: &[u64],
) -> std::result::Result<(Vec<FileInfo>, Vec<Tensor>), Problem> {
    let first = parts.first().map(|p| &p.parsed);
    let arch = first
        .and_then(|p| p.get("general.architecture"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (tensors, mut notes) = logical::translate(&parts, arch.as_deref())?;
    let (config, config_notes) = match first {
        Some(p) => config::derive(p, &tensors),
        None => (None, Vec::new()),
    };
    notes.extend(config_notes);
    let mut infos = Vec::with_capacity(parts.len());
    for (i, part) in parts.into_iter().enumerate() {
        let mut file_notes = part.parsed.notes.clone();
        file_notes.extend(part.extents.notes.iter().cloned());
        if i == 0 {
            file_notes.append(&mut notes);
        }
        infos.push(FileInfo {
            path: PathBuf::new(),
            format: "gguf",
            file_bytes: file_lens.get(i).copied().unwrap_or_default(),
            header_bytes: part.parsed.data_start,
            data_start: part.parsed.data_start,
            data_bytes: part.extents.data_bytes,
            tensors: part.parsed.tensors.len(),
            metadata: metadata(&part.parsed),
            header_only: false,
            mapped: None,
            config: if i == 0 { config.clone() } else { None },
            notes: file_notes,
        });
    }
    Ok((infos, tensors))
}

/// The metadata as strings: scalars as written, short arrays in brackets, long arrays
/// as their length and item type (`array of 151936 STRING`); plus gguf-py's `GGUF.*`
/// header fields and the byte order.
fn metadata(p: &Parsed) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> =
        p.kv.iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
    m.insert("GGUF.version".into(), p.header.version.to_string());
    m.insert(
        "GGUF.tensor_count".into(),
        p.header.tensor_count.to_string(),
    );
    m.insert("GGUF.kv_count".into(), p.header.kv_count.to_string());
    let order = if p.header.big_endian { "big" } else { "little" };
    m.insert("GGUF.endianness".into(), order.to_string());
    m
}

/// `split.no`, `split.count`, `split.tensors.count` (gguf-py `Keys.Split`).
fn split_keys(p: &Parsed) -> (Option<u64>, Option<u64>, Option<u64>) {
    let get = |k: &str| p.get(k).and_then(Value::as_u64);
    (
        get("split.no"),
        get("split.count"),
        get("split.tensors.count"),
    )
}

/// A part of a split opened alone would be counted short: refused.
fn lone_split_part(p: &Parsed) -> Option<String> {
    match split_keys(p) {
        (no, Some(count), _) if count > 1 => Some(format!(
            "this is part {} of a {count}-part split GGUF (split.no / split.count) opened alone; keep llama.cpp's part names (<name>-00001-of-{count:05}.gguf, ...) side by side so that every part is read",
            no.map_or_else(|| "?".to_string(), |n| n.saturating_add(1).to_string())
        )),
        _ => None,
    }
}

fn refuse_lone_split_part(path: &Path, p: &Parsed) -> Result<()> {
    match lone_split_part(p) {
        Some(m) => Err(format_error(path, m)),
        None => Ok(()),
    }
}

/// Every part of a split GGUF (`<name>-0000N-of-0000M.gguf`, in order), checked to be
/// one split set: part `i` says `split.no` = i (0-based), every part the same
/// `split.count` (the number of parts) and `split.tensors.count` (the sum of their
/// tensor counts); only the first holds the model's metadata. Each part has its own data
/// section; the tensors are translated together, with the first part's architecture.
pub fn open_split(paths: &[PathBuf]) -> Result<Vec<(FileInfo, Vec<Tensor>)>> {
    let mut maps = Vec::with_capacity(paths.len());
    for path in paths {
        let map = super::map_file(path)?;
        if !map.starts_with(MAGIC) {
            return Err(format_error(
                path,
                "not a GGUF file, but named as a part of a split GGUF".to_string(),
            ));
        }
        maps.push(map);
    }
    let views: Vec<(&[u8], u64)> = maps
        .iter()
        .map(|m| (&m[..], crate::count::len(m.len())))
        .collect();
    let opened = read_split(paths, &views)?;
    Ok(opened
        .into_iter()
        .zip(maps)
        .map(|((info, tensors), map)| {
            (
                FileInfo {
                    mapped: Some(Mapped(Arc::new(map))),
                    ..info
                },
                tensors,
            )
        })
        .collect())
}

/// How many bytes from the start of a `file_len`-byte GGUF file its header needs:
/// `None` when `prefix` already holds all of it (a ranged remote read asks for more until
/// then). A malformed header is an error message.
pub fn header_needs(prefix: &[u8], file_len: u64) -> std::result::Result<Option<u64>, String> {
    match read_part(prefix, file_len, 0) {
        Ok(_) => Ok(None),
        Err(Problem::Need(n)) => Ok(Some(n)),
        Err(Problem::Bad(m)) => Err(m),
    }
}

/// The parts of a split GGUF read remotely: `(url, prefix holding its whole header,
/// file size)` each, checked and translated as [`open_split`] does; header-only.
pub fn open_split_prefixes(
    parts: &[(PathBuf, &[u8], u64)],
) -> Result<Vec<(FileInfo, Vec<Tensor>)>> {
    let paths: Vec<PathBuf> = parts.iter().map(|p| p.0.clone()).collect();
    let views: Vec<(&[u8], u64)> = parts.iter().map(|p| (p.1, p.2)).collect();
    Ok(read_split(&paths, &views)?
        .into_iter()
        .map(|(info, tensors)| {
            (
                FileInfo {
                    header_only: true,
                    ..info
                },
                tensors,
            )
        })
        .collect())
}

/// Read, check and translate the parts of a split GGUF from their bytes (`(bytes, file
/// length)`, the bytes a whole file or a prefix holding its header); one FileInfo (no
/// map) and its tensors per part.
fn read_split(paths: &[PathBuf], views: &[(&[u8], u64)]) -> Result<Vec<(FileInfo, Vec<Tensor>)>> {
    let mut parts = Vec::with_capacity(paths.len());
    for (i, (path, &(bytes, len))) in paths.iter().zip(views).enumerate() {
        parts.push(read_part(bytes, len, i).map_err(|p| whole_file_error(path, p))?);
    }
    check_split(paths, &parts)?;
    let lens: Vec<u64> = views.iter().map(|v| v.1).collect();
    let (infos, tensors) = finish(parts, &lens).map_err(|p| whole_file_error(&paths[0], p))?;
    let mut by_file: Vec<Vec<Tensor>> = vec![Vec::new(); paths.len()];
    for t in tensors {
        if let Some(slot) = by_file.get_mut(t.file) {
            slot.push(t);
        }
    }
    Ok(infos
        .into_iter()
        .zip(paths)
        .zip(by_file)
        .map(|((info, path), tensors)| {
            (
                FileInfo {
                    path: path.clone(),
                    ..info
                },
                tensors,
            )
        })
        .collect())
}

fn check_split(paths: &[PathBuf], parts: &[Part]) -> Result<()> {
    let n = crate::count::len(paths.len());
    let keys: Vec<_> = parts.iter().map(|p| split_keys(&p.parsed)).collect();
    let first_arch = parts
        .first()
        .and_then(|p| p.parsed.get("general.architecture"))
        .and_then(Value::as_str);
    let declared = keys.first().and_then(|k| k.2);
    for (i, ((path, part), &(no, count, tensors))) in paths.iter().zip(parts).zip(&keys).enumerate()
    {
        let bad = |m: String| Err(format_error(path, m));
        let i = crate::count::len(i);
        let (Some(no), Some(count), Some(tensors)) = (no, count, tensors) else {
            return bad(format!(
                "named as part {} of a {n}-part split GGUF but has no split.no / split.count / split.tensors.count: not a part of this split",
                i + 1
            ));
        };
        if no != i || count != n || Some(tensors) != declared {
            return bad(format!(
                "named as part {} of {n}, but its split keys say part {} of {count} with {tensors} tensors in all (the first part says {}): a part of another split set, or a renamed one",
                i + 1,
                no.saturating_add(1),
                declared.unwrap_or_default()
            ));
        }
        let arch = part
            .parsed
            .get("general.architecture")
            .and_then(Value::as_str);
        if i > 0 && arch.is_some() && arch != first_arch {
            return bad(format!(
                "its general.architecture `{}` differs from the first part's `{}`",
                reader::shown(arch.unwrap_or_default()),
                reader::shown(first_arch.unwrap_or("(none)"))
            ));
        }
    }
    let total: u64 = parts
        .iter()
        .map(|p| crate::count::len(p.parsed.tensors.len()))
        .sum();
    if declared != Some(total) {
        return Err(format_error(
            &paths[0],
            format!(
                "split.tensors.count says {} tensors in all, but the {n} parts hold {total}",
                declared.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// What `verify` needs to scan a GGUF file's values: its byte order, and the stored
/// tensors' extents (relative to the data section, sorted) with the safetensors dtype of
/// the plain ggml types (`None`: quantized blocks or an unknown type, not scanned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPlan {
    /// Numbers in the data are big-endian.
    pub big_endian: bool,
    /// `(start, end, dtype)` per stored tensor, by start.
    pub extents: Vec<(u64, u64, Option<Dtype>)>,
}

/// The scan plan of a GGUF file's bytes, `None` when they do not read as GGUF.
pub fn scan_plan(bytes: &[u8]) -> Option<ScanPlan> {
    let part = read_part(bytes, crate::count::len(bytes.len()), 0).ok()?;
    let mut extents: Vec<(u64, u64, Option<Dtype>)> = part
        .parsed
        .tensors
        .iter()
        .zip(&part.extents.spans)
        .map(|(t, &(s, e))| (s, e, t.bytes.and(t.ggml.plain())))
        .collect();
    extents.sort_by_key(|&(s, e, _)| (s, e));
    Some(ScanPlan {
        big_endian: part.parsed.header.big_endian,
        extents,
    })
}

#[cfg(test)]
mod tests;
