//! safetensors: the 8-byte little-endian length, the JSON header, the data section.
//!
//! Our own reader keeps the file's key order, detects duplicate keys (a JSON map silently
//! keeps the last one) and names the offending tensor in every message. It is stricter
//! than the reference reader ([`safetensors::SafeTensors::read_metadata`]) and never more lenient: the
//! mutation tests (tests/audit/mutation.rs) hold every header we accept to the crate's
//! verdict, so the crate's second parse is not paid at run time (it was half of the
//! parsing time on a 163-shard checkpoint). Remote header prefixes, which carry no data
//! section the crate could check, are still confirmed by the crate's header types. Only
//! the first page(s) of the memory map are touched: the data pages are never read, so
//! inspecting a 400 GB model costs what its header costs.

mod scan;

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::fastmap::Set;
use std::fmt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::Dtype;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::checkpoint::{FileInfo, Mapped, Tensor};
use crate::error::{Error, HeaderProblem, Result};

/// Largest header accepted, the same limit the safetensors crate applies.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Largest rank accepted for a tensor shape; bounds the allocation a header can drive.
pub const MAX_RANK: usize = 64;

/// `__metadata__` key of a header saved by `--save-header`: the original file's size.
pub const SAVED_FILE_BYTES: &str = "paramaudit.header_only.file_bytes";
/// `__metadata__` key of a header saved by `--save-header`: the original header's length.
pub const SAVED_HEADER_BYTES: &str = "paramaudit.header_only.header_bytes";

/// Remove and read the saved-header keys: `Some((file_bytes, header_bytes))` for a saved
/// header.
fn take_saved_marker(
    metadata: &mut BTreeMap<String, String>,
) -> std::result::Result<Option<(u64, u64)>, HeaderProblem> {
    let file = metadata.remove(SAVED_FILE_BYTES);
    let header = metadata.remove(SAVED_HEADER_BYTES);
    match (file, header) {
        (None, None) => Ok(None),
        (Some(f), Some(h)) => match (f.parse::<u64>(), h.parse::<u64>()) {
            (Ok(f), Ok(h)) if h <= MAX_HEADER_BYTES && h.checked_add(8).is_some_and(|n| n <= f) => {
                Ok(Some((f, h)))
            }
            _ => Err(HeaderProblem::NotJson {
                message: format!(
                    "saved-header sizes `{f}` / `{h}` are not a valid file and header size"
                ),
            }),
        },
        _ => Err(HeaderProblem::NotJson {
            message: format!(
                "saved header needs both `{SAVED_FILE_BYTES}` and `{SAVED_HEADER_BYTES}`"
            ),
        }),
    }
}

/// Read and validate one mapped safetensors file. `file` is the index recorded in each
/// tensor; the map's length is the file's, so every later read through
/// [`FileInfo::mapped`] stays inside what was validated.
pub fn open_mapped(path: &Path, map: Mmap, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let file_len = crate::count::len(map.len());
    if file_len < 8 {
        return Err(Error::header(
            path,
            HeaderProblem::TooShort { len: file_len },
        ));
    }
    let (info, tensors) = parse(&map, file_len, file).map_err(|p| Error::header(path, p))?;
    Ok((
        FileInfo {
            path: path.to_path_buf(),
            mapped: Some(Mapped(std::sync::Arc::new(map))),
            ..info
        },
        tensors,
    ))
}

