//! Download a model's safetensors files into the shared cache, verified.
//!
//! The Hub headers (X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code) are read
//! by our own HEAD request from the *first* response, following only relative redirects:
//! hf-hub 0.5's `metadata()` cannot return X-Linked-Size and panics on a redirect without
//! a Location. The bytes are then fetched by hf-hub (`ApiRepo::download`, which writes
//! Python's cache layout: `blobs/<etag>.incomplete`, rename, snapshot symlink, ref), and
//! every file is verified before use: size against X-Linked-Size, sha256 against the LFS
//! id (git sha1 for small files). A file that fails is removed from the cache.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hub::{HubEnv, RepoId};
use super::local::{CONFIG_FILE, INDEX_FILE, SINGLE_FILE};
use super::{RemoteFile, Resolved};
use crate::error::{Error, Result};

/// Attempts for a transient answer (429, 5xx, connection reset) before giving up.
pub const MAX_ATTEMPTS: u32 = 4;
/// Longest wait honoured from a Retry-After header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Relative redirects followed (the legacy-id 307s).
pub const MAX_REDIRECTS: u32 = 10;

/// What the Hub says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The URL asked.
    pub url: String,
    /// Commit the revision resolved to.
    pub commit: String,
    /// sha256 of an LFS file, or the git sha1 of a small file.
    pub etag: String,
    /// X-Linked-Size of an LFS file.
    pub size: Option<u64>,
    /// True for LFS files (X-Linked-Etag present).
    pub lfs: bool,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn hub_error(url: &str, message: impl Into<String>) -> Error {
    Error::Hub {
        url: url.to_string(),
        message: message.into(),
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().trim_matches('"').to_string())
}

/// HEAD a `resolve` URL; `Ok(None)` for EntryNotFound.
pub fn head(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    filename: &str,
) -> Result<Option<FileMeta>> {
    let agent = agent(env.etag_timeout);
    let rev = revision.replace('/', "%2F");
    let first = format!(
        "{}/{}/resolve/{rev}/{filename}",
        env.endpoint,
        repo.as_str()
    );
    let mut url = first.clone();
    let mut attempt = 0;
    let mut redirects = 0;
    loop {
        let mut req = agent.head(&url).header("Accept-Encoding", "identity");
        if let Some(t) = &env.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                attempt += 1;
                if attempt < MAX_ATTEMPTS
                    && matches!(e, ureq::Error::Io(ref io) if io.kind() != std::io::ErrorKind::ConnectionRefused)
                {
                    std::thread::sleep(backoff(attempt));
                    continue;
                }
                return Err(hub_error(&url, format!("cannot reach the Hub: {e} (set HF_ENDPOINT, or use --offline with a cached model)")));
            }
        };
        let status = resp.status().as_u16();
        let code = header(&resp, "x-error-code");
        match status {
            200..=299 | 302 | 301 | 303 | 307 | 308 if status < 300 || header(&resp, "x-linked-etag").is_some() => {
                let commit = header(&resp, "x-repo-commit")
                    .ok_or_else(|| hub_error(&url, "answer has no X-Repo-Commit header"))?;
                if !super::hub::is_commit(&commit) {
                    return Err(hub_error(&url, format!("X-Repo-Commit `{commit}` is not a commit id")));
                }
                let linked = header(&resp, "x-linked-etag");
                let etag = linked
                    .clone()
                    .or_else(|| header(&resp, "etag"))
                    .ok_or_else(|| hub_error(&url, "answer has no ETag"))?;
                // A weak validator prefix (W/"...") is not part of the hash.
                let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
                // The etag names a file in the cache: only a hash of the expected length.
                let want_len = if linked.is_some() { 64 } else { 40 };
                if etag.len() != want_len || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
                    let kind = if linked.is_some() { "an LFS sha256" } else { "a git sha1" };
                    return Err(hub_error(&url, format!("ETag `{etag}` is not {kind}")));
                }
                let size = match header(&resp, "x-linked-size") {
                    Some(s) => Some(s.parse::<u64>().map_err(|_| hub_error(&url, format!("X-Linked-Size `{s}` is not a number")))?),
                    None => None,
                };
                if linked.is_some() && size.is_none() {
                    return Err(hub_error(&url, "LFS answer has no X-Linked-Size"));
                }
                return Ok(Some(FileMeta {
                    url: first,
                    commit,
                    lfs: linked.is_some(),
                    etag: etag.to_ascii_lowercase(),
                    size,
                }));
            }
            301 | 302 | 303 | 307 | 308 => {
                let loc = header(&resp, "location").ok_or_else(|| hub_error(&url, format!("{status} redirect without a Location")))?;
                if !loc.starts_with('/') {
                    return Err(hub_error(&url, format!("{status} redirect to another host ({loc}) without the Hub's file headers")));
                }
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(hub_error(&first, "too many redirects"));
                }
                url = format!("{}{loc}", env.endpoint);
            }
            404 if code.as_deref() == Some("EntryNotFound") => return Ok(None),
            404 if code.as_deref() == Some("RevisionNotFound") => {
                return Err(hub_error(&url, format!("revision `{revision}` not found in {}", repo.as_str())))
            }
            404 => {
                return Err(hub_error(
                    &url,
                    format!("repository {} not found (or private: set HF_TOKEN)", repo.as_str()),
                ))
            }
            401 => return Err(hub_error(&url, "401 Unauthorized: the repository is private or gated, or the token is wrong; set HF_TOKEN")),
            403 => {
                let what = if code.as_deref() == Some("GatedRepo") { "the model is gated: accept its conditions on the Hub and set HF_TOKEN" } else { "access denied: check HF_TOKEN" };
                return Err(hub_error(&url, format!("403 Forbidden: {what}")));
            }
            429 | 500..=599 => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(hub_error(&url, format!("HTTP {status} after {MAX_ATTEMPTS} attempts")));
                }
                std::thread::sleep(retry_wait(&resp, attempt));
            }
            other => return Err(hub_error(&url, format!("unexpected HTTP {other}"))),
        }
    }
}

