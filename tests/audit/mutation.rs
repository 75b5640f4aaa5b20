//! The whole pipeline under mutated input, in a debug build so that any arithmetic
//! overflow panics: a real header, config and expectations file are mutated (flipped
//! bits, cut lengths, spliced bytes, numbers replaced by extreme values), then each
//! case goes through open, classify, formula, reconcile, every renderer, `check` against
//! a mutated expectation and `diff` against the original. Every outcome must be a value
//! or a typed error; nothing may panic. Deterministic (xorshift), so a failure replays.

use std::io::Write;
use std::path::Path;

use paramaudit::compare::{self, Expected};
use paramaudit::render::{renderer, Format, Options, Style};
use paramaudit::source::{local, Resolved};

use crate::common::fixture;

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Values that break naive arithmetic.
const EXTREMES: [&str; 10] = [
    "0",
    "1",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "4611686018427387902",
    "1e308",
    "4294967296",
];

/// Replace the `k`-th run of digits in `text` with an extreme value.
fn replace_number(text: &str, rng: &mut Rng) -> String {
    let runs: Vec<(usize, usize)> = {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push((start, i));
            } else {
                i += 1;
            }
        }
        out
    };
    if runs.is_empty() {
        return text.to_string();
    }
    let (s, e) = runs[rng.below(runs.len())];
    let value = EXTREMES[rng.below(EXTREMES.len())];
    format!("{}{value}{}", &text[..s], &text[e..])
}

/// One mutation of a safetensors file's bytes: within the header mostly, where the
/// numbers are.
fn mutate_file(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let header_end = 8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let mut bytes = original.to_vec();
    match rng.next() % 5 {
        0 => {
            let i = rng.below(header_end);
            bytes[i] ^= 1 << (rng.next() % 8);
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let i = 8 + rng.below(header_end - 8);
            bytes[i] = b"{}[],:\"0123456789eE-. \\"[rng.below(23)];
        }
        3 => {
            // A number in the header replaced, the length prefix kept consistent.
            let header = std::str::from_utf8(&bytes[8..header_end]).unwrap_or("{}");
            let new = replace_number(header, rng);
            let mut out = (new.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(new.as_bytes());
            out.extend_from_slice(&bytes[header_end..]);
            bytes = out;
        }
        _ => {
            let i = rng.below(8);
            bytes[i] = rng.next() as u8;
        }
    }
    bytes
}

pub(crate) fn render_everything(report: &paramaudit::Report) {
    for format in [Format::Table, Format::Json, Format::Jsonl, Format::Markdown] {
        for color in [false, true] {
            let mut out = Vec::new();
            let r = renderer(format, Style { color });
            r.report(report, Options { tensors: true }, &mut out)
                .unwrap();
        }
    }
}

fn check_and_diff(report: &paramaudit::Report, baseline: &paramaudit::Report, expectation: &Path) {
    if let Ok(expected) = Expected::read(expectation) {
        let outcome = compare::check("m", "e", &expected, report, &Default::default());
        for format in [Format::Table, Format::Json, Format::Markdown] {
            let mut out = Vec::new();
            renderer(format, Style { color: true })
                .check(&outcome, &mut out)
                .unwrap();
        }
    }
    let d = compare::diff("a", baseline, "b", report);
    for format in [Format::Table, Format::Json, Format::Markdown] {
        let mut out = Vec::new();
        renderer(format, Style::default())
            .diff(&d, &mut out)
            .unwrap();
    }
}

#[test]
fn the_whole_pipeline_survives_mutated_headers_configs_and_expectations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("tiny/bert-for-pretraining");
    let original = std::fs::read(dir.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let saved = std::fs::read_to_string(
        crate::common::root().join("fixtures/expected/bert-for-pretraining.json"),
    )
    .unwrap();
    let pins = r#"{"parameters": 13763, "buffers": 0, "tensors": 46, "buckets": {"head": 795, "embedding": 3360}, "unexplained": 0, "tolerance": {"absolute": 10, "percent": 1.5}}"#;
    let baseline = paramaudit::inspect(&local::resolve(&dir, None).unwrap()).unwrap();

    let model = tmp.path().join("model.safetensors");
    let config_path = tmp.path().join("config.json");
    let expectation = tmp.path().join("expected.json");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut reports, mut errors) = (0, 0);
    for round in 0..3_000 {
        let bytes = if round % 3 == 2 {
            original.clone()
        } else {
            mutate_file(&original, &mut rng)
        };
        std::fs::write(&model, &bytes).unwrap();
        let config_text = if round % 2 == 0 {
            replace_number(&config, &mut rng)
        } else {
            config.clone()
        };
        std::fs::write(&config_path, &config_text).unwrap();
        let expect_text = if round % 2 == 0 {
            replace_number(&saved, &mut rng)
        } else {
            replace_number(pins, &mut rng)
        };
        std::fs::write(&expectation, &expect_text).unwrap();
        let resolved = Resolved {
            spec: "m".to_string(),
            layout: paramaudit::source::Layout::Single(model.clone()),
            config: (round % 5 != 4).then(|| config_path.clone()),
        };
        match paramaudit::inspect(&resolved) {
            Ok(report) => {
                reports += 1;
                render_everything(&report);
                check_and_diff(&report, &baseline, &expectation);
            }
            Err(e) => {
                errors += 1;
                assert!((1..=2).contains(&e.exit_code()));
                let line = e.to_string();
                assert!(!line.contains('\n'), "one line: {line}");
            }
        }
    }
    assert!(
        reports > 500 && errors > 500,
        "{reports} reports, {errors} errors"
    );
    let _ = std::io::stderr().flush();
}
