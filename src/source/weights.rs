//! Which files hold a model's weights, chosen from a list of file names: a Hub
//! repository's listing or a cached snapshot. transformers' order first
//! (`model.safetensors`, its index, `pytorch_model.bin`, its index), then a GGUF file:
//! the only one, or the one a quantization tag names (`owner/repo:Q4_K_M`, as llama.cpp's
//! `-hf` and Ollama's `hf.co/` spell it). Split GGUFs count once, by their parts.

use super::local::{gguf_split, BIN_FILE, BIN_INDEX_FILE, INDEX_FILE, SINGLE_FILE};

/// The weight files of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// One file (`model.safetensors`, `pytorch_model.bin`, a GGUF).
    Single(String),
    /// A shard index naming the shards beside it (safetensors or PyTorch).
    Index(String),
    /// The parts of a split GGUF, in order.
    Split(Vec<String>),
}

impl Weights {
    /// The file names to fetch first (the shards of an index come from the index).
    pub fn files(&self) -> Vec<&str> {
        match self {
            Weights::Single(f) | Weights::Index(f) => vec![f.as_str()],
            Weights::Split(parts) => parts.iter().map(String::as_str).collect(),
        }
    }

    /// True for PyTorch weights (no header to read alone: the whole file is needed).
    pub fn is_pytorch(&self) -> bool {
        matches!(self, Weights::Single(f) | Weights::Index(f) if f == BIN_FILE || f == BIN_INDEX_FILE)
    }

    /// True for GGUF weights.
    pub fn is_gguf(&self) -> bool {
        match self {
            Weights::Single(f) => is_gguf(f),
            Weights::Split(_) => true,
            Weights::Index(_) => false,
        }
    }
}

fn is_gguf(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gguf")
}

/// A GGUF model among the files: a lone file, or a split series counted by its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    /// What the user sees (the file, or the first part).
    name: String,
    weights: Weights,
    /// A part of the split series that is not among the files.
    missing: Option<String>,
}

/// Choose the weights among `files` (paths relative to the repository root). `tag`
/// selects a GGUF by quantization tag or file name; without one, transformers' files win
/// and a GGUF must be the only one. The error says what there is and how to choose.
pub fn choose(files: &[&str], tag: Option<&str>) -> Result<Weights, String> {
    if tag.is_none() {
        for (name, index) in [
            (SINGLE_FILE, false),
            (INDEX_FILE, true),
            (BIN_FILE, false),
            (BIN_INDEX_FILE, true),
        ] {
            if files.contains(&name) {
                return Ok(if index {
                    Weights::Index(name.to_string())
                } else {
                    Weights::Single(name.to_string())
                });
            }
        }
    }
    let all = gguf_candidates(files);
    let picked: Vec<&Candidate> = match tag {
        Some(t) => all.iter().filter(|c| matches_tag(&c.name, t)).collect(),
        None => all.iter().collect(),
    };
    match (picked.as_slice(), tag) {
        ([one], _) => match &one.missing {
            Some(part) => Err(format!("split GGUF {} lacks its part {part}", one.name)),
            None => Ok(one.weights.clone()),
        },
        ([], None) => Err(format!(
            "no {SINGLE_FILE}, {INDEX_FILE}, {BIN_FILE}, {BIN_INDEX_FILE} or GGUF file"
        )),
        ([], Some(t)) if all.is_empty() => Err(format!(
            "no GGUF file matches `:{t}`: the repository has none"
        )),
        ([], Some(t)) => Err(format!(
            "no GGUF file matches `:{t}`; there are {}",
            listing(&all)
        )),
        (several, _) => Err(format!(
            "{} GGUF files: name one with a tag after the id, e.g. `:{}` ({})",
            several.len(),
            tag_of(&several[0].name),
            listing(&several.iter().map(|c| (*c).clone()).collect::<Vec<_>>())
        )),
    }
}

/// At most eight names, then a count.
fn listing(candidates: &[Candidate]) -> String {
    let mut names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).take(8).collect();
    let more = candidates.len().saturating_sub(names.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    names.sort_unstable();
    format!("{}{tail}", names.join(", "))
}

/// The GGUF models among `files` (vision projectors `mmproj*` left out), each split
/// series once with the first of its parts that is absent, if any.
fn gguf_candidates(files: &[&str]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for &f in files {
        let base = f.rsplit('/').next().unwrap_or(f);
        if !is_gguf(base) || base.to_ascii_lowercase().starts_with("mmproj") {
            continue;
        }
        match gguf_split(base) {
            None => out.push(Candidate {
                name: f.to_string(),
                weights: Weights::Single(f.to_string()),
                missing: None,
            }),
            Some((stem, 1, count)) => {
                let dir = &f[..f.len() - base.len()];
                let parts: Vec<String> = (1..=count)
                    .map(|i| format!("{dir}{stem}-{i:05}-of-{count:05}.gguf"))
                    .collect();
                let missing = parts.iter().find(|p| !files.contains(&p.as_str())).cloned();
                out.push(Candidate {
                    missing,
                    name: f.to_string(),
                    weights: if count == 1 {
                        Weights::Single(f.to_string())
                    } else {
                        Weights::Split(parts)
                    },
                });
            }
            Some(_) => {}
        }
    }
    out
}

