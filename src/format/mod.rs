//! Checkpoint formats: what a file is, from its first bytes, and one reader per format
//! behind [`open_file`], each handing the same [`Tensor`] list downstream with its
//! format's facts carried as data. A format no reader handles is named, so the user
//! learns what they have.

pub mod gguf;
pub mod pytorch;
pub mod quant;
pub mod safetensors;
pub(crate) mod scanner;

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::checkpoint::{FileInfo, Tensor};
use crate::error::{Error, Result};

/// Open, validate and read one checkpoint file of any supported format, mapped once.
/// `file` is the index recorded in each tensor.
pub fn open_file(path: &Path, file: usize) -> Result<(FileInfo, Vec<Tensor>)> {
    let map = map_file(path)?;
    match sniff(map.get(..SNIFF_BYTES).unwrap_or(&map)) {
        Kind::Safetensors => safetensors::open_mapped(path, map, file),
        Kind::Gguf => gguf::open_mapped(path, map, file),
        Kind::Zip => pytorch::open_zip(path, map, file),
        Kind::Pickle => pytorch::legacy::open_legacy(path, map, file),
        other => Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
            what: other.describe().to_string(),
        }),
    }
}

/// Map a file read-only.
pub fn map_file(path: &Path) -> Result<Mmap> {
    let handle = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: the map is read-only. Another process truncating the file while it is
    // mapped makes a later access fault (SIGBUS): the one hazard of any mmap-based
    // reader, the safetensors crate's included (see the README).
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&handle) }.map_err(|e| Error::io(path, e))?;
    // Only headers are read: no readahead, so each file costs the pages its header spans
    // (not 128 KiB of readahead each: 1,000 shards would hold 60 MiB). `verify` asks
    // for sequential reading when it walks the data.
    let _ = map.advise(memmap2::Advice::Random);
    Ok(map)
}

/// Open the files that make one checkpoint without an index: the parts of a split GGUF
/// are read together (their split keys checked across parts, their tensors named with
/// the first part's architecture); any other files one by one.
pub fn open_parts(paths: &[PathBuf]) -> Result<Vec<(FileInfo, Vec<Tensor>)>> {
    let first = match paths.first() {
        Some(p) => map_file(p)?,
        None => return Ok(Vec::new()),
    };
    if sniff(first.get(..SNIFF_BYTES).unwrap_or(&first)) == Kind::Gguf {
        return gguf::open_split(paths);
    }
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| open_file(p, i))
        .collect()
}

/// Bytes looked at.
pub const SNIFF_BYTES: usize = 64;

/// The kinds of file recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Possibly safetensors: the safetensors reader decides (and names any problem).
    Safetensors,
    /// A zip archive (`PK\x03\x04`): what `torch.save` writes since torch 1.6.
    Zip,
    /// A raw pickle (`\x80` and protocol 2..5): a legacy `torch.save` file.
    Pickle,
    /// GGUF (llama.cpp), little- or big-endian.
    Gguf,
    /// HDF5 (`\x89HDF\r\n\x1a\n`): Keras / TensorFlow `.h5`.
    Hdf5,
    /// An ONNX protobuf (a `ModelProto` starting with its `ir_version`).
    Onnx,
    /// JSON text (a config, an index, a saved report).
    Json,
    /// Other text.
    Text,
}

impl Kind {
    /// What the file is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Safetensors => "a safetensors file",
            Kind::Zip => "a zip archive (a PyTorch checkpoint written by torch.save)",
            Kind::Pickle => "a raw pickle (a legacy torch.save checkpoint)",
            Kind::Gguf => "a GGUF file (llama.cpp)",
            Kind::Hdf5 => "an HDF5 file (Keras / TensorFlow .h5); not a format paramaudit reads",
            Kind::Onnx => "an ONNX model; not a format paramaudit reads",
            Kind::Json => "a JSON text file, not a checkpoint",
            Kind::Text => "a text file, not a checkpoint",
        }
    }
}

