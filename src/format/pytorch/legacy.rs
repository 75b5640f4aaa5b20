//! The legacy torch format (`torch.save` before torch 1.6, or with
//! `_use_new_zipfile_serialization=False`; torch/serialization.py `_legacy_save`): five
//! pickles back to back, then the storages.
//!
//! 1. the magic number `0x1950a86a20f9469cfc6c`;
//! 2. the protocol version 1001;
//! 3. `sys_info` (`little_endian`, type sizes);
//! 4. the object, whose persistent ids are
//!    `('storage', class, root_key, location, numel, view_metadata)`;
//! 5. the list of storage keys.
//!
//! Then, per key in that order: the element count as an i64 in the writer's byte order,
//! and the raw bytes. Offsets come from walking the counts, each bounded by the bytes
//! left in the file.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use memmap2::Mmap;

use super::pickle::{self, Node, Persistent, Pickle, StorageClass};
use super::{common_metadata, finish, format_error, itemsize, state, Placed};
use crate::checkpoint::{FileInfo, Tensor};
use crate::error::Result;

/// torch.serialization.MAGIC_NUMBER.
pub const MAGIC: i128 = 0x1950_a86a_20f9_469c_fc6c;
/// torch.serialization.PROTOCOL_VERSION.
pub const PROTOCOL: i128 = 1001;

type Res<T> = std::result::Result<T, String>;

/// Evaluate the pickle at `at`, naming it in any message.
fn pickle_at(b: &[u8], at: usize, what: &str, persistent: Persistent) -> Res<Pickle> {
    pickle::evaluate(&b[at..], persistent).map_err(|e| {
        format!(
            "legacy torch format: the {what} pickle at byte {at}: byte {}: {}",
            at + e.at,
            e.message
        )
    })
}

/// The first pickle: torch's magic number, or not a torch file at all.
fn magic(b: &[u8]) -> Res<usize> {
    let p = pickle::evaluate(b, Persistent::Refused).map_err(|e| {
        format!(
            "a raw pickle (byte {}: {}); paramaudit reads pickles only as torch.save files",
            e.at, e.message
        )
    })?;
    if *p.node(p.root) != Node::Int(MAGIC) {
        return Err(format!(
            "a raw pickle holding {}, not torch's legacy magic number: not a torch.save file; other pickles are not read (they can run code)",
            p.node(p.root).kind()
        ));
    }
    Ok(p.len)
}

/// `sys_info`'s `little_endian`.
fn little_endian(p: &Pickle) -> Res<bool> {
    let Node::Dict(d) = p.node(p.root) else {
        return Err("legacy torch format: sys_info is not a dict".to_string());
    };
    d.entries
        .iter()
        .find(|&&(k, _)| *p.node(k) == Node::Str("little_endian".to_string()))
        .and_then(|&(_, v)| match p.node(v) {
            Node::Bool(b) => Some(*b),
            _ => None,
        })
        .ok_or_else(|| "legacy torch format: sys_info has no `little_endian` flag".to_string())
}

/// Every root storage the object pickle names: its class and element count.
fn roots(p: &Pickle) -> Res<HashMap<String, (StorageClass, u64)>> {
    let mut out: HashMap<String, (StorageClass, u64)> = HashMap::new();
    for node in &p.arena {
        let Node::Storage(s) = node else { continue };
        match out.get(&s.key) {
            Some(&(class, numel)) if class != s.class || numel != s.numel => {
                return Err(format!(
                    "legacy torch format: storage `{}` is named as {} × {numel} and as {} × {}",
                    s.key, class.name, s.class.name, s.numel
                ))
            }
            Some(_) => {}
            None => {
                out.insert(s.key.clone(), (s.class, s.numel));
            }
        }
    }
    Ok(out)
}

/// The storage keys pickle: a list of strings.
fn keys(p: &Pickle) -> Res<Vec<String>> {
    let Node::List(items) = p.node(p.root) else {
        return Err("legacy torch format: the storage keys pickle is not a list".to_string());
    };
    items
        .iter()
        .map(|&i| match p.node(i) {
            Node::Str(s) if s.len() <= pickle::MAX_KEY_BYTES => Ok(s.clone()),
            Node::Int(n) => Ok(n.to_string()),
            other => Err(format!(
                "legacy torch format: a listed storage key is {} (a string of at most {} bytes expected)",
                other.kind(),
                pickle::MAX_KEY_BYTES
            )),
        })
        .collect()
}

/// Walk the storages after the pickles: per key an i64 element count and the bytes.
fn walk(
    b: &[u8],
    mut at: usize,
    keys: &[String],
    roots: &HashMap<String, (StorageClass, u64)>,
    little: bool,
) -> Res<HashMap<String, Placed>> {
    let mut places = HashMap::with_capacity(keys.len());
    for key in keys {
        let &(class, numel) = roots.get(key).ok_or_else(|| {
            format!("legacy torch format: storage key `{key}` is listed but no tensor uses it")
        })?;
        let raw: [u8; 8] = b
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                format!("legacy torch format: truncated: the file ends before storage `{key}` at byte {at}")
            })?;
        let count = if little {
            i64::from_le_bytes(raw)
        } else {
            i64::from_be_bytes(raw)
        };
        if u64::try_from(count).ok() != Some(numel) {
            return Err(format!(
                "legacy torch format: storage `{key}` at byte {at} holds {count} elements, its persistent id says {numel}"
            ));
        }
        let size = class.dtype.map_or(1, itemsize);
        let start = at + 8;
        let bytes = numel.checked_mul(size);
        let end = bytes.and_then(|n| (start as u64).checked_add(n));
        let Some(end) = end.filter(|&e| e <= b.len() as u64) else {
            return Err(format!(
                "legacy torch format: truncated: storage `{key}` ({numel} × {}) at byte {start} runs past the end of the file ({} bytes)",
                class.name,
                b.len()
            ));
        };
        if places
            .insert(
                key.clone(),
                Placed {
                    start: start as u64,
                    bytes: end - start as u64,
                },
            )
            .is_some()
        {
            return Err(format!(
                "legacy torch format: storage key `{key}` is listed twice"
            ));
        }
        // end <= file length: fits in usize.
        at = end as usize;
    }
    if at != b.len() {
        return Err(format!(
            "legacy torch format: {} trailing bytes after the last storage (byte {at})",
            b.len() - at
        ));
    }
    if let Some(k) = roots.keys().find(|k| !places.contains_key(*k)) {
        return Err(format!(
            "legacy torch format: storage `{k}` is used but not among the stored keys"
        ));
    }
    Ok(places)
}

