//! Talk to the Hub: read a model's headers remotely, or download its files into the shared
//! cache, verified.
//!
//! Every request goes through [`hub_request`], which reads the Hub headers (X-Repo-Commit,
//! ETag, X-Linked-Etag, X-Linked-Size, X-Error-Code) from the *first* response, follows
//! only relative redirects (legacy ids), retries 429 and 5xx, and holds one slot of the
//! process-wide request limit ([`super::net`]) while in flight. Header-only reads skip
//! the HEAD: a ranged GET of the `resolve` URL answers with the Hub's 302 (headers, CDN
//! location), and the CDN's 206 carries the bytes; shards are read concurrently. Full
//! downloads use hf-hub (`ApiRepo::download`, Python's cache layout, resumable `.part`
//! files), several files at once, and every file is verified before use: size against
//! X-Linked-Size, sha256 against the LFS id (git sha1 for small files). A file that fails
//! verification is removed; a transfer cut short keeps its partial file, so the next run
//! resumes it with a Range request.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hub::{HubEnv, RepoId, Target};
use super::local::{CONFIG_FILE, INDEX_FILE, SINGLE_FILE};
use super::weights::Weights;
use super::{net, RemoteFile, Resolved};
use crate::error::{Error, Result};

/// Attempts for a transient answer (429, 5xx, connection reset) before giving up.
pub const MAX_ATTEMPTS: u32 = 4;
/// Longest wait honoured from a Retry-After header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Relative redirects followed (the legacy-id 307s).
pub const MAX_REDIRECTS: u32 = 10;
/// Largest small file (config, shard index) read into memory.
pub const MAX_SMALL_FILE: u64 = 100_000_000;

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
    /// Where the bytes are (the CDN), for an LFS file.
    pub location: Option<String>,
}

type Response = ureq::http::Response<ureq::Body>;

fn agent(timeout: Duration, redirects: u32) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(redirects)
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

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().trim_matches('"').to_string())
}

/// How to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Head,
    Get,
}

/// The `resolve` URL of a file.
pub fn resolve_url(env: &HubEnv, repo: &RepoId, revision: &str, filename: &str) -> String {
    let rev = revision.replace('/', "%2F");
    format!(
        "{}/{}/resolve/{rev}/{filename}",
        env.endpoint,
        repo.as_str()
    )
}

/// Ask the Hub for a file: the first answer that is not a relative redirect (a 2xx, or
/// the 302 of an LFS file to its CDN), retrying 429 and 5xx; `Ok(None)` for
/// EntryNotFound. `run` reads what it needs from the answer while the request slot is
/// held.
fn hub_request<T>(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    filename: &str,
    method: Method,
    range: Option<(u64, u64)>,
    run: impl FnOnce(&str, Response) -> Result<T>,
) -> Result<Option<T>> {
    let url = resolve_url(env, repo, revision, filename);
    request_url(env, repo, revision, url, method, range, run)
}

