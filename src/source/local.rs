//! Resolve a local path: a checkpoint file (safetensors, PyTorch, GGUF), a shard index,
//! or a directory holding one (transformers' order: `model.safetensors`, its index,
//! `pytorch_model.bin`, its index; then a lone GGUF or PyTorch file).

use std::path::{Path, PathBuf};

use super::{Layout, Resolved};
use crate::error::{Error, Result};

/// The single-file name transformers writes.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The shard index name transformers writes.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// The config file name.
pub const CONFIG_FILE: &str = "config.json";

/// The single-file name of PyTorch weights transformers writes.
pub const BIN_FILE: &str = "pytorch_model.bin";
/// The shard index of PyTorch weights.
pub const BIN_INDEX_FILE: &str = "pytorch_model.bin.index.json";

/// Resolve `path` into the files to open. `config` overrides the `config.json` found
/// beside the weights (a GGUF file carries its own dimensions: config.json beside it is
/// not read unless named).
pub fn resolve(path: &Path, config: Option<&Path>) -> Result<Resolved> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
            suggestion: super::spec::suggest(path),
        });
    }
    let (layout, dir) = if path.is_dir() {
        (layout_of_dir(path)?, path.to_path_buf())
    } else {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        (layout_of_file(path, &dir)?, dir)
    };
    let config = match config {
        Some(c) => Some(c.to_path_buf()),
        None if is_gguf(&layout) => None,
        None => {
            let beside = dir.join(CONFIG_FILE);
            beside.is_file().then_some(beside)
        }
    };
    Ok(Resolved {
        spec: path.display().to_string(),
        layout,
        config,
    })
}

fn is_gguf(layout: &Layout) -> bool {
    match layout {
        Layout::Single(p) => has_ext(p, "gguf"),
        Layout::Files(_) => true,
        _ => false,
    }
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A file named on the command line: an index, one split of a GGUF (all splits are
/// read), or one file.
fn layout_of_file(path: &Path, dir: &Path) -> Result<Layout> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".index.json") {
        return Ok(Layout::Sharded(path.to_path_buf()));
    }
    match gguf_split(name) {
        Some((stem, _, count)) => gguf_splits(dir, stem, count),
        None => Ok(Layout::Single(path.to_path_buf())),
    }
}

/// `model-00002-of-00003.gguf` → (`model`, 2, 3): llama.cpp's split naming.
pub fn gguf_split(name: &str) -> Option<(&str, u32, u32)> {
    let base = name.strip_suffix(".gguf")?;
    let (head, count) = base.rsplit_once("-of-")?;
    let (stem, no) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) || !digits(count) {
        return None;
    }
    let (no, count) = (no.parse().ok()?, count.parse().ok()?);
    (no >= 1 && no <= count).then_some((stem, no, count))
}

/// Every split of a GGUF, in order; a missing one is an error naming it.
fn gguf_splits(dir: &Path, stem: &str, count: u32) -> Result<Layout> {
    let paths: Vec<PathBuf> = (1..=count)
        .map(|i| dir.join(format!("{stem}-{i:05}-of-{count:05}.gguf")))
        .collect();
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        return Err(Error::NoCheckpoint {
            path: dir.to_path_buf(),
            message: format!(
                "split GGUF `{stem}` has {count} parts but {} is missing",
                file_name(missing)
            ),
        });
    }
    Ok(if count == 1 {
        Layout::Single(paths.into_iter().next().unwrap_or_default())
    } else {
        Layout::Files(paths)
    })
}

fn file_name(path: &Path) -> String {
    super::file_name(path)
}

/// What a directory holds, in transformers' order of preference: safetensors (single,
/// then index), then PyTorch weights (single, then index), then one GGUF (or one split
/// series) or one other PyTorch file.
fn layout_of_dir(dir: &Path) -> Result<Layout> {
    for (name, sharded) in [
        (SINGLE_FILE, false),
        (INDEX_FILE, true),
        (BIN_FILE, false),
        (BIN_INDEX_FILE, true),
    ] {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(if sharded {
                Layout::Sharded(path)
            } else {
                Layout::Single(path)
            });
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let pick = |suffixes: &[&str]| -> Vec<&String> {
        names
            .iter()
            .filter(|n| suffixes.iter().any(|s| n.ends_with(s)))
            .collect()
    };
    let indexes = pick(&[".safetensors.index.json", ".bin.index.json"]);
    let files = pick(&[".safetensors"]);
    match (indexes.as_slice(), files.as_slice()) {
        ([one], _) => return Ok(Layout::Sharded(dir.join(one))),
        ([], [one]) => return Ok(Layout::Single(dir.join(one))),
        ([], []) => {}
        _ => return Err(several(dir, indexes.iter().chain(files.iter()))),
    }
    // GGUF: one file, or the splits of one model (counted once, by their first part).
    let ggufs: Vec<&String> = pick(&[".gguf"])
        .into_iter()
        .filter(|n| gguf_split(n).is_none_or(|(_, no, _)| no == 1))
        .collect();
    let torch = pick(&[".bin", ".pt", ".pth"]);
    match (ggufs.as_slice(), torch.as_slice()) {
        ([one], []) => layout_of_file(&dir.join(one), dir),
        ([], [one]) => Ok(Layout::Single(dir.join(one))),
        ([], []) => Err(Error::NoCheckpoint {
            path: dir.to_path_buf(),
            message: format!(
                "no checkpoint in this directory (looked for {SINGLE_FILE}, {INDEX_FILE}, {BIN_FILE}, {BIN_INDEX_FILE}, *.gguf, *.pt, *.pth)"
            ),
        }),
        _ => Err(several(dir, ggufs.iter().chain(torch.iter()))),
    }
}

fn several<'a>(dir: &Path, names: impl Iterator<Item = &'a &'a String>) -> Error {
    Error::NoCheckpoint {
        path: dir.to_path_buf(),
        message: format!(
            "several candidate checkpoints: {}; name one file",
            names.map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_split_names_are_parsed_as_llama_cpp_writes_them() {
        assert_eq!(
            gguf_split("Llama-3-8B-Q4_K_M-00002-of-00003.gguf"),
            Some(("Llama-3-8B-Q4_K_M", 2, 3))
        );
        assert_eq!(gguf_split("model.gguf"), None);
        assert_eq!(gguf_split("m-0001-of-00003.gguf"), None);
        assert_eq!(gguf_split("m-00004-of-00003.gguf"), None);
        assert_eq!(gguf_split("m-00000-of-00003.gguf"), None);
    }
}
