//! Structural differences between two reports (`diff`), and expectations held against a
//! report (`check`). Computed here, rendered in [`crate::render`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::classify::Bucket;
use crate::count::{difference, signed};
use crate::error::{Error, Result};
use crate::reconcile::{Report, TensorRow, SCHEMA_VERSION};

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
            dtype: t.dtype.to_string(),
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
    /// Elements in B minus elements in A.
    pub change: i128,
}

/// One figure in both reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Which figure (`totals.parameters`, `buckets.head.parameters`, ...).
    pub figure: String,
    /// In A.
    pub a: i128,
    /// In B.
    pub b: i128,
    /// `b - a`.
    pub change: i128,
}

/// The structural difference from A to B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
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
fn figures(r: &Report) -> Vec<(String, i128)> {
    let t = &r.totals;
    let mut out = vec![
        ("totals.parameters".to_string(), signed(t.parameters)),
        ("totals.buffers".to_string(), signed(t.buffers)),
        ("totals.overhead".to_string(), signed(t.overhead)),
        ("totals.tensors".to_string(), signed(t.tensors)),
        ("totals.bytes".to_string(), signed(t.bytes)),
    ];
    // The quantization bucket holds no parameters: `totals.overhead` is its figure.
    for (b, row) in r
        .buckets
        .iter()
        .filter(|(b, _)| **b != Bucket::Quantization)
    {
        out.push((
            format!("buckets.{}.parameters", b.name()),
            signed(row.parameters),
        ));
    }
    if let Some(d) = &r.differences {
        for step in crate::family::Step::ALL {
            out.push((format!("differences.{}", step.key()), d.get(step)));
        }
        out.push(("differences.unexplained".to_string(), d.unexplained));
    }
    out
}

/// The tensors of A and B that are the same tensor: by name, then (for the rest) by the
/// name one side has with leading segments more, when that pairing is unique: a model
/// saved with a task class (`bert.embeddings...`) against its backbone
/// (`embeddings...`).
fn pair_tensors<'a>(a: &'a [TensorRow], b: &'a [TensorRow]) -> Vec<(&'a TensorRow, &'a TensorRow)> {
    let tb: BTreeMap<&str, &TensorRow> = b.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut pairs: Vec<(&TensorRow, &TensorRow)> = a
        .iter()
        .filter_map(|x| tb.get(x.name.as_str()).map(|y| (x, *y)))
        .collect();
    let paired_a: BTreeSet<&str> = pairs.iter().map(|p| p.0.name.as_str()).collect();
    let paired_b: BTreeSet<&str> = pairs.iter().map(|p| p.1.name.as_str()).collect();
    let rest_a: Vec<&TensorRow> = a
        .iter()
        .filter(|t| !paired_a.contains(t.name.as_str()))
        .collect();
    let rest_b: Vec<&TensorRow> = b
        .iter()
        .filter(|t| !paired_b.contains(t.name.as_str()))
        .collect();
    let longer_a = by_suffix(&rest_a, &rest_b);
    let used_a: BTreeSet<&str> = longer_a.iter().map(|p| p.0.name.as_str()).collect();
    let used_b: BTreeSet<&str> = longer_a.iter().map(|p| p.1.name.as_str()).collect();
    let free = |rest: &[&'a TensorRow], used: &BTreeSet<&str>| -> Vec<&'a TensorRow> {
        rest.iter()
            .copied()
            .filter(|t| !used.contains(t.name.as_str()))
            .collect()
    };
    let longer_b = by_suffix(&free(&rest_b, &used_b), &free(&rest_a, &used_a));
    pairs.extend(longer_a);
    pairs.extend(longer_b.into_iter().map(|(y, x)| (x, y)));
    pairs
}

