//! Resolve a local path: a `.safetensors` file, a shard index, or a directory holding
//! either (`model.safetensors` first, then `model.safetensors.index.json`).

use std::path::{Path, PathBuf};

use super::{Layout, Resolved};
use crate::error::{Error, Result};

/// The single-file name transformers writes.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The shard index name transformers writes.
pub const INDEX_FILE: &str = "model.safetensors.index.json";
/// The config file name.
pub const CONFIG_FILE: &str = "config.json";

/// Resolve `path` into the files to open. `config` overrides the `config.json` found
/// beside the weights.
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
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let layout = if name.ends_with(".index.json") {
            Layout::Sharded(path.to_path_buf())
        } else {
            Layout::Single(path.to_path_buf())
        };
        (layout, dir)
    };
    let config = match config {
        Some(c) => Some(c.to_path_buf()),
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

fn layout_of_dir(dir: &Path) -> Result<Layout> {
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(Layout::Single(single));
    }
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        return Ok(Layout::Sharded(index));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let indexes: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".safetensors.index.json"))
        .collect();
    let files: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".safetensors"))
        .collect();
    match (indexes.as_slice(), files.as_slice()) {
        ([one], _) => Ok(Layout::Sharded(dir.join(one))),
        ([], [one]) => Ok(Layout::Single(dir.join(one))),
        ([], []) => {
            let other: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .filter(|n| {
                    n.ends_with(".bin") || n.ends_with(".pt") || n.ends_with(".pth") || n.ends_with(".h5") || n.ends_with(".gguf")
                })
                .collect();
            let message = if other.is_empty() {
                format!("no {SINGLE_FILE} or {INDEX_FILE} in this directory")
            } else {
                format!(
                    "no safetensors checkpoint in this directory, only {} (convert it to safetensors first)",
                    other.join(", ")
                )
            };
            Err(Error::NoCheckpoint {
                path: dir.to_path_buf(),
                message,
            })
        }
        _ => Err(Error::NoCheckpoint {
            path: dir.to_path_buf(),
            message: format!(
                "several candidate checkpoints and no {SINGLE_FILE} or {INDEX_FILE}: {}; name one file",
                indexes.iter().chain(files.iter()).map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}