/// Read a mapped legacy torch file (a raw pickle stream), or refuse a raw pickle that is
/// not one.
pub fn open_legacy(path: &Path, map: Mmap, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let bad = |m: String| format_error(path, m);
    let b: &[u8] = &map;
    let mut at = magic(b).map_err(bad)?;
    let protocol = pickle_at(b, at, "protocol version", Persistent::Refused).map_err(bad)?;
    if *protocol.node(protocol.root) != Node::Int(PROTOCOL) {
        return Err(bad(format!(
            "legacy torch format: protocol version is {}, expected {PROTOCOL}",
            protocol.node(protocol.root).kind()
        )));
    }
    at += protocol.len;
    let sys_info = pickle_at(b, at, "sys_info", Persistent::Refused).map_err(bad)?;
    let little = little_endian(&sys_info).map_err(bad)?;
    at += sys_info.len;
    let object_at = at;
    let object = pickle_at(b, at, "object", Persistent::Legacy).map_err(bad)?;
    at += object.len;
    let found = state::find(&object).map_err(|m| {
        bad(format!(
            "legacy torch format: the object pickle at byte {object_at}: {m}"
        ))
    })?;
    let key_list = pickle_at(b, at, "storage keys", Persistent::Refused).map_err(bad)?;
    at += key_list.len;
    let keys = keys(&key_list).map_err(bad)?;
    let roots = roots(&object).map_err(bad)?;
    let mut places = walk(b, at, &keys, &roots, little).map_err(bad)?;
    let used: HashSet<&str> = found
        .tensors
        .iter()
        .map(|(_, t)| t.storage.key.as_str())
        .collect();
    places.retain(|k, _| used.contains(k.as_str()));
    let byteorder = if little { "little" } else { "big" };
    let mut metadata = common_metadata(&found, object.protocol, byteorder);
    metadata.insert(super::META_LAYOUT.to_string(), "legacy".to_string());
    let header_end = at as u64;
    finish(path, map, file, &found, &places, header_end, metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy file by hand: one root storage `r` of 10 float32 (values 0..9) and one
    /// 2x2 tensor on the view `(v1, view_offset, 6)` at offset 1 within the view.
    fn legacy_file(view_offset: u8) -> Vec<u8> {
        let mut b = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.".to_vec();
        b.extend_from_slice(b"\x80\x02M\xe9\x03.");
        b.extend_from_slice(b"\x80\x02}(X\x0d\x00\x00\x00little_endian\x88u.");
        b.extend_from_slice(b"\x80\x02}(X\x01\x00\x00\x00vctorch._utils\n_rebuild_tensor_v2\n((");
        b.extend_from_slice(b"X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00r");
        b.extend_from_slice(b"X\x03\x00\x00\x00cpuK\x0a(X\x02\x00\x00\x00v1K");
        b.push(view_offset);
        b.extend_from_slice(b"K\x06ttQK\x01K\x02K\x02\x86K\x02K\x01\x86\x89");
        b.extend_from_slice(b"ccollections\nOrderedDict\n)RtRu.");
        b.extend_from_slice(b"\x80\x02](X\x01\x00\x00\x00re.");
        b.extend_from_slice(&10i64.to_le_bytes());
        for v in 0..10 {
            b.extend_from_slice(&(v as f32).to_le_bytes());
        }
        b
    }

    fn open(bytes: &[u8]) -> Result<(FileInfo, Vec<Tensor>)> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let path = dir.path().join("legacy.pt");
        std::fs::write(&path, bytes).map_err(|e| crate::Error::io(&path, e))?;
        crate::format::open_file(&path, 0)
    }

    #[test]
    fn a_tensor_on_a_storage_view_starts_at_the_view_plus_its_offset() {
        let (info, tensors) = open(&legacy_file(4)).unwrap();
        assert_eq!(info.metadata[crate::format::pytorch::META_LAYOUT], "legacy");
        assert_eq!(
            (info.data_bytes, info.data_start),
            (40, info.file_bytes - 40)
        );
        let t = &tensors[0];
        assert_eq!((t.name.as_str(), t.elements, t.bytes), ("v", 4, 16));
        // Elements 5..=8 of the root: view offset 4 + tensor offset 1.
        assert_eq!(t.data_offsets, (20, 36));
        let e = open(&legacy_file(8)).unwrap_err().to_string();
        assert!(
            e.contains("runs past the 10 elements of storage `r`"),
            "{e}"
        );
    }

    #[test]
    fn the_magic_number_is_torchs() {
        // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)
        let b = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.";
        assert_eq!(magic(b), Ok(15));
        let e = magic(b"\x80\x02K\x05.").unwrap_err();
        assert!(e.contains("not torch's legacy magic number"), "{e}");
        let e = magic(b"\x80\x02cos\nsystem\n.").unwrap_err();
        assert!(e.contains("refused global `os.system`"), "{e}");
    }
}
