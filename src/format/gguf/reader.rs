//! The GGUF header read from the file's first bytes: magic, version and byte order, the
//! two counts, the metadata key-value pairs and the tensor infos (llama.cpp
//! `ggml/src/gguf.cpp`, gguf-py `gguf_reader.py`). Every read is bounded: by the bytes
//! held (a prefix read remotely asks for more), by the file's length (past it the file is
//! truncated) and by [`MAX_HEADER_BYTES`].

use crate::dtype::GgmlType;

use super::value::{self, Value, ValueType};

/// Largest header read (everything before the data section). Real headers are a few
/// megabytes to a few tens (a 256,000-token vocabulary with its merges).
pub const MAX_HEADER_BYTES: u64 = 256 << 20;
/// Most dimensions a tensor has (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;
/// Longest key or tensor name read. llama.cpp refuses tensor names of 64 bytes or more
/// (`GGML_MAX_NAME`); this bound only keeps allocations small.
pub const MAX_NAME_BYTES: u64 = 64 * 1024;
/// The default alignment of the data section and of every tensor's offset.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A name or string from the file as messages show it: control characters escaped (a
/// message is one line), cut after 200 characters.
pub fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(200).flat_map(char::escape_debug).collect();
    if s.chars().nth(200).is_some() {
        out.push_str("...");
    }
    out
}

/// Why a read stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The bytes held end before the header does: at least this many are needed (only
    /// when reading a prefix of a longer file).
    Need(u64),
    /// The file is malformed.
    Bad(String),
}

/// Result of a read.
pub type Res<T> = Result<T, Problem>;

/// A bounded, byte-order-aware reader over the first bytes of a file.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: u64,
    file_len: u64,
    big_endian: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over `bytes`, the first bytes of a `file_len`-byte file.
    pub fn new(bytes: &'a [u8], file_len: u64) -> Cursor<'a> {
        Cursor {
            bytes,
            pos: 0,
            file_len,
            big_endian: false,
        }
    }

    /// Where the next read starts.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes of the file after the cursor.
    pub fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos)
    }

    /// The next `n` bytes: past the end of the file the file is truncated; past the
    /// header limit it is refused; past the bytes held, more are needed.
    pub fn take(&mut self, n: u64, what: &str) -> Res<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.file_len);
        let Some(end) = end else {
            return Err(Problem::Bad(format!(
                "truncated: {what} at byte {} needs {n} bytes but the file ends at byte {}",
                self.pos, self.file_len
            )));
        };
        if end > MAX_HEADER_BYTES {
            return Err(Problem::Bad(format!(
                "the header runs past {MAX_HEADER_BYTES} bytes ({what} at byte {}), beyond what paramaudit reads",
                self.pos
            )));
        }
        let held = crate::count::len(self.bytes.len());
        if end > held {
            return Err(Problem::Need(end));
        }
        // end <= held = bytes.len(), so both conversions are exact.
        let slice = &self.bytes[self.pos as usize..end as usize];
        self.pos = end;
        Ok(slice)
    }

    /// Skip `n` bytes.
    pub fn skip(&mut self, n: u64, what: &str) -> Res<()> {
        self.take(n, what).map(|_| ())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Res<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        if self.big_endian {
            out.reverse();
        }
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Res<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A u16 in the file's byte order.
    pub fn u16(&mut self, what: &str) -> Res<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    /// A u32 in the file's byte order.
    pub fn u32(&mut self, what: &str) -> Res<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A u64 in the file's byte order.
    pub fn u64(&mut self, what: &str) -> Res<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count (read at byte `at`) of items of at least `min_size` bytes each: refused
    /// when the rest of the file cannot hold that many (checked before anything is
    /// allocated for them).
    pub fn bound_count(&self, count: u64, min_size: u64, what: &str, at: u64) -> Res<()> {
        let fits = count
            .checked_mul(min_size.max(1))
            .is_some_and(|n| n <= self.remaining());
        if fits {
            Ok(())
        } else {
            Err(Problem::Bad(format!(
                "{what}: a count of {count} (at byte {at}) cannot fit in the {} bytes left in the file after byte {}",
                self.remaining(),
                self.pos
            )))
        }
    }

    /// A string's bytes: its u64 length, bounded by the bytes left, then the bytes.
    pub fn string(&mut self, what: &str) -> Res<&'a [u8]> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > self.remaining() {
            return Err(Problem::Bad(format!(
                "{what}: string length {len} at byte {at} exceeds the {} bytes left in the file",
                self.remaining()
            )));
        }
        self.take(len, what)
    }

    /// A key or tensor name: a string of at most [`MAX_NAME_BYTES`].
    fn name(&mut self, what: &str) -> Res<String> {
        let at = self.pos;
        let bytes = self.string(what)?;
        if crate::count::len(bytes.len()) > MAX_NAME_BYTES {
            return Err(Problem::Bad(format!(
                "{what} at byte {at} is {} bytes long, over the {MAX_NAME_BYTES}-byte limit",
                bytes.len()
            )));
        }
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Numbers, lengths, offsets and tensor data are big-endian.
    pub big_endian: bool,
    /// Tensor infos announced.
    pub tensor_count: u64,
    /// Key-value pairs announced.
    pub kv_count: u64,
}