/// How long to wait before retrying a 429 or 5xx: its Retry-After (capped), else backoff.
fn retry_wait(resp: &ureq::http::Response<ureq::Body>, attempt: u32) -> Duration {
    header(resp, "retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
        .unwrap_or_else(|| backoff(attempt))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(6)))
}

/// Check a downloaded blob against the Hub's size and hash.
pub fn verify(path: &Path, meta: &FileMeta) -> std::result::Result<(), String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if let Some(size) = meta.size {
        if len != size {
            return Err(format!("got {len} bytes, X-Linked-Size says {size}"));
        }
    }
    let actual = if meta.lfs {
        crate::hash::sha256_file(path)
    } else {
        crate::hash::git_sha1_file(path)
    }
    .map_err(|e| e.to_string())?;
    if actual != meta.etag {
        let kind = if meta.lfs { "sha256" } else { "git sha1" };
        return Err(format!("{kind} is {actual}, the Hub says {}", meta.etag));
    }
    Ok(())
}

/// Point a snapshot entry at its blob: a relative symlink, as Python makes (a copy where
/// symlinks do not exist).
fn link(relative: &Path, blob: &Path, pointer: &Path) -> Result<()> {
    #[cfg(unix)]
    let made = {
        let _ = blob;
        std::os::unix::fs::symlink(relative, pointer)
    };
    #[cfg(not(unix))]
    let made = {
        let _ = relative;
        std::fs::copy(blob, pointer).map(|_| ())
    };
    made.map_err(|e| Error::io(pointer, e))
}

/// Download one file with hf-hub, verify it, and return its snapshot path.
pub fn fetch(
    env: &HubEnv,
    repo: &RepoId,
    meta: &FileMeta,
    filename: &str,
    progress: bool,
) -> Result<PathBuf> {
    let repo_dir = env.cache_dir.join(repo.cache_folder());
    let blob = repo_dir.join("blobs").join(&meta.etag);
    let pointer = repo_dir.join("snapshots").join(&meta.commit).join(filename);
    // A blob already cached (another revision, an interrupted run) is reused once it
    // verifies: only the snapshot link is missing.
    if blob.is_file() && verify(&blob, meta).is_ok() {
        if std::fs::symlink_metadata(&pointer).is_err() {
            let dir = pointer.parent().unwrap_or(&repo_dir);
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let target = Path::new("../..").join(
                std::iter::repeat_n("..", filename.matches('/').count()).collect::<PathBuf>(),
            );
            let target = target.join("blobs").join(&meta.etag);
            link(&target, &blob, &pointer)?;
        }
        return Ok(pointer);
    }
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_endpoint(env.endpoint.clone())
        .with_cache_dir(env.cache_dir.clone())
        .with_token(env.token.clone())
        .with_progress(progress)
        .with_retries(2)
        .build()
        .map_err(|e| hub_error(&meta.url, e.to_string()))?;
    // Ask for the commit, so the bytes match the headers we checked.
    let handle = api.repo(hf_hub::Repo::with_revision(
        repo.as_str().to_string(),
        hf_hub::RepoType::Model,
        meta.commit.clone(),
    ));
    let cleanup = || {
        let _ = std::fs::remove_file(&pointer);
        let _ = std::fs::remove_file(&blob);
        // hf-hub 0.5 leaves `<etag>.part` (its resumable partial file) and `<etag>.lock`
        // beside the blob where Python uses `.incomplete` and `.locks/`.
        for ext in ["part", "lock", "incomplete"] {
            let _ =
                std::fs::remove_file(repo_dir.join("blobs").join(format!("{}.{ext}", meta.etag)));
        }
        let _ = std::fs::remove_file(repo_dir.join("refs").join(&meta.commit));
    };
    let got = match handle.download(filename) {
        Ok(p) => p,
        Err(e) => {
            cleanup();
            return Err(hub_error(&meta.url, format!("download failed: {e}")));
        }
    };
    // hf-hub names the blob by the etag it saw; it must be the one we checked.
    let target = std::fs::canonicalize(&got).map_err(|e| Error::io(&got, e))?;
    let expected = std::fs::canonicalize(&blob).ok();
    let result = if expected.as_deref() != Some(target.as_path()) {
        Err(format!(
            "the file was stored as {} instead of blob {}",
            target.display(),
            meta.etag
        ))
    } else {
        verify(&target, meta)
    };
    // hf-hub records refs/<commit> and leaves its lock file; Python's layout has refs only
    // for branches and tags, and keeps locks under .locks/.
    let _ = std::fs::remove_file(repo_dir.join("refs").join(&meta.commit));
    let _ = std::fs::remove_file(repo_dir.join("blobs").join(format!("{}.lock", meta.etag)));
    if let Err(why) = result {
        cleanup();
        let _ = std::fs::remove_file(&target);
        return Err(hub_error(
            &meta.url,
            format!("download rejected and removed from the cache: {why}"),
        ));
    }
    Ok(pointer)
}

