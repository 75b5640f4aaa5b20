//! Structural differences between two reports (`diff`), and expectations held against a
//! report (`check`). Computed here, rendered in [`crate::render`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::classify::Bucket;
use crate::error::{Error, Result};
use crate::reconcile::{Report, TensorRow};

/// A tensor named in a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorBrief {
    /// Name.
    pub name: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Dtype.
    pub dtype: String,
    /// Shape.
    pub shape: Vec<u64>,
    /// Elements.
    pub elements: u64,
}

impl From<&TensorRow> for TensorBrief {
    fn from(t: &TensorRow) -> Self {
        TensorBrief {
            name: t.name.clone(),
            bucket: t.bucket,
            dtype: t.dtype.clone(),
            shape: t.shape.clone(),
            elements: t.elements,
        }
    }
}

/// A tensor present in both, with another shape or dtype.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorChange {
    /// Name.
    pub name: String,
    /// As in A.
    pub a: TensorBrief,
    /// As in B.
    pub b: TensorBrief,
}

/// One figure in both reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Which figure (`totals.parameters`, `buckets.head.parameters`, ...).
    pub figure: String,
    /// In A.
    pub a: i64,
    /// In B.
    pub b: i64,
    /// `b - a`.
    pub change: i64,
}

/// The structural difference from A to B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// What A is.
    pub a: String,
    /// What B is.
    pub b: String,
    /// Totals and per-bucket parameter counts, every one (changed or not), in report order.
    pub figures: Vec<Delta>,
    /// Tensors only in A.
    pub only_in_a: Vec<TensorBrief>,
    /// Tensors only in B.
    pub only_in_b: Vec<TensorBrief>,
    /// Tensors in both with another shape or dtype.
    pub changed: Vec<TensorChange>,
}

impl Diff {
    /// True when nothing structural differs and every figure is equal.
    pub fn is_empty(&self) -> bool {
        self.only_in_a.is_empty()
            && self.only_in_b.is_empty()
            && self.changed.is_empty()
            && self.figures.iter().all(|d| d.change == 0)
    }
}

/// Every figure compared, in report order.
fn figures(r: &Report) -> Vec<(String, i64)> {
    let t = &r.totals;
    let mut out = vec![
        ("totals.parameters".to_string(), t.parameters as i64),
        ("totals.buffers".to_string(), t.buffers as i64),
        ("totals.tensors".to_string(), t.tensors as i64),
        ("totals.bytes".to_string(), t.bytes as i64),
    ];
    for b in Bucket::ALL {
        out.push((
            format!("buckets.{}.parameters", b.name()),
            r.buckets.get(b).parameters as i64,
        ));
    }
    if let Some(d) = &r.differences {
        out.extend([
            ("differences.biases".to_string(), d.biases as i64),
            ("differences.pooler".to_string(), d.pooler as i64),
            ("differences.heads".to_string(), d.heads as i64),
            (
                "differences.tied_not_stored".to_string(),
                d.tied_not_stored as i64,
            ),
            ("differences.buffers".to_string(), d.buffers as i64),
            ("differences.unexplained".to_string(), d.unexplained),
        ]);
    }
    out
}

/// Compare A with B.
pub fn diff(a_name: &str, a: &Report, b_name: &str, b: &Report) -> Diff {
    let fb: BTreeMap<String, i64> = figures(b).into_iter().collect();
    let figures = figures(a)
        .into_iter()
        .filter_map(|(figure, va)| {
            fb.get(&figure).map(|&vb| Delta {
                change: vb - va,
                figure,
                a: va,
                b: vb,
            })
        })
        .collect();
    let ta: BTreeMap<&str, &TensorRow> = a.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let tb: BTreeMap<&str, &TensorRow> = b.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let only_in_a = ta
        .iter()
        .filter(|(n, _)| !tb.contains_key(*n))
        .map(|(_, t)| TensorBrief::from(*t))
        .collect();
    let only_in_b = tb
        .iter()
        .filter(|(n, _)| !ta.contains_key(*n))
        .map(|(_, t)| TensorBrief::from(*t))
        .collect();
    let changed = ta
        .iter()
        .filter_map(|(n, x)| {
            let y = tb.get(n)?;
            (x.shape != y.shape || x.dtype != y.dtype).then(|| TensorChange {
                name: n.to_string(),
                a: TensorBrief::from(*x),
                b: TensorBrief::from(*y),
            })
        })
        .collect();
    Diff {
        a: a_name.to_string(),
        b: b_name.to_string(),
        figures,
        only_in_a,
        only_in_b,
        changed,
    }
}