/// Parse and validate a safetensors prefix. `bytes` must hold at least the 8-byte length
/// and the header; `file_len` is the length of the whole file, used for the coverage check.
pub fn parse(
    bytes: &[u8],
    file_len: u64,
    file: usize,
) -> std::result::Result<(FileInfo, Vec<Tensor>), HeaderProblem> {
    let (header_len, header) = read_header_bytes(bytes, file_len)?;
    let text = std::str::from_utf8(header).map_err(|e| HeaderProblem::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut raw = parse_header_json(text)?;
    let saved = take_saved_marker(&mut raw.metadata)?;
    let (tensors, data_bytes) = validate(raw.entries, file)?;
    // A saved header stands for the original file: its coverage is checked against the
    // original sizes it records, and nothing may follow the header.
    let (file_bytes, original_header) = match saved {
        Some((f, h)) => {
            if file_len != 8 + header_len {
                return Err(HeaderProblem::TrailingBytes {
                    expected: 0,
                    actual: file_len - 8 - header_len,
                    extra: file_len - 8 - header_len,
                });
            }
            (f, h)
        }
        None => (file_len, header_len),
    };
    let available = file_bytes - 8 - original_header;
    if data_bytes > available {
        let tensor = tensors
            .iter()
            .max_by_key(|t| t.data_offsets.1)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        return Err(HeaderProblem::Truncated {
            expected: data_bytes,
            actual: available,
            tensor,
        });
    }
    if data_bytes < available {
        return Err(HeaderProblem::TrailingBytes {
            expected: data_bytes,
            actual: available,
            extra: available - data_bytes,
        });
    }
    let info = FileInfo {
        path: PathBuf::new(),
        format: "safetensors",
        file_bytes,
        header_bytes: original_header,
        data_start: 8 + header_len,
        data_bytes,
        tensors: tensors.len(),
        metadata: raw.metadata,
        header_only: saved.is_some(),
        mapped: None,
        config: None,
        notes: Vec::new(),
    };
    Ok((info, tensors))
}

/// The 8-byte little-endian length and the header bytes it announces.
fn read_header_bytes(
    bytes: &[u8],
    file_len: u64,
) -> std::result::Result<(u64, &[u8]), HeaderProblem> {
    let Some(prefix) = bytes.get(..8) else {
        return Err(HeaderProblem::TooShort { len: file_len });
    };
    let mut len = [0u8; 8];
    len.copy_from_slice(prefix);
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_HEADER_BYTES {
        return Err(HeaderProblem::HeaderTooLarge {
            header_len,
            max: MAX_HEADER_BYTES,
        });
    }
    if header_len > file_len.saturating_sub(8) {
        return Err(HeaderProblem::HeaderBeyondFile {
            header_len,
            file_len,
        });
    }
    // header_len <= MAX_HEADER_BYTES, so the conversion cannot truncate.
    let end = 8 + header_len as usize;
    let header = bytes.get(8..end).ok_or(HeaderProblem::HeaderBeyondFile {
        header_len,
        file_len,
    })?;
    Ok((header_len, header))
}

/// A tensor entry as written in the header, before validation.
#[derive(Debug, Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Shape,
    data_offsets: (u64, u64),
}

/// A shape whose rank is bounded while it is read.
#[derive(Debug)]
struct Shape(Vec<u64>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of at most {MAX_RANK} non-negative integers")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<u64>()? {
                    if dims.len() == MAX_RANK {
                        return Err(de::Error::custom(format!(
                            "shape has more than {MAX_RANK} dimensions"
                        )));
                    }
                    dims.push(d);
                }
                Ok(Shape(dims))
            }
        }
        d.deserialize_seq(ShapeVisitor)
    }
}

/// One tensor entry as written in the header, before validation: its name and dtype
/// borrowed from the header text where the scanner read them.
#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    name: Cow<'a, str>,
    dtype: Cow<'a, str>,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header in file order, with duplicate keys recorded rather than silently dropped.
#[derive(Debug, PartialEq, Eq)]
struct RawHeader<'a> {
    metadata: BTreeMap<String, String>,
    entries: Vec<Entry<'a>>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for RawHeader<'static> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeader<'static>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to {dtype, shape, data_offsets}")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawHeader<'static>, A::Error> {
                let mut seen = Set::default();
                let mut header = RawHeader {
                    metadata: BTreeMap::new(),
                    entries: Vec::new(),
                    duplicate: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        map.next_value::<IgnoredAny>()?;
                        header.duplicate.get_or_insert(key);
                        continue;
                    }
                    if key == "__metadata__" {
                        header.metadata = map.next_value().map_err(|e| {
                            de::Error::custom(format!(
                                "`__metadata__` must map strings to strings: {e}"
                            ))
                        })?;
                    } else {
                        let info = map.next_value_seed(Named(&key))?;
                        header.entries.push(Entry {
                            name: Cow::Owned(key),
                            dtype: Cow::Owned(info.dtype),
                            shape: info.shape.0,
                            data_offsets: info.data_offsets,
                        });
                    }
                }
                Ok(header)
            }
        }
        d.deserialize_map(HeaderVisitor)
    }
}

/// Deserialises a [`RawInfo`] and puts the tensor's name into any error.
struct Named<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for Named<'_> {
    type Value = RawInfo;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<RawInfo, D::Error> {
        RawInfo::deserialize(d).map_err(|e| de::Error::custom(format!("tensor `{}`: {e}", self.0)))
    }
}

/// The header's JSON: scanned when it has the usual shape, else parsed by serde (which
/// names any problem).
fn parse_header_json(text: &str) -> std::result::Result<RawHeader<'_>, HeaderProblem> {
    if let Some(raw) = scan::scan(text) {
        return Ok(raw);
    }
    parse_header_serde(text)
}

fn parse_header_serde(text: &str) -> std::result::Result<RawHeader<'static>, HeaderProblem> {
    let raw: RawHeader = serde_json::from_str(text).map_err(|e| HeaderProblem::NotJson {
        message: e.to_string(),
    })?;
    if let Some(key) = raw.duplicate {
        return Err(HeaderProblem::DuplicateKey { key });
    }
    Ok(raw)
}

