//! What a model argument names: an existing path, a missing path (a typo, said at once,
//! with the closest existing name), or a Hugging Face model id.

use std::path::{Component, Path, PathBuf};

use super::hub::RepoId;
use crate::error::{Error, Result};

/// File extensions that make an argument a path, never a Hub id.
const PATH_EXTENSIONS: &[&str] = &[
    ".safetensors",
    ".json",
    ".bin",
    ".gguf",
    ".pt",
    ".pth",
    ".ckpt",
    ".onnx",
    ".h5",
];

/// Largest edit distance at which a sibling name is suggested.
pub const MAX_SUGGESTION_DISTANCE: usize = 2;

/// What a model argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// An existing file or directory.
    Local(PathBuf),
    /// A Hugging Face model id (no local path of that name exists), with the GGUF tag
    /// after a colon if any (`owner/repo:Q4_K_M`).
    Hub(RepoId, Option<String>),
}

/// Decide what `arg` names. A path that exists wins (silently, as transformers does); a
/// path-shaped argument that does not exist is an error naming the closest existing
/// sibling; anything else must be a valid Hub id.
pub fn classify(arg: &str) -> Result<Spec> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(Spec::Local(path.to_path_buf()));
    }
    if !looks_like_path(arg) {
        if let Some(repo) = RepoId::parse(arg) {
            return Ok(Spec::Hub(repo, None));
        }
        // `owner/repo:Q4_K_M`: a Hub id cannot hold a colon, so this is a GGUF tag.
        if let Some((id, tag)) = arg.rsplit_once(':') {
            if let (Some(repo), false) = (RepoId::parse(id), tag.is_empty()) {
                return Ok(Spec::Hub(repo, Some(tag.to_string())));
            }
        }
    }
    Err(Error::NotFound {
        path: path.to_path_buf(),
        suggestion: suggest(path),
    })
}

/// True when `arg` can only be meant as a path: it starts with `.` or `/`, ends with a
/// checkpoint or config extension, or its first component is an existing directory.
pub fn looks_like_path(arg: &str) -> bool {
    if arg.starts_with(['.', '/', '~']) || arg.contains('\\') {
        return true;
    }
    let lower = arg.to_ascii_lowercase();
    if PATH_EXTENSIONS.iter().any(|e| lower.ends_with(e)) {
        return true;
    }
    match Path::new(arg).components().next() {
        Some(Component::Normal(first)) => arg.contains('/') && Path::new(first).is_dir(),
        _ => false,
    }
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The closest existing path to a missing one: the first missing component is replaced
/// by its nearest sibling (edit distance at most [`MAX_SUGGESTION_DISTANCE`]); the rest
/// is kept when the result exists.
pub fn suggest(path: &Path) -> Option<PathBuf> {
    let parts: Vec<Component> = path.components().collect();
    let mut base = PathBuf::new();
    for (i, part) in parts.iter().enumerate() {
        let candidate = base.join(part);
        if candidate.exists() {
            base = candidate;
            continue;
        }
        let Component::Normal(missing) = part else {
            return None;
        };
        let missing = missing.to_str()?;
        let dir = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base.as_path()
        };
        let best = closest_entry(dir, missing)?;
        let fixed = base.join(&best);
        let whole: PathBuf = parts[i + 1..].iter().fold(fixed.clone(), |p, c| p.join(c));
        return Some(if whole.exists() { whole } else { fixed });
    }
    None
}

/// The entry of `dir` nearest to `name`, ties broken alphabetically.
fn closest_entry(dir: &Path, name: &str) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .map(|n| (edit_distance(name, &n), n))
        .filter(|(d, _)| *d <= MAX_SUGGESTION_DISTANCE)
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("minlm", "minilm"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn path_shapes_are_recognised() {
        for p in [
            "./x",
            "/abs",
            "../up",
            "model.safetensors",
            "c.JSON",
            "w.gguf",
            "a.bin",
        ] {
            assert!(looks_like_path(p), "{p}");
        }
        for id in ["bert-base-uncased", "google-bert/bert-base-uncased"] {
            assert!(!looks_like_path(id), "{id}");
        }
    }

    #[test]
    fn a_typo_in_a_directory_name_is_suggested_with_the_rest_of_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("data/minilm")).unwrap();
        assert_eq!(
            suggest(&tmp.path().join("data/minlm")),
            Some(tmp.path().join("data/minilm"))
        );
        assert_eq!(
            suggest(&tmp.path().join("dta/minilm")),
            Some(tmp.path().join("data/minilm"))
        );
        assert_eq!(suggest(&tmp.path().join("data/completely-else")), None);
    }
}