/// Pairs (long, short) where `short`'s name is `long`'s without its leading segments,
/// each name used once and only when unambiguous.
fn by_suffix<'a>(
    long: &[&'a TensorRow],
    short: &[&'a TensorRow],
) -> Vec<(&'a TensorRow, &'a TensorRow)> {
    let by_name: BTreeMap<&str, &TensorRow> = short.iter().map(|t| (t.name.as_str(), *t)).collect();
    let mut found: BTreeMap<&str, Vec<&TensorRow>> = BTreeMap::new();
    for t in long {
        let suffixes = t.name.match_indices('.').map(|(i, _)| &t.name[i + 1..]);
        if let Some(s) = suffixes.into_iter().find(|s| by_name.contains_key(s)) {
            found.entry(s).or_default().push(t);
        }
    }
    found
        .into_iter()
        .filter(|(_, longs)| longs.len() == 1)
        .filter_map(|(s, longs)| Some((longs[0], *by_name.get(s)?)))
        .collect()
}

/// Compare A with B.
pub fn diff(a_name: &str, a: &Report, b_name: &str, b: &Report) -> Diff {
    let fb: BTreeMap<String, i128> = figures(b).into_iter().collect();
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
    let pairs = pair_tensors(&a.tensors, &b.tensors);
    let in_pair_a: BTreeSet<&str> = pairs.iter().map(|(x, _)| x.name.as_str()).collect();
    let in_pair_b: BTreeSet<&str> = pairs.iter().map(|(_, y)| y.name.as_str()).collect();
    let mut only_in_a: Vec<TensorBrief> = a
        .tensors
        .iter()
        .filter(|t| !in_pair_a.contains(t.name.as_str()))
        .map(TensorBrief::from)
        .collect();
    let mut only_in_b: Vec<TensorBrief> = b
        .tensors
        .iter()
        .filter(|t| !in_pair_b.contains(t.name.as_str()))
        .map(TensorBrief::from)
        .collect();
    let mut changed: Vec<TensorChange> = pairs
        .iter()
        .filter(|(x, y)| x.shape != y.shape || x.dtype != y.dtype)
        .map(|(x, y)| TensorChange {
            change: difference(y.elements, x.elements),
            name: x.name.clone(),
            a: TensorBrief::from(*x),
            b: TensorBrief::from(*y),
        })
        .collect();
    crate::count::sort_natural(&mut only_in_a, |x| &x.name);
    crate::count::sort_natural(&mut only_in_b, |x| &x.name);
    crate::count::sort_natural(&mut changed, |x| &x.name);
    Diff {
        schema_version: SCHEMA_VERSION,
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
    pub fn holds(&self, expected: i128, found: i128) -> bool {
        // Both are within ±2^64, so the difference cannot overflow i128.
        let gap = (found - expected).unsigned_abs();
        let abs = u128::from(self.absolute.unwrap_or(0));
        // A float-to-integer `as` saturates; the percentage is validated to 0..=100.
        let pct = self
            .percent
            .map(|p| (expected.unsigned_abs() as f64 * p / 100.0).floor() as u128)
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
    /// `totals.overhead`: quantization scales, zero points and indices.
    #[serde(default)]
    pub overhead: Option<u64>,
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
    pub unexplained: Option<i128>,
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

/// A value in a drift row: a count (an integer in JSON), or text (a hash, a dtype list,
/// "no formula").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Figure {
    /// A count.
    Count(i128),
    /// Anything else.
    Text(String),
}

/// One expectation that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// Which figure.
    pub figure: String,
    /// Expected value.
    pub expected: Figure,
    /// Found value.
    pub found: Figure,
    /// `found - expected`, for counts.
    pub change: Option<i128>,
}

/// The outcome of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
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
        schema_version: SCHEMA_VERSION,
        model: model.to_string(),
        expect: expect.to_string(),
        held: Vec::new(),
        drift: Vec::new(),
        tensors: None,
        findings: report.findings.clone(),
    };
    let mut count = |figure: String, want: i128, found: i128, tol: Tolerance| {
        if tol.holds(want, found) {
            out.held.push(figure);
        } else {
            out.drift.push(Drift {
                figure,
                expected: Figure::Count(want),
                found: Figure::Count(found),
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
                    signed(v),
                    signed(t.parameters),
                    tol,
                );
            }
            if let Some(v) = p.buffers {
                count(
                    "totals.buffers".into(),
                    signed(v),
                    signed(t.buffers),
                    Tolerance::default(),
                );
            }
            if let Some(v) = p.overhead {
                count(
                    "totals.overhead".into(),
                    signed(v),
                    signed(t.overhead),
                    Tolerance::default(),
                );
            }
            if let Some(v) = p.tensors {
                count(
                    "totals.tensors".into(),
                    signed(v),
                    signed(t.tensors),
                    Tolerance::default(),
                );
            }
            for (b, v) in &p.buckets {
                let found = signed(report.buckets.get(b).map_or(0, |r| r.parameters));
                count(
                    format!("buckets.{}.parameters", b.name()),
                    signed(*v),
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
                        expected: Figure::Count(v),
                        found: Figure::Text("no formula".into()),
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
                        expected: Figure::Text(want.join(", ")),
                        found: Figure::Text(found.join(", ")),
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
                            expected: Figure::Text(h.clone()),
                            found: Figure::Text(format!(
                                "{} files: pin each shard by file name",
                                sha256.len()
                            )),
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
                            expected: Figure::Text(want),
                            found: Figure::Text(found),
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
