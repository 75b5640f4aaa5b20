//! The tests' Hub on 127.0.0.1 as a standalone server, for benchmarks: serves model
//! directories under repository ids, with an added latency before every answer.
//!
//! `cargo run --release --example test_hub -- [--latency-ms N] [--copies K] ID=DIR...`
//!
//! `--copies K` serves each directory K times more as `ID-0` ... `ID-(K-1)` (a thousand
//! repositories for the price of one). Prints `endpoint http://127.0.0.1:PORT` on stdout
//! once listening, then serves until killed. Safetensors files are not hashed (their ETag
//! is a hash of their path): this server is for header-only reads. The server code is the tests' own
//! (tests/audit/common/hub_server.rs), which follows docs/hub.md.
#![allow(clippy::unwrap_used, dead_code)]

#[path = "../tests/audit/common/hub_server.rs"]
mod hub_server;

use std::io::Write;
use std::time::Duration;

fn main() {
    let mut latency = Duration::ZERO;
    let mut copies = 0usize;
    let mut repos = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--latency-ms" => {
                latency = Duration::from_millis(args.next().unwrap().parse().unwrap())
            }
            "--copies" => copies = args.next().unwrap().parse().unwrap(),
            spec => {
                let (id, dir) = spec.split_once('=').expect("ID=DIR");
                let ids: Vec<String> = if copies == 0 {
                    vec![id.to_string()]
                } else {
                    (0..copies).map(|i| format!("{id}-{i}")).collect()
                };
                let mut files: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(dir)
                    .unwrap()
                    .map(|e| {
                        let e = e.unwrap();
                        (e.file_name().into_string().unwrap(), e.path())
                    })
                    .collect();
                files.sort();
                let template = files.iter().fold(
                    hub_server::Repo::new(id, "0123456789abcdef0123456789abcdef01234567"),
                    |repo, (name, path)| repo.file_unhashed(name, path.clone()),
                );
                for id in ids {
                    let mut repo = template.clone();
                    repo.id = id;
                    repos.push(repo);
                }
            }
        }
    }
    let server = hub_server::start_with(repos, &[], hub_server::Fault::None, latency);
    println!("endpoint {}", server.endpoint());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
