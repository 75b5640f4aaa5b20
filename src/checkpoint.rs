//! A checkpoint: every file's header read and validated by its format's reader
//! ([`crate::format`]), and the shards of a sharded checkpoint merged into one list of
//! tensors. Whatever the container, the stages downstream see the same [`Tensor`] list.

use std::collections::BTreeMap;

use crate::fastmap::{Map, Set};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::source::{Layout, RemoteFile, RemoteHeaders};

mod scan;

pub use crate::format::open_file;
pub use crate::format::safetensors::{
    crate_accepts_prefix, parse, parse_dtype, MAX_HEADER_BYTES, MAX_RANK, SAVED_FILE_BYTES,
    SAVED_HEADER_BYTES,
};

/// Largest shard index read (`model.safetensors.index.json`).
pub const MAX_INDEX_BYTES: u64 = 100_000_000;

/// One tensor as the checkpoint holds it, in the logical view every stage below uses:
/// its name as transformers names it, its logical shape and element count. Where the
/// container stores it otherwise (a GGUF name, one expert of a stacked tensor, packed
/// quantized blocks), `stored_as` and `stored_elements` say how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Full name, prefix included (`bert.encoder.layer.0...`): the stored name, or the
    /// transformers name a reader translated it to.
    pub name: String,
    /// What the file stores under another name or form, for display (`blk.0.attn_q.weight`,
    /// `blk.0.ffn_gate_exps.weight [expert 3 of 8]`, `...q_proj.qweight`); `None` when the
    /// name and shape are the stored ones.
    pub stored_as: Option<String>,
    /// Elements physically stored for it (packed quantized weights hold several logical
    /// elements per stored element); equal to `elements` otherwise.
    pub stored_elements: u64,
    /// Quantization overhead (scales, zero points, group indices, quant states): stored,
    /// never parameters.
    pub overhead: bool,
    /// Element type.
    pub dtype: crate::dtype::DType,
    /// Shape; `[]` is a scalar with one element.
    pub shape: Vec<u64>,
    /// Number of logical elements (product of the shape).
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
    /// The container format (`safetensors`, `gguf`, `pytorch`).
    pub format: &'static str,
    /// Size of the file on disk.
    pub file_bytes: u64,
    /// Length of the header: the JSON header of a safetensors file (its 8-byte length
    /// prefix not included), everything before the data section of other formats.
    pub header_bytes: u64,
    /// Where the data section starts in the file; tensors' `data_offsets` count from it.
    pub data_start: u64,
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
    /// A transformers-style config the reader derived from the file's own metadata
    /// (GGUF's `{arch}.*` keys), used when no config.json is given.
    pub config: Option<serde_json::Value>,
    /// What the reader noticed without stopping (a GGUF type id it does not know, a
    /// repeated metadata key): reported as notes, prefixed with the file's name.
    pub notes: Vec<String>,
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
                    warnings: file_notes(std::slice::from_ref(&info)),
                    files: vec![info],
                    tensors,
                    index: None,
                })
            }
            Layout::Sharded(index) => open_sharded(index),
            Layout::Files(paths) => open_files(paths),
            Layout::Remote(remote) => open_remote(remote),
        }
    }
}

/// The readers' notes of every file, each prefixed with its file's name.
fn file_notes(files: &[FileInfo]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| {
            let name = crate::source::file_name(&f.path);
            f.notes.iter().map(move |n| format!("{name}: {n}"))
        })
        .collect()
}

/// The shards' files, and their tensors in natural name order: the order is worked out on
/// the names where they lie, then each tensor is moved once, into its place.
fn concat_in_natural_order(parts: Vec<(FileInfo, Vec<Tensor>)>) -> (Vec<FileInfo>, Vec<Tensor>) {
    let (files, mut shards): (Vec<FileInfo>, Vec<Vec<Tensor>>) = parts.into_iter().unzip();
    let at: Vec<(usize, usize)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, ts)| (0..ts.len()).map(move |i| (s, i)))
        .collect();
    let order = {
        let names: Vec<&str> = at
            .iter()
            .map(|&(s, i)| shards[s][i].name.as_str())
            .collect();
        crate::count::natural_order(&names)
    };
    let mut tensors = Vec::with_capacity(at.len());
    // What a moved tensor leaves behind (allocates nothing; dropped with the shards).
    let moved = || Tensor {
        name: String::new(),
        stored_as: None,
        stored_elements: 0,
        overhead: false,
        dtype: crate::dtype::DType::St(safetensors::Dtype::U8),
        shape: Vec::new(),
        elements: 0,
        bytes: 0,
        file: 0,
        data_offsets: (0, 0),
    };
    let mut take =
        |(s, i): (usize, usize)| tensors.push(std::mem::replace(&mut shards[s][i], moved()));
    match order {
        Some(order) => order.into_iter().for_each(|k| take(at[k])),
        None => at.into_iter().for_each(take),
    }
    (files, tensors)
}

