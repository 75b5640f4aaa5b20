//! A test Hub on 127.0.0.1 that follows docs/hub.md: `resolve` URLs answered
//! to HEAD and GET with X-Repo-Commit / ETag / X-Linked-Etag / X-Linked-Size, a 302 for LFS
//! files to a "CDN" on a second port (Hub headers on the 302 only), a relative 307 from a
//! legacy short id to the canonical one, byte ranges (206, 416), the error codes with
//! X-Error-Code, and fault modes. One thread per connection, `Connection: close`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

fn is_lfs(name: &str) -> bool {
    [".safetensors", ".bin", ".gguf", ".pt", ".pth"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// One served file.
#[derive(Clone)]
pub struct File {
    pub path: PathBuf,
    pub size: u64,
    /// sha256 (LFS files) or git sha1 (small files).
    pub etag: String,
    pub lfs: bool,
}

/// A repository at one commit.
#[derive(Clone)]
pub struct Repo {
    pub id: String,
    pub commit: String,
    pub files: HashMap<String, File>,
}

impl Repo {
    pub fn new(id: &str, commit: &str) -> Repo {
        Repo {
            id: id.into(),
            commit: commit.into(),
            files: HashMap::new(),
        }
    }

    /// Serve `path` as `name`; weights (`*.safetensors`, `*.bin`, `*.gguf`, `*.pt`) are
    /// LFS files, as the Hub's default `.gitattributes` makes them.
    pub fn file(mut self, name: &str, path: PathBuf) -> Repo {
        let lfs = is_lfs(name);
        let bytes_len = std::fs::metadata(&path).unwrap().len();
        let etag = if lfs {
            let mut h = Sha256::new();
            std::io::copy(&mut std::fs::File::open(&path).unwrap(), &mut h).unwrap();
            format!("{:x}", h.finalize())
        } else {
            git_sha1(&std::fs::read(&path).unwrap())
        };
        self.files.insert(
            name.into(),
            File {
                path,
                size: bytes_len,
                etag,
                lfs,
            },
        );
        self
    }
}

impl Repo {
    /// Serve `path` as `name` without reading it: an LFS file's ETag is then the sha256 of
    /// its path, not of its bytes (for header-only benchmarks on sparse multi-terabyte
    /// layouts, where hashing would read every hole).
    pub fn file_unhashed(mut self, name: &str, path: PathBuf) -> Repo {
        if !is_lfs(name) {
            return self.file(name, path);
        }
        let size = std::fs::metadata(&path).unwrap().len();
        let etag = format!(
            "{:x}",
            Sha256::digest(path.display().to_string().as_bytes())
        );
        self.files.insert(
            name.into(),
            File {
                path,
                size,
                etag,
                lfs: true,
            },
        );
        self
    }
}

pub fn git_sha1(bytes: &[u8]) -> String {
    let mut c = std::process::Command::new("git")
        .args(["hash-object", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(c.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string()
}

/// Misbehaviours, applied to file bodies (CDN and small files) unless said otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Announce the full length, send half, close.
    Truncate,
    /// Send the right length with one byte changed.
    WrongBytes,
    /// Answer 200 with the whole file to a ranged request.
    IgnoreRange,
    /// The first Hub request answers 500.
    ServerErrorOnce,
    /// The first Hub request answers 429 with Retry-After: 1.
    RateLimitOnce,
    /// Every Hub request answers 401 (private repo, anonymous caller).
    Unauthorized,
    /// Every Hub request answers 403 GatedRepo.
    Gated,
    /// Hub requests without `Authorization: Bearer <token>` answer 401 (a private repo).
    RequireToken(&'static str),
    /// Hub requests get no answer for 30 s (a hung server).
    Stall,
    /// LFS answers carry a path instead of a hash in X-Linked-Etag.
    EvilEtag,
    /// Answers lack X-Repo-Commit.
    NoCommit,
}

struct State {
    repos: Vec<Repo>,
    aliases: Vec<(String, String)>,
    fault: Fault,
    cdn_port: u16,
    hub_requests: AtomicUsize,
    body_bytes: AtomicU64,
    log: Mutex<Vec<String>>,
    /// Added before every answer (Hub and CDN), like a far-away server.
    latency: std::time::Duration,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

pub struct HubServer {
    pub port: u16,
    pub cdn_port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl HubServer {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// Body bytes sent so far, Hub and CDN together.
    pub fn body_bytes(&self) -> u64 {
        self.state.body_bytes.load(Ordering::SeqCst)
    }
    /// Request lines received ("HEAD /x/resolve/main/f", "GET cdn /blob/..").
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
    /// The most requests the server was working on at the same time (counted over the
    /// added latency, before each answer is written).
    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }
    pub fn stop(self) {}
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake both accept loops.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let _ = TcpStream::connect(("127.0.0.1", self.cdn_port));
    }
}

pub fn start(repos: Vec<Repo>, aliases: &[(&str, &str)], fault: Fault) -> HubServer {
    start_with(repos, aliases, fault, std::time::Duration::ZERO)
}

/// A server that waits `latency` before every answer.
pub fn start_with(
    repos: Vec<Repo>,
    aliases: &[(&str, &str)],
    fault: Fault,
    latency: std::time::Duration,
) -> HubServer {
    let hub = TcpListener::bind("127.0.0.1:0").unwrap();
    let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port, cdn_port) = (
        hub.local_addr().unwrap().port(),
        cdn.local_addr().unwrap().port(),
    );
    let state = Arc::new(State {
        repos,
        aliases: aliases
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        fault,
        cdn_port,
        hub_requests: AtomicUsize::new(0),
        body_bytes: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
        latency,
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
    });
    let stop = Arc::new(AtomicBool::new(false));
    for (listener, is_cdn) in [(hub, false), (cdn, true)] {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &state, is_cdn);
                });
            }
        });
    }
    HubServer {
        port,
        cdn_port,
        state,
        stop,
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(conn: &TcpStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Ok(Request {
        method,
        path,
        headers,
    })
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())
}

