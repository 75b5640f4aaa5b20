//! Hugging Face Hub models: ids, the environment variables, and the cache shared with
//! Python (`huggingface_hub`), read in the layout Python writes:
//!
//! ```text
//! $HF_HUB_CACHE | $HF_HOME/hub | ~/.cache/huggingface/hub
//!   models--<owner>--<name>/refs/<revision>             the commit a branch or tag resolved to
//!   models--<owner>--<name>/snapshots/<commit>/<file>   symlinks into blobs/
//!   models--<owner>--<name>/.no_exist/<commit>/<file>   the file is known not to exist
//! ```
//!
//! Every environment variable is read here, once, and passed on explicitly.

use std::path::{Path, PathBuf};

use super::local::{CONFIG_FILE, INDEX_FILE, SINGLE_FILE};
use super::weights::Weights;
use super::{Layout, Resolved};
use crate::error::{Error, Result};

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Settings taken from the environment (the Hugging Face variables) and the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubEnv {
    /// `HF_ENDPOINT`, without a trailing slash.
    pub endpoint: String,
    /// `HF_TOKEN`, sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// The hub cache directory.
    pub cache_dir: PathBuf,
    /// `HF_HUB_OFFLINE` or `--offline`: never touch the network.
    pub offline: bool,
    /// `HF_HUB_ETAG_TIMEOUT` (seconds, default 10): limit for each metadata request.
    pub etag_timeout: std::time::Duration,
    /// `HF_HUB_DOWNLOAD_TIMEOUT` (seconds, default 10): limit for each ranged header read.
    pub download_timeout: std::time::Duration,
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

impl HubEnv {
    /// Resolve the settings from a variable lookup (`std::env::var` in the binary).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>, offline_flag: bool) -> HubEnv {
        let non_empty = |k: &str| var(k).filter(|v| !v.is_empty());
        let endpoint = non_empty("HF_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let cache_dir = non_empty("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| non_empty("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| {
                non_empty("XDG_CACHE_HOME")
                    .map(|x| PathBuf::from(x).join("huggingface").join("hub"))
            })
            .or_else(|| {
                non_empty("HOME").map(|h| {
                    PathBuf::from(h)
                        .join(".cache")
                        .join("huggingface")
                        .join("hub")
                })
            })
            .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"));
        let seconds = |k: &str| {
            let secs = non_empty(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(10.0);
            std::time::Duration::from_secs_f64(secs.min(86_400.0))
        };
        HubEnv {
            etag_timeout: seconds("HF_HUB_ETAG_TIMEOUT"),
            download_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT"),
            endpoint,
            token: non_empty("HF_TOKEN"),
            cache_dir,
            offline: offline_flag || non_empty("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
        }
    }

    /// Resolve from the process environment.
    pub fn from_env(offline_flag: bool) -> HubEnv {
        Self::from_lookup(|k| std::env::var(k).ok(), offline_flag)
    }
}

/// A model repository id, `name` or `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId(String);

impl RepoId {
    /// Parse an id with the rules `huggingface_hub.validate_repo_id` applies: one or two
    /// segments of letters, digits, `-`, `_`, `.`; no `--` or `..`; at most 96 characters.
    pub fn parse(s: &str) -> Option<RepoId> {
        let ok_segment = |seg: &str| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !seg.starts_with(['-', '.'])
                && !seg.ends_with(['-', '.'])
        };
        let segments: Vec<&str> = s.split('/').collect();
        let valid = s.len() <= 96
            && (1..=2).contains(&segments.len())
            && segments.iter().all(|seg| ok_segment(seg))
            && !s.contains("--")
            && !s.contains("..");
        valid.then(|| RepoId(s.to_string()))
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cache folder name: `models--owner--name`.
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.0.replace('/', "--"))
    }
}

/// The default revision.
pub const DEFAULT_REVISION: &str = "main";

/// Check a revision before it names a file in the cache or goes into a URL: what the Hub
/// accepts (branch and tag names, with `/` as in `refs/pr/1`, and 40-hex commits), and
/// nothing that could leave the cache directory: no absolute path, no `.` or `..`
/// component, no empty component, no NUL, backslash or other control character.
pub fn check_revision(revision: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::Usage(format!(
            "invalid --revision `{}`: {why}",
            revision.escape_debug()
        )))
    };
    if revision.is_empty() {
        return bad("it is empty");
    }
    if revision.len() > 255 {
        return bad("longer than 255 characters");
    }
    if revision.starts_with('/') {
        return bad("an absolute path is not a revision");
    }
    if revision.chars().any(|c| c == '\\' || c.is_control()) {
        return bad("backslashes and control characters are not allowed");
    }
    for part in revision.split('/') {
        match part {
            "" => return bad("it has an empty path component"),
            "." | ".." => return bad("`.` and `..` components would leave the cache"),
            _ => {}
        }
    }
    Ok(())
}

