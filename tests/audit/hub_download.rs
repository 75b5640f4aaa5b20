//! Downloads from a test Hub on 127.0.0.1 (tests/audit/common/hub_server.rs) that follows
//! HUB_PROTOCOL.md. The only difference from the real Hub is HF_ENDPOINT.

use std::path::{Path, PathBuf};

use crate::common::hub_server::{self, Fault, Repo};
use crate::common::layout::{self, BERT_BASE, BERT_BASE_CONFIG};
use crate::common::{fixture, output, paramaudit, Output, Report};

const COMMIT: &str = "86b5e0934494bd15c9632b12f734a8a67f723594";
const TINY_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn hub_run(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    output(
        paramaudit(home)
            .env("HF_HOME", home)
            .env("HF_ENDPOINT", endpoint)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args(args),
    )
}

fn tiny_repo(id: &str, name: &str) -> Repo {
    let dir = fixture(&format!("tiny/{name}"));
    let mut repo = Repo::new(id, TINY_COMMIT);
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        repo = repo.file(e.file_name().to_str().unwrap(), e.path());
    }
    repo
}

/// Every file under the cache's blobs/ folders.
fn blobs(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let hub = home.join("hub");
    for repo in std::fs::read_dir(&hub).into_iter().flatten().flatten() {
        for b in std::fs::read_dir(repo.path().join("blobs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(b.path());
        }
    }
    out
}

#[test]
fn bert_base_uncased_downloads_through_the_legacy_redirect_then_runs_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    layout::write_sparse(
        &src.join("model.safetensors"),
        &layout::bert_pretraining(BERT_BASE),
    );
    std::fs::write(src.join("config.json"), BERT_BASE_CONFIG).unwrap();
    let repo = Repo::new("google-bert/bert-base-uncased", COMMIT)
        .file("model.safetensors", src.join("model.safetensors"))
        .file("config.json", src.join("config.json"));
    let server = hub_server::start(
        vec![repo],
        &[("bert-base-uncased", "google-bert/bert-base-uncased")],
        Fault::None,
    );
    let endpoint = server.endpoint();
    let out = hub_run(
        &home,
        &endpoint,
        &["inspect", "bert-base-uncased", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first: Report = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(first.totals.parameters, 110_106_428);
    assert_eq!(first.differences.as_ref().unwrap().unexplained, 0);
    assert!(
        server.body_bytes() >= 440_449_768,
        "the weights were downloaded"
    );
    let log = server.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("HEAD /bert-base-uncased/resolve/main/model.safetensors")),
        "{log:?}"
    );
    // Python's layout: refs/main, snapshots/<commit>/ -> blobs/<sha256>.
    let repo_dir = home.join("hub/models--bert-base-uncased");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main"))
            .unwrap()
            .trim(),
        COMMIT
    );
    let link = std::fs::read_link(
        repo_dir
            .join("snapshots")
            .join(COMMIT)
            .join("model.safetensors"),
    )
    .unwrap();
    assert!(
        link.to_str().unwrap().starts_with("../../blobs/"),
        "{link:?}"
    );
    assert!(
        !repo_dir.join("refs").join(COMMIT).exists(),
        "no refs/<commit>: Python does not write one"
    );

    drop(server);
    let again = hub_run(
        &home,
        &endpoint,
        &["inspect", "bert-base-uncased", "--format", "json"],
    );
    assert_eq!(again.code, 0, "second run, server down: {}", again.stderr);
    assert_eq!(again.stdout, out.stdout, "same report from the cache");
}

#[test]
fn sharded_repo_downloads_every_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(
        vec![tiny_repo("org/sharded", "bert-for-pretraining-sharded")],
        &[],
        Fault::None,
    );
    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/sharded", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(r.totals.parameters, 13_763, "transformers' count");
    assert_eq!(r.source.files.len(), 3);
}

#[test]
fn transient_429_and_500_are_retried() {
    for fault in [Fault::RateLimitOnce, Fault::ServerErrorOnce] {
        let tmp = tempfile::tempdir().unwrap();
        let server = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], fault);
        let out = hub_run(
            tmp.path(),
            &server.endpoint(),
            &["inspect", "org/tiny", "--format", "json"],
        );
        assert_eq!(out.code, 0, "{fault:?}: {}", out.stderr);
        let r: Report = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(r.totals.parameters, 12_968);
    }
}

#[test]
fn corrupt_downloads_are_rejected_and_leave_the_cache_clean() {
    for (fault, needle) in [
        (Fault::Truncate, "download failed: Too many retries"),
        (
            Fault::WrongBytes,
            "download rejected and removed from the cache: sha256 is",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let server = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], fault);
        let out = hub_run(tmp.path(), &server.endpoint(), &["inspect", "org/tiny"]);
        assert_eq!(out.code, 2, "{fault:?}: {}", out.stdout);
        assert!(out.stderr.contains(needle), "{fault:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            blobs(tmp.path()).is_empty(),
            "{fault:?} left {:?}",
            blobs(tmp.path())
        );
        let snap = tmp
            .path()
            .join("hub/models--org--tiny/snapshots")
            .join(TINY_COMMIT)
            .join("model.safetensors");
        assert!(
            std::fs::symlink_metadata(&snap).is_err(),
            "{fault:?} left the snapshot link"
        );
    }
}

#[test]
fn hub_errors_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(
        vec![
            tiny_repo("org/tiny", "bert-model"),
            Repo::new("org/bin-only", TINY_COMMIT)
                .file("pytorch_model.bin", fixture("tiny/bert-model/config.json")),
        ],
        &[],
        Fault::None,
    );
    let e = server.endpoint();
    for (args, needle) in [
        (
            vec!["inspect", "org/missing"],
            "repository org/missing not found",
        ),
        (
            vec!["inspect", "org/tiny", "--revision", "v9"],
            "revision `v9` not found in org/tiny",
        ),
        (vec!["inspect", "org/bin-only"], "only pytorch_model.bin"),
    ] {
        let out = hub_run(tmp.path(), &e, &args);
        assert_eq!(out.code, 2, "{args:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    for (fault, needle) in [
        (Fault::Unauthorized, "set HF_TOKEN"),
        (Fault::Gated, "gated"),
    ] {
        let server = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], fault);
        let out = hub_run(tmp.path(), &server.endpoint(), &["inspect", "org/tiny"]);
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains(needle), "{fault:?}: {}", out.stderr);
    }
    // Nothing listens on port 9 of the loopback.
    let out = hub_run(tmp.path(), "http://127.0.0.1:9", &["inspect", "org/tiny"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot reach the Hub"),
        "{}",
        out.stderr
    );
}
