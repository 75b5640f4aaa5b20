//! Open safetensors files, validate their headers without touching the weights, and merge
//! the shards of a sharded checkpoint into one list of tensors.
//!
//! The header is parsed twice on purpose: once by our own reader, which keeps the file's
//! key order, detects duplicate keys (a JSON map silently keeps the last one) and names the
//! offending tensor in every message; then by the `safetensors` crate itself
//! ([`SafeTensors::read_metadata`]), so that a file we accept is one the reference reader
//! accepts too. Only the first page(s) of the memory map are touched: the data pages are
//! never read, so inspecting a 400 GB model costs what its header costs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::error::{Error, HeaderProblem, Result};
use crate::source::{Layout, RemoteFile, RemoteHeaders};

/// Largest header accepted, the same limit the safetensors crate applies.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Largest shard index read (`model.safetensors.index.json`).
pub const MAX_INDEX_BYTES: u64 = 100_000_000;
/// Largest rank accepted for a tensor shape; bounds the allocation a header can drive.
pub const MAX_RANK: usize = 64;

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Full name as stored, prefix included (`bert.encoder.layer.0...`).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape; `[]` is a scalar with one element.
    pub shape: Vec<u64>,
    /// Number of elements (product of the shape).
    pub elements: u64,
    /// Bytes in the data section.
    pub bytes: u64,
    /// Index into [`Checkpoint::files`] of the file holding it.
    pub file: usize,
    /// Start and end of its bytes, relative to the file's data section.
    pub data_offsets: (u64, u64),
}

/// A file's read-only memory map, shared: mapped once when the checkpoint is opened and
/// read again only through this map (verify), so the bounds validated on the header
/// hold for every later read.
#[derive(Clone)]
pub struct Mapped(pub Arc<Mmap>);

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mapped({} bytes)", self.0.len())
    }
}

impl PartialEq for Mapped {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Mapped {}

/// One safetensors file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Path of the file.
    pub path: PathBuf,
    /// Size of the file on disk.
    pub file_bytes: u64,
    /// Length of the JSON header (the 8-byte length prefix not included).
    pub header_bytes: u64,
    /// Size of the data section the header describes.
    pub data_bytes: u64,
    /// Number of tensors in this file.
    pub tensors: usize,
    /// The header's `__metadata__` map (paramaudit's saved-header keys removed).
    pub metadata: BTreeMap<String, String>,
    /// True for a saved header (see [`SAVED_FILE_BYTES`]): the data section is absent and
    /// `file_bytes` / `header_bytes` are the original file's.
    pub header_only: bool,
    /// The file's memory map (`None` for headers read remotely).
    pub mapped: Option<Mapped>,
}

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

/// What the index of a sharded checkpoint declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    /// Path of `model.safetensors.index.json`.
    pub path: PathBuf,
    /// `metadata.total_size`, advisory: bytes of tensor data in all shards.
    pub total_size: Option<u64>,
    /// `metadata.total_parameters`, advisory, written by recent transformers versions.
    pub total_parameters: Option<u64>,
}

/// A whole checkpoint: every file's header, validated, and all tensors merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The files read, in the order shards are named.
    pub files: Vec<FileInfo>,
    /// Every tensor, sorted by name.
    pub tensors: Vec<Tensor>,
    /// The shard index, for sharded checkpoints.
    pub index: Option<IndexInfo>,
    /// Things worth telling that do not stop the report (advisory index figures that
    /// disagree with the shards, for example).
    pub warnings: Vec<String>,
    /// True when only the headers were read (remote ranged reads or saved headers): the
    /// data section was never seen.
    pub header_only: bool,
}

impl Checkpoint {
    /// Open every file of `layout` and validate it.
    pub fn open(layout: &Layout) -> Result<Checkpoint> {
        match layout {
            Layout::Single(path) => {
                let (info, tensors) = open_file(path, 0)?;
                let mut tensors = tensors;
                sort_tensors(&mut tensors);
                Ok(Checkpoint {
                    header_only: info.header_only,
                    files: vec![info],
                    tensors,
                    index: None,
                    warnings: Vec::new(),
                })
            }
            Layout::Sharded(index) => open_sharded(index),
            Layout::Remote(remote) => open_remote(remote),
        }
    }
}

/// Tensors in natural name order (`layer.2` before `layer.10`).
pub fn sort_tensors(tensors: &mut [Tensor]) {
    tensors.sort_by(|a, b| crate::count::natural_cmp(&a.name, &b.name));
}