/// True for a full 40-hex commit id.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A model's files found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// The commit the files belong to.
    pub commit: String,
    /// The snapshot directory.
    pub snapshot: PathBuf,
    /// The resolved source.
    pub resolved: Resolved,
}

/// Why a model could not be served from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMiss {
    /// No ref for the revision (and it is not a cached commit).
    NoRevision,
    /// The snapshot exists but lacks the weights (or some shards).
    Incomplete(String),
    /// The cache records that the repo has no safetensors weights at this commit, and
    /// the snapshot holds no other weights.
    NoSafetensors,
}

/// A model on the Hub: the repository, the GGUF tag after its id (`:Q4_K_M`), the
/// revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The repository.
    pub repo: &'a RepoId,
    /// The GGUF tag or file name chosen after a colon.
    pub tag: Option<&'a str>,
    /// Branch, tag or commit.
    pub revision: &'a str,
}

impl Target<'_> {
    /// The model as the user spelled it (`owner/repo:Q4_K_M`).
    pub fn spec(&self) -> String {
        match self.tag {
            Some(t) => format!("{}:{t}", self.repo.as_str()),
            None => self.repo.as_str().to_string(),
        }
    }
}

/// The commit a cached revision points to, or why there is none.
fn cached_commit(repo_dir: &Path, revision: &str) -> Result<Option<String>> {
    // A branch or tag goes through refs/; a commit id names its snapshot directly (Python
    // does not write refs/<commit>).
    let ref_file = repo_dir.join("refs").join(revision);
    let commit = if ref_file.is_file() {
        let text = std::fs::read_to_string(&ref_file).map_err(|e| Error::io(&ref_file, e))?;
        text.trim().to_string()
    } else if is_commit(revision) {
        revision.to_ascii_lowercase()
    } else {
        return Ok(None);
    };
    if !is_commit(&commit) {
        return Err(Error::Cache {
            path: ref_file,
            message: format!("holds `{commit}`, not a 40-hex commit id"),
        });
    }
    Ok(Some(commit))
}

