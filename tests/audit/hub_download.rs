//! Downloads from a test Hub on 127.0.0.1 (tests/audit/common/hub_server.rs) that follows
//! docs/hub.md. The only difference from the real Hub is HF_ENDPOINT.

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
    let first: Report = crate::common::report(&out.stdout);
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
    let r: Report = crate::common::report(&out.stdout);
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
        let r: Report = crate::common::report(&out.stdout);
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
        // Nothing unverified is a blob; a transfer cut short keeps only its partial file
        // (`<sha256>.part`, to resume), a wrong file keeps nothing.
        let left: Vec<PathBuf> = blobs(tmp.path())
            .into_iter()
            .filter(|b| b.extension().is_none_or(|e| e != "part"))
            .collect();
        assert!(left.is_empty(), "{fault:?} left {left:?}");
        if fault == Fault::WrongBytes {
            assert!(blobs(tmp.path()).is_empty(), "{:?}", blobs(tmp.path()));
        }
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

/// The server dies mid-file; the next run resumes from the partial file with a Range
/// request for the missing bytes only, and the result is verified before it is used.
#[test]
fn an_interrupted_download_resumes_with_only_the_missing_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = hub_server::start(
        vec![tiny_repo("org/tiny", "bert-model")],
        &[],
        Fault::Truncate,
    );
    let out = hub_run(tmp.path(), &broken.endpoint(), &["inspect", "org/tiny"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("run again to resume"), "{}", out.stderr);
    drop(broken);
    // The weights' partial file (named by its 64-hex LFS sha256; config.json, fetched at
    // the same time, may have left its own).
    let part: Vec<PathBuf> = blobs(tmp.path())
        .into_iter()
        .filter(|b| b.extension().is_some_and(|e| e == "part"))
        .filter(|b| b.file_stem().is_some_and(|s| s.len() == 64))
        .collect();
    assert_eq!(part.len(), 1, "{:?}", blobs(tmp.path()));
    let config_have: u64 = blobs(tmp.path())
        .into_iter()
        .filter(|b| b.extension().is_some_and(|e| e == "part"))
        .filter(|b| b.file_stem().is_some_and(|s| s.len() == 40))
        .map(|b| std::fs::metadata(b).unwrap().len())
        .sum();
    let have = std::fs::metadata(&part[0]).unwrap().len();
    let size = std::fs::metadata(fixture("tiny/bert-model/model.safetensors"))
        .unwrap()
        .len();
    assert!(have > 0 && have < size, "partial {have} of {size}");

    let good = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], Fault::None);
    let out = hub_run(
        tmp.path(),
        &good.endpoint(),
        &["inspect", "org/tiny", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, 12_968);
    let blob = part[0].file_stem().unwrap().to_str().unwrap().to_string();
    let cdn: Vec<String> = good
        .log()
        .into_iter()
        .filter(|l| l.contains(" cdn "))
        .collect();
    // hf-hub probes the file's first byte for its metadata, then asks for the rest only.
    assert_eq!(
        cdn,
        vec![
            format!("GET cdn /blob/{blob} range=bytes=0-0"),
            format!("GET cdn /blob/{blob} range=bytes={have}-"),
        ],
        "only the missing bytes were asked for"
    );
    // Body bytes served: the missing parts of the weights and of the config (resumed
    // too when its transfer was cut), and hf-hub's one-byte probe of each of the two files.
    assert_eq!(
        good.body_bytes(),
        size - have + config_bytes() - config_have + 2
    );
}

