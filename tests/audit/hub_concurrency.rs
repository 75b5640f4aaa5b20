//! Header-only reads over the network run concurrently within one shared limit, keep the
//! index's order, and stop at the first failure (the behaviour; the speed is measured by
//! bench/hub.sh, never asserted here).

use std::path::Path;
use std::time::Duration;

use crate::common::hub_server::{self, Fault, Repo};
use crate::common::layout::{self, Spec};
use crate::common::{output, paramaudit, report, Output};

const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn hub_run(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    output(
        paramaudit(home)
            .env("HF_HOME", home.join("hf"))
            .env("HF_ENDPOINT", endpoint)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args(args),
    )
}

/// A sharded checkpoint of `shards` files (one small tensor each) served as `id`.
fn sharded_repo(dir: &Path, id: &str, shards: usize) -> Repo {
    let specs: Vec<Spec> = (0..shards)
        .map(|i| (format!("block.{i:03}.weight"), "F32", vec![4, 4]))
        .collect();
    layout::write_sharded(dir, &specs, shards);
    let mut repo = Repo::new(id, COMMIT);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        repo = repo.file(e.file_name().to_str().unwrap(), e.path());
    }
    repo
}

#[test]
fn shards_are_read_concurrently_within_the_limit_and_in_index_order() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = sharded_repo(&tmp.path().join("src"), "org/sharded", 24);
    let hub = hub_server::start_with(vec![repo], &[], Fault::None, Duration::from_millis(40));
    let out = hub_run(
        tmp.path(),
        &hub.endpoint(),
        &[
            "inspect",
            "org/sharded",
            "--header-only",
            "--concurrency",
            "4",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = report(&out.stdout);
    assert_eq!(r.totals.tensors, 24);
    let files: Vec<String> = r
        .source
        .files
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted, "shards in index order");
    let most = hub.most_in_flight();
    assert!(
        (2..=4).contains(&most),
        "at most 4 requests at once, and more than one: {most}"
    );
    // No HEAD per shard: the ranged GET answers with what a HEAD would.
    let heads = hub.log().iter().filter(|l| l.starts_with("HEAD ")).count();
    assert_eq!(heads, 0, "{:?}", hub.log());
}

#[test]
fn a_missing_shard_is_named_and_the_rest_are_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = sharded_repo(&tmp.path().join("src"), "org/broken", 40);
    repo.files.remove("model-00003-of-00040.safetensors");
    let hub = hub_server::start_with(vec![repo], &[], Fault::None, Duration::from_millis(20));
    let out = hub_run(
        tmp.path(),
        &hub.endpoint(),
        &[
            "inspect",
            "org/broken",
            "--header-only",
            "--concurrency",
            "2",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "shard `model-00003-of-00040.safetensors` named in the index is not in the repository"
        ),
        "{}",
        out.stderr
    );
    let shard_reads = hub
        .log()
        .iter()
        .filter(|l| l.starts_with("GET /org/broken/resolve/") && l.contains("model-000"))
        .count();
    assert!(
        shard_reads < 20,
        "cancelled after the failure: {shard_reads} of 40 shards asked"
    );
}

#[test]
fn several_hub_ids_share_one_request_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let source = crate::common::fixture("tiny/bert-model");
    let repos: Vec<Repo> = (0..8)
        .map(|i| {
            Repo::new(&format!("org/m{i}"), COMMIT)
                .file("model.safetensors", source.join("model.safetensors"))
                .file("config.json", source.join("config.json"))
        })
        .collect();
    let hub = hub_server::start_with(repos, &[], Fault::None, Duration::from_millis(30));
    let ids: Vec<String> = (0..8).map(|i| format!("org/m{i}")).collect();
    let mut args: Vec<&str> = vec!["inspect"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--header-only", "--concurrency", "3", "--format", "jsonl"]);
    let out = hub_run(tmp.path(), &hub.endpoint(), &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 8);
    for (line, id) in out.stdout.lines().zip(&ids) {
        let r = report(line);
        assert_eq!(r.totals.parameters, 12_968, "{id}");
    }
    let most = hub.most_in_flight();
    assert!((2..=3).contains(&most), "one limit for every model: {most}");
}
