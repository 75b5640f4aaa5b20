//! Hub repositories that hold other weights than `model.safetensors`: GGUF files chosen by
//! a tag after the id (`owner/repo:Q8_0`, as llama.cpp and Ollama spell it), read
//! header-only with ranged requests or downloaded; PyTorch `pytorch_model.bin` (single or
//! sharded), downloaded whole after saying so, never header-only. The counts are checked
//! against the reference writers' own figures (the fixtures' `.json` twins).

use std::path::Path;

use crate::common::gguf_writer::{Gguf, V};
use crate::common::hub_server::{self, Fault, Repo};
use crate::common::{fixture, output, paramaudit, Output, Report};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn hub_run(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    output(
        paramaudit(home)
            .env("HF_HOME", home)
            .env("HF_ENDPOINT", endpoint)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args(args),
    )
}

fn json_number(path: &str, key: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(path)).unwrap()).unwrap();
    v[key].as_u64().unwrap()
}

/// Two quantizations of one small Llama: gguf-py wrote both (the second with
/// `general.alignment` 64); the llama.cpp converter's count of the first is the HF
/// twin's num_parameters.
fn gguf_repo() -> Repo {
    Repo::new("org/llama-gguf", COMMIT)
        .file("README.md", fixture("gguf/llama-untied.gguf.json"))
        .file("tiny-llama-F16.gguf", fixture("gguf/llama-untied.gguf"))
        .file(
            "tiny-llama-Q8_0.gguf",
            fixture("gguf/llama-untied-align64.gguf"),
        )
}

