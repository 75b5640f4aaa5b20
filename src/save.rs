//! `--save-header DIR`: keep a checkpoint's safetensors headers (no weights) so that a few
//! kilobytes committed to a repository stand for a multi-gigabyte model.
//!
//! DIR receives `model.safetensors` (or the shard index and one file per shard, under the
//! shards' names) holding only the 8-byte length and the JSON header, plus `config.json`
//! when the checkpoint has one. Each saved header records the original file and header
//! sizes in `__metadata__` ([`SAVED_FILE_BYTES`], [`SAVED_HEADER_BYTES`]), so reading it
//! back checks the same coverage and reports the same figures as the full file, marked
//! header-only.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::checkpoint::{ShardIndex, MAX_HEADER_BYTES, SAVED_FILE_BYTES, SAVED_HEADER_BYTES};
use crate::error::{Error, Result};
use crate::format::Kind;
use crate::source::local::{CONFIG_FILE, INDEX_FILE, SINGLE_FILE};
use crate::source::{Layout, Resolved};

/// One header to save: file name, original file size, original 8-byte length + header.
struct Header {
    name: String,
    file_bytes: u64,
    prefix: Vec<u8>,
    origin: PathBuf,
}

fn read_prefix(path: &Path) -> Result<Header> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::new();
    (&mut f)
        .take(crate::format::SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let kind = crate::format::sniff(&head);
    if matches!(kind, Kind::Zip | Kind::Pickle | Kind::Gguf) {
        return Err(Error::Usage(format!(
            "--save-header saves safetensors headers; {} is {}",
            path.display(),
            kind.describe()
        )));
    }
    f.rewind().map_err(|e| Error::io(path, e))?;
    let file_bytes = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| Error::io(path, e))?;
    let n = u64::from_le_bytes(len).min(MAX_HEADER_BYTES);
    let mut prefix = len.to_vec();
    f.take(n)
        .read_to_end(&mut prefix)
        .map_err(|e| Error::io(path, e))?;
    Ok(Header {
        name: String::new(),
        file_bytes,
        prefix,
        origin: path.to_path_buf(),
    })
}

/// The saved form of a header: the same JSON with the original sizes added to
/// `__metadata__`, compact, space-padded to a multiple of 8 like the reference writer.
fn saved_bytes(h: &Header) -> Result<Vec<u8>> {
    let bad = |message: String| Error::Index {
        path: h.origin.clone(),
        message,
    };
    let json = h.prefix.get(8..).unwrap_or_default();
    let mut value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let meta = value
        .entry("__metadata__")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    let serde_json::Value::Object(meta) = meta else {
        return Err(bad("`__metadata__` is not an object".to_string()));
    };
    // A header that was itself saved already records the original sizes: keep them.
    let header_bytes = (h.prefix.len() - 8) as u64;
    meta.entry(SAVED_FILE_BYTES)
        .or_insert_with(|| h.file_bytes.to_string().into());
    meta.entry(SAVED_HEADER_BYTES)
        .or_insert_with(|| header_bytes.to_string().into());
    let mut out = serde_json::to_vec(&value).map_err(|e| bad(e.to_string()))?;
    while out.len() % 8 != 0 {
        out.push(b' ');
    }
    let mut bytes = (out.len() as u64).to_le_bytes().to_vec();
    bytes.extend(out);
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("paramaudit-tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn starts_with_gguf_magic(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == crate::format::gguf::MAGIC
}

/// Save the headers of `resolved` (already validated by a successful inspection) into
/// `dir`, created if needed. Returns the files written.
pub fn save_headers(resolved: &Resolved, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut headers = Vec::new();
    let mut index_text = None;
    match &resolved.layout {
        Layout::Single(path) => {
            if starts_with_gguf_magic(path) {
                return Err(Error::Usage(format!(
                    "--save-header saves safetensors headers; {} is a GGUF file",
                    path.display()
                )));
            }
            let mut h = read_prefix(path)?;
            h.name = SINGLE_FILE.to_string();
            headers.push(h);
        }
        Layout::Sharded(index) => {
            let parsed = ShardIndex::read(index)?;
            let base = index.parent().unwrap_or(Path::new("."));
            for shard in &parsed.shards {
                let mut h = read_prefix(&base.join(shard))?;
                h.name = shard.clone();
                headers.push(h);
            }
            index_text = Some(std::fs::read(index).map_err(|e| Error::io(index, e))?);
        }
        Layout::Files(paths) => {
            return Err(Error::Usage(format!(
                "--save-header saves safetensors headers; {} is a split GGUF checkpoint",
                paths
                    .first()
                    .map_or_else(String::new, |p| p.display().to_string())
            )))
        }
        Layout::Remote(remote) => {
            for f in &remote.files {
                headers.push(Header {
                    name: f.name.clone(),
                    file_bytes: f.size,
                    prefix: f.prefix.clone(),
                    origin: PathBuf::from(&f.url),
                });
            }
            index_text = remote.index.as_ref().map(|(_, t)| t.as_bytes().to_vec());
        }
    }
    let mut written = Vec::new();
    for h in &headers {
        let path = dir.join(&h.name);
        write_atomically(&path, &saved_bytes(h)?)?;
        written.push(path);
    }
    if let Some(text) = index_text {
        let path = dir.join(INDEX_FILE);
        write_atomically(&path, &text)?;
        written.push(path);
    }
    if let Some(config) = &resolved.config {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read(config).map_err(|e| Error::io(config, e))?;
        write_atomically(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}