/// Recognise a file from its first bytes. Only positive evidence names another format:
/// anything else is left to the safetensors reader, whose messages are more precise.
pub fn sniff(head: &[u8]) -> Kind {
    const HDF5: &[u8] = b"\x89HDF\r\n\x1a\n";
    // A safetensors header starts right after its 8-byte length: whatever the length's
    // bytes look like (a 640-byte header begins `80 02`, like a pickle), it is safetensors.
    // (A GGUF with 123 tensors also has `{` there, but its "length" is billions.)
    if let (Some(b'{'), Some(len)) = (head.get(8), head.get(..8)) {
        let mut n = [0u8; 8];
        n.copy_from_slice(len);
        if u64::from_le_bytes(n) <= safetensors::MAX_HEADER_BYTES {
            return Kind::Safetensors;
        }
    }
    match head {
        [b'P', b'K', 3, 4, ..] => Kind::Zip,
        [0x80, 2..=5, ..] => Kind::Pickle,
        [b'G', b'G', b'U', b'F', ..] | [b'F', b'U', b'G', b'G', ..] => Kind::Gguf,
        h if h.starts_with(HDF5) => Kind::Hdf5,
        [0x08, v, tag, ..]
            if *v < 0x20 && matches!(tag, 0x12 | 0x1a | 0x22 | 0x2a | 0x32 | 0x3a | 0x42) =>
        {
            Kind::Onnx
        }
        h if looks_like_text(h) => match h.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') | Some(b'[') => Kind::Json,
            _ => Kind::Text,
        },
        _ => Kind::Safetensors,
    }
}

/// Eight printable bytes cannot start a safetensors file: as a little-endian length they
/// would announce a header far beyond any limit.
fn looks_like_text(head: &[u8]) -> bool {
    head.len() >= 8
        && head[..8]
            .iter()
            .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_the_format() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Kind::Zip);
        assert_eq!(sniff(b"\x80\x02\x8a\x0alz"), Kind::Pickle);
        assert_eq!(sniff(b"GGUF\x03\x00\x00\x00"), Kind::Gguf);
        assert_eq!(sniff(b"\x89HDF\r\n\x1a\n\x00"), Kind::Hdf5);
        assert_eq!(sniff(b"\x08\x07\x12\x07pytorch"), Kind::Onnx);
        assert_eq!(sniff(b"  {\"model_type\": 1}"), Kind::Json);
        assert_eq!(sniff(b"hello world\n"), Kind::Text);
    }

    #[test]
    fn a_header_length_that_looks_like_magic_is_still_safetensors() {
        // 640 = 0x280, 1152 = 0x480: the first bytes read `80 02` / `80 04` like a pickle.
        for len in [640u64, 896, 1152, 1408, 0x0403_4b50] {
            // 0x04034b50 = b"PK\x03\x04" as a length: 67 MB, a possible header.
            let mut st = len.to_le_bytes().to_vec();
            st.extend_from_slice(b"{\"a\":");
            assert_eq!(sniff(&st), Kind::Safetensors, "{len}");
        }
    }

    #[test]
    fn a_gguf_with_123_tensors_is_not_mistaken_for_safetensors() {
        let mut g = b"GGUF\x03\x00\x00\x00".to_vec();
        g.extend_from_slice(&123u64.to_le_bytes());
        assert_eq!(sniff(&g), Kind::Gguf);
    }

    #[test]
    fn safetensors_and_broken_safetensors_go_to_the_safetensors_reader() {
        let mut st = 24u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{\"__metadata__\":{}}     ");
        assert_eq!(sniff(&st), Kind::Safetensors);
        assert_eq!(sniff(&[1, 2, 3]), Kind::Safetensors);
        let mut array = 5u64.to_le_bytes().to_vec();
        array.extend_from_slice(b"[1,2]");
        assert_eq!(sniff(&array), Kind::Safetensors);
    }
}
