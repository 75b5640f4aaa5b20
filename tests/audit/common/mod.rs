//! Helpers shared by the integration tests: running the real binary in a clean
//! environment, and test-side types that pin the JSON contract.
#![allow(dead_code)]

pub mod gguf_writer;
pub mod hub_server;
pub mod layout;
pub mod schema;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde::Deserialize;

/// The repository root (fixtures live under it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// The binary, with an empty environment but for PATH, run from a temp dir.
pub fn paramaudit(cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("paramaudit").unwrap();
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .current_dir(cwd);
    c
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run a prepared command to completion.
pub fn output(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().expect("exited by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

pub fn run(cwd: &Path, args: &[&str]) -> Output {
    output(paramaudit(cwd).args(args))
}

/// `inspect --format json`, expecting success, parsed into the contract types.
pub fn inspect_json(cwd: &Path, path: &Path, extra: &[&str]) -> Report {
    let p = path.to_str().unwrap();
    let mut args = vec!["inspect", p, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(cwd, &args);
    assert_eq!(out.code, 0, "inspect {p} failed: {}", out.stderr);
    report(&out.stdout)
}

/// An `inspect` report, validated against docs/schema/report.schema.json, then read into
/// the contract types.
pub fn report(text: &str) -> Report {
    serde_json::from_value(schema::doc("report", text)).unwrap()
}

// The JSON contract, as a user's program would read it.

#[derive(Debug, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub source: Source,
    pub totals: Totals,
    pub buckets: Buckets,
    pub dtypes: Vec<Dtype>,
    pub formula: Option<Formula>,
    pub differences: Option<Differences>,
    pub ladder: Vec<Rung>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    pub tensors: Vec<Tensor>,
}

#[derive(Debug, Deserialize)]
pub struct Source {
    pub layout: String,
    pub files: Vec<serde_json::Value>,
    pub header_only: bool,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub parameters: u64,
    pub buffers: u64,
    pub overhead: u64,
    pub stored_elements: u64,
    pub tensors: u64,
    pub bytes: u64,
    pub file_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    pub embedding: Bucket,
    pub attention: Bucket,
    pub ffn: Bucket,
    pub router: Bucket,
    pub routed_experts: Bucket,
    pub shared_experts: Bucket,
    pub norm: Bucket,
    pub pooler: Bucket,
    pub head: Bucket,
    pub quantization: Bucket,
    pub buffer: Bucket,
    pub other: Bucket,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub parameters: u64,
    pub weights: u64,
    pub biases: u64,
    pub buffers: u64,
    pub overhead: u64,
    pub tensors: u64,
    pub bytes: u64,
    pub expected: Option<u64>,
    pub difference: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Dtype {
    pub dtype: String,
    pub tensors: u64,
    pub elements: u64,
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct Formula {
    pub family: String,
    pub weights_only: u64,
    pub expected_total: u64,
    pub dims_source: serde_json::Value,
}

/// Every ladder step of every family, then `unexplained` (the same keys for all).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Differences {
    pub biases: i64,
    pub norms: i64,
    pub position_tables: i64,
    pub shared_layers: i64,
    pub pooler: i64,
    pub heads: i64,
    pub extra_layers: i64,
    pub tied_not_stored: i64,
    pub not_stored: i64,
    pub buffers: i64,
    pub unexplained: i64,
}

impl Differences {
    /// BERT's figures: every step BERT does not have is 0.
    pub fn bert(biases: i64, pooler: i64, heads: i64, tied_not_stored: i64, buffers: i64) -> Self {
        Differences {
            biases,
            norms: 0,
            position_tables: 0,
            shared_layers: 0,
            pooler,
            heads,
            extra_layers: 0,
            tied_not_stored,
            not_stored: 0,
            buffers,
            unexplained: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Rung {
    pub step: String,
    pub parameters: i64,
    pub counted: bool,
    pub total: i64,
}

#[derive(Debug, Deserialize)]
pub struct Finding {
    pub kind: String,
    pub tensor: String,
    pub bucket: String,
    pub parameters: i64,
    pub detail: String,
}

#[derive(Debug, Deserialize)]
pub struct Tensor {
    pub name: String,
    pub file: String,
    pub bucket: String,
    pub role: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub elements: u64,
    pub bytes: u64,
}