/// Files of a snapshot, as paths relative to it (two folder levels deep: GGUF
/// repositories keep quantizations in folders).
fn snapshot_files(snapshot: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            let path = e.path();
            if path.is_dir() {
                if depth < 2 {
                    walk(&path, &format!("{prefix}{name}/"), depth + 1, out);
                }
            } else if path.is_file() {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(snapshot, "", 0, &mut out);
    out.sort();
    out
}

/// Look a model up in the cache, as Python lays it out.
pub fn find_cached(cache_dir: &Path, target: &Target) -> Result<Result<CachedModel, CacheMiss>> {
    let repo_dir = cache_dir.join(target.repo.cache_folder());
    let Some(commit) = cached_commit(&repo_dir, target.revision)? else {
        return Ok(Err(CacheMiss::NoRevision));
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    let no_exist = repo_dir.join(".no_exist").join(&commit);
    let recorded = target.tag.is_none()
        && no_exist.join(SINGLE_FILE).exists()
        && no_exist.join(INDEX_FILE).exists();
    let files = snapshot_files(&snapshot);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let weights = match super::weights::choose(&names, target.tag) {
        Ok(w) => w,
        Err(_) if recorded => return Ok(Err(CacheMiss::NoSafetensors)),
        Err(_) if !snapshot.is_dir() => return Ok(Err(CacheMiss::NoRevision)),
        Err(why) => {
            return Ok(Err(CacheMiss::Incomplete(format!(
                "{why} in {}",
                snapshot.display()
            ))))
        }
    };
    let layout = match &weights {
        Weights::Single(f) => Layout::Single(snapshot.join(f)),
        Weights::Index(f) => {
            let index = snapshot.join(f);
            let missing = missing_shards(&index)?;
            if !missing.is_empty() {
                return Ok(Err(CacheMiss::Incomplete(format!(
                    "{} of the shards are not cached ({})",
                    missing.len(),
                    missing.join(", ")
                ))));
            }
            Layout::Sharded(index)
        }
        Weights::Split(parts) => Layout::Files(parts.iter().map(|p| snapshot.join(p)).collect()),
    };
    // A GGUF carries its own dimensions (as for local files, config.json is not read).
    let config = snapshot.join(CONFIG_FILE);
    let config = (config.is_file() && !weights.is_gguf()).then_some(config);
    Ok(Ok(CachedModel {
        resolved: Resolved {
            spec: target.spec(),
            layout,
            config,
        },
        commit,
        snapshot,
    }))
}

/// How to fetch what the cache lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fetch {
    /// Read only the headers with ranged requests; never download the weights.
    pub header_only: bool,
    /// Show hf-hub's progress bar on stderr.
    pub progress: bool,
    /// Say on stderr what a download fetches beyond what was asked.
    pub notes: bool,
}

/// Resolve a Hub model: from the cache when it holds the files (no network at all), else
/// by downloading them (not in offline mode).
pub fn resolve(
    env: &HubEnv,
    target: &Target,
    config: Option<&Path>,
    options: Fetch,
) -> Result<Resolved> {
    let mut resolved = match find_cached(&env.cache_dir, target)? {
        Ok(cached) => cached.resolved,
        Err(miss) => fetch_missing(env, target, options, miss)?,
    };
    if let Some(c) = config {
        resolved.config = Some(c.to_path_buf());
    }
    Ok(resolved)
}

/// What the cache lacks: an error offline, else the headers or a verified download.
fn fetch_missing(
    env: &HubEnv,
    target: &Target,
    options: Fetch,
    miss: CacheMiss,
) -> Result<Resolved> {
    let reason = match miss {
        CacheMiss::NoSafetensors if env.offline => {
            return Err(Error::NoSafetensors {
                repo: target.repo.as_str().to_string(),
                revision: target.revision.to_string(),
                message: format!(
                    "the cache records that the repository has neither {SINGLE_FILE} nor {INDEX_FILE}, and holds no other weights"
                ),
            })
        }
        CacheMiss::NoSafetensors => "no weights cached".to_string(),
        CacheMiss::NoRevision => "no snapshot for this revision".to_string(),
        CacheMiss::Incomplete(what) => what,
    };
    if env.offline {
        return Err(Error::NotCached {
            repo: target.spec(),
            revision: target.revision.to_string(),
            cache: env.cache_dir.clone(),
            reason,
        });
    }
    if options.header_only {
        return super::download::fetch_headers(env, target, options.progress);
    }
    super::download::download_model(env, target, options)?;
    find_cached(&env.cache_dir, target)?
        .map(|cached| cached.resolved)
        .map_err(|_| Error::Cache {
            path: env.cache_dir.join(target.repo.cache_folder()),
            message: "the download finished but the snapshot is incomplete".to_string(),
        })
}

/// Shard names an index lists that are not present beside it.
fn missing_shards(index: &Path) -> Result<Vec<String>> {
    let parsed = crate::checkpoint::ShardIndex::read(index)?;
    let dir = index.parent().unwrap_or(Path::new("."));
    Ok(parsed
        .shards
        .into_iter()
        .filter(|n| !dir.join(n).is_file())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> HubEnv {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubEnv::from_lookup(
            |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            false,
        )
    }

    #[test]
    fn cache_dir_follows_hf_hub_cache_then_hf_home_then_home() {
        let all = [("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h"), ("HOME", "/u")];
        assert_eq!(env(&all).cache_dir, PathBuf::from("/c"));
        assert_eq!(env(&all[1..]).cache_dir, PathBuf::from("/h/hub"));
        assert_eq!(
            env(&all[2..]).cache_dir,
            PathBuf::from("/u/.cache/huggingface/hub")
        );
    }

    #[test]
    fn endpoint_token_and_offline_come_from_the_hf_variables() {
        let e = env(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_TOKEN", "t"),
            ("HF_HUB_OFFLINE", "1"),
        ]);
        assert_eq!(e.endpoint, "http://127.0.0.1:9");
        assert_eq!(e.token.as_deref(), Some("t"));
        assert!(e.offline);
        let d = env(&[("HF_HUB_OFFLINE", "0")]);
        assert_eq!(d.endpoint, DEFAULT_ENDPOINT);
        assert!(!d.offline);
        assert_eq!(d.token, None);
        assert_eq!(d.etag_timeout, std::time::Duration::from_secs(10));
        let t = env(&[
            ("HF_HUB_ETAG_TIMEOUT", "0.5"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "x"),
        ]);
        assert_eq!(t.etag_timeout, std::time::Duration::from_millis(500));
        assert_eq!(t.download_timeout, std::time::Duration::from_secs(10));
    }

    #[test]
    fn revisions_that_could_leave_the_cache_are_refused() {
        for ok in [
            "main",
            "v1.0",
            "refs/pr/1",
            "86b5e0934494bd15c9632b12f734a8a67f723594",
        ] {
            assert!(check_revision(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../../x",
            "/etc",
            "a/../../b",
            "",
            "a//b",
            "a/",
            "a\\b",
            "a\0b",
            ".",
            "x/./y",
        ] {
            let e = check_revision(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid --revision"), "{bad}: {e}");
        }
    }

    #[test]
    fn repo_ids_follow_the_hub_rules() {
        for ok in [
            "bert-base-uncased",
            "google-bert/bert-base-uncased",
            "a.b_c/d-1",
        ] {
            assert!(RepoId::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "a/b/c", "../x", "a--b", "a..b", "/abs", "x/", "-a", "a b", "./model",
        ] {
            assert!(RepoId::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            RepoId::parse("google-bert/bert-base-uncased")
                .unwrap()
                .cache_folder(),
            "models--google-bert--bert-base-uncased"
        );
    }
}