/// Whether `tag` names this GGUF: its whole path or file name, or a segment of it
/// bounded by `-`, `.`, `_` or `/` (so `Q4_K_M` does not match `IQ4_K_M`), any case.
fn matches_tag(name: &str, tag: &str) -> bool {
    let (name, tag) = (name.to_ascii_lowercase(), tag.to_ascii_lowercase());
    if tag.is_empty() {
        return false;
    }
    if name == tag || name.rsplit('/').next() == Some(tag.as_str()) {
        return true;
    }
    let bounded = |c: Option<char>| c.is_none_or(|c| matches!(c, '-' | '.' | '_' | '/'));
    name.match_indices(&tag).any(|(i, _)| {
        bounded(name[..i].chars().next_back()) && bounded(name[i + tag.len()..].chars().next())
    })
}

/// A plausible tag for a GGUF name, for the hint: the last `-`/`.` segment of its stem.
fn tag_of(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.strip_suffix(".gguf").unwrap_or(base);
    let stem = gguf_split(base).map_or(stem, |(s, _, _)| s);
    stem.rsplit(['-', '.']).next().unwrap_or(stem).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transformers_files_come_first_in_its_order() {
        let files = ["config.json", "pytorch_model.bin", "model.safetensors"];
        assert_eq!(
            choose(&files, None),
            Ok(Weights::Single(SINGLE_FILE.into()))
        );
        let files = [
            "pytorch_model.bin.index.json",
            "pytorch_model-00001-of-00002.bin",
        ];
        assert_eq!(
            choose(&files, None),
            Ok(Weights::Index(BIN_INDEX_FILE.into()))
        );
        assert!(choose(&files, None).unwrap().is_pytorch());
        assert_eq!(
            choose(&["README.md"], None),
            Err("no model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json or GGUF file".into())
        );
    }

    #[test]
    fn a_lone_gguf_is_chosen_and_several_need_a_tag() {
        let one = ["README.md", "Llama-3-8B-Q4_K_M.gguf", "mmproj-f16.gguf"];
        assert_eq!(
            choose(&one, None),
            Ok(Weights::Single("Llama-3-8B-Q4_K_M.gguf".into()))
        );
        let several = ["m-Q4_K_M.gguf", "m-IQ4_K_M.gguf", "m-Q8_0.gguf"];
        let e = choose(&several, None).unwrap_err();
        assert!(
            e.starts_with("3 GGUF files: name one with a tag after the id, e.g. `:Q4_K_M`"),
            "{e}"
        );
        assert_eq!(
            choose(&several, Some("q4_k_m")),
            Ok(Weights::Single("m-Q4_K_M.gguf".into()))
        );
        assert_eq!(
            choose(&several, Some("IQ4_K_M")),
            Ok(Weights::Single("m-IQ4_K_M.gguf".into()))
        );
        assert_eq!(
            choose(&several, Some("m-Q8_0.gguf")),
            Ok(Weights::Single("m-Q8_0.gguf".into()))
        );
        let e = choose(&several, Some("Q5_K_M")).unwrap_err();
        assert!(
            e.starts_with("no GGUF file matches `:Q5_K_M`; there are m-IQ4_K_M.gguf"),
            "{e}"
        );
        // A tag selects a GGUF even where safetensors weights exist.
        let both = ["model.safetensors", "m-Q8_0.gguf"];
        assert_eq!(
            choose(&both, Some("Q8_0")),
            Ok(Weights::Single("m-Q8_0.gguf".into()))
        );
    }

    #[test]
    fn split_ggufs_count_once_and_must_be_complete() {
        let files = [
            "Q4_K_M/big-Q4_K_M-00001-of-00002.gguf",
            "Q4_K_M/big-Q4_K_M-00002-of-00002.gguf",
            "Q8_0/big-Q8_0-00001-of-00002.gguf",
            "Q8_0/big-Q8_0-00002-of-00002.gguf",
        ];
        assert_eq!(
            choose(&files, Some("Q8_0")),
            Ok(Weights::Split(vec![
                "Q8_0/big-Q8_0-00001-of-00002.gguf".into(),
                "Q8_0/big-Q8_0-00002-of-00002.gguf".into()
            ]))
        );
        let e = choose(&files[..3], Some("Q8_0")).unwrap_err();
        assert_eq!(e, "split GGUF Q8_0/big-Q8_0-00001-of-00002.gguf lacks its part Q8_0/big-Q8_0-00002-of-00002.gguf");
    }
}
