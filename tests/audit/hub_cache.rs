//! Models already in the Hugging Face cache, laid out exactly as Python's huggingface_hub
//! writes it (refs/, snapshots/<commit>/ symlinks into blobs/<sha256 | git sha1>), read
//! with the network off.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::common::hub_server::git_sha1;
use crate::common::layout::{self, BERT_BASE, BERT_BASE_CONFIG};
use crate::common::{fixture, output, paramaudit, run, Output, Report};

/// docs/reference.md §3: the commit and the LFS sha256 of bert-base-uncased's model.safetensors.
const COMMIT: &str = "86b5e0934494bd15c9632b12f734a8a67f723594";
const BERT_BASE_SHA256: &str = "68d45e234eb4a928074dfd868cead0219ab85354cc53d20e772753c6bb9169d3";

fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut h).unwrap();
    format!("{:x}", h.finalize())
}

/// Put `file` into the cache of `repo` as blobs/<name> with a snapshot symlink.
fn cache_file(repo_dir: &Path, commit: &str, filename: &str, source: &Path, blob: &str) {
    let blobs = repo_dir.join("blobs");
    let snap = repo_dir.join("snapshots").join(commit);
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::rename(source, blobs.join(blob)).unwrap();
    std::os::unix::fs::symlink(Path::new("../../blobs").join(blob), snap.join(filename)).unwrap();
}

fn cache_text(repo_dir: &Path, commit: &str, filename: &str, text: &str) {
    let tmp = repo_dir.join(format!("tmp-{filename}"));
    std::fs::create_dir_all(repo_dir).unwrap();
    std::fs::write(&tmp, text).unwrap();
    cache_file(repo_dir, commit, filename, &tmp, &git_sha1(text.as_bytes()));
}

fn set_ref(repo_dir: &Path, name: &str, commit: &str) {
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs").join(name), commit).unwrap();
}

/// HF_HOME with the full-size bert-base-uncased layout cached under `folder`.
fn bert_base_cache(home: &Path, folder: &str) -> PathBuf {
    let repo_dir = home.join("hub").join(folder);
    std::fs::create_dir_all(&repo_dir).unwrap();
    let tmp = repo_dir.join("tmp-model");
    layout::write_sparse(&tmp, &layout::bert_pretraining(BERT_BASE));
    // The blob is named by the real file's LFS sha256, as Python names it; the content is
    // the real layout with a sparse data section (nothing here hashes the weights).
    cache_file(
        &repo_dir,
        COMMIT,
        "model.safetensors",
        &tmp,
        BERT_BASE_SHA256,
    );
    cache_text(&repo_dir, COMMIT, "config.json", BERT_BASE_CONFIG);
    set_ref(&repo_dir, "main", COMMIT);
    repo_dir
}

fn inspect_offline(home: &Path, args: &[&str]) -> Output {
    output(
        paramaudit(home)
            .env("HF_HOME", home)
            .env("HF_HUB_OFFLINE", "1")
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .args(args),
    )
}

#[test]
fn python_layout_cache_is_read_offline_by_branch_and_by_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    bert_base_cache(home, "models--google-bert--bert-base-uncased");
    for args in [
        vec![
            "inspect",
            "google-bert/bert-base-uncased",
            "--format",
            "json",
        ],
        // A commit revision has no refs/<commit> file in Python's layout.
        vec![
            "inspect",
            "google-bert/bert-base-uncased",
            "--revision",
            COMMIT,
            "--format",
            "json",
        ],
    ] {
        let out = inspect_offline(home, &args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        let r: Report = crate::common::report(&out.stdout);
        assert_eq!(r.totals.parameters, 110_106_428);
        assert_eq!(r.differences.unwrap().unexplained, 0);
        assert_eq!(r.formula.unwrap().weights_only, 108_808_704);
    }
}

#[test]
fn short_id_is_looked_up_under_its_own_cache_folder_like_python_does() {
    let tmp = tempfile::tempdir().unwrap();
    bert_base_cache(tmp.path(), "models--bert-base-uncased");
    let out = inspect_offline(
        tmp.path(),
        &["inspect", "bert-base-uncased", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, 110_106_428);
}

#[test]
fn hf_hub_cache_wins_over_hf_home() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture_file = fixture("tiny/bert-for-masked-lm/model.safetensors");
    let cache = tmp.path().join("elsewhere");
    let repo_dir = cache.join("models--org--tiny");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let copy = repo_dir.join("tmp");
    std::fs::copy(&fixture_file, &copy).unwrap();
    let sha = sha256_file(&copy);
    cache_file(&repo_dir, COMMIT, "model.safetensors", &copy, &sha);
    let config = std::fs::read_to_string(fixture("tiny/bert-for-masked-lm/config.json")).unwrap();
    cache_text(&repo_dir, COMMIT, "config.json", &config);
    set_ref(&repo_dir, "main", COMMIT);
    let out = paramaudit(tmp.path())
        .env("HF_HOME", tmp.path().join("empty-home"))
        .env("HF_HUB_CACHE", &cache)
        .args(["inspect", "org/tiny", "--offline", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r.totals.parameters, 13_113,
        "transformers' count for the tiny BertForMaskedLM"
    );
}

#[test]
fn offline_without_the_model_in_the_cache_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = inspect_offline(tmp.path(), &["inspect", "google-bert/bert-base-uncased"]);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("google-bert/bert-base-uncased (revision main): no snapshot for this revision in the cache at")
            && out.stderr.contains("offline mode is on"),
        "{}",
        out.stderr
    );
}

#[test]
fn partially_cached_sharded_model_is_not_used_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("hub/models--org--sharded");
    let src = fixture("tiny/bert-for-pretraining-sharded");
    for name in [
        "model.safetensors.index.json",
        "model-00001-of-00003.safetensors",
        "config.json",
    ] {
        let copy = repo_dir.join(format!("tmp-{name}"));
        std::fs::create_dir_all(&repo_dir).unwrap();
        std::fs::copy(src.join(name), &copy).unwrap();
        let blob = sha256_file(&copy);
        cache_file(&repo_dir, COMMIT, name, &copy, &blob);
    }
    set_ref(&repo_dir, "main", COMMIT);
    let out = inspect_offline(tmp.path(), &["inspect", "org/sharded"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("2 of the shards are not cached"),
        "{}",
        out.stderr
    );
}

#[test]
fn cache_that_records_no_safetensors_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let repo_dir = tmp.path().join("hub/models--org--bin-only");
    set_ref(&repo_dir, "main", COMMIT);
    let no_exist = repo_dir.join(".no_exist").join(COMMIT);
    std::fs::create_dir_all(&no_exist).unwrap();
    std::fs::write(no_exist.join("model.safetensors"), "").unwrap();
    std::fs::write(no_exist.join("model.safetensors.index.json"), "").unwrap();
    let out = inspect_offline(tmp.path(), &["inspect", "org/bin-only"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("neither model.safetensors nor model.safetensors.index.json"),
        "{}",
        out.stderr
    );
}

/// transformers prefers an existing local directory silently; so does paramaudit (a
/// warning for every such directory was noise).
#[test]
fn existing_local_path_that_looks_like_an_id_is_read_locally_and_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny-model");
    std::fs::create_dir(&dir).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(fixture("tiny/bert-model").join(f), dir.join(f)).unwrap();
    }
    let out = run(tmp.path(), &["inspect", "tiny-model", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}