/// Bytes of the fixture's config.json (served whole on a download).
fn config_bytes() -> u64 {
    std::fs::metadata(fixture("tiny/bert-model/config.json"))
        .unwrap()
        .len()
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
        (
            vec!["inspect", "org/bin-only", "--header-only"],
            "the weights are PyTorch files (pytorch_model.bin) (",
        ),
        (
            vec!["inspect", "org/bin-only:Q4_0"],
            "no GGUF file matches `:Q4_0`: the repository has none",
        ),
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

fn bert_base_source(dir: &Path) -> Repo {
    std::fs::create_dir_all(dir).unwrap();
    layout::write_sparse(
        &dir.join("model.safetensors"),
        &layout::bert_pretraining(BERT_BASE),
    );
    std::fs::write(dir.join("config.json"), BERT_BASE_CONFIG).unwrap();
    Repo::new("google-bert/bert-base-uncased", COMMIT)
        .file("model.safetensors", dir.join("model.safetensors"))
        .file("config.json", dir.join("config.json"))
}

#[test]
fn header_only_reads_kilobytes_of_a_440_mb_model_and_reports_the_same_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let src = tmp.path().join("src");
    let server = hub_server::start(
        vec![bert_base_source(&src)],
        &[("bert-base-uncased", "google-bert/bert-base-uncased")],
        Fault::None,
    );
    let out = hub_run(
        &home,
        &server.endpoint(),
        &[
            "inspect",
            "bert-base-uncased",
            "--header-only",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sent = server.body_bytes();
    assert!(sent < 100_000, "header-only transferred {sent} bytes");
    let gets: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET cdn"))
        .collect();
    assert_eq!(gets.len(), 1, "one ranged read: {gets:?}");
    assert!(gets[0].ends_with("range=bytes=0-65535"), "{gets:?}");

    let remote: Report = crate::common::report(&out.stdout);
    assert!(remote.source.header_only);
    assert_eq!(remote.totals.parameters, 110_106_428);
    assert_eq!(remote.totals.file_bytes, 440_449_768);
    assert_eq!(remote.formula.as_ref().unwrap().weights_only, 108_808_704);
    assert!(remote.notes.iter().any(|n| n.starts_with("header only")));
    // Same figures as reading the very same file locally.
    let local: Report = crate::common::report(
        &crate::common::run(
            tmp.path(),
            &["inspect", src.to_str().unwrap(), "--format", "json"],
        )
        .stdout,
    );
    assert_eq!(remote.totals, local.totals);
    assert_eq!(remote.differences, local.differences);
    assert_eq!(remote.buckets.embedding, local.buckets.embedding);
    assert_eq!(remote.buckets.head, local.buckets.head);
    assert_eq!(remote.tensors.len(), local.tensors.len());
    // The weights never reached the cache.
    let blobs = blobs(&home);
    assert_eq!(blobs.len(), 1, "only config.json: {blobs:?}");
}

#[test]
fn header_only_reads_a_long_header_in_two_requests_and_shards_one_by_one() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    // 3,000 one-element tensors: a header of about 200 KB, beyond the first 64 KiB read.
    let many: Vec<layout::Spec> = (0..3000)
        .map(|i| (format!("extra.t{i:04}"), "F32", vec![1]))
        .collect();
    layout::write_sparse(&src.join("model.safetensors"), &many);
    let header_len = layout::header(&many).0.len() as u64;
    assert!(header_len > 65_536);
    let repo =
        Repo::new("org/long", TINY_COMMIT).file("model.safetensors", src.join("model.safetensors"));
    let server = hub_server::start(
        vec![
            repo,
            tiny_repo("org/sharded", "bert-for-pretraining-sharded"),
        ],
        &[],
        Fault::None,
    );
    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/long", "--header-only", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.tensors, 3000);
    assert_eq!(r.buckets.other.parameters, 3000);
    let gets: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET cdn"))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert!(
        gets[1].ends_with(&format!("range=bytes=65536-{}", header_len - 1)),
        "{gets:?}"
    );

    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &[
            "inspect",
            "org/sharded",
            "--header-only",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, 13_763, "transformers' count");
    assert_eq!((r.source.files.len(), r.source.header_only), (3, true));
    assert_eq!(r.differences.unwrap().unexplained, 0);
}