#[test]
fn a_gguf_repository_is_read_by_tag_header_only_and_downloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let server = hub_server::start(vec![gguf_repo()], &[], Fault::None);
    let e = server.endpoint();
    let parameters = json_number("gguf/llama-untied.gguf.json", "logical_parameters");
    assert_eq!(
        parameters,
        json_number(
            "families/llama-for-causal-lm-untied/reference.json",
            "num_parameters"
        )
    );

    // Several GGUF files and no tag: the choice is the user's, and the message says how.
    let out = hub_run(tmp.path(), &e, &["inspect", "org/llama-gguf"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "2 GGUF files: name one with a tag after the id, e.g. `:F16` (tiny-llama-F16.gguf, tiny-llama-Q8_0.gguf)"
        ),
        "{}",
        out.stderr
    );

    // Header only: one ranged read of the chosen file, nothing downloaded.
    let out = hub_run(
        tmp.path(),
        &e,
        &["inspect", "org/llama-gguf:q8_0", "--header-only", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert!(r.source.header_only);
    assert_eq!(r.source.files[0]["format"], "gguf");
    assert_eq!(r.totals.parameters, parameters);
    assert_eq!(r.differences.as_ref().map(|d| d.unexplained), Some(0));
    let cdn: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET cdn"))
        .collect();
    assert_eq!(cdn.len(), 1, "{cdn:?}");
    assert!(cdn[0].ends_with("range=bytes=0-65535"), "{cdn:?}");
    assert!(server
        .log()
        .iter()
        .any(|l| l == "GET /api/models/org/llama-gguf/revision/main"));

    // Downloaded, then read from the cache offline.
    let out = hub_run(tmp.path(), &e, &["inspect", "org/llama-gguf:F16", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert!(!r.source.header_only);
    assert_eq!(r.totals.parameters, parameters);
    assert_eq!(
        r.totals.file_bytes,
        json_number("gguf/llama-untied.gguf.json", "file_size")
    );
    drop(server);
    let out = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_HUB_OFFLINE", "1")
            .args(["inspect", "org/llama-gguf:F16", "--json"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        crate::common::report(&out.stdout).totals.parameters,
        parameters
    );
    let out = output(
        paramaudit(tmp.path())
            .env("HF_HOME", tmp.path())
            .env("HF_HUB_OFFLINE", "1")
            .args(["inspect", "org/llama-gguf:Q4_K_M"]),
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no GGUF file matches `:Q4_K_M`"),
        "{}",
        out.stderr
    );
}

/// A GGUF header longer than the first 64 KiB read (a 40,000-token vocabulary): further
/// ranges each double what is held, until the header is whole; the data is never read.
#[test]
fn a_long_gguf_header_is_read_in_growing_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let mut g = Gguf::tiny_llama();
    let tokens: Vec<V> = (0..40_000).map(|i| V::Str(format!("tok{i:06}"))).collect();
    g.set("tokenizer.ggml.tokens", V::Arr(8, tokens));
    let bytes = g.bytes();
    let header = g.header().len() as u64;
    // 40,000 tokens of 9 bytes plus an 8-byte length each: 680,000 bytes of strings.
    assert!(header > 680_000, "{header}");
    let path = tmp.path().join("long.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let server = hub_server::start(
        vec![Repo::new("org/long", COMMIT).file("tiny-F32.gguf", path)],
        &[],
        Fault::None,
    );
    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/long", "--header-only", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, Gguf::TINY_LLAMA_PARAMETERS);
    let ranges: Vec<String> = server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET cdn"))
        .map(|l| l.rsplit("range=bytes=").next().unwrap().to_string())
        .collect();
    // 64 KiB, then up to 128 KiB, 256 KiB, 512 KiB, 1 MiB (or the file's end).
    let mut expected = vec!["0-65535".to_string()];
    let mut held = 65_536u64;
    while held < header {
        let want = (held * 2).min(bytes.len() as u64);
        expected.push(format!("{held}-{}", want - 1));
        held = want;
    }
    assert_eq!(ranges, expected);
}

/// PyTorch weights: `--header-only` is impossible and says what a download takes; a
/// download says it fetches the whole file, then reads it without running its pickle.
#[test]
fn pytorch_repositories_download_whole_and_never_header_only() {
    let tmp = tempfile::tempdir().unwrap();
    let single = fixture("pytorch/bert-for-pretraining");
    let sharded = fixture("pytorch/bert-for-pretraining-sharded");
    let mut bin_sharded = Repo::new("org/bert-bin-sharded", COMMIT);
    for e in std::fs::read_dir(&sharded).unwrap() {
        let e = e.unwrap();
        bin_sharded = bin_sharded.file(e.file_name().to_str().unwrap(), e.path());
    }
    let server = hub_server::start(
        vec![
            Repo::new("org/bert-bin", COMMIT)
                .file("config.json", single.join("config.json"))
                .file("pytorch_model.bin", single.join("pytorch_model.bin")),
            bin_sharded,
        ],
        &[],
        Fault::None,
    );
    let e = server.endpoint();
    let size = std::fs::metadata(single.join("pytorch_model.bin"))
        .unwrap()
        .len();
    assert_eq!(size, 69_585);
    let out = hub_run(
        tmp.path(),
        &e,
        &["inspect", "org/bert-bin", "--header-only"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "the weights are PyTorch files (pytorch_model.bin) (69,585 bytes), which have no header that can be read alone: run without --header-only to download them"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    // transformers' count of the model these weights make (the storages, tied once).
    let parameters = json_number(
        "pytorch/bert-for-pretraining/reference.json",
        "num_elements_unique_storage",
    );
    assert_eq!(parameters, 13_763);
    let out = hub_run(tmp.path(), &e, &["inspect", "org/bert-bin", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "org/bert-bin: PyTorch weights have no header that can be read alone: downloading pytorch_model.bin (69,585 bytes)"
        ),
        "{}",
        out.stderr
    );
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.totals.parameters, parameters);
    assert_eq!(r.source.files[0]["format"], "pytorch");
    assert_eq!(r.differences.as_ref().map(|d| d.unexplained), Some(0));

    let out = hub_run(
        tmp.path(),
        &e,
        &["inspect", "org/bert-bin-sharded", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert_eq!(r.source.files.len(), 3);
    assert_eq!(
        r.totals.parameters,
        json_number(
            "pytorch/bert-for-pretraining-sharded/reference.json",
            "num_elements_unique_storage"
        )
    );
}

/// A split GGUF on the Hub (gguf-py's own split writer, 3 parts in a quantization
/// folder): its parts' headers are read header-only, together, and give the unsplit
/// model's figures; a download reads the same parts from the cache.
#[test]
fn a_split_gguf_is_read_header_only_part_by_part() {
    let tmp = tempfile::tempdir().unwrap();
    let mut repo = Repo::new("org/split-gguf", COMMIT);
    for i in 1..=3 {
        let name = format!("llama-untied-{i:05}-of-00003.gguf");
        repo = repo.file(
            &format!("F16/{name}"),
            fixture(&format!("gguf/split/{name}")),
        );
    }
    let server = hub_server::start(vec![repo], &[], Fault::None);
    let parameters = json_number("gguf/llama-untied.gguf.json", "logical_parameters");
    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/split-gguf:F16", "--header-only", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert!(r.source.header_only);
    assert_eq!(r.source.files.len(), 3);
    assert_eq!(r.totals.parameters, parameters);
    assert_eq!(r.differences.as_ref().map(|d| d.unexplained), Some(0));
    let cdn = server
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET cdn"))
        .count();
    assert_eq!(cdn, 3, "one ranged read per part");

    let out = hub_run(
        tmp.path(),
        &server.endpoint(),
        &["inspect", "org/split-gguf", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r: Report = crate::common::report(&out.stdout);
    assert!(!r.source.header_only);
    assert_eq!(r.totals.parameters, parameters);
}