/// One tensor info as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTensor {
    /// Its GGUF name.
    pub name: String,
    /// Dimensions in ggml order (`ne[0]` innermost, the reverse of PyTorch's).
    pub ne: Vec<u64>,
    /// The ggml type id.
    pub ggml: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
    /// Product of the dimensions.
    pub elements: u64,
    /// Bytes, from the ggml block table; `None` for a type id paramaudit does not know.
    pub bytes: Option<u64>,
}

impl StoredTensor {
    /// The shape in PyTorch order.
    pub fn shape(&self) -> Vec<u64> {
        self.ne.iter().rev().copied().collect()
    }
}

/// Everything before the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The fixed header.
    pub header: Header,
    /// Key-value pairs in file order (a repeated key keeps its first position and its
    /// last value).
    pub kv: Vec<(String, Value)>,
    /// `general.alignment`, or 32.
    pub alignment: u64,
    /// Tensor infos in file order.
    pub tensors: Vec<StoredTensor>,
    /// Where the tensor infos end.
    pub infos_end: u64,
    /// Where the data section starts: the end of the tensor infos rounded up to the
    /// alignment.
    pub data_start: u64,
    /// What was noticed without stopping (repeated keys).
    pub notes: Vec<String>,
}

impl Parsed {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kv.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Read the header of a GGUF file from its first bytes (all of them, or a prefix of a
/// `file_len`-byte file).
pub fn parse(bytes: &[u8], file_len: u64) -> Res<Parsed> {
    let mut c = Cursor::new(bytes, file_len);
    let header = read_header(&mut c)?;
    let mut notes = Vec::new();
    let kv = read_kv(&mut c, header.kv_count, &mut notes)?;
    let alignment = alignment(&kv)?;
    let tensors = read_tensor_infos(&mut c, header.tensor_count)?;
    let infos_end = c.pos();
    let data_start = align_up(infos_end, alignment).ok_or_else(|| {
        Problem::Bad(format!(
            "the data section start ({infos_end} rounded up to {alignment}) overflows"
        ))
    })?;
    Ok(Parsed {
        header,
        kv,
        alignment,
        tensors,
        infos_end,
        data_start,
        notes,
    })
}

/// `n` rounded up to a multiple of `align` (a power of two).
pub fn align_up(n: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    n.checked_add(mask).map(|v| v & !mask)
}

/// Magic, version (which also tells the byte order), tensor and key-value counts.
fn read_header(c: &mut Cursor<'_>) -> Res<Header> {
    let magic = c.take(4, "the magic")?;
    if magic != b"GGUF" {
        let shown = String::from_utf8_lossy(magic).into_owned();
        return Err(Problem::Bad(format!(
            "bad magic `{shown}` (a GGUF file starts with the bytes `GGUF`, whatever its byte order)"
        )));
    }
    let raw = c.u32("the version")?;
    // A big-endian file's version read little-endian is 0x03000000: its low 16 bits are 0
    // (gguf.cpp and gguf-py both decide the byte order this way).
    let big_endian = raw & 0xFFFF == 0 && raw != 0;
    let version = if big_endian { raw.swap_bytes() } else { raw };
    c.big_endian = big_endian;
    match version {
        2 | 3 => {}
        1 => {
            return Err(Problem::Bad(
                "GGUF version 1 is not supported (llama.cpp dropped it; convert the model again)"
                    .to_string(),
            ))
        }
        v => {
            return Err(Problem::Bad(format!(
                "unsupported GGUF version {v} (paramaudit reads versions 2 and 3)"
            )))
        }
    }
    let tensor_count = c.u64("the tensor count")?;
    let kv_count = c.u64("the key-value count")?;
    // The smallest key-value pair is 13 bytes, the smallest tensor info 24.
    c.bound_count(kv_count, 13, "the key-value count", 16)?;
    c.bound_count(tensor_count, 24, "the tensor count", 8)?;
    Ok(Header {
        version,
        big_endian,
        tensor_count,
        kv_count,
    })
}

/// The key-value pairs. A repeated key keeps its first position and takes the later
/// value, as gguf-py's writer does when a key is set twice (its dict never writes the
/// key twice; llama.cpp's and gguf-py's readers refuse a file that has it): said in a
/// note.
fn read_kv(c: &mut Cursor<'_>, count: u64, notes: &mut Vec<String>) -> Res<Vec<(String, Value)>> {
    let mut kv: Vec<(String, Value)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for i in 0..count {
        let at = c.pos();
        let key = c.name(&format!("key {i}"))?;
        let what = format!("value of `{}`", shown(&key));
        let id = c.u32(&what)?;
        let t = ValueType::from_id(id).ok_or_else(|| {
            Problem::Bad(format!(
                "key `{}` (at byte {at}) has unknown value type {id}",
                shown(&key)
            ))
        })?;
        let v = value::read(c, t, &what)?;
        match index.get(&key).and_then(|&i| kv.get_mut(i)) {
            Some(slot) => {
                notes.push(format!(
                    "metadata key `{}` appears twice; the later value ({}) is used in the first one's place, as gguf-py's writer keeps a key set twice (llama.cpp's and gguf-py's readers refuse such a file)",
                    shown(&key),
                    shown(&v.to_string())
                ));
                slot.1 = v;
            }
            None => {
                index.insert(key.clone(), kv.len());
                kv.push((key, v));
            }
        }
    }
    Ok(kv)
}

/// `general.alignment`: a UINT32 power of two (gguf.cpp, gguf-py), else the default 32.
fn alignment(kv: &[(String, Value)]) -> Res<u64> {
    let Some((_, v)) = kv.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v {
        Value::Unsigned(a, ValueType::U32) if a.is_power_of_two() => Ok(*a),
        Value::Unsigned(a, ValueType::U32) => Err(Problem::Bad(format!(
            "general.alignment is {a}, not a power of two"
        ))),
        other => Err(Problem::Bad(format!(
            "general.alignment must be a UINT32, found a {} ({other})",
            other.value_type().name()
        ))),
    }
}

fn read_tensor_infos(c: &mut Cursor<'_>, count: u64) -> Res<Vec<StoredTensor>> {
    c.bound_count(count, 24, "the tensor count", 8)?;
    let mut tensors: Vec<StoredTensor> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..count {
        let t = read_tensor_info(c, i)?;
        if !seen.insert(t.name.clone()) {
            return Err(Problem::Bad(format!(
                "tensor `{}` appears twice in the tensor infos",
                shown(&t.name)
            )));
        }
        tensors.push(t);
    }
    Ok(tensors)
}

/// One tensor info: name, dimension count (at most 4), dimensions (ggml order), type,
/// offset. Its bytes come from the ggml block table, rows in whole blocks as ggml
/// requires; an unknown type id leaves them unknown (noted).
fn read_tensor_info(c: &mut Cursor<'_>, i: u64) -> Res<StoredTensor> {
    let name = c.name(&format!("tensor info {i}"))?;
    let what = format!("tensor `{}`", shown(&name));
    let n_dims = c.u32(&what)?;
    if n_dims > MAX_DIMS {
        return Err(Problem::Bad(format!(
            "{what} has {n_dims} dimensions (ggml allows at most {MAX_DIMS})"
        )));
    }
    let mut ne = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let d = c.u64(&what)?;
        if d > i64::MAX as u64 {
            return Err(Problem::Bad(format!(
                "{what} has a dimension of {d} (ggml dimensions are signed 64-bit)"
            )));
        }
        ne.push(d);
    }
    let elements = ne
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| {
            Problem::Bad(format!(
                "{what} has dimensions {ne:?} whose product overflows"
            ))
        })?;
    let ggml = GgmlType(c.u32(&what)?);
    let offset = c.u64(&what)?;
    let bytes = tensor_bytes(&what, &ne, elements, ggml)?;
    Ok(StoredTensor {
        name,
        ne,
        ggml,
        offset,
        elements,
        bytes,
    })
}

fn tensor_bytes(what: &str, ne: &[u64], elements: u64, ggml: GgmlType) -> Res<Option<u64>> {
    // An unknown type id (a type newer than paramaudit): the file is still read; its
    // size is settled by the layout (see `layout::check`).
    let Some((type_name, block, _)) = ggml.info() else {
        return Ok(None);
    };
    let row = ne.first().copied().unwrap_or(1);
    if !row.is_multiple_of(block) {
        return Err(Problem::Bad(format!(
            "{what}: rows of {row} elements are not whole {type_name} blocks of {block}"
        )));
    }
    ggml.bytes(elements)
        .map(Some)
        .ok_or_else(|| Problem::Bad(format!("{what}: its size in bytes overflows")))
}