/// Parse a dtype name the way the safetensors crate does.
pub fn parse_dtype(name: &str) -> Option<Dtype> {
    let d = de::value::StrDeserializer::<de::value::Error>::new(name);
    Dtype::deserialize(d).ok()
}

/// Check every entry and the coverage of the data section. Returns the tensors in file
/// order and the length of the data section they describe.
fn validate(
    entries: Vec<Entry<'_>>,
    file: usize,
) -> std::result::Result<(Vec<Tensor>, u64), HeaderProblem> {
    let mut tensors = Vec::with_capacity(entries.len());
    for raw in entries {
        let name = raw.name.into_owned();
        let Some(dtype) = parse_dtype(&raw.dtype) else {
            return Err(HeaderProblem::UnknownDtype {
                tensor: name,
                dtype: raw.dtype.into_owned(),
            });
        };
        let shape = raw.shape;
        let overflow = || HeaderProblem::ShapeOverflow {
            tensor: name.clone(),
            shape: shape.clone(),
        };
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        let bits = elements
            .checked_mul(dtype.bitsize() as u64)
            .ok_or_else(overflow)?;
        if bits % 8 != 0 {
            return Err(HeaderProblem::Misaligned {
                tensor: name,
                elements,
                dtype: dtype.to_string(),
            });
        }
        let bytes = bits / 8;
        let (start, end) = raw.data_offsets;
        if end < start {
            return Err(HeaderProblem::OffsetsReversed {
                tensor: name,
                start,
                end,
            });
        }
        if end - start != bytes {
            return Err(HeaderProblem::ExtentMismatch {
                tensor: name,
                shape,
                dtype: dtype.to_string(),
                expected: bytes,
                actual: end - start,
            });
        }
        tensors.push(Tensor {
            stored_as: None,
            stored_elements: elements,
            overhead: false,
            name,
            dtype: dtype.into(),
            shape,
            elements,
            bytes,
            file,
            data_offsets: (start, end),
        });
    }
    let mut by_offset: Vec<&Tensor> = tensors.iter().collect();
    by_offset.sort_by_key(|t| t.data_offsets);
    let mut end = 0u64;
    let mut previous: Option<&Tensor> = None;
    for t in by_offset {
        let (s, e) = t.data_offsets;
        if s > end {
            return Err(HeaderProblem::Gap {
                start: end,
                end: s,
                tensor: t.name.clone(),
            });
        }
        if s < end {
            return Err(HeaderProblem::Overlap {
                tensor: t.name.clone(),
                previous: previous.map(|p| p.name.clone()).unwrap_or_default(),
                start: s,
                previous_end: end,
            });
        }
        end = e;
        previous = Some(t);
    }
    Ok((tensors, end))
}