/// Tensors in natural name order (`layer.2` before `layer.10`).
pub fn sort_tensors(tensors: &mut [Tensor]) {
    crate::count::sort_natural(tensors, |t| &t.name);
}

/// What is read of `model.safetensors.index.json` (as transformers writes it).
#[derive(Debug, PartialEq, Eq)]
struct IndexRead {
    /// `metadata.total_size`, when an integer.
    total_size: Option<u64>,
    /// `metadata.total_parameters`, when an integer.
    total_parameters: Option<u64>,
    weight_map: WeightMap,
}

impl IndexRead {
    /// Scanned when it has the usual shape, else parsed by serde (which names any
    /// problem).
    fn parse(text: &str) -> serde_json::Result<IndexRead> {
        match scan::scan(text) {
            Some(raw) => Ok(raw),
            None => Self::parse_serde(text),
        }
    }

    fn parse_serde(text: &str) -> serde_json::Result<IndexRead> {
        let raw: RawIndex = serde_json::from_str(text)?;
        let number = |key: &str| raw.metadata.get(key).and_then(serde_json::Value::as_u64);
        Ok(IndexRead {
            total_size: number("total_size"),
            total_parameters: number("total_parameters"),
            weight_map: raw.weight_map,
        })
    }
}

/// The index as serde reads it (its name is in serde's messages).
#[derive(Deserialize)]
struct RawIndex {
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
    weight_map: WeightMap,
}

/// `weight_map`: tensor names in file order, end to end in one string, each with its
/// shard's position in `shards` (file names interned in order of first appearance).
#[derive(Debug, PartialEq, Eq)]
struct WeightMap {
    names: String,
    /// Each name's end in `names`, and its shard.
    entries: Vec<(usize, usize)>,
    shards: Vec<String>,
    interned: Map<String, usize>,
    /// Every name so far is greater than the one before (transformers sorts the keys).
    increasing: bool,
}

impl Default for WeightMap {
    fn default() -> WeightMap {
        WeightMap::with_capacity(0)
    }
}