/// Which weights file a repository has at `revision`: `model.safetensors`, else the shard
/// index; a clear error (naming `pytorch_model.bin` when that is all there is) otherwise.
fn locate_weights(env: &HubEnv, repo: &RepoId, revision: &str) -> Result<(&'static str, FileMeta)> {
    if let Some(m) = head(env, repo, revision, SINGLE_FILE)? {
        return Ok((SINGLE_FILE, m));
    }
    if let Some(m) = head(env, repo, revision, INDEX_FILE)? {
        return Ok((INDEX_FILE, m));
    }
    let bin = head(env, repo, revision, "pytorch_model.bin")?.is_some();
    Err(Error::NoSafetensors {
        repo: repo.as_str().to_string(),
        revision: revision.to_string(),
        message: if bin {
            format!("the repository has no {SINGLE_FILE} or {INDEX_FILE}, only pytorch_model.bin (PyTorch pickle weights; convert them to safetensors first)")
        } else {
            format!("the repository has no {SINGLE_FILE} or {INDEX_FILE}")
        },
    })
}

/// HEAD a shard the index names, at the index's commit.
fn head_shard(env: &HubEnv, repo: &RepoId, index: &FileMeta, shard: &str) -> Result<FileMeta> {
    head(env, repo, &index.commit, shard)?.ok_or_else(|| {
        hub_error(
            &index.url,
            format!("shard `{shard}` named in the index is not in the repository"),
        )
    })
}

/// Download `config.json` at `commit`, when the repository has one.
fn fetch_config(
    env: &HubEnv,
    repo: &RepoId,
    commit: &str,
    progress: bool,
) -> Result<Option<PathBuf>> {
    head(env, repo, commit, CONFIG_FILE)?
        .map(|m| fetch(env, repo, &m, CONFIG_FILE, progress))
        .transpose()
}

/// Download what `inspect` needs (weights and config) into the cache and record the ref.
pub fn download_model(env: &HubEnv, repo: &RepoId, revision: &str, progress: bool) -> Result<()> {
    let (weights, meta) = locate_weights(env, repo, revision)?;
    let path = fetch(env, repo, &meta, weights, progress)?;
    if weights == INDEX_FILE {
        let index = crate::checkpoint::ShardIndex::read(&path)?;
        for shard in index.shards {
            let m = head_shard(env, repo, &meta, &shard)?;
            fetch(env, repo, &m, &shard, progress)?;
        }
    }
    fetch_config(env, repo, &meta.commit, progress)?;
    if !super::hub::is_commit(revision) {
        let refs = env.cache_dir.join(repo.cache_folder()).join("refs");
        let ref_file = refs.join(revision);
        if let Some(parent) = ref_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&ref_file, &meta.commit).map_err(|e| Error::io(&ref_file, e))?;
    }
    Ok(())
}

/// First ranged read of a remote header: most headers fit in it.
pub const FIRST_READ: u64 = 64 * 1024;
/// Largest header read remotely (the limit `huggingface_hub` applies).
pub const MAX_REMOTE_HEADER: u64 = 25_000_000;