/// Confirm with the safetensors crate that a prefix (8-byte length and the header it
/// announces, data absent) is valid: used where [`SafeTensors::read_metadata`] cannot run.
/// The prefix has already passed [`parse`], so its length field is in range.
pub fn crate_accepts_prefix(prefix: &[u8]) -> std::result::Result<(), HeaderProblem> {
    let header = read_header_bytes(prefix, prefix.len() as u64)?.1;
    let header = std::str::from_utf8(header).map_err(|e| HeaderProblem::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    serde_json::from_str::<Metadata>(header)
        .map(|_| ())
        .map_err(|e| HeaderProblem::Rejected {
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    fn problem(header: &str, data: usize) -> HeaderProblem {
        let bytes = file(header, data);
        parse(&bytes, bytes.len() as u64, 0).unwrap_err()
    }

    #[test]
    fn valid_file_keeps_header_order_and_counts() {
        let h = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"a":{"dtype":"BF16","shape":[],"data_offsets":[24,26]}}"#;
        let bytes = file(h, 26);
        let (info, tensors) = parse(&bytes, bytes.len() as u64, 0).unwrap();
        assert_eq!(info.data_bytes, 26);
        assert_eq!(info.metadata.get("format").map(String::as_str), Some("pt"));
        assert_eq!(tensors[0].name, "b");
        assert_eq!(tensors[0].elements, 6);
        assert_eq!(tensors[1].elements, 1, "a scalar holds one element");
        assert_eq!(tensors[1].bytes, 2);
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert_eq!(
            problem(h, 8),
            HeaderProblem::DuplicateKey { key: "a".into() }
        );
    }

    #[test]
    fn gap_and_overlap_are_told_apart() {
        let gap = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
        assert!(matches!(
            problem(gap, 12),
            HeaderProblem::Gap {
                start: 4,
                end: 8,
                ..
            }
        ));
        let overlap = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
        assert!(matches!(problem(overlap, 8), HeaderProblem::Overlap { .. }));
    }

    #[test]
    fn shape_overflow_is_caught_before_any_arithmetic_wraps() {
        let h = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
        assert!(matches!(problem(h, 4), HeaderProblem::ShapeOverflow { .. }));
    }

    #[test]
    fn truncated_and_trailing_data_are_told_apart() {
        let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        assert!(matches!(
            problem(h, 4),
            HeaderProblem::Truncated {
                expected: 8,
                actual: 4,
                ..
            }
        ));
        assert!(matches!(
            problem(h, 9),
            HeaderProblem::TrailingBytes { extra: 1, .. }
        ));
    }

    #[test]
    fn huge_rank_is_refused_while_reading() {
        let dims = vec!["1"; MAX_RANK + 1].join(",");
        let h = format!(r#"{{"a":{{"dtype":"F32","shape":[{dims}],"data_offsets":[0,4]}}}}"#);
        assert!(matches!(problem(&h, 4), HeaderProblem::NotJson { .. }));
    }

    /// The scanner reads what writers write, and whatever it reads, the serde parse reads
    /// the same; anything else it leaves to serde.
    #[test]
    fn the_scanner_agrees_with_serde() {
        let agree = |text: &str| match scan::scan(text) {
            Some(fast) => {
                assert_eq!(Ok(&fast), parse_header_serde(text).as_ref(), "{text}");
                true
            }
            None => false,
        };
        for text in [
            r#"{}"#,
            r#" { } "#,
            r#"{"__metadata__":{"format":"pt","b":"x","b":"y"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#,
            "{\n  \"a\" : { \"shape\" : [ 2 , 3 ] ,\"data_offsets\":[0,24], \"dtype\":\"F32\" } }   ",
            r#"{"":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},"é.x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#,
        ] {
            assert!(agree(text), "scanned: {text}");
        }
        for text in [
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
            r#"{"__metadata__":{},"__metadata__":{}}"#,
            r#"{"a\u0062":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}"#,
            r#"{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x"#,
            r#"{"__metadata__":{"format":1}}"#,
            r#"["a"]"#,
        ] {
            assert!(!agree(text), "left to serde: {text}");
        }
        let dims = vec!["1"; MAX_RANK].join(",");
        assert!(agree(&format!(
            r#"{{"a":{{"dtype":"F32","shape":[{dims}],"data_offsets":[0,4]}}}}"#
        )));
        assert!(!agree(&format!(
            r#"{{"a":{{"dtype":"F32","shape":[{dims},1],"data_offsets":[0,4]}}}}"#
        )));
        // Mutated real headers: wherever the scanner reads one, serde reads the same.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/tiny/bert-model/model.safetensors"
        );
        let original = std::fs::read(path).unwrap();
        let end = 8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
        let header = &original[8..end];
        assert!(agree(std::str::from_utf8(header).unwrap()));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut scanned = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bytes = header.to_vec();
            let i = (x as usize >> 8) % bytes.len();
            bytes[i] = b"{}[],:\"0123456789eE-. \\\nab"[(x % 26) as usize];
            if let Ok(text) = std::str::from_utf8(&bytes) {
                scanned += usize::from(agree(text));
            }
        }
        assert!(scanned > 1_000, "{scanned} mutated headers scanned");
    }

    /// Mutated real headers (flipped bits, cut lengths, spliced bytes) never panic: every
    /// outcome is a value or a typed problem. Deterministic xorshift, 20,000 cases.
    #[test]
    fn mutated_headers_never_panic() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/tiny/bert-model/model.safetensors"
        );
        let original = std::fs::read(path).unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let header_end = 8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
        let (mut ok, mut rejected) = (0, 0);
        for _ in 0..20_000 {
            let mut bytes = original.clone();
            match next() % 4 {
                0 => {
                    let i = (next() as usize) % header_end;
                    bytes[i] ^= 1 << (next() % 8);
                }
                1 => bytes.truncate((next() as usize) % bytes.len()),
                2 => {
                    let i = 8 + (next() as usize) % (header_end - 8);
                    let b = b"{}[],:\"0123456789eE-. \\"[(next() as usize) % 23];
                    bytes[i] = b;
                }
                _ => {
                    let i = (next() as usize) % 8;
                    bytes[i] = next() as u8;
                }
            }
            let len = bytes.len() as u64;
            match parse(&bytes, len, 0) {
                Ok(_) => ok += 1,
                Err(_) => rejected += 1,
            }
        }
        assert!(
            rejected > 10_000,
            "most mutations must be caught ({ok} accepted)"
        );
    }
}