impl<'de> Deserialize<'de> for WeightMap {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = WeightMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping tensor names to shard file names")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<WeightMap, A::Error> {
                let mut out = WeightMap::default();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v = map.next_value::<std::borrow::Cow<'de, str>>()?;
                    out.push(&k, &v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

impl WeightMap {
    /// Room for `bytes` of names.
    fn with_capacity(bytes: usize) -> WeightMap {
        WeightMap {
            names: String::with_capacity(bytes),
            // An entry (`"n":"s",`) takes at least 8 bytes of the text: room for all,
            // no regrowth (pages never written cost nothing).
            entries: Vec::with_capacity(bytes / 8),
            shards: Vec::new(),
            interned: Map::default(),
            increasing: true,
        }
    }

    fn push(&mut self, name: &str, shard: &str) {
        let previous = match self.entries.len() {
            0 => None,
            n => Some(n.checked_sub(2).map_or(0, |p| self.entries[p].0)),
        };
        self.increasing &= previous.is_none_or(|start| &self.names[start..] < name);
        self.names.push_str(name);
        let i = match self.entries.last() {
            // Consecutive tensors are mostly in one shard.
            Some(&(_, last)) if self.shards[last] == shard => last,
            _ => match self.interned.get(shard) {
                Some(&i) => i,
                None => {
                    self.interned.insert(shard.to_string(), self.shards.len());
                    self.shards.push(shard.to_string());
                    self.shards.len() - 1
                }
            },
        };
        self.entries.push((self.names.len(), i));
    }

    /// The first tensor name listed twice (a JSON map would silently keep one).
    fn duplicate(&self) -> Option<&str> {
        // Names in strictly increasing order (as transformers writes them) repeat none.
        if self.increasing {
            return None;
        }
        let mut seen: Set<&str> =
            Set::with_capacity_and_hasher(self.entries.len(), Default::default());
        entry_names(&self.names, &self.entries).find(|k| !seen.insert(k))
    }

    /// Shard names sorted, the entries pointing into the sorted list.
    fn sorted(mut self) -> (String, Vec<(usize, usize)>, Vec<String>) {
        let mut order: Vec<usize> = (0..self.shards.len()).collect();
        order.sort_unstable_by(|&a, &b| self.shards[a].cmp(&self.shards[b]));
        let mut rank = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new;
        }
        for e in &mut self.entries {
            e.1 = rank[e.1];
        }
        let shards = order
            .iter()
            .map(|&i| std::mem::take(&mut self.shards[i]))
            .collect();
        (self.names, self.entries, shards)
    }
}

/// The names of `entries` (each one's end in `names`), in order.
fn entry_names<'a>(
    names: &'a str,
    entries: &'a [(usize, usize)],
) -> impl Iterator<Item = &'a str> + Clone + 'a {
    let starts = std::iter::once(0).chain(entries.iter().map(|e| e.0));
    starts
        .zip(entries)
        .map(|(start, &(end, _))| &names[start..end])
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
    /// `weight_map`'s tensor names in file order, end to end (see [`ShardIndex::entries`]).
    names: String,
    /// Each name's end in `names`, and its shard's position in `shards`.
    entries: Vec<(usize, usize)>,
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
        let raw =
            IndexRead::parse(text).map_err(|e| bad(format!("not a valid shard index: {e}")))?;
        if let Some(key) = raw.weight_map.duplicate() {
            return Err(bad(format!("tensor `{key}` appears twice in weight_map")));
        }
        if raw.weight_map.entries.is_empty() {
            return Err(bad("weight_map is empty".to_string()));
        }
        let (names, entries, shards) = raw.weight_map.sorted();
        if let Some(shard) = shards.iter().find(|s| !is_plain_file_name(s)) {
            return Err(bad(format!(
                "shard `{shard}` is not a plain file name in the checkpoint directory"
            )));
        }
        Ok(ShardIndex {
            path: path.to_path_buf(),
            info: IndexInfo {
                path: path.to_path_buf(),
                total_size: raw.total_size,
                total_parameters: raw.total_parameters,
            },
            names,
            entries,
            shards,
        })
    }

    /// `weight_map` in file order: each tensor name with its shard's position in
    /// `shards`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        entry_names(&self.names, &self.entries).zip(self.entries.iter().map(|e| e.1))
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
        // Mapped, not copied; text that is not UTF-8 (or a file that cannot be mapped) is
        // read the usual way, which names the problem.
        if let Ok(map) = crate::format::map_file(path) {
            let _ = map.advise(memmap2::Advice::Sequential);
            if let Ok(text) = std::str::from_utf8(&map) {
                return Self::parse(path, text);
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Open every shard with `open(name, file_index)` (in parallel) and merge them,
    /// checking that every tensor of the index is found exactly once, in the shard the
    /// index names. Errors are reported for the first failing shard in index order.
    pub fn merge(
        self,
        open: impl Fn(&str, usize) -> Result<(FileInfo, Vec<Tensor>)> + Sync,
    ) -> Result<Checkpoint> {
        use rayon::prelude::*;
        let bad = |message: String| Error::Index {
            path: self.path.clone(),
            message,
        };
        let parts: Vec<(FileInfo, Vec<Tensor>)> = self
            .shards
            .par_iter()
            .enumerate()
            .map(|(i, shard)| open(shard, i))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Result<_>>()?;
        if !self.stored_in_index_order(&parts) {
            self.check_holders(&parts).map_err(bad)?;
        }
        let (files, tensors) = concat_in_natural_order(parts);
        let mut warnings = file_notes(&files);
        let data = crate::count::sum(files.iter().map(|f| f.data_bytes));
        if let (Some(declared), Some(data)) = (self.info.total_size, data) {
            if declared != data {
                warnings.push(format!(
                    "{}: metadata.total_size says {declared} bytes but the shards hold {data} bytes of tensor data",
                    self.path.display()
                ));
            }
        }
        Ok(Checkpoint {
            header_only: files.iter().any(|f| f.header_only),
            files,
            tensors,
            index: Some(self.info),
            warnings,
        })
    }

    /// True when every shard holds the tensors the index maps to it, in the index's order
    /// (transformers sorts the index's keys, safetensors writers a header's): then every
    /// tensor is stored once, in the shard the index names, and listed by it (the index's
    /// names are unique). Compared in order, no map built.
    fn stored_in_index_order(&self, parts: &[(FileInfo, Vec<Tensor>)]) -> bool {
        let mut next = vec![0usize; parts.len()];
        let in_order = self.entries().all(|(name, shard)| {
            let (Some(at), Some((_, tensors))) = (next.get_mut(shard), parts.get(shard)) else {
                return false;
            };
            let here = tensors.get(*at).is_some_and(|t| t.name == name);
            *at += 1;
            here
        });
        in_order && next.iter().zip(parts).all(|(n, p)| *n == p.1.len())
    }

    /// Every tensor stored once, in the shard the index names, and listed by it.
    fn check_holders(&self, parts: &[(FileInfo, Vec<Tensor>)]) -> std::result::Result<(), String> {
        let count = parts.iter().map(|p| p.1.len()).sum();
        let mut holder: Map<&str, usize> = Map::with_capacity_and_hasher(count, Default::default());
        for (i, (_, shard_tensors)) in parts.iter().enumerate() {
            for t in shard_tensors {
                if let Some(other) = holder.insert(&t.name, i) {
                    return Err(format!(
                        "tensor `{}` is stored in both `{}` and `{}`",
                        t.name, self.shards[other], self.shards[i]
                    ));
                }
            }
        }
        for (name, mapped) in self.entries() {
            let shard = &self.shards[mapped];
            match holder.remove(name) {
                Some(i) if i == mapped => {}
                Some(i) => {
                    return Err(format!(
                        "tensor `{name}` is mapped to `{shard}` but stored in `{}`",
                        self.shards[i]
                    ))
                }
                None => {
                    return Err(format!(
                        "tensor `{name}` is mapped to `{shard}` but that shard does not hold it"
                    ))
                }
            }
        }
        // What is left is stored but not listed: name the first in shard order.
        let unlisted = parts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.1.iter().map(move |t| (i, t)))
            .find(|(_, t)| holder.contains_key(t.name.as_str()));
        match unlisted {
            Some((i, t)) => Err(format!(
                "shard `{}` holds tensor `{}` that the index does not list",
                self.shards[i], t.name
            )),
            None => Ok(()),
        }
    }
}