/// [`hub_request`] for any Hub URL (`resolve` or the repository API).
fn request_url<T>(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    first: String,
    method: Method,
    range: Option<(u64, u64)>,
    run: impl FnOnce(&str, Response) -> Result<T>,
) -> Result<Option<T>> {
    let agent = agent(env.etag_timeout, 0);
    let mut url = first.clone();
    let mut attempt = 0;
    let mut redirects = 0;
    loop {
        let permit = net::requests().acquire();
        let mut req = match method {
            Method::Head => agent.head(&url),
            Method::Get => agent.get(&url),
        }
        .header("Accept-Encoding", "identity");
        if let Some((a, b)) = range {
            req = req.header("Range", format!("bytes={a}-{b}"));
        }
        if let Some(t) = &env.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => {
                drop(permit);
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
        let lfs_redirect = matches!(status, 301..=308) && header(&resp, "x-linked-etag").is_some();
        match status {
            200..=299 => return run(&first, resp).map(Some),
            _ if lfs_redirect => return run(&first, resp).map(Some),
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
                drop(permit);
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

/// The Hub headers of an answer, checked: a commit id, and an ETag that is a hash of the
/// expected kind (it names a file in the cache).
fn file_meta(url: &str, resp: &Response) -> Result<FileMeta> {
    let commit = header(resp, "x-repo-commit")
        .ok_or_else(|| hub_error(url, "answer has no X-Repo-Commit header"))?;
    if !super::hub::is_commit(&commit) {
        return Err(hub_error(
            url,
            format!("X-Repo-Commit `{commit}` is not a commit id"),
        ));
    }
    let linked = header(resp, "x-linked-etag");
    let etag = linked
        .clone()
        .or_else(|| header(resp, "etag"))
        .ok_or_else(|| hub_error(url, "answer has no ETag"))?;
    // A weak validator prefix (W/"...") is not part of the hash.
    let etag = etag.trim_start_matches("W/").trim_matches('"').to_string();
    let want_len = if linked.is_some() { 64 } else { 40 };
    if etag.len() != want_len || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        let kind = if linked.is_some() {
            "an LFS sha256"
        } else {
            "a git sha1"
        };
        return Err(hub_error(url, format!("ETag `{etag}` is not {kind}")));
    }
    let size = match header(resp, "x-linked-size") {
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| hub_error(url, format!("X-Linked-Size `{s}` is not a number")))?,
        ),
        None => None,
    };
    if linked.is_some() && size.is_none() {
        return Err(hub_error(url, "LFS answer has no X-Linked-Size"));
    }
    Ok(FileMeta {
        url: url.to_string(),
        commit,
        lfs: linked.is_some(),
        etag: etag.to_ascii_lowercase(),
        size,
        location: header(resp, "location"),
    })
}

/// HEAD a `resolve` URL; `Ok(None)` for EntryNotFound.
pub fn head(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    filename: &str,
) -> Result<Option<FileMeta>> {
    hub_request(
        env,
        repo,
        revision,
        filename,
        Method::Head,
        None,
        |url, resp| file_meta(url, &resp),
    )
}

/// How long to wait before retrying a 429 or 5xx: its Retry-After (capped), else backoff.
fn retry_wait(resp: &Response, attempt: u32) -> Duration {
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

/// Link `snapshots/<commit>/<filename>` to `blobs/<etag>` if it is not there yet.
fn link_snapshot(repo_dir: &Path, meta: &FileMeta, filename: &str) -> Result<PathBuf> {
    let blob = repo_dir.join("blobs").join(&meta.etag);
    let pointer = repo_dir.join("snapshots").join(&meta.commit).join(filename);
    if std::fs::symlink_metadata(&pointer).is_err() {
        let dir = pointer.parent().unwrap_or(repo_dir);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let target = Path::new("../..")
            .join(std::iter::repeat_n("..", filename.matches('/').count()).collect::<PathBuf>());
        link(&target.join("blobs").join(&meta.etag), &blob, &pointer)?;
    }
    Ok(pointer)
}

/// hf-hub's progress callbacks feeding one combined bar.
#[derive(Clone)]
struct Progress(Option<indicatif::ProgressBar>);

impl hf_hub::api::Progress for Progress {
    fn init(&mut self, _size: usize, _filename: &str) {}
    fn update(&mut self, size: usize) {
        if let Some(bar) = &self.0 {
            bar.inc(crate::count::len(size));
        }
    }
    fn finish(&mut self) {}
}

/// Download one file with hf-hub, verify it, and return its snapshot path.
fn fetch(
    env: &HubEnv,
    repo: &RepoId,
    meta: &FileMeta,
    filename: &str,
    progress: &Progress,
) -> Result<PathBuf> {
    let repo_dir = env.cache_dir.join(repo.cache_folder());
    let blob = repo_dir.join("blobs").join(&meta.etag);
    // A blob already cached (another revision, an interrupted run) is reused once it
    // verifies: only the snapshot link is missing.
    if blob.is_file() && verify(&blob, meta).is_ok() {
        return link_snapshot(&repo_dir, meta, filename);
    }
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_endpoint(env.endpoint.clone())
        .with_cache_dir(env.cache_dir.clone())
        .with_token(env.token.clone())
        .with_progress(false)
        .with_retries(2)
        .build()
        .map_err(|e| hub_error(&meta.url, e.to_string()))?;
    // Ask for the commit, so the bytes match the headers we checked.
    let handle = api.repo(hf_hub::Repo::with_revision(
        repo.as_str().to_string(),
        hf_hub::RepoType::Model,
        meta.commit.clone(),
    ));
    let pointer = repo_dir.join("snapshots").join(&meta.commit).join(filename);
    let side_file = |ext: &str| repo_dir.join("blobs").join(format!("{}.{ext}", meta.etag));
    // hf-hub records refs/<commit> and leaves its lock file; Python's layout has refs only
    // for branches and tags, and keeps locks under .locks/.
    let tidy = || {
        let _ = std::fs::remove_file(repo_dir.join("refs").join(&meta.commit));
        let _ = std::fs::remove_file(side_file("lock"));
    };
    let got = {
        let _slot = net::requests().acquire();
        handle.download_with_progress(filename, progress.clone())
    };
    let got = match got {
        Ok(p) => p,
        Err(e) => {
            // The transfer stopped: keep hf-hub's `<etag>.part` so the next run resumes it
            // with a Range request; nothing unverified is in blobs/ or snapshots/.
            tidy();
            return Err(hub_error(
                &meta.url,
                format!("download failed: {e} (the partial file is kept: run again to resume)"),
            ));
        }
    };
    tidy();
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
    if let Err(why) = result {
        for p in [
            pointer.clone(),
            blob.clone(),
            side_file("part"),
            target.clone(),
        ] {
            let _ = std::fs::remove_file(p);
        }
        return Err(hub_error(
            &meta.url,
            format!("download rejected and removed from the cache: {why}"),
        ));
    }
    Ok(pointer)
}

/// Largest repository listing read (a repository with tens of thousands of files).
pub const MAX_LISTING_BYTES: u64 = 64_000_000;

/// A repository's files at one commit, from the Hub's repository API
/// (`/api/models/{repo}/revision/{revision}`: `sha` and `siblings[].rfilename`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The commit the revision resolved to.
    pub commit: String,
    /// Every file, as a path from the repository root.
    pub files: Vec<String>,
}

#[derive(serde::Deserialize)]
struct RawListing {
    sha: String,
    #[serde(default)]
    siblings: Vec<RawSibling>,
}

#[derive(serde::Deserialize)]
struct RawSibling {
    rfilename: String,
}

/// List a repository's files at `revision`.
pub fn list_files(env: &HubEnv, repo: &RepoId, revision: &str) -> Result<Listing> {
    let url = format!(
        "{}/api/models/{}/revision/{}",
        env.endpoint,
        repo.as_str(),
        revision.replace('/', "%2F")
    );
    let got = request_url(
        env,
        repo,
        revision,
        url.clone(),
        Method::Get,
        None,
        |url, resp| {
            let mut body = Vec::new();
            resp.into_body()
                .into_reader()
                .take(MAX_LISTING_BYTES + 1)
                .read_to_end(&mut body)
                .map_err(|e| hub_error(url, format!("reading the repository listing: {e}")))?;
            if crate::count::len(body.len()) > MAX_LISTING_BYTES {
                return Err(hub_error(
                    url,
                    format!("listing over {MAX_LISTING_BYTES} bytes"),
                ));
            }
            serde_json::from_slice::<RawListing>(&body)
                .map_err(|e| hub_error(url, format!("not a repository listing: {e}")))
        },
    )?;
    let raw =
        got.ok_or_else(|| hub_error(&url, "the repository API does not know this repository"))?;
    if !super::hub::is_commit(&raw.sha) {
        return Err(hub_error(
            &url,
            format!("`sha` {} is not a commit id", raw.sha),
        ));
    }
    let files = raw
        .siblings
        .into_iter()
        .map(|s| s.rfilename)
        .filter(|f| is_plain_path(f))
        .collect();
    Ok(Listing {
        commit: raw.sha.to_ascii_lowercase(),
        files,
    })
}

/// A path inside the repository: plain components only (no `..`, not absolute).
fn is_plain_path(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

/// Which weights a repository has at `revision`, and the metadata of the first file to
/// fetch. Without a tag, `model.safetensors` and its index are asked for directly (one
/// HEAD each); anything else is chosen from the repository listing.
fn locate_weights(env: &HubEnv, target: &Target) -> Result<(Weights, FileMeta)> {
    let (repo, revision) = (target.repo, target.revision);
    if target.tag.is_none() {
        if let Some(m) = head(env, repo, revision, SINGLE_FILE)? {
            return Ok((Weights::Single(SINGLE_FILE.to_string()), m));
        }
        if let Some(m) = head(env, repo, revision, INDEX_FILE)? {
            return Ok((Weights::Index(INDEX_FILE.to_string()), m));
        }
    }
    let listing = list_files(env, repo, revision)?;
    let weights = choose_listed(target, &listing)?;
    let first = weights.files()[0].to_string();
    let meta = head(env, repo, &listing.commit, &first)?.ok_or_else(|| {
        hub_error(
            &resolve_url(env, repo, &listing.commit, &first),
            "listed by the repository API but not served",
        )
    })?;
    Ok((weights, meta))
}

/// The weights among a repository's listed files, or why there are none.
fn choose_listed(target: &Target, listing: &Listing) -> Result<Weights> {
    let names: Vec<&str> = listing.files.iter().map(String::as_str).collect();
    super::weights::choose(&names, target.tag).map_err(|message| Error::NoSafetensors {
        repo: target.spec(),
        revision: target.revision.to_string(),
        message: format!("the repository has {message}"),
    })
}

/// Record `revision` -> `commit` in refs/, as Python does for branches and tags.
fn write_ref(env: &HubEnv, repo: &RepoId, revision: &str, commit: &str) -> Result<()> {
    if super::hub::is_commit(revision) {
        return Ok(());
    }
    let ref_file = env
        .cache_dir
        .join(repo.cache_folder())
        .join("refs")
        .join(revision);
    if let Some(parent) = ref_file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::write(&ref_file, commit).map_err(|e| Error::io(&ref_file, e))
}

/// Download what `inspect` needs (weights and config) into the cache and record the ref:
/// up to [`net::DOWNLOADS_AT_ONCE`] files at once, with one combined progress bar.
pub fn download_model(env: &HubEnv, target: &Target, options: super::hub::Fetch) -> Result<()> {
    let (repo, progress) = (target.repo, options.progress);
    let (weights, meta) = locate_weights(env, target)?;
    let bar = Progress(progress.then(|| {
        let bar = indicatif::ProgressBar::new(meta.size.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "download {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    }));
    let mut files: Vec<(String, FileMeta)> = Vec::new();
    match &weights {
        Weights::Index(name) => {
            let path = fetch(env, repo, &meta, name, &bar)?;
            let index = crate::checkpoint::ShardIndex::read(&path)?;
            let metas = net::map_until_error(&index.shards, net::requests().size(), |shard| {
                head_shard(env, repo, &meta, shard).map(|m| (shard.clone(), m))
            })?;
            files.extend(metas);
        }
        Weights::Single(name) => files.push((name.clone(), meta.clone())),
        Weights::Split(parts) => {
            let metas = net::map_until_error(parts, net::requests().size(), |part| {
                head_shard(env, repo, &meta, part).map(|m| (part.clone(), m))
            })?;
            files.extend(metas);
        }
    }
    let total = crate::count::sum(files.iter().filter_map(|(_, m)| m.size)).unwrap_or(0);
    if weights.is_pytorch() && options.notes {
        // Said before fetching: PyTorch files cannot be read header-only.
        eprintln!(
            "{}: PyTorch weights have no header that can be read alone: downloading {} ({} bytes)",
            target.spec(),
            files
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            crate::render::count(total)
        );
    }
    if let Some(bar) = &bar.0 {
        bar.set_length(total);
    }
    if !weights.is_gguf() {
        if let Some(m) = head(env, repo, &meta.commit, CONFIG_FILE)? {
            files.push((CONFIG_FILE.to_string(), m));
        }
    }
    net::map_until_error(&files, net::DOWNLOADS_AT_ONCE, |(name, m)| {
        fetch(env, repo, m, name, &bar)
    })?;
    if let Some(bar) = &bar.0 {
        bar.finish_and_clear();
    }
    write_ref(env, repo, target.revision, &meta.commit)
}

/// HEAD a shard (or split part) at the commit of the first file read.
fn head_shard(env: &HubEnv, repo: &RepoId, first: &FileMeta, shard: &str) -> Result<FileMeta> {
    head(env, repo, &first.commit, shard)?.ok_or_else(|| {
        hub_error(
            &first.url,
            format!("shard `{shard}` named in the index is not in the repository"),
        )
    })
}

/// First ranged read of a remote header: most headers fit in it.
pub const FIRST_READ: u64 = 64 * 1024;
/// Largest header read remotely (the limit `huggingface_hub` applies).
pub const MAX_REMOTE_HEADER: u64 = 25_000_000;

/// Read exactly `len` body bytes, refusing more or fewer.
fn read_body(url: &str, resp: Response, len: u64) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(usize::try_from(len.min(MAX_REMOTE_HEADER)).unwrap_or(0));
    resp.into_body()
        .into_reader()
        .take(len + 1)
        .read_to_end(&mut body)
        .map_err(|e| hub_error(url, format!("reading the header: {e}")))?;
    if crate::count::len(body.len()) != len {
        return Err(hub_error(
            url,
            format!("got {} bytes of the {len} asked", body.len()),
        ));
    }
    Ok(body)
}

/// Check a 206 answer's Content-Range against `start..=end` of a `total`-byte file and
/// read its body. A 200 (a server ignoring Range) is refused without reading the body.
fn ranged_body(url: &str, resp: Response, start: u64, end: u64, total: u64) -> Result<Vec<u8>> {
    match resp.status().as_u16() {
        206 => {}
        200 => {
            return Err(hub_error(
                url,
                format!("the server ignored the Range request (200 with the whole {total}-byte file); refusing it for a header-only read"),
            ))
        }
        416 => return Err(hub_error(url, format!("range {start}-{end} not satisfiable (416): the file is shorter than its header says"))),
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
    read_body(url, resp, want_end - start + 1)
}

/// GET `bytes=start-end` (inclusive) of a CDN URL and return exactly those bytes.
fn get_range(env: &HubEnv, url: &str, start: u64, end: u64, total: u64) -> Result<Vec<u8>> {
    let agent = agent(env.download_timeout, MAX_REDIRECTS);
    let mut attempt = 0;
    loop {
        let _slot = net::requests().acquire();
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
        if matches!(status, 429 | 500..=599) && attempt + 1 < MAX_ATTEMPTS {
            attempt += 1;
            drop(_slot);
            std::thread::sleep(retry_wait(&resp, attempt));
            continue;
        }
        return ranged_body(url, resp, start, end, total);
    }
}

/// The first [`FIRST_READ`] bytes of a remote file at `revision` (fewer when the file is
/// shorter), with the Hub's metadata, without a HEAD: the ranged GET of the `resolve`
/// URL answers with the Hub's 302 (its headers give the size and commit), and the CDN
/// serves the range. `Ok(None)` for EntryNotFound.
fn first_range(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    name: &str,
) -> Result<Option<(FileMeta, Vec<u8>)>> {
    // The request slot is held only while the Hub's answer is read; the CDN read that
    // follows takes a slot of its own.
    let first = hub_request(
        env,
        repo,
        revision,
        name,
        Method::Get,
        Some((0, FIRST_READ - 1)),
        |url, resp| {
            let meta = file_meta(url, &resp)?;
            let total = meta
                .size
                .ok_or_else(|| hub_error(url, "no X-Linked-Size: cannot read the header alone"))?;
            if total < 8 {
                return Err(hub_error(
                    url,
                    format!("the file is {total} bytes, too short for a header"),
                ));
            }
            // An LFS file answers 302 to its CDN; a file the Hub serves itself answers the
            // range directly.
            let direct = match (resp.status().as_u16(), &meta.location) {
                (200..=299, _) => Some(ranged_body(url, resp, 0, FIRST_READ - 1, total)?),
                (_, Some(_)) => None,
                (status, None) => {
                    return Err(hub_error(url, format!("{status} without a Location")))
                }
            };
            Ok((meta, direct))
        },
    )?;
    Ok(match first {
        Some((meta, Some(prefix))) => Some((meta, prefix)),
        Some((meta, None)) => {
            let cdn = meta.location.clone().unwrap_or_default();
            let total = meta.size.unwrap_or(0);
            let prefix = get_range(env, &cdn, 0, FIRST_READ - 1, total)?;
            Some((meta, prefix))
        }
        None => None,
    })
}

/// Read one remote safetensors file's 8-byte length and JSON header at `revision`, never
/// its weights: the first range, and a second one only when the header is longer.
/// `Ok(None)` for EntryNotFound.
pub fn read_header(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    name: &str,
) -> Result<Option<(RemoteFile, FileMeta)>> {
    let Some((meta, mut prefix)) = first_range(env, repo, revision, name)? else {
        return Ok(None);
    };
    let url = meta.url.clone();
    let total = meta.size.unwrap_or(0);
    let mut n = [0u8; 8];
    n.copy_from_slice(
        prefix
            .get(..8)
            .ok_or_else(|| hub_error(&url, "short answer"))?,
    );
    let header_len = u64::from_le_bytes(n);
    if header_len > MAX_REMOTE_HEADER {
        return Err(hub_error(&url, format!("header length {header_len} exceeds the {MAX_REMOTE_HEADER}-byte limit for remote reads")));
    }
    let needed = 8 + header_len;
    if needed > total {
        return Err(hub_error(
            &url,
            format!("header length {header_len} runs past the end of the file ({total} bytes)"),
        ));
    }
    if needed > crate::count::len(prefix.len()) {
        let from = meta.location.clone().unwrap_or_else(|| url.clone());
        let rest = get_range(
            env,
            &from,
            crate::count::len(prefix.len()),
            needed - 1,
            total,
        )?;
        prefix.extend(rest);
    }
    prefix.truncate(usize::try_from(needed).unwrap_or(usize::MAX));
    Ok(Some((
        RemoteFile {
            name: name.to_string(),
            url: url.clone(),
            size: total,
            prefix,
        },
        meta,
    )))
}

/// Largest GGUF header read remotely (the GGUF reader's own limit).
pub const MAX_REMOTE_GGUF_HEADER: u64 = 256 << 20;

/// Read one remote GGUF file's header (metadata and tensor infos) at `revision`, never
/// its weights: the first range, then more ranges, each at least doubling what is held,
/// until the reader has the whole header (a part of a split GGUF too: the parts are
/// checked together when the checkpoint is opened). `Ok(None)` for EntryNotFound.
pub fn read_gguf_header(
    env: &HubEnv,
    repo: &RepoId,
    revision: &str,
    name: &str,
) -> Result<Option<(RemoteFile, FileMeta)>> {
    let Some((meta, mut prefix)) = first_range(env, repo, revision, name)? else {
        return Ok(None);
    };
    let url = meta.url.clone();
    let total = meta.size.unwrap_or(0);
    let from = meta.location.clone().unwrap_or_else(|| url.clone());
    loop {
        let held = crate::count::len(prefix.len());
        let need = match crate::format::gguf::header_needs(&prefix, total) {
            Ok(None) => break,
            Ok(Some(n)) => n,
            Err(message) => return Err(hub_error(&url, format!("GGUF: {message}"))),
        };
        let want = need.max(held.saturating_mul(2)).min(total);
        if need > MAX_REMOTE_GGUF_HEADER || want <= held {
            return Err(hub_error(
                &url,
                format!("GGUF header needs {need} bytes, over the {MAX_REMOTE_GGUF_HEADER}-byte limit for remote reads (or past the file's {total} bytes)"),
            ));
        }
        prefix.extend(get_range(env, &from, held, want - 1, total)?);
    }
    Ok(Some((
        RemoteFile {
            name: name.to_string(),
            url,
            size: total,
            prefix,
        },
        meta,
    )))
}

/// A small file (config, shard index) fetched whole and stored in the cache, verified
/// against its git sha1.
struct Small {
    path: PathBuf,
    text: String,
    meta: FileMeta,
}

/// GET a small file at `revision` and put it in the cache under its commit; `Ok(None)`
/// when the repository has no such file.
fn fetch_small(env: &HubEnv, repo: &RepoId, revision: &str, name: &str) -> Result<Option<Small>> {
    let got = hub_request(env, repo, revision, name, Method::Get, None, |url, resp| {
        let meta = file_meta(url, &resp)?;
        if meta.lfs {
            return Err(hub_error(
                url,
                "expected a small file, the Hub answers with an LFS file",
            ));
        }
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(MAX_SMALL_FILE + 1)
            .read_to_end(&mut body)
            .map_err(|e| hub_error(url, format!("reading the file: {e}")))?;
        if crate::count::len(body.len()) > MAX_SMALL_FILE {
            return Err(hub_error(url, format!("more than {MAX_SMALL_FILE} bytes")));
        }
        Ok((meta, body))
    })?;
    let Some((meta, body)) = got else {
        return Ok(None);
    };
    let repo_dir = env.cache_dir.join(repo.cache_folder());
    let blobs = repo_dir.join("blobs");
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    let blob = blobs.join(&meta.etag);
    if !(blob.is_file() && verify(&blob, &meta).is_ok()) {
        let part = blobs.join(format!("{}.incomplete", meta.etag));
        std::fs::write(&part, &body).map_err(|e| Error::io(&part, e))?;
        if let Err(why) = verify(&part, &meta) {
            let _ = std::fs::remove_file(&part);
            return Err(hub_error(&meta.url, format!("download rejected: {why}")));
        }
        std::fs::rename(&part, &blob).map_err(|e| Error::io(&blob, e))?;
    }
    let path = link_snapshot(&repo_dir, &meta, name)?;
    let text = String::from_utf8(body).map_err(|_| hub_error(&meta.url, "not UTF-8 text"))?;
    Ok(Some(Small { path, text, meta }))
}

/// Read a model's headers remotely (and fetch its small files: config, index). The config
/// and the weights are asked for at once; shards are read concurrently.
pub fn fetch_headers(env: &HubEnv, target: &Target, _progress: bool) -> Result<Resolved> {
    let (repo, revision) = (target.repo, target.revision);
    if target.tag.is_some() {
        return listed_headers(env, target);
    }
    let (config, single) = std::thread::scope(|s| {
        let config = s.spawn(|| fetch_small(env, repo, revision, CONFIG_FILE));
        let single = read_header(env, repo, revision, SINGLE_FILE);
        let config = config
            .join()
            .unwrap_or_else(|_| Err(hub_error(revision, "config read failed")));
        (config, single)
    });
    let (files, index, commit) = match single? {
        Some((file, meta)) => (vec![file], None, meta.commit),
        None => {
            let Some(index) = fetch_small(env, repo, revision, INDEX_FILE)? else {
                return listed_headers(env, target);
            };
            let parsed = crate::checkpoint::ShardIndex::parse(&index.path, &index.text)?;
            let commit = index.meta.commit.clone();
            let files = net::map_until_error(&parsed.shards, net::requests().size(), |shard| {
                read_header(env, repo, &commit, shard)?
                    .map(|(f, _)| f)
                    .ok_or_else(|| {
                        hub_error(
                            &index.meta.url,
                            format!("shard `{shard}` named in the index is not in the repository"),
                        )
                    })
            })?;
            (files, Some((index.path, index.text)), commit)
        }
    };
    // The config must be the weights' commit's (a push between the two reads would mix).
    let config = match config? {
        Some(c) if c.meta.commit == commit => Some(c.path),
        Some(_) => fetch_small(env, repo, &commit, CONFIG_FILE)?.map(|c| c.path),
        None => None,
    };
    Ok(Resolved {
        spec: target.spec(),
        layout: super::Layout::Remote(super::RemoteHeaders { files, index }),
        config,
    })
}

/// Header-only reading of weights other than `model.safetensors` and its index, chosen
/// from the repository listing: PyTorch files cannot be read that way (said with the
/// bytes a download would take).
fn listed_headers(env: &HubEnv, target: &Target) -> Result<Resolved> {
    let listing = list_files(env, target.repo, target.revision)?;
    let weights = choose_listed(target, &listing)?;
    if weights.is_pytorch() {
        return Err(whole_file_needed(env, target, &listing, &weights));
    }
    // A GGUF, or the parts of a split one (read concurrently, in order).
    let names: Vec<String> = weights.files().iter().map(|f| f.to_string()).collect();
    let files = net::map_until_error(&names, net::requests().size(), |name| {
        read_gguf_header(env, target.repo, &listing.commit, name)?
            .map(|(file, _)| file)
            .ok_or_else(|| {
                hub_error(
                    &resolve_url(env, target.repo, &listing.commit, name),
                    "listed by the repository API but not served",
                )
            })
    })?;
    Ok(Resolved {
        spec: target.spec(),
        layout: super::Layout::Remote(super::RemoteHeaders { files, index: None }),
        config: None,
    })
}

/// The error for `--header-only` on PyTorch weights: the size of what a download takes.
fn whole_file_needed(env: &HubEnv, target: &Target, listing: &Listing, weights: &Weights) -> Error {
    let names: Vec<String> = match weights {
        Weights::Index(index) => fetch_small(env, target.repo, &listing.commit, index)
            .ok()
            .flatten()
            .and_then(|i| crate::checkpoint::ShardIndex::parse(&i.path, &i.text).ok())
            .map_or_else(|| vec![index.clone()], |i| i.shards),
        other => other.files().iter().map(|f| f.to_string()).collect(),
    };
    let sizes = net::map(&names, net::requests().size(), |n| {
        head(env, target.repo, &listing.commit, n)
            .ok()
            .flatten()
            .and_then(|m| m.size)
    });
    let size = sizes
        .iter()
        .copied()
        .collect::<Option<Vec<u64>>>()
        .and_then(crate::count::sum)
        .map_or_else(String::new, |n| {
            format!(" ({} bytes)", crate::render::count(n))
        });
    Error::NoSafetensors {
        repo: target.spec(),
        revision: target.revision.to_string(),
        message: format!(
            "the weights are PyTorch files ({}){size}, which have no header that can be read alone: run without --header-only to download them",
            names.join(", ")
        ),
    }
}