/// How far a count may move before it is drift.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Absolute elements.
    #[serde(default)]
    pub absolute: Option<u64>,
    /// Percent of the expected value.
    #[serde(default)]
    pub percent: Option<f64>,
}

impl Tolerance {
    /// True when `found` is within tolerance of `expected`.
    pub fn holds(&self, expected: i64, found: i64) -> bool {
        let gap = (found - expected).unsigned_abs();
        let abs = self.absolute.unwrap_or(0);
        let pct = self
            .percent
            .map(|p| (expected.unsigned_abs() as f64 * p / 100.0).floor() as u64)
            .unwrap_or(0);
        gap <= abs.max(pct)
    }
}

/// One or several files' sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sha256Pin {
    /// The single file's sha256.
    One(String),
    /// By file name (shards).
    ByFile(BTreeMap<String, String>),
}

/// A hand-written expectations file. Every field is optional; what is present is checked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// `totals.parameters`.
    #[serde(default)]
    pub parameters: Option<u64>,
    /// `totals.buffers`.
    #[serde(default)]
    pub buffers: Option<u64>,
    /// `totals.tensors`.
    #[serde(default)]
    pub tensors: Option<u64>,
    /// Parameters per bucket.
    #[serde(default)]
    pub buckets: BTreeMap<Bucket, u64>,
    /// The exact set of dtypes stored.
    #[serde(default)]
    pub dtypes: Option<Vec<String>>,
    /// `differences.unexplained`.
    #[serde(default)]
    pub unexplained: Option<i64>,
    /// sha256 of the file (or of each shard, by file name).
    #[serde(default)]
    pub sha256: Option<Sha256Pin>,
    /// Allowed movement of parameter counts.
    #[serde(default)]
    pub tolerance: Option<Tolerance>,
}

/// What an expectations file holds: a full saved report, or pins.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A report saved from `inspect --format json` (compared in full, structure included).
    Report(Box<Report>),
    /// A hand-written expectations file.
    Pins(Expectations),
}

/// Cap on an expectations file's size.
pub const MAX_EXPECT_BYTES: u64 = 256 * 1024 * 1024;