/// Validate a header read remotely. `file.size` is the whole file's declared size, so
/// the coverage check (header + data = file) still holds without the data. A prefix
/// starting with the GGUF magic is read by the GGUF reader.
fn open_prefix(file: &RemoteFile, i: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let path = PathBuf::from(&file.url);
    if file.prefix.starts_with(crate::format::gguf::MAGIC) {
        return open_gguf_prefix(file, i, path);
    }
    let (info, tensors) = parse(&file.prefix, file.size, i).map_err(|p| Error::header(&path, p))?;
    crate_accepts_prefix(&file.prefix).map_err(|p| Error::header(&path, p))?;
    Ok((FileInfo { path, ..info }, tensors))
}

fn open_gguf_prefix(file: &RemoteFile, i: usize, path: PathBuf) -> Result<(FileInfo, Vec<Tensor>)> {
    use crate::format::gguf::{self, Prefix};
    let bad = |message: String| Error::Format {
        path: path.clone(),
        format: gguf::FORMAT,
        message,
    };
    match gguf::parse_prefix(&file.prefix, file.size, i).map_err(bad)? {
        Prefix::Read(info, tensors) => Ok((
            FileInfo {
                path: path.clone(),
                ..*info
            },
            tensors,
        )),
        Prefix::NeedAtLeast(n) => Err(bad(format!(
            "the header continues past the {} bytes read: at least {n} are needed",
            file.prefix.len()
        ))),
    }
}