/// Read and validate one safetensors file. `file` is the index recorded in each tensor.
/// The file is mapped once; its length is the mapping's, so every later read through
/// [`FileInfo::mapped`] stays inside what was validated.
pub fn open_file(path: &Path, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let handle = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only. Another process truncating the file while it is
    // mapped makes a later access fault (SIGBUS): the one hazard of any mmap-based
    // reader, the safetensors crate's included (see the README).
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&handle) }.map_err(|e| Error::io(path, e))?;
    let file_len = crate::count::len(map.len());
    let kind = crate::format::sniff(map.get(..crate::format::SNIFF_BYTES).unwrap_or(&map));
    if kind != crate::format::Kind::Safetensors {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            what: kind.describe().to_string(),
        });
    }
    if file_len < 8 {
        return Err(Error::header(
            path,
            HeaderProblem::TooShort { len: file_len },
        ));
    }
    let (info, tensors) = parse(&map, file_len, file).map_err(|p| Error::header(path, p))?;
    // The reference parser must agree. It reads the same header bytes, never the data.
    if info.header_only {
        crate_accepts_prefix(&map).map_err(|p| Error::header(path, p))?;
    } else {
        SafeTensors::read_metadata(&map).map_err(|e| {
            Error::header(
                path,
                HeaderProblem::Rejected {
                    message: e.to_string(),
                },
            )
        })?;
    }
    Ok((
        FileInfo {
            path: path.to_path_buf(),
            mapped: Some(Mapped(Arc::new(map))),
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
        file_bytes,
        header_bytes: original_header,
        data_bytes,
        tensors: tensors.len(),
        metadata: raw.metadata,
        header_only: saved.is_some(),
        mapped: None,
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

/// The header in file order, with duplicate keys recorded rather than silently dropped.
struct RawHeader {
    metadata: BTreeMap<String, String>,
    entries: Vec<(String, RawInfo)>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = RawHeader;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to {dtype, shape, data_offsets}")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawHeader, A::Error> {
                let mut seen = HashSet::new();
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
                        header.entries.push((key, info));
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

fn parse_header_json(text: &str) -> std::result::Result<RawHeader, HeaderProblem> {
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
    entries: Vec<(String, RawInfo)>,
    file: usize,
) -> std::result::Result<(Vec<Tensor>, u64), HeaderProblem> {
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, raw) in entries {
        let Some(dtype) = parse_dtype(&raw.dtype) else {
            return Err(HeaderProblem::UnknownDtype {
                tensor: name,
                dtype: raw.dtype,
            });
        };
        let shape = raw.shape.0;
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
            name,
            dtype,
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

/// `model.safetensors.index.json` as written by transformers.
#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
    weight_map: UniqueMap,
}

/// A JSON object of strings that remembers its first duplicate key.
struct UniqueMap {
    entries: Vec<(String, String)>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to shard file names")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<UniqueMap, A::Error> {
                let mut seen = HashSet::new();
                let mut out = UniqueMap {
                    entries: Vec::new(),
                    duplicate: None,
                };
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if !seen.insert(k.clone()) {
                        out.duplicate.get_or_insert(k);
                        continue;
                    }
                    out.entries.push((k, v));
                }
                Ok(out)
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

/// True when `name` is a plain file name: no directory part, no `..`, not absolute.
fn is_plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) && !name.contains(['/', '\\'])
}

/// A parsed, checked shard index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIndex {
    /// Path (or URL) of the index, for messages.
    pub path: PathBuf,
    /// `weight_map` in file order.
    pub entries: Vec<(String, String)>,
    /// Shard file names, sorted, each once; every one a plain file name.
    pub shards: Vec<String>,
    /// What the index's metadata declares.
    pub info: IndexInfo,
}

impl ShardIndex {
    /// Parse and check index text: valid JSON, no duplicate tensor, at least one tensor,
    /// every shard a plain file name in the checkpoint directory.
    pub fn parse(path: &Path, text: &str) -> Result<ShardIndex> {
        let bad = |message: String| Error::Index {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawIndex =
            serde_json::from_str(text).map_err(|e| bad(format!("not a valid shard index: {e}")))?;
        if let Some(key) = raw.weight_map.duplicate {
            return Err(bad(format!("tensor `{key}` appears twice in weight_map")));
        }
        if raw.weight_map.entries.is_empty() {
            return Err(bad("weight_map is empty".to_string()));
        }
        let mut shards: Vec<String> = raw
            .weight_map
            .entries
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        shards.sort_unstable();
        shards.dedup();
        if let Some(shard) = shards.iter().find(|s| !is_plain_file_name(s)) {
            return Err(bad(format!(
                "shard `{shard}` is not a plain file name in the checkpoint directory"
            )));
        }
        let number = |key: &str| raw.metadata.get(key).and_then(serde_json::Value::as_u64);
        Ok(ShardIndex {
            path: path.to_path_buf(),
            info: IndexInfo {
                path: path.to_path_buf(),
                total_size: number("total_size"),
                total_parameters: number("total_parameters"),
            },
            entries: raw.weight_map.entries,
            shards,
        })
    }

    /// Read and parse a local index file (size-capped).
    pub fn read(path: &Path) -> Result<ShardIndex> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len > MAX_INDEX_BYTES {
            return Err(Error::Index {
                path: path.to_path_buf(),
                message: format!("index is {len} bytes, over the {MAX_INDEX_BYTES}-byte limit"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Open every shard with `open(name, file_index)` and merge them, checking that every
    /// tensor of the index is found exactly once, in the shard the index names.
    pub fn merge(
        self,
        mut open: impl FnMut(&str, usize) -> Result<(FileInfo, Vec<Tensor>)>,
    ) -> Result<Checkpoint> {
        let bad = |message: String| Error::Index {
            path: self.path.clone(),
            message,
        };
        let mut files = Vec::with_capacity(self.shards.len());
        let mut tensors = Vec::new();
        let mut holder: HashMap<String, usize> = HashMap::new();
        for (i, shard) in self.shards.iter().enumerate() {
            let (info, shard_tensors) = open(shard, i)?;
            for t in &shard_tensors {
                if let Some(&other) = holder.get(&t.name) {
                    return Err(bad(format!(
                        "tensor `{}` is stored in both `{}` and `{shard}`",
                        t.name, self.shards[other]
                    )));
                }
                holder.insert(t.name.clone(), i);
            }
            files.push(info);
            tensors.extend(shard_tensors);
        }
        let listed: HashSet<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        for (name, shard) in &self.entries {
            match holder.get(name) {
                Some(&i) if &self.shards[i] == shard => {}
                Some(&i) => {
                    return Err(bad(format!(
                        "tensor `{name}` is mapped to `{shard}` but stored in `{}`",
                        self.shards[i]
                    )))
                }
                None => {
                    return Err(bad(format!(
                        "tensor `{name}` is mapped to `{shard}` but that shard does not hold it"
                    )))
                }
            }
        }
        if let Some(t) = tensors.iter().find(|t| !listed.contains(t.name.as_str())) {
            return Err(bad(format!(
                "shard `{}` holds tensor `{}` that the index does not list",
                self.shards[t.file], t.name
            )));
        }
        let mut warnings = Vec::new();
        let data = crate::count::sum(files.iter().map(|f| f.data_bytes));
        if let (Some(declared), Some(data)) = (self.info.total_size, data) {
            if declared != data {
                warnings.push(format!(
                    "{}: metadata.total_size says {declared} bytes but the shards hold {data} bytes of tensor data",
                    self.path.display()
                ));
            }
        }
        sort_tensors(&mut tensors);
        Ok(Checkpoint {
            header_only: files.iter().any(|f| f.header_only),
            files,
            tensors,
            index: Some(self.info),
            warnings,
        })
    }
}

/// Validate a header read remotely. `file.size` is the whole file's declared size, so
/// the coverage check (header + data = file) still holds without the data.
fn open_prefix(file: &RemoteFile, i: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let path = PathBuf::from(&file.url);
    let (info, tensors) = parse(&file.prefix, file.size, i).map_err(|p| Error::header(&path, p))?;
    crate_accepts_prefix(&file.prefix).map_err(|p| Error::header(&path, p))?;
    Ok((FileInfo { path, ..info }, tensors))
}

fn open_remote(remote: &RemoteHeaders) -> Result<Checkpoint> {
    let mut checkpoint = match &remote.index {
        None => {
            let file = remote.files.first().ok_or_else(|| Error::Index {
                path: PathBuf::from("(remote)"),
                message: "no file to read".to_string(),
            })?;
            let (info, mut tensors) = open_prefix(file, 0)?;
            sort_tensors(&mut tensors);
            Checkpoint {
                files: vec![info],
                tensors,
                index: None,
                warnings: Vec::new(),
                header_only: true,
            }
        }
        Some((path, text)) => ShardIndex::parse(path, text)?.merge(|shard, i| {
            let file = remote
                .files
                .iter()
                .find(|f| f.name == shard)
                .ok_or_else(|| Error::Index {
                    path: path.clone(),
                    message: format!("shard `{shard}` named in the index was not read"),
                })?;
            open_prefix(file, i)
        })?,
    };
    checkpoint.header_only = true;
    Ok(checkpoint)
}

fn open_sharded(index_path: &Path) -> Result<Checkpoint> {
    let index = ShardIndex::read(index_path)?;
    let dir = index_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let index_path = index_path.to_path_buf();
    index.merge(|shard, i| {
        let path = dir.join(shard);
        if !path.is_file() {
            return Err(Error::Index {
                path: index_path.clone(),
                message: format!(
                    "shard `{shard}` named in the index is missing ({})",
                    path.display()
                ),
            });
        }
        open_file(&path, i)
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

    #[test]
    fn shard_names_must_stay_in_the_directory() {
        assert!(is_plain_file_name("model-00001-of-00002.safetensors"));
        assert!(!is_plain_file_name("../x.safetensors"));
        assert!(!is_plain_file_name("/etc/passwd"));
        assert!(!is_plain_file_name("sub/x.safetensors"));
        assert!(!is_plain_file_name(".."));
    }
}