fn error(conn: &mut TcpStream, status: &str, code: Option<&str>) -> std::io::Result<()> {
    let body = format!("{{\"error\": \"{status}\"}}");
    let mut h = vec![
        ("Content-Length".to_string(), body.len().to_string()),
        ("Content-Type".into(), "application/json".into()),
    ];
    if let Some(c) = code {
        h.push(("X-Error-Code".into(), c.into()));
    }
    respond(conn, status, &h)?;
    conn.write_all(body.as_bytes())
}

/// Parse `bytes=a-b`, `bytes=a-`, `bytes=-n` against `total`: Some(Ok((start, end_incl))),
/// Some(Err(())) when unsatisfiable, None when absent or not a byte range.
fn range(spec: Option<&String>, total: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = spec?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let r = match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
        (Some(a), Some(b)) => (a, b.min(total.saturating_sub(1))),
        (Some(a), None) => (a, total.saturating_sub(1)),
        (None, Some(n)) => (total.saturating_sub(n), total.saturating_sub(1)),
        (None, None) => return None,
    };
    Some(if r.0 >= total || r.0 > r.1 {
        Err(())
    } else {
        Ok(r)
    })
}

fn send_file(
    conn: &mut TcpStream,
    req: &Request,
    file: &File,
    extra: Vec<(String, String)>,
    state: &State,
) -> std::io::Result<()> {
    let total = file.size;
    let ranged = if state.fault == Fault::IgnoreRange {
        None
    } else {
        range(req.headers.get("range"), total)
    };
    let (status, start, end) = match ranged {
        Some(Err(())) => {
            let mut h = extra;
            h.push(("Content-Range".into(), format!("bytes */{total}")));
            h.push(("Content-Length".into(), "0".into()));
            return respond(conn, "416 Range Not Satisfiable", &h);
        }
        Some(Ok((s, e))) => ("206 Partial Content", s, e + 1),
        None => ("200 OK", 0, total),
    };
    let mut h = extra;
    h.push(("Accept-Ranges".into(), "bytes".into()));
    h.push(("Content-Length".into(), (end - start).to_string()));
    if status.starts_with("206") {
        h.push((
            "Content-Range".into(),
            format!("bytes {start}-{}/{total}", end - 1),
        ));
    }
    respond(conn, status, &h)?;
    if req.method == "HEAD" {
        return Ok(());
    }
    let mut f = std::fs::File::open(&file.path)?;
    f.seek(SeekFrom::Start(start))?;
    let mut left = end - start;
    if state.fault == Fault::Truncate {
        left /= 2;
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut first = true;
    while left > 0 {
        let n = f.read(&mut buf[..left.min(1 << 16) as usize])?;
        if n == 0 {
            break;
        }
        if first && state.fault == Fault::WrongBytes {
            buf[n / 2] ^= 0xff;
        }
        first = false;
        conn.write_all(&buf[..n])?;
        state.body_bytes.fetch_add(n as u64, Ordering::SeqCst);
        left -= n as u64;
    }
    Ok(())
}

fn handle(mut conn: TcpStream, state: &State, is_cdn: bool) -> std::io::Result<()> {
    let req = read_request(&conn)?;
    // Requests in flight are counted while the server "works" (the added latency), and
    // released before the answer is written: a client that holds a slot until it has the
    // answer is never seen above its limit.
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(state.latency);
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let range = req
        .headers
        .get("range")
        .map(|r| format!(" range={r}"))
        .unwrap_or_default();
    let side = if is_cdn { "cdn " } else { "" };
    state
        .log
        .lock()
        .unwrap()
        .push(format!("{} {side}{}{range}", req.method, req.path));
    if is_cdn {
        let sha = req.path.trim_start_matches("/blob/");
        let file = state
            .repos
            .iter()
            .flat_map(|r| r.files.values())
            .find(|f| f.etag == sha)
            .cloned();
        return match file {
            Some(f) => send_file(
                &mut conn,
                &req,
                &f,
                vec![("ETag".into(), format!("\"cdn-{}\"", &sha[..8]))],
                state,
            ),
            None => error(&mut conn, "404 Not Found", None),
        };
    }
    let n = state.hub_requests.fetch_add(1, Ordering::SeqCst);
    match state.fault {
        Fault::ServerErrorOnce if n == 0 => {
            return error(&mut conn, "500 Internal Server Error", None)
        }
        Fault::RateLimitOnce if n == 0 => {
            respond(
                &mut conn,
                "429 Too Many Requests",
                &[
                    ("Retry-After".into(), "1".into()),
                    ("Content-Length".into(), "0".into()),
                ],
            )?;
            return Ok(());
        }
        Fault::Unauthorized => return error(&mut conn, "401 Unauthorized", None),
        Fault::Gated => return error(&mut conn, "403 Forbidden", Some("GatedRepo")),
        Fault::Stall => {
            std::thread::sleep(std::time::Duration::from_secs(30));
            return Ok(());
        }
        Fault::RequireToken(t)
            if req.headers.get("authorization") != Some(&format!("Bearer {t}")) =>
        {
            return error(&mut conn, "401 Unauthorized", None)
        }
        _ => {}
    }
    if let Some(api) = req.path.strip_prefix("/api/models/") {
        return repo_info(&mut conn, state, api);
    }
    let Some((repo_id, rest)) = req.path.trim_start_matches('/').split_once("/resolve/") else {
        return error(&mut conn, "404 Not Found", None);
    };
    let (repo_id, rest) = (repo_id.to_string(), rest.to_string());
    if let Some((_, canonical)) = state.aliases.iter().find(|(a, _)| *a == repo_id) {
        let loc = format!("/{canonical}/resolve/{rest}");
        return respond(
            &mut conn,
            "307 Temporary Redirect",
            &[
                ("Location".into(), loc),
                ("Content-Length".into(), "0".into()),
            ],
        );
    }
    let Some(repo) = state.repos.iter().find(|r| r.id == repo_id) else {
        return error(&mut conn, "404 Not Found", Some("RepoNotFound"));
    };
    let Some((revision, filename)) = rest.split_once('/') else {
        return error(&mut conn, "404 Not Found", Some("EntryNotFound"));
    };
    if revision != "main" && revision != repo.commit {
        return error(&mut conn, "404 Not Found", Some("RevisionNotFound"));
    }
    let Some(file) = repo.files.get(filename) else {
        return error(&mut conn, "404 Not Found", Some("EntryNotFound"));
    };
    let mut h = Vec::new();
    if state.fault != Fault::NoCommit {
        h.push(("X-Repo-Commit".to_string(), repo.commit.clone()));
    }
    if file.lfs {
        let linked = if state.fault == Fault::EvilEtag {
            "../../../escape".to_string()
        } else {
            file.etag.clone()
        };
        h.push(("ETag".into(), format!("\"{}\"", &file.etag)));
        h.push(("X-Linked-Etag".into(), format!("\"{linked}\"")));
        h.push(("X-Linked-Size".into(), file.size.to_string()));
        h.push((
            "Location".into(),
            format!("http://127.0.0.1:{}/blob/{}", state.cdn_port, file.etag),
        ));
        h.push(("Content-Length".into(), "0".into()));
        return respond(&mut conn, "302 Found", &h);
    }
    h.push(("ETag".into(), format!("\"{}\"", file.etag)));
    send_file(&mut conn, &req, file, h, state)
}

/// `GET /api/models/{repo}[/revision/{revision}]`: `{"id", "sha", "siblings"}` with each
/// file's `rfilename` and `size` (docs/hub.md). Legacy ids answer a relative 307.
fn repo_info(conn: &mut TcpStream, state: &State, api: &str) -> std::io::Result<()> {
    let (repo_id, revision) = match api.split_once("/revision/") {
        Some((r, rev)) => (r.to_string(), rev.replace("%2F", "/")),
        None => (api.to_string(), "main".to_string()),
    };
    if let Some((_, canonical)) = state.aliases.iter().find(|(a, _)| *a == repo_id) {
        let loc = format!("/api/models/{canonical}/revision/{revision}");
        return respond(
            conn,
            "307 Temporary Redirect",
            &[
                ("Location".into(), loc),
                ("Content-Length".into(), "0".into()),
            ],
        );
    }
    let Some(repo) = state.repos.iter().find(|r| r.id == repo_id) else {
        return error(conn, "404 Not Found", Some("RepoNotFound"));
    };
    if revision != "main" && revision != repo.commit {
        return error(conn, "404 Not Found", Some("RevisionNotFound"));
    }
    let mut names: Vec<&String> = repo.files.keys().collect();
    names.sort();
    let siblings: Vec<serde_json::Value> = names
        .iter()
        .map(|n| serde_json::json!({"rfilename": n, "size": repo.files[*n].size}))
        .collect();
    let body =
        serde_json::json!({"id": repo.id, "sha": repo.commit, "siblings": siblings}).to_string();
    respond(
        conn,
        "200 OK",
        &[
            ("Content-Type".into(), "application/json".into()),
            ("Content-Length".into(), body.len().to_string()),
        ],
    )?;
    conn.write_all(body.as_bytes())
}