fn open_remote(remote: &RemoteHeaders) -> Result<Checkpoint> {
    let mut checkpoint = match &remote.index {
        // The parts of a split GGUF: read together, as local parts are.
        None if remote.files.len() > 1 => {
            let parts: Vec<(PathBuf, &[u8], u64)> = remote
                .files
                .iter()
                .map(|f| (PathBuf::from(&f.url), f.prefix.as_slice(), f.size))
                .collect();
            let opened = crate::format::gguf::open_split_prefixes(&parts)?;
            let mut files = Vec::with_capacity(opened.len());
            let mut tensors = Vec::new();
            for (info, part) in opened {
                files.push(info);
                tensors.extend(part);
            }
            sort_tensors(&mut tensors);
            Checkpoint {
                warnings: file_notes(&files),
                files,
                tensors,
                index: None,
                header_only: true,
            }
        }
        None => {
            let file = remote.files.first().ok_or_else(|| Error::Index {
                path: PathBuf::from("(remote)"),
                message: "no file to read".to_string(),
            })?;
            let (info, mut tensors) = open_prefix(file, 0)?;
            sort_tensors(&mut tensors);
            Checkpoint {
                warnings: file_notes(std::slice::from_ref(&info)),
                files: vec![info],
                tensors,
                index: None,
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

/// Files that make one checkpoint without an index (GGUF splits, whose split keys the
/// GGUF reader checks across parts): every tensor in exactly one of them.
fn open_files(paths: &[PathBuf]) -> Result<Checkpoint> {
    let mut files = Vec::with_capacity(paths.len());
    let mut tensors = Vec::new();
    let mut holder: Map<String, usize> = Map::default();
    let opened = crate::format::open_parts(paths)?;
    for (i, (path, (info, file_tensors))) in paths.iter().zip(opened).enumerate() {
        for t in &file_tensors {
            if let Some(&other) = holder.get(&t.name) {
                return Err(Error::Index {
                    path: path.clone(),
                    message: format!(
                        "tensor `{}` is also stored in {}",
                        t.name,
                        paths[other].display()
                    ),
                });
            }
            holder.insert(t.name.clone(), i);
        }
        files.push(info);
        tensors.extend(file_tensors);
    }
    sort_tensors(&mut tensors);
    Ok(Checkpoint {
        header_only: files.iter().any(|f| f.header_only),
        warnings: file_notes(&files),
        files,
        tensors,
        index: None,
    })
}

impl Checkpoint {
    /// The config the first file derived from its own metadata, if any (GGUF).
    pub fn embedded_config(&self) -> Option<(&Path, &serde_json::Value)> {
        self.files
            .iter()
            .find_map(|f| f.config.as_ref().map(|c| (f.path.as_path(), c)))
    }
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

    /// The scanner reads indexes as transformers writes them, and whatever it reads,
    /// serde reads the same; anything else it leaves to serde.
    #[test]
    fn the_index_scanner_agrees_with_serde() {
        let agree = |text: &str| match scan::scan(text) {
            Some(fast) => {
                let slow = IndexRead::parse_serde(text).map_err(|e| e.to_string());
                assert_eq!(Ok(&fast), slow.as_ref(), "{text}");
                true
            }
            None => false,
        };
        let written = "{\n  \"metadata\": {\n    \"total_parameters\": 12,\n    \"total_size\": 48\n  },\n  \"weight_map\": {\n    \"a.weight\": \"model-00001-of-00002.safetensors\",\n    \"b.weight\": \"model-00002-of-00002.safetensors\",\n    \"c.bias\": \"model-00001-of-00002.safetensors\"\n  }\n}\n";
        for text in [
            written,
            r#"{"weight_map":{}}"#,
            r#"{"weight_map":{"a":"x","a":"y"},"metadata":{"total_size":"9","format":"pt","total_size":7}}"#,
            r#"{"metadata":{},"weight_map":{"é":"x.safetensors"}}"#,
        ] {
            assert!(agree(text), "scanned: {text}");
        }
        for text in [
            r#"{"metadata":{"total_size":1.5e3},"weight_map":{}}"#,
            r#"{"metadata":{"total_size":-1},"weight_map":{}}"#,
            r#"{"metadata":{"total_size":018},"weight_map":{}}"#,
            r#"{"metadata":{"total_size":18446744073709551616},"weight_map":{}}"#,
            r#"{"metadata":{"nested":{}},"weight_map":{}}"#,
            r#"{"metadata":null,"weight_map":{}}"#,
            r#"{"weight_map":{"a\u0062":"x"}}"#,
            r#"{"weight_map":{"a":1}}"#,
            r#"{"weight_map":{},"weight_map":{}}"#,
            r#"{"weight_map":{},"extra":[]}"#,
            r#"{"metadata":{}}"#,
            r#"{"weight_map":{"a":"x",}}"#,
            r#"{"weight_map":{}} {}"#,
        ] {
            assert!(!agree(text), "left to serde: {text}");
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut scanned = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut bytes = written.as_bytes().to_vec();
            let i = (x as usize >> 8) % bytes.len();
            bytes[i] = b"{}[],:\"0123456789eE-. \\\nab"[(x % 26) as usize];
            if let Ok(text) = std::str::from_utf8(&bytes) {
                scanned += usize::from(agree(text));
            }
        }
        assert!(scanned > 1_000, "{scanned} mutated indexes scanned");
    }

    #[test]
    fn index_entries_keep_file_order_and_find_the_first_duplicate() {
        let text = r#"{"weight_map":{"b":"2.st","a":"1.st","c":"2.st","a":"2.st"}}"#;
        let err = ShardIndex::parse(Path::new("i.json"), text).unwrap_err();
        assert!(
            err.to_string().contains("tensor `a` appears twice"),
            "{err}"
        );
        let text = r#"{"weight_map":{"b":"2.st","a":"1.st","c":"2.st"}}"#;
        let index = ShardIndex::parse(Path::new("i.json"), text).unwrap();
        assert_eq!(index.shards, ["1.st", "2.st"]);
        let entries: Vec<(&str, usize)> = index.entries().collect();
        assert_eq!(entries, [("b", 1), ("a", 0), ("c", 1)]);
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