#[test]
fn a_server_that_ignores_range_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let server = hub_server::start(
        vec![bert_base_source(&tmp.path().join("src"))],
        &[],
        Fault::IgnoreRange,
    );
    let out = hub_run(
        &home,
        &server.endpoint(),
        &["inspect", "google-bert/bert-base-uncased", "--header-only"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "the server ignored the Range request (200 with the whole 440449768-byte file)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        blobs(&home)
            .iter()
            .all(|b| !b.to_string_lossy().contains("68d45e")),
        "no weights cached"
    );
    // hf-hub 0.5 needs Content-Range on its first ranged probe (its issue #141): the full
    // download fails too, cleanly.
    let tiny = hub_server::start(
        vec![tiny_repo("org/tiny", "bert-model")],
        &[],
        Fault::IgnoreRange,
    );
    let out = hub_run(&home, &tiny.endpoint(), &["inspect", "org/tiny"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        blobs(&home)
            .iter()
            .all(|b| !b.to_string_lossy().ends_with(".part")),
        "{:?}",
        blobs(&home)
    );
}

#[test]
fn header_only_on_a_local_path_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("tiny/bert-model");
    let out = crate::common::run(
        tmp.path(),
        &["inspect", dir.to_str().unwrap(), "--header-only"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is already read header-only"),
        "{}",
        out.stderr
    );
}

#[test]
fn hf_token_is_sent_for_private_repos() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(
        vec![tiny_repo("org/private", "bert-model")],
        &[],
        Fault::RequireToken("s3cret"),
    );
    let anonymous = hub_run(tmp.path(), &server.endpoint(), &["inspect", "org/private"]);
    assert_eq!(anonymous.code, 2);
    assert!(
        anonymous.stderr.contains("401 Unauthorized") && anonymous.stderr.contains("set HF_TOKEN"),
        "{}",
        anonymous.stderr
    );
    let out = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_ENDPOINT", server.endpoint())
            .env("HF_TOKEN", "s3cret")
            .args(["inspect", "org/private", "--format", "json"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, 12_968);
}

#[test]
fn a_hung_hub_times_out_after_hf_hub_etag_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], Fault::Stall);
    let started = std::time::Instant::now();
    let out = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_ENDPOINT", server.endpoint())
            .env("HF_HUB_ETAG_TIMEOUT", "1")
            .args(["inspect", "org/tiny"]),
    );
    let took = started.elapsed();
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("cannot reach the Hub") && out.stderr.contains("imeout"),
        "{}",
        out.stderr
    );
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
}

#[test]
fn blobs_already_in_the_cache_are_reused_not_downloaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(
        vec![tiny_repo("org/sharded", "bert-for-pretraining-sharded")],
        &[],
        Fault::None,
    );
    let first = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/sharded", "--format", "json"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cdn_gets =
        |s: &hub_server::HubServer| s.log().iter().filter(|l| l.starts_with("GET cdn")).count();
    let after_first = cdn_gets(&server);
    // Lose one snapshot link (an interrupted or pruned snapshot): its blob is still there.
    let snap = tmp
        .path()
        .join("hub/models--org--sharded/snapshots")
        .join(TINY_COMMIT);
    std::fs::remove_file(snap.join("model-00002-of-00003.safetensors")).unwrap();
    let again = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/sharded", "--format", "json"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(
        cdn_gets(&server),
        after_first,
        "no weights downloaded again"
    );
    assert!(
        std::fs::symlink_metadata(snap.join("model-00002-of-00003.safetensors"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn malformed_hub_headers_are_refused_before_anything_is_written() {
    for (fault, needle) in [
        (
            Fault::EvilEtag,
            "ETag `../../../escape` is not an LFS sha256",
        ),
        (Fault::NoCommit, "answer has no X-Repo-Commit header"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let server = hub_server::start(vec![tiny_repo("org/tiny", "bert-model")], &[], fault);
        let out = hub_run(&home, &server.endpoint(), &["inspect", "org/tiny"]);
        assert_eq!(out.code, 2, "{fault:?}");
        assert!(out.stderr.contains(needle), "{fault:?}: {}", out.stderr);
        assert!(blobs(&home).is_empty(), "{fault:?}");
        assert!(!tmp.path().join("escape").exists());
    }
}