impl Expected {
    /// Read an expectations file: a JSON report (it has `schema_version`) or pins.
    pub fn read(path: &Path) -> Result<Expected> {
        let bad = |message: String| Error::Expectations {
            path: path.to_path_buf(),
            message,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len > MAX_EXPECT_BYTES {
            return Err(bad(format!(
                "{len} bytes, over the {MAX_EXPECT_BYTES}-byte limit"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(bad("not a JSON object".to_string()));
        }
        if value.get("schema_version").is_some() {
            let report: Report = serde_json::from_value(value)
                .map_err(|e| bad(format!("not a paramaudit JSON report: {e}")))?;
            if report.schema_version != crate::reconcile::SCHEMA_VERSION {
                return Err(bad(format!(
                    "report schema_version {} is not {}",
                    report.schema_version,
                    crate::reconcile::SCHEMA_VERSION
                )));
            }
            return Ok(Expected::Report(Box::new(report)));
        }
        let pins: Expectations =
            serde_json::from_value(value).map_err(|e| bad(format!("invalid expectations: {e}")))?;
        if let Some(Tolerance {
            percent: Some(p), ..
        }) = pins.tolerance
        {
            if !(0.0..=100.0).contains(&p) {
                return Err(bad(format!(
                    "tolerance.percent {p} is not between 0 and 100"
                )));
            }
        }
        Ok(Expected::Pins(pins))
    }
}

/// One expectation that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// Which figure.
    pub figure: String,
    /// Expected value, as text.
    pub expected: String,
    /// Found value, as text.
    pub found: String,
    /// Signed change for counts.
    pub change: Option<i64>,
}

/// The outcome of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The model checked.
    pub model: String,
    /// The expectations file.
    pub expect: String,
    /// Figures that held.
    pub held: Vec<String>,
    /// Figures that moved.
    pub drift: Vec<Drift>,
    /// Tensor-level differences (against a saved report).
    pub tensors: Option<Diff>,
    /// The checked model's own findings: why its `unexplained` is not 0, tensor by tensor.
    pub findings: Vec<crate::reconcile::Finding>,
}

impl CheckOutcome {
    /// True when nothing drifted.
    pub fn passed(&self) -> bool {
        self.drift.is_empty()
            && self.tensors.as_ref().is_none_or(|d| {
                d.only_in_a.is_empty() && d.only_in_b.is_empty() && d.changed.is_empty()
            })
    }
}

/// Hold `report` to `expected`. `sha256` gives the actual hash of each file by name when
/// pins ask for it (computed by the caller, which reads the data).
pub fn check(
    model: &str,
    expect: &str,
    expected: &Expected,
    report: &Report,
    sha256: &BTreeMap<String, String>,
) -> CheckOutcome {
    let mut out = CheckOutcome {
        model: model.to_string(),
        expect: expect.to_string(),
        held: Vec::new(),
        drift: Vec::new(),
        tensors: None,
        findings: report.findings.clone(),
    };
    let mut count = |figure: String, want: i64, found: i64, tol: Tolerance| {
        if tol.holds(want, found) {
            out.held.push(figure);
        } else {
            out.drift.push(Drift {
                figure,
                expected: crate::render::int(want),
                found: crate::render::int(found),
                change: Some(found - want),
            });
        }
    };
    match expected {
        Expected::Report(saved) => {
            let d = diff(expect, saved, model, report);
            for f in &d.figures {
                count(f.figure.clone(), f.a, f.b, Tolerance::default());
            }
            out.tensors = Some(d);
        }
        Expected::Pins(p) => {
            let tol = p.tolerance.unwrap_or_default();
            let t = &report.totals;
            if let Some(v) = p.parameters {
                count(
                    "totals.parameters".into(),
                    v as i64,
                    t.parameters as i64,
                    tol,
                );
            }
            if let Some(v) = p.buffers {
                count(
                    "totals.buffers".into(),
                    v as i64,
                    t.buffers as i64,
                    Tolerance::default(),
                );
            }
            if let Some(v) = p.tensors {
                count(
                    "totals.tensors".into(),
                    v as i64,
                    t.tensors as i64,
                    Tolerance::default(),
                );
            }
            for (b, v) in &p.buckets {
                let found = report.buckets.get(*b).parameters as i64;
                count(
                    format!("buckets.{}.parameters", b.name()),
                    *v as i64,
                    found,
                    tol,
                );
            }
            if let Some(v) = p.unexplained {
                match &report.differences {
                    Some(d) => count(
                        "differences.unexplained".into(),
                        v,
                        d.unexplained,
                        Tolerance::default(),
                    ),
                    None => out.drift.push(Drift {
                        figure: "differences.unexplained".into(),
                        expected: v.to_string(),
                        found: "no formula".into(),
                        change: None,
                    }),
                }
            }
            if let Some(want) = &p.dtypes {
                let mut want = want.clone();
                want.sort();
                let mut found: Vec<String> =
                    report.dtypes.iter().map(|d| d.dtype.clone()).collect();
                found.sort();
                if want == found {
                    out.held.push("dtypes".into());
                } else {
                    out.drift.push(Drift {
                        figure: "dtypes".into(),
                        expected: want.join(", "),
                        found: found.join(", "),
                        change: None,
                    });
                }
            }
            if let Some(pin) = &p.sha256 {
                let wanted: Vec<(String, String)> = match pin {
                    Sha256Pin::One(h) if sha256.len() == 1 => {
                        sha256.keys().map(|k| (k.clone(), h.clone())).collect()
                    }
                    Sha256Pin::One(h) => {
                        out.drift.push(Drift {
                            figure: "sha256".into(),
                            expected: h.clone(),
                            found: format!("{} files: pin each shard by file name", sha256.len()),
                            change: None,
                        });
                        Vec::new()
                    }
                    Sha256Pin::ByFile(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                };
                for (file, want) in wanted {
                    let found = sha256
                        .get(&file)
                        .cloned()
                        .unwrap_or_else(|| "(no such file)".into());
                    if found.eq_ignore_ascii_case(&want) {
                        out.held.push(format!("sha256 {file}"));
                    } else {
                        out.drift.push(Drift {
                            figure: format!("sha256 {file}"),
                            expected: want,
                            found,
                            change: None,
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_takes_the_larger_of_absolute_and_percent() {
        let t = Tolerance {
            absolute: Some(10),
            percent: Some(1.0),
        };
        assert!(t.holds(1000, 1010));
        assert!(!t.holds(1000, 1011));
        assert!(t.holds(100_000, 101_000));
        assert!(!t.holds(100_000, 101_001));
        assert!(Tolerance::default().holds(5, 5));
        assert!(!Tolerance::default().holds(5, 6));
    }

    #[test]
    fn expectations_reject_unknown_keys() {
        let e: std::result::Result<Expectations, _> = serde_json::from_str(r#"{"paramters": 1}"#);
        assert!(e.is_err());
    }
}
