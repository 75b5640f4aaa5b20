//! What a new user hits in the first five minutes (issue 8): each test failed on the
//! code before the fix and guards it now.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::common::hub_server::{self, Fault};
use crate::common::layout::{self, BERT_BASE, BERT_BASE_CONFIG};
use crate::common::{fixture, output, paramaudit, report, run, schema, Output};

fn hub_run(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    output(
        paramaudit(home)
            .env("HF_HOME", home.join("hf"))
            .env("HF_ENDPOINT", endpoint)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .args(args),
    )
}

fn copy_fixture(name: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(fixture(&format!("tiny/{name}"))).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

// 1. A path that does not exist is not silently a Hub id.

#[test]
fn a_mistyped_path_fails_at_once_with_the_closest_name_and_never_asks_the_hub() {
    let tmp = tempfile::tempdir().unwrap();
    copy_fixture("bert-model", &tmp.path().join("data/minilm"));
    let hub = hub_server::start(vec![], &[], Fault::None);
    for (arg, suggestion) in [
        ("data/minlm", Some("data/minilm")),
        (
            "data/minilm/model.safetensor",
            Some("data/minilm/model.safetensors"),
        ),
        ("./outputs/final", None),
        ("weights.safetensors", None),
        ("/nonexistent/model", None),
    ] {
        let out = hub_run(tmp.path(), &hub.endpoint(), &["inspect", arg]);
        assert_eq!(out.code, 2, "{arg}: {}", out.stderr);
        let mut want = format!("paramaudit: error: no such file or directory: {arg}");
        if let Some(s) = suggestion {
            want.push_str(&format!("; did you mean {s}?"));
        }
        assert_eq!(out.stderr.trim_end(), want, "{arg}");
        assert!(out.stdout.is_empty());
    }
    assert!(
        hub.log().is_empty(),
        "no request for a path: {:?}",
        hub.log()
    );
    // Not path-shaped (its first component does not exist): a Hub id, whose failure
    // still points at the near local name.
    let out = hub_run(tmp.path(), &hub.endpoint(), &["inspect", "dta/minilm"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("repository dta/minilm not found")
            && out
                .stderr
                .contains("(no local path `dta/minilm` exists either; did you mean data/minilm?)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_hub_failure_also_says_no_local_path_of_that_name_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = hub_server::start(vec![], &[], Fault::None);
    let out = hub_run(
        tmp.path(),
        &hub.endpoint(),
        &["inspect", "outputs/final", "--offline"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("offline mode is on")
            && out
                .stderr
                .contains("(no local path `outputs/final` exists either)"),
        "{}",
        out.stderr
    );
    let out = hub_run(
        tmp.path(),
        &hub.endpoint(),
        &["inspect", "org/missing-model"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("repository org/missing-model not found")
            && out
                .stderr
                .contains("no local path `org/missing-model` exists either"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);
}

// 2. Exit codes survive a closed pipe.

/// Run with stdout a pipe whose reader goes away: `read_lines` lines first (0: closed
/// before the program writes anything). Returns the exit code.
fn exit_code_with_early_close(cwd: &Path, args: &[&str], read_lines: usize) -> i32 {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("paramaudit"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    if read_lines > 0 {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        for _ in 0..read_lines {
            line.clear();
            reader.read_line(&mut line).unwrap();
        }
    } else {
        drop(stdout);
    }
    child.wait().unwrap().code().expect("exited by a signal")
}

#[test]
fn a_closed_pipe_never_changes_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let model = fixture("tiny/bert-for-pretraining");
    let m = model.to_str().unwrap();
    let pins = t.join("pins.json");
    std::fs::write(&pins, r#"{"parameters": 13700}"#).unwrap();
    let good = t.join("good.json");
    std::fs::write(&good, r#"{"parameters": 13763}"#).unwrap();
    let zeros = "0".repeat(64);
    let missing = t.join("missing.safetensors");
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (vec!["check", m, "--expect", pins.to_str().unwrap()], 1),
        (
            vec!["check", m, "--expect", pins.to_str().unwrap(), "--json"],
            1,
        ),
        (vec!["check", m, "--expect", good.to_str().unwrap()], 0),
        (vec!["verify", m, "--sha256", &zeros], 1),
        (vec!["verify", m, "--sha256", &zeros, "--tensors"], 1),
        (vec!["inspect", m, missing.to_str().unwrap()], 2),
        (vec!["inspect", m, "--tensors"], 0),
    ];
    for (args, want) in &cases {
        for round in 0..20 {
            let read = round % 2;
            let code = exit_code_with_early_close(t, args, read);
            assert_eq!(code, *want, "{args:?}, reader closed after {read} lines");
        }
    }
}

// 3. Checked arithmetic everywhere after the parser.

fn raw_file(path: &Path, header: &str, data: u64) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(path, &bytes).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(bytes.len() as u64 + data).unwrap();
}

#[test]
fn a_layer_index_of_u64_max_is_out_of_range_not_a_panic_or_zero_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge-layer.safetensors");
    let header = r#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[10,4],"data_offsets":[0,160]},"encoder.layer.18446744073709551615.attention.self.query.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[160,224]}}"#;
    raw_file(&path, header, 224);
    let out = run(tmp.path(), &["inspect", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let r = report(&out.stdout);
    assert!(
        r.formula.is_none(),
        "no formula from an impossible layer count"
    );
    assert!(
        r.notes.iter().any(
            |n| n.contains("`num_hidden_layers` is 18446744073709551615, beyond the supported")
        ),
        "{:?}",
        r.notes
    );
    assert_eq!(r.totals.parameters, 56);
}

#[test]
fn five_huge_sub_byte_tensors_are_an_impossible_total_not_a_wrapped_number() {
    // Five F4 tensors of 2^62 - 2 elements: each 2^61 - 1 bytes. The elements add up to
    // more than 2^64 (in release builds the sum wrapped to 4,611,686,018,427,387,894).
    let tmp = tempfile::tempdir().unwrap();
    let elements: u64 = (1 << 62) - 2;
    let bytes: u64 = elements / 2;
    let data = 5 * bytes;
    let header = |file_bytes: u64, header_bytes: u64| {
        let mut h = format!(
            r#"{{"__metadata__":{{"paramaudit.header_only.file_bytes":"{file_bytes}","paramaudit.header_only.header_bytes":"{header_bytes}"}}"#
        );
        for i in 0..5u64 {
            h.push_str(&format!(
                r#","t{i}":{{"dtype":"F4","shape":[{elements}],"data_offsets":[{},{}]}}"#,
                i * bytes,
                (i + 1) * bytes
            ));
        }
        h.push('}');
        h
    };
    // The file size has 20 digits and the header length 3 whatever their values, so the
    // header's own length does not depend on them.
    let len = header(10_000_000_000_000_000_000, 100).len() as u64;
    let h = header(8 + len + data, len);
    assert_eq!(h.len() as u64, len);
    let dir = tmp.path().join("saved");
    std::fs::create_dir(&dir).unwrap();
    let mut file = len.to_le_bytes().to_vec();
    file.extend_from_slice(h.as_bytes());
    std::fs::write(dir.join("model.safetensors"), file).unwrap();
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("exceeds 2^64"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1);
}

#[test]
fn an_extreme_unexplained_pin_reports_the_change_with_the_right_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, r#"{"unexplained": -9223372036854775808}"#).unwrap();
    let m = fixture("tiny/bert-model");
    let args = [
        "check",
        m.to_str().unwrap(),
        "--expect",
        pins.to_str().unwrap(),
    ];
    let out = run(tmp.path(), &[&args[..], &["--json"]].concat());
    assert_eq!(out.code, 1, "{}", out.stderr);
    let v = schema::doc("check", &out.stdout);
    let drift = &v["drift"][0];
    assert_eq!(drift["figure"], "differences.unexplained");
    assert_eq!(drift["found"], 0);
    // 0 - (-2^63) = +2^63: one more than i64 holds.
    let change: serde_json::Number = serde_json::from_value(drift["change"].clone()).unwrap();
    assert_eq!(change.to_string(), "9223372036854775808");
    let table = run(tmp.path(), &args);
    assert!(
        table.stdout.contains("+9,223,372,036,854,775,808"),
        "{}",
        table.stdout
    );
}

// 4. --revision cannot leave the cache.

#[test]
fn revisions_that_would_leave_the_cache_are_refused_before_any_file_or_request() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hf/hub");
    let repo_dir = cache.join("models--org--m");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo_dir.join("snapshots").join(commit);
    copy_fixture("bert-model", &snapshot);
    // Files a joined revision would reach: refs/../../x is <cache>/x, refs/a/../../b is
    // <repo>/b. Each names a valid snapshot, so following them would "work".
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(cache.join("x"), commit).unwrap();
    std::fs::write(repo_dir.join("b"), commit).unwrap();
    let before = list(tmp.path());
    let hub = hub_server::start(vec![], &[], Fault::None);
    for revision in ["../../x", "/etc", "a/../../b", "refs//pr", "a\\b"] {
        for extra in [&[][..], &["--offline"][..], &["--header-only"][..]] {
            let mut args = vec!["inspect", "org/m", "--revision", revision];
            args.extend_from_slice(extra);
            let out = hub_run(tmp.path(), &hub.endpoint(), &args);
            assert_eq!(out.code, 2, "{revision}: {}", out.stdout);
            assert!(
                out.stderr.contains("invalid --revision"),
                "{revision}: {}",
                out.stderr
            );
        }
    }
    assert!(hub.log().is_empty(), "{:?}", hub.log());
    assert_eq!(list(tmp.path()), before, "nothing written anywhere");
    // A valid revision with a slash still reaches the cache normally.
    // Python's layout: the ref `refs/pr/1` lives at refs/refs/pr/1.
    std::fs::create_dir_all(repo_dir.join("refs/refs/pr")).unwrap();
    std::fs::write(repo_dir.join("refs/refs/pr/1"), commit).unwrap();
    let out = hub_run(
        tmp.path(),
        &hub.endpoint(),
        &["inspect", "org/m", "--revision", "refs/pr/1", "--offline"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn revision_with_a_local_path_is_an_error_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-model");
    let out = run(
        tmp.path(),
        &["inspect", m.to_str().unwrap(), "--revision", "v1"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--revision applies to Hub models"),
        "{}",
        out.stderr
    );
}

// 6. Inputs that are not safetensors are named.

#[test]
fn foreign_files_are_named_by_their_magic_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 7] = [
        (
            "pytorch_model.bin",
            b"PK\x03\x04\x14\x00\x00\x00archive/data.pkl",
            "PyTorch: no end-of-central-directory record",
        ),
        (
            "old.pt",
            b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.",
            "PyTorch: legacy torch format: the protocol version pickle",
        ),
        (
            "model.gguf",
            b"GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            // Read by the GGUF reader, which names the format and the problem.
            "GGUF: truncated: the key-value count at byte 16",
        ),
        (
            "weights.h5",
            b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00",
            "an HDF5 file",
        ),
        (
            "model.onnx",
            b"\x08\x07\x12\x07pytorch\x1a\x032.1",
            "an ONNX model",
        ),
        (
            "notes.safetensors",
            b"these are not weights, just some text\n",
            "a text file",
        ),
        (
            "config.safetensors",
            b"{\"model_type\": \"bert\", \"hidden_size\": 8}",
            "a JSON text file",
        ),
    ];
    for (name, bytes, needle) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(tmp.path(), &["inspect", path.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{name}");
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
        assert!(!out.stderr.contains("header length"), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1);
    }
}

#[test]
fn formula_takes_a_model_directory_and_names_a_checkpoint_given_instead() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("tiny/bert-model");
    let out = run(tmp.path(), &["formula", dir.to_str().unwrap(), "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = schema::doc("formula", &out.stdout);
    assert_eq!(v["dims"]["hidden_size"], 24);
    let weights = dir.join("model.safetensors");
    let out = run(tmp.path(), &["formula", weights.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("model.safetensors")
            && out.stderr.contains("a checkpoint, not a config")
            && out.stderr.contains("`formula` reads a config.json"),
        "{}",
        out.stderr
    );
}

// 7. Configs are validated, defaults are visible.

#[test]
fn impossible_configs_are_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.json");
    for (text, needle) in [
        ("{}", "none of the bert family's dimensions"),
        (
            r#"{"model_type": "bert", "num_hidden_layers": 0}"#,
            "`num_hidden_layers` is 0",
        ),
        (
            r#"{"num_attention_heads": 0}"#,
            "`num_attention_heads` is 0",
        ),
        (
            r#"{"hidden_size": -8}"#,
            "`hidden_size` must be a non-negative integer",
        ),
        (r#"{"vocab_size": 0}"#, "`vocab_size` is 0"),
        (
            r#"{"hidden_size": 24, "num_attention_heads": 5}"#,
            "`hidden_size` 24 is not a multiple of `num_attention_heads` 5",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = run(tmp.path(), &["formula", config.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{text}");
        // Without a model_type and any dimension, `formula` cannot even pick a family.
        let formula_needle = if text == "{}" {
            "no `model_type` and no family's dimensions"
        } else {
            needle
        };
        assert!(
            out.stderr.contains(formula_needle),
            "{text}: {}",
            out.stderr
        );
        let m = fixture("tiny/bert-model");
        let out = run(
            tmp.path(),
            &[
                "inspect",
                m.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 2, "{text}");
        assert!(out.stderr.contains(needle), "{text}: {}", out.stderr);
    }
}

#[test]
fn dimensions_taken_from_defaults_are_listed_in_table_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_fixture("bert-model", &dir);
    // The fixture's config minus two fields: both are then transformers' defaults.
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let fields = config.as_object_mut().unwrap();
    fields.remove("type_vocab_size");
    fields.remove("max_position_embeddings");
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let table = run(tmp.path(), &["inspect", dir.to_str().unwrap()]);
    let md = run(
        tmp.path(),
        &["inspect", dir.to_str().unwrap(), "--format", "markdown"],
    );
    let f = run(tmp.path(), &["formula", dir.to_str().unwrap()]);
    for out in [&table, &md, &f] {
        assert!(
            out.stdout
                .contains("defaults (absent from config.json): max_position_embeddings=512, type_vocab_size=2"),
            "{}",
            out.stdout
        );
    }
}

// 8. Machine output is machine output.

#[test]
fn check_drift_holds_integers_and_every_json_document_has_a_schema_version() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-for-pretraining");
    let ms = m.to_str().unwrap();
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, r#"{"parameters": 13700, "dtypes": ["F16"]}"#).unwrap();
    let out = run(
        tmp.path(),
        &["check", ms, "--expect", pins.to_str().unwrap(), "--json"],
    );
    let v = schema::doc("check", &out.stdout);
    assert_eq!(v["drift"][0]["expected"], 13_700);
    assert_eq!(v["drift"][0]["found"], 13_763);
    assert_eq!(v["drift"][0]["change"], 63);
    assert_eq!(v["drift"][1]["expected"], "F16");
    let b = fixture("tiny/bert-model");
    let docs = [
        ("report", vec!["inspect", ms, "--json"]),
        (
            "check",
            vec!["check", ms, "--expect", pins.to_str().unwrap(), "--json"],
        ),
        ("diff", vec!["diff", ms, b.to_str().unwrap(), "--json"]),
        ("verify", vec!["verify", ms, "--json"]),
        ("formula", vec!["formula", ms, "--json"]),
    ];
    for (kind, args) in docs {
        let out = run(tmp.path(), &args);
        let v = schema::doc(kind, &out.stdout);
        assert_eq!(v["schema_version"], 3, "{kind}");
        // JSON Lines: the same document on one line.
        let mut lines = args.clone();
        *lines.last_mut().unwrap() = "--format=jsonl";
        let out = run(tmp.path(), &lines);
        assert_eq!(out.stdout.lines().count(), 1, "{kind}");
        schema::doc(kind, &out.stdout);
    }
}

#[test]
fn the_published_schemas_reject_what_the_old_output_looked_like() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-model");
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, r#"{"parameters": 13700}"#).unwrap();
    let out = run(
        tmp.path(),
        &[
            "check",
            m.to_str().unwrap(),
            "--expect",
            pins.to_str().unwrap(),
            "--json",
        ],
    );
    let mut v = schema::doc("check", &out.stdout);
    v["drift"][0]["expected"] = "13,700".into();
    let caught = std::panic::catch_unwind(|| schema::validate("check", &v));
    assert!(
        caught.is_err(),
        "a display string where a count belongs is refused"
    );
    let mut v = schema::doc("check", &out.stdout);
    v.as_object_mut().unwrap().remove("schema_version");
    let caught = std::panic::catch_unwind(|| schema::validate("check", &v));
    assert!(caught.is_err(), "schema_version is required");
}

// 9. Completions and a man page.

#[test]
fn completions_for_every_shell_and_a_man_page() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell", "BASH"] {
        let out = run(tmp.path(), &["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for word in ["paramaudit", "inspect", "header-only", "verify"] {
            assert!(out.stdout.contains(word), "{shell}: {word}");
        }
    }
    let out = run(tmp.path(), &["man"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.starts_with(".ie") || out.stdout.contains(".TH paramaudit"),
        "{}",
        &out.stdout[..200]
    );
    assert!(out.stdout.contains("inspect"));
}

// 10. Colour on a terminal, off in pipes.

#[test]
fn colour_follows_the_flag_no_color_and_clicolor_force() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-model");
    let pins = tmp.path().join("pins.json");
    std::fs::write(&pins, r#"{"parameters": 1}"#).unwrap();
    let args = [
        "check",
        m.to_str().unwrap(),
        "--expect",
        pins.to_str().unwrap(),
    ];
    let esc = "\u{1b}[";
    let piped = run(tmp.path(), &args);
    assert_eq!(piped.code, 1);
    assert!(!piped.stdout.contains(esc), "no colour in a pipe");
    let always = run(tmp.path(), &[&args[..], &["--color", "always"]].concat());
    assert!(
        always
            .stdout
            .contains(&format!("{esc}1m{esc}31mcheck FAILED")),
        "{}",
        always.stdout
    );
    assert!(
        always
            .stdout
            .contains(&format!("{esc}31m totals.parameters")),
        "{}",
        always.stdout
    );
    let forced = output(paramaudit(tmp.path()).env("CLICOLOR_FORCE", "1").args(args));
    assert!(forced.stdout.contains(esc), "CLICOLOR_FORCE colours a pipe");
    let no_color = output(paramaudit(tmp.path()).env("NO_COLOR", "1").args(args));
    assert!(!no_color.stdout.contains(esc));
    let never = output(
        paramaudit(tmp.path())
            .env("CLICOLOR_FORCE", "1")
            .args([&args[..], &["--color", "never"]].concat()),
    );
    assert!(!never.stdout.contains(esc));
    let json = run(
        tmp.path(),
        &[&args[..], &["--color", "always", "--json"]].concat(),
    );
    assert!(!json.stdout.contains(esc), "JSON is never coloured");
}

// 11. Human figures and the memory footprint.

#[test]
fn bert_base_shows_human_figures_and_its_memory_footprint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bert-base");
    layout::write_model_dir(&dir, &layout::bert_pretraining(BERT_BASE), BERT_BASE_CONFIG);
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0);
    // 440,449,768 / 2^20 = 420.04; 110,106,428 x 4 bytes = 420.0 MiB, x2 = 210.0 MiB,
    // x1 = 105.0 MiB, /2 = 52.5 MiB.
    assert!(
        out.stdout
            .contains("206 tensors in 1 file, 440,449,768 bytes (420.0 MiB)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("parameters 110,106,428 (110.1M)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("memory of the parameters: 420.0 MiB as stored · fp32 420.0 MiB · bf16 210.0 MiB · int8 105.0 MiB · 4-bit 52.5 MiB"),
        "{}",
        out.stdout
    );
    let v = schema::doc(
        "report",
        &run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]).stdout,
    );
    assert_eq!(v["memory"]["stored_bytes"], 440_425_712u64);
    assert_eq!(v["memory"]["fp32_bytes"], 4 * 110_106_428u64);
    assert_eq!(v["memory"]["bf16_bytes"], 2 * 110_106_428u64);
    assert_eq!(v["memory"]["int8_bytes"], 110_106_428u64);
    assert_eq!(v["memory"]["int4_bytes"], 55_053_214u64);
}

// 12. Several models in one command.

fn every_fixture() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixture("tiny"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn several_models_report_in_order_with_a_summary_and_the_worst_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = every_fixture();
    assert_eq!(dirs.len(), 8);
    let counts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny/counts.json")).unwrap())
            .unwrap();
    let bad = tmp.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint at all").unwrap();
    let mut args: Vec<String> = vec!["inspect".into()];
    let mut specs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    specs.insert(3, bad.display().to_string());
    args.extend(specs.iter().cloned());
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();

    let out = run(tmp.path(), &[&arg_refs[..], &["--json"]].concat());
    assert_eq!(out.code, 2, "one bad model: the worst code");
    let v = schema::doc("batch", &out.stdout);
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 9);
    for (item, spec) in items.iter().zip(&specs) {
        if spec.ends_with("bad.safetensors") {
            assert_eq!(item["spec"], spec.as_str());
            assert_eq!(item["exit_code"], 2);
            assert!(item["error"].as_str().unwrap().contains("a text file"));
            continue;
        }
        assert_eq!(item["source"]["spec"], spec.as_str(), "input order");
        let name = Path::new(spec).file_name().unwrap().to_str().unwrap();
        // transformers' own count for every fixture.
        assert_eq!(
            item["totals"]["parameters"], counts["fixtures"][name]["num_parameters"],
            "{name}"
        );
        assert_eq!(item["differences"]["unexplained"], 0, "{name}");
    }
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "the bad model's line: {}",
        out.stderr
    );

    let lines = run(
        tmp.path(),
        &[&arg_refs[..], &["--format", "jsonl"]].concat(),
    );
    assert_eq!(lines.code, 2);
    let lines: Vec<&str> = lines.stdout.lines().collect();
    assert_eq!(lines.len(), 9);
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        schema::validate("batch", &serde_json::Value::Array(vec![v]));
    }

    let table = run(tmp.path(), &arg_refs);
    assert_eq!(table.code, 2);
    let summary = table
        .stdout
        .split("summary: 9 models, 1 failed")
        .nth(1)
        .expect("a summary");
    let mut at = 0;
    for spec in &specs {
        let found = summary[at..]
            .find(spec.as_str())
            .unwrap_or_else(|| panic!("{spec} in order"));
        at += found + spec.len();
    }
    assert!(summary.contains("error: "), "the bad model's row says why");
    assert!(summary.contains("13,763 (13.8K)"), "{summary}");

    let good: Vec<&str> = arg_refs
        .iter()
        .copied()
        .filter(|a| !a.ends_with("bad.safetensors"))
        .collect();
    assert_eq!(run(tmp.path(), &good).code, 0);
}

#[test]
fn save_header_takes_one_model() {
    let tmp = tempfile::tempdir().unwrap();
    let a = fixture("tiny/bert-model");
    let out = run(
        tmp.path(),
        &[
            "inspect",
            a.to_str().unwrap(),
            a.to_str().unwrap(),
            "--save-header",
            "x",
        ],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--save-header takes one model"));
}

// 13. Natural order, plurals, flags.

#[test]
fn tensors_sort_naturally_and_plurals_are_right() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bert-base");
    layout::write_model_dir(&dir, &layout::bert_pretraining(BERT_BASE), BERT_BASE_CONFIG);
    let out = run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--tensors"]);
    let pos = |s: &str| out.stdout.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(pos("bert.encoder.layer.2.attention") < pos("bert.encoder.layer.10.attention"));
    assert!(pos("bert.encoder.layer.9.output") < pos("bert.encoder.layer.11.attention"));
    let v = schema::doc(
        "report",
        &run(tmp.path(), &["inspect", dir.to_str().unwrap(), "--json"]).stdout,
    );
    let names: Vec<&str> = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let i2 = names
        .iter()
        .position(|n| n.starts_with("bert.encoder.layer.2."))
        .unwrap();
    let i10 = names
        .iter()
        .position(|n| n.starts_with("bert.encoder.layer.10."))
        .unwrap();
    assert!(i2 < i10);

    let one = tmp.path().join("one.safetensors");
    raw_file(
        &one,
        r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        8,
    );
    let out = run(tmp.path(), &["inspect", one.to_str().unwrap()]);
    assert!(out.stdout.contains("1 tensor in 1 file"), "{}", out.stdout);
}

#[test]
fn format_takes_any_case_json_is_a_shortcut_and_a_missing_config_names_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let m = fixture("tiny/bert-model");
    let ms = m.to_str().unwrap();
    for args in [
        vec!["inspect", ms, "--format", "JSON"],
        vec!["inspect", ms, "--json"],
    ] {
        let out = run(tmp.path(), &args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        schema::doc("report", &out.stdout);
    }
    let out = run(tmp.path(), &["inspect", ms, "--config", "nope.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--config nope.json: "),
        "{}",
        out.stderr
    );
    let help = run(tmp.path(), &["verify", "--help"]);
    assert!(!help.stdout.contains("--header-only"), "{}", help.stdout);
}

// 14. The repository stands alone.

#[test]
fn the_repository_cites_no_file_outside_itself() {
    let root = crate::common::root();
    // Spelled in pieces so this file does not match itself.
    let needles = [
        format!("..{}shared", '/'),
        format!("{}.md", "REFERENCE"),
        format!("{}.md", "HUB_PROTOCOL"),
        format!("{}.md", "FAMILIES"),
        format!("{}.md", "FORMATS"),
        format!("{}.md", "STYLE"),
    ];
    let mut files = vec![
        root.join("README.md"),
        root.join("Cargo.toml"),
        root.join(".ci/run"),
    ];
    for dir in [
        "src", "tests", "scripts", "bench", "examples", "docs", "fixtures",
    ] {
        for p in list(&root.join(dir)) {
            let text_like = matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("rs" | "sh" | "py" | "md" | "txt" | "snap" | "toml")
            );
            if text_like {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 40);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{} cites {n}", f.display());
        }
    }
}