/// GET `bytes=start-end` (inclusive) and return exactly those bytes. Refuses an answer
/// that ignores the range, without reading its body.
fn get_range(env: &HubEnv, url: &str, start: u64, end: u64, total: u64) -> Result<Vec<u8>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(MAX_REDIRECTS)
        .http_status_as_error(false)
        .timeout_global(Some(env.download_timeout))
        .build()
        .into();
    let mut attempt = 0;
    loop {
        let mut req = agent
            .get(url)
            .header("Range", format!("bytes={start}-{end}"))
            .header("Accept-Encoding", "identity");
        if let Some(t) = &env.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req
            .call()
            .map_err(|e| hub_error(url, format!("cannot reach the Hub: {e}")))?;
        let status = resp.status().as_u16();
        match status {
            206 => {}
            200 => {
                return Err(hub_error(
                    url,
                    format!("the server ignored the Range request (200 with the whole {total}-byte file); refusing it for a header-only read"),
                ))
            }
            416 => return Err(hub_error(url, format!("range {start}-{end} not satisfiable (416): the file is shorter than its header says"))),
            429 | 500..=599 if attempt + 1 < MAX_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(retry_wait(&resp, attempt));
                continue;
            }
            other => return Err(hub_error(url, format!("ranged read answered HTTP {other}"))),
        }
        let range = header(&resp, "content-range").unwrap_or_default();
        let want_end = end.min(total.saturating_sub(1));
        let expected = format!("bytes {start}-{want_end}/{total}");
        if range != expected {
            return Err(hub_error(
                url,
                format!("Content-Range `{range}` where `{expected}` was asked"),
            ));
        }
        let len = want_end - start + 1;
        let mut body = Vec::with_capacity(len as usize);
        resp.into_body()
            .into_reader()
            .take(len + 1)
            .read_to_end(&mut body)
            .map_err(|e| hub_error(url, format!("reading the header: {e}")))?;
        if body.len() as u64 != len {
            return Err(hub_error(
                url,
                format!("got {} bytes of the {len} asked", body.len()),
            ));
        }
        return Ok(body);
    }
}

/// Read one remote file's 8-byte length and JSON header, never its weights: one request
/// when the header fits in the first 64 KiB, a second for the rest otherwise.
pub fn read_header(env: &HubEnv, meta: &FileMeta, name: &str) -> Result<RemoteFile> {
    let url = &meta.url;
    let total = meta
        .size
        .ok_or_else(|| hub_error(url, "no X-Linked-Size: cannot read the header alone"))?;
    if total < 8 {
        return Err(hub_error(
            url,
            format!("the file is {total} bytes, too short for a safetensors header"),
        ));
    }
    let mut prefix = get_range(env, url, 0, FIRST_READ - 1, total)?;
    let mut n = [0u8; 8];
    n.copy_from_slice(&prefix[..8]);
    let header_len = u64::from_le_bytes(n);
    if header_len > MAX_REMOTE_HEADER {
        return Err(hub_error(url, format!("header length {header_len} exceeds the {MAX_REMOTE_HEADER}-byte limit for remote reads")));
    }
    let needed = 8 + header_len;
    if needed > total {
        return Err(hub_error(
            url,
            format!("header length {header_len} runs past the end of the file ({total} bytes)"),
        ));
    }
    if needed > prefix.len() as u64 {
        let rest = get_range(env, url, prefix.len() as u64, needed - 1, total)?;
        prefix.extend(rest);
    }
    prefix.truncate(needed as usize);
    Ok(RemoteFile {
        name: name.to_string(),
        url: url.clone(),
        size: total,
        prefix,
    })
}

/// Read a model's headers remotely (and download its small files: config, index).
pub fn fetch_headers(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    progress: bool,
) -> Result<Resolved> {
    let (weights, meta) = locate_weights(env, repo, revision)?;
    let (files, index) = if weights == SINGLE_FILE {
        (vec![read_header(env, &meta, SINGLE_FILE)?], None)
    } else {
        let path = fetch(env, repo, &meta, INDEX_FILE, progress)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let parsed = crate::checkpoint::ShardIndex::parse(&path, &text)?;
        let mut files = Vec::with_capacity(parsed.shards.len());
        for shard in &parsed.shards {
            files.push(read_header(
                env,
                &head_shard(env, repo, &meta, shard)?,
                shard,
            )?);
        }
        (files, Some((path, text)))
    };
    let config = fetch_config(env, repo, &meta.commit, progress)?;
    Ok(Resolved {
        spec: repo.as_str().to_string(),
        layout: super::Layout::Remote(super::RemoteHeaders { files, index }),
        config,
    })
}
