//! The report cut into titled tables of strings, shared by the text and Markdown
//! renderers so that both show the same rows in the same order.

use crate::batch::{Item, SummaryRow};
use crate::classify::Bucket;
use crate::count;
use crate::family::Derivation;
use crate::formula::{DimsSource, FormulaDoc};
use crate::reconcile::Report;

use super::{count, count_human, human_bytes, maybe, maybe_signed, plural, signed};

/// How a row (or a verdict) should stand out where colour is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Held, clean, zero unexplained.
    Good,
    /// Drifted, failed, non-finite.
    Bad,
    /// Worth a look (findings, odd values).
    Warn,
}

/// One titled table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Title shown above the table.
    pub title: String,
    /// Column headers.
    pub headers: Vec<&'static str>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Rows, the TOTAL row (if any) last.
    pub rows: Vec<Vec<String>>,
    /// Rows that stand out: (row index, tone).
    pub tones: Vec<(usize, Tone)>,
}

impl Section {
    /// Append a row with a tone.
    fn push_toned(&mut self, row: Vec<String>, tone: Option<Tone>) {
        if let Some(t) = tone {
            self.tones.push((self.rows.len(), t));
        }
        self.rows.push(row);
    }
}

fn section(title: impl Into<String>, columns: &[(&'static str, bool)]) -> Section {
    Section {
        title: title.into(),
        headers: columns.iter().map(|c| c.0).collect(),
        numeric: columns.iter().map(|c| c.1).collect(),
        rows: Vec::new(),
        tones: Vec::new(),
    }
}

/// A rendered-to-be document: a title, lines under it, tables, closing notes. The text
/// and Markdown renderers only style documents; every command builds one here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The first line (a Markdown heading).
    pub title: String,
    /// Lines under the title (a Markdown list).
    pub lines: Vec<String>,
    /// The tables.
    pub sections: Vec<Section>,
    /// Closing remarks.
    pub notes: Vec<String>,
    /// For verdicts (`check`, `verify`): whether it passed.
    pub passed: Option<bool>,
}

impl Document {
    fn new(title: String, sections: Vec<Section>) -> Document {
        Document {
            title,
            lines: Vec::new(),
            sections,
            notes: Vec::new(),
            passed: None,
        }
    }
}

/// The `inspect` report.
pub fn report_doc(report: &Report, options: super::Options) -> Document {
    let mut lines = heading(report).into_iter();
    let mut doc = Document::new(lines.next().unwrap_or_default(), all(report, options));
    doc.lines = lines.collect();
    doc.notes = report.notes.clone();
    doc
}

/// The `formula` derivation.
pub fn derivation_doc(doc: &FormulaDoc) -> Document {
    let mut out = Document::new(
        format!("{} family, {}", doc.title, doc.dims_line),
        derivation(&doc.derivation),
    );
    out.lines.extend(defaults_line(&doc.dims, &doc.dims_source));
    out
}

/// The `families` listing.
pub fn families_doc(list: &[crate::family::Listed]) -> Document {
    let mut s = section(
        "Families",
        &[
            ("family", false),
            ("model_type", false),
            ("norm", false),
            ("parts beyond the backbone", false),
            ("tensor rules", true),
        ],
    );
    for f in list {
        s.rows.push(vec![
            format!("{} ({})", f.name, f.title),
            f.model_types.join(", "),
            f.norm.clone(),
            f.parts.join(", "),
            count(f.tensors),
        ]);
    }
    let mut doc = Document::new(
        format!(
            "{} registered; `--family NAME` reads a checkpoint as one of them",
            plural(count::len(list.len()), "family")
        ),
        vec![s],
    );
    doc.notes = list
        .iter()
        .map(|f| format!("{}: {}", f.name, f.covers))
        .collect();
    doc
}

/// The summary after several `inspect` reports.
pub fn summary_doc(items: &[Item]) -> Document {
    let rows = crate::batch::summary(items);
    let failed = rows.iter().filter(|r| r.figures.is_err()).count();
    let title = format!(
        "summary: {}, {failed} failed",
        plural(count::len(rows.len()), "model")
    );
    let mut doc = Document::new(title, vec![summary(&rows)]);
    doc.passed = Some(failed == 0);
    doc
}

fn summary(rows: &[SummaryRow]) -> Section {
    let mut s = section(
        "Summary",
        &[
            ("model", false),
            ("parameters", true),
            ("buffers", true),
            ("unexplained", true),
            ("formula total", true),
            ("bytes", true),
            ("status", false),
        ],
    );
    for r in rows {
        let (cells, tone) = match &r.figures {
            Ok(f) => (
                [
                    count_human(f.parameters),
                    count(f.buffers),
                    maybe_signed(f.unexplained),
                    maybe(f.formula_total),
                    human_bytes(f.bytes),
                    "ok".to_string(),
                ],
                match f.unexplained {
                    Some(0) | None => None,
                    Some(_) => Some(Tone::Warn),
                },
            ),
            Err(why) => (
                [
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("error: {why}"),
                ],
                Some(Tone::Bad),
            ),
        };
        let mut row = vec![r.model.clone()];
        row.extend(cells);
        s.push_toned(row, tone);
    }
    s
}

/// The `diff` output.
pub fn diff_doc(d: &crate::compare::Diff) -> Document {
    Document::new(format!("diff: a = {}, b = {}", d.a, d.b), diff(d))
}

/// The `check` output.
pub fn check_doc(c: &crate::compare::CheckOutcome) -> Document {
    let mut doc = Document::new(check_verdict(c), check(c));
    doc.passed = Some(c.passed());
    doc
}

/// The `verify` output.
pub fn verify_doc(r: &crate::verify::VerifyReport, options: super::Options) -> Document {
    let mut doc = Document::new(verify_verdict(r), verify(r, options));
    doc.passed = Some(r.passed);
    doc
}

/// The lines above the tables: what was read, with which dimensions, and the totals.
pub fn heading(report: &Report) -> Vec<String> {
    let s = &report.source;
    let t = &report.totals;
    let files = if s.files.len() == 1 {
        "1 file".to_string()
    } else {
        format!("{} shards", count::len(s.files.len()))
    };
    let mut lines = vec![format!(
        "{}: {} in {files}, {} bytes ({}){}",
        s.spec,
        plural(t.tensors, "tensor"),
        count(t.file_bytes),
        human_bytes(t.file_bytes),
        if s.header_only { " (header only)" } else { "" }
    )];
    lines.push(format!(
        "parameters {} · buffers {} · stored elements {} · tensor data {} bytes",
        count_human(t.parameters),
        count(t.buffers),
        count(t.stored_elements),
        count(t.bytes)
    ));
    if t.overhead > 0 {
        lines.push(format!(
            "quantization overhead: {} elements in {} bytes (scales, zero points, indices; not parameters)",
            count(t.overhead),
            count(report.memory.overhead_bytes)
        ));
    }
    lines.push(memory_line(&report.memory));
    if let Some(f) = &report.formula {
        let from = match &f.dims_source {
            DimsSource::Config { path, .. } => format!("from {}", path.display()),
            DimsSource::Inferred { .. } => "inferred from tensor shapes".to_string(),
        };
        lines.push(format!("formula: {} {from}: {}", f.family, f.dims_line));
        lines.extend(defaults_line(&f.dims, &f.dims_source));
        // A mixture of experts (its derivation has an active line): what a token uses.
        if f.derivation.active.is_some() {
            lines.push(format!(
                "active per token: {} of the {} parameters transformers counts ({})",
                count_human(f.active.parameters),
                count_human(f.num_parameters),
                f.active.definition
            ));
        }
    }
    lines
}

/// What the parameters take as stored (with bits per weight) and at common precisions.
fn memory_line(m: &crate::reconcile::Memory) -> String {
    // Bits per weight say something only when not every parameter has one float width.
    let mixed = m
        .bits_per_weight
        .filter(|b| m.overhead_bytes > 0 || b.fract() != 0.0);
    let stored = match (m.overhead_bytes, mixed) {
        (0, Some(b)) => format!(
            "{} as stored ({b:.2} bits per weight)",
            human_bytes(m.stored_bytes)
        ),
        (o, Some(b)) => format!(
            "{} as stored + {} overhead ({b:.2} bits per weight)",
            human_bytes(m.stored_bytes),
            human_bytes(o)
        ),
        (_, None) => format!("{} as stored", human_bytes(m.stored_bytes)),
    };
    format!(
        "memory of the parameters: {stored} · fp32 {} · bf16 {} · int8 {} · 4-bit {}",
        human_bytes(m.fp32_bytes),
        human_bytes(m.bf16_bytes),
        human_bytes(m.int8_bytes),
        human_bytes(m.int4_bytes)
    )
}

/// `defaults (absent from config.json): num_labels=2, tie_word_embeddings=true`, when any
/// dimension took a default.
pub fn defaults_line(
    dims: &std::collections::BTreeMap<String, serde_json::Value>,
    source: &DimsSource,
) -> Option<String> {
    let (defaulted, from) = match source {
        DimsSource::Config { defaulted, .. } => (defaulted, "absent from config.json"),
        DimsSource::Inferred { defaulted } => (defaulted, "not revealed by any tensor"),
    };
    if defaulted.is_empty() {
        return None;
    }
    let items: Vec<String> = defaulted
        .iter()
        .map(|name| match dims.get(name) {
            Some(v) => format!("{name}={v}"),
            None => name.clone(),
        })
        .collect();
    Some(format!("defaults ({from}): {}", items.join(", ")))
}

/// Buckets every report shows; the mixture-of-experts and quantization ones only when
/// they hold something.
fn shown(bucket: Bucket, stored: u64, expected: Option<u64>) -> bool {
    !matches!(
        bucket,
        Bucket::Router | Bucket::RoutedExperts | Bucket::SharedExperts | Bucket::Quantization
    ) || stored > 0
        || expected.is_some_and(|e| e > 0)
}

/// The bucket's label: the norm bucket names the kind the family uses.
fn bucket_label(bucket: Bucket, report: &Report) -> String {
    match (bucket, &report.family) {
        (Bucket::Norm, Some(f)) => format!("norm ({})", f.norm),
        _ => bucket.name().to_string(),
    }
}

/// Every table of a report, in display order; `tensors` adds the tensor listing.
pub fn all(report: &Report, options: super::Options) -> Vec<Section> {
    let mut out = vec![buckets(report)];
    out.extend(ladder(report));
    out.extend(heads(report));
    out.push(dtypes(report));
    out.extend(findings(report));
    if options.tensors {
        out.push(tensors(report));
    }
    out
}

/// Per-bucket figures with a TOTAL row.
pub fn buckets(report: &Report) -> Section {
    // Quantization overhead shares the column of the other elements that are not
    // parameters.
    let quantized = report.totals.overhead > 0;
    let not_parameters = if quantized {
        "buffers/overhead"
    } else {
        "buffers"
    };
    let mut s = section(
        "Parameters by bucket",
        &[
            ("bucket", false),
            ("parameters", true),
            ("weights", true),
            ("biases", true),
            (not_parameters, true),
            ("tensors", true),
            ("expected", true),
            ("difference", true),
        ],
    );
    for (&b, r) in &report.buckets {
        if !shown(b, r.parameters + r.tensors, r.expected) {
            continue;
        }
        let tone = match r.difference {
            Some(0) | None => None,
            Some(_) => Some(Tone::Warn),
        };
        s.push_toned(
            vec![
                bucket_label(b, report),
                count(r.parameters),
                count(r.weights),
                count(r.biases),
                count(r.buffers.saturating_add(r.overhead)),
                count(r.tensors),
                maybe(r.expected),
                maybe_signed(r.difference),
            ],
            tone,
        );
    }
    // Weights and biases are parts of the (checked) parameter total, so their sums fit.
    let sum = |f: fn(&crate::reconcile::BucketRow) -> u64| {
        count::sum(report.buckets.values().map(f)).map_or_else(|| "overflow".to_string(), count)
    };
    let t = &report.totals;
    s.rows.push(vec![
        "TOTAL".to_string(),
        count(t.parameters),
        sum(|r| r.weights),
        sum(|r| r.biases),
        count(t.buffers.saturating_add(t.overhead)),
        count(t.tensors),
        maybe(report.formula.as_ref().map(|f| f.expected_total)),
        maybe_signed(report.differences.as_ref().map(|d| d.unexplained)),
    ]);
    s
}

/// The ladder from the hand derivation to the stored total.
pub fn ladder(report: &Report) -> Option<Section> {
    if report.ladder.is_empty() {
        return None;
    }
    let mut s = section(
        "From the hand derivation to the stored total",
        &[
            ("step", false),
            ("parameters", true),
            ("running total", true),
        ],
    );
    for r in &report.ladder {
        let plain = r.key == "stored" || r.key == "hand_derivation";
        let amount = if plain {
            super::int(r.parameters)
        } else if r.counted {
            signed(r.parameters)
        } else {
            format!("({})", super::int(r.parameters))
        };
        let total = if r.counted || r.key == "stored" {
            super::int(r.total)
        } else {
            String::new()
        };
        let tone = match (r.key == "unexplained", r.parameters) {
            (true, 0) => Some(Tone::Good),
            (true, _) => Some(Tone::Bad),
            _ => None,
        };
        s.push_toned(vec![r.step.clone(), amount, total], tone);
    }
    Some(s)
}

/// Per-dtype totals.
pub fn dtypes(report: &Report) -> Section {
    let mut s = section(
        "Storage by dtype",
        &[
            ("dtype", false),
            ("tensors", true),
            ("elements", true),
            ("bytes", true),
        ],
    );
    for d in &report.dtypes {
        s.rows.push(vec![
            d.dtype.clone(),
            count(d.tensors),
            count(d.elements),
            count(d.bytes),
        ]);
    }
    s.rows.push(vec![
        "TOTAL".to_string(),
        count(report.totals.tensors),
        count(report.totals.stored_elements),
        count(report.totals.bytes),
    ]);
    s
}

/// Heads stored.
pub fn heads(report: &Report) -> Option<Section> {
    if report.heads.is_empty() {
        return None;
    }
    let mut s = section(
        "Heads stored",
        &[
            ("head", false),
            ("tensors", true),
            ("parameters", true),
            ("expected", true),
        ],
    );
    for h in &report.heads {
        s.rows.push(vec![
            h.head.clone(),
            count(h.tensors),
            count(h.parameters),
            maybe(h.expected),
        ]);
    }
    Some(s)
}

/// What makes up a non-zero `unexplained`.
pub fn findings(report: &Report) -> Option<Section> {
    finding_rows(&report.findings)
}

fn finding_rows(findings: &[crate::reconcile::Finding]) -> Option<Section> {
    if findings.is_empty() {
        return None;
    }
    let mut s = section(
        "Unexplained, tensor by tensor",
        &[
            ("finding", false),
            ("tensor", false),
            ("bucket", false),
            ("parameters", true),
            ("detail", false),
        ],
    );
    for f in findings {
        let kind = match f.kind {
            crate::reconcile::FindingKind::Missing => "missing",
            crate::reconcile::FindingKind::Unexpected => "unexpected",
            crate::reconcile::FindingKind::ShapeMismatch => "shape mismatch",
        };
        s.push_toned(
            vec![
                kind.to_string(),
                f.tensor.clone(),
                f.bucket.name().to_string(),
                signed(f.parameters),
                f.detail.clone(),
            ],
            Some(Tone::Warn),
        );
    }
    Some(s)
}

/// Every tensor.
pub fn tensors(report: &Report) -> Section {
    let sharded = report.source.files.len() > 1;
    let mut columns = vec![
        ("tensor", false),
        ("bucket", false),
        ("role", false),
        ("dtype", false),
        ("shape", false),
        ("elements", true),
    ];
    let translated = report.tensors.iter().any(|t| t.stored_as.is_some());
    if translated {
        columns.push(("stored as", false));
    }
    if sharded {
        columns.push(("file", false));
    }
    let mut s = section("Tensors", &columns);
    for t in &report.tensors {
        let shape = format!(
            "[{}]",
            t.shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut row = vec![
            t.name.clone(),
            t.bucket.name().to_string(),
            t.role.name().to_string(),
            t.dtype.to_string(),
            shape,
            count(t.elements),
        ];
        if translated {
            row.push(stored_as(t));
        }
        if sharded {
            row.push(t.file.to_string());
        }
        s.rows.push(row);
    }
    s
}

/// The stored form of a tensor a reader translated, with its stored element count when
/// packing changed it.
fn stored_as(t: &crate::reconcile::TensorRow) -> String {
    match (&t.stored_as, t.stored_elements) {
        (Some(name), Some(n)) => format!("{name} ({} elements)", count(n)),
        (Some(name), None) => name.clone(),
        (None, Some(n)) => format!("{} elements", count(n)),
        (None, None) => String::new(),
    }
}

/// The `formula` command: the hand derivation, what it leaves out, and model totals.
pub fn derivation(d: &Derivation) -> Vec<Section> {
    let table = |title: &str, lines: &mut dyn Iterator<Item = &crate::family::Line>| {
        let mut s = section(
            title,
            &[
                ("part", false),
                ("formula", false),
                ("arithmetic", false),
                ("parameters", true),
            ],
        );
        for st in lines {
            s.rows.push(vec![
                st.part.clone(),
                st.formula.clone(),
                st.arithmetic.clone(),
                super::int(st.value),
            ]);
        }
        s
    };
    vec![
        table("Hand derivation (weights only)", &mut d.steps.iter()),
        table(
            "What the hand derivation leaves out",
            &mut d.additions.iter().map(|a| &a.line),
        ),
        table(
            "Totals by model class (tied weights counted once)",
            &mut d.models.iter(),
        ),
    ]
    .into_iter()
    .chain(d.active.as_ref().map(|a| {
        table(
            "Active parameters per token (mixture of experts)",
            &mut std::iter::once(a),
        )
    }))
    .collect()
}

fn brief_shape(shape: &[u64]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn tensor_list(title: String, tensors: &[crate::compare::TensorBrief]) -> Option<Section> {
    if tensors.is_empty() {
        return None;
    }
    let mut s = section(
        title,
        &[
            ("tensor", false),
            ("bucket", false),
            ("dtype", false),
            ("shape", false),
            ("elements", true),
        ],
    );
    for t in tensors {
        s.rows.push(vec![
            t.name.clone(),
            t.bucket.name().to_string(),
            t.dtype.clone(),
            brief_shape(&t.shape),
            count(t.elements),
        ]);
    }
    Some(s)
}

/// Tensor-level sections of a diff: only in A, only in B, changed.
pub fn diff_tensors(d: &crate::compare::Diff) -> Vec<Section> {
    let mut out = Vec::new();
    out.extend(tensor_list(format!("Only in {}", d.a), &d.only_in_a));
    out.extend(tensor_list(format!("Only in {}", d.b), &d.only_in_b));
    if !d.changed.is_empty() {
        let mut s = section(
            "Changed shape or dtype",
            &[
                ("tensor", false),
                ("a", false),
                ("b", false),
                ("change", true),
            ],
        );
        for c in &d.changed {
            s.rows.push(vec![
                c.name.clone(),
                format!("{} {}", c.a.dtype, brief_shape(&c.a.shape)),
                format!("{} {}", c.b.dtype, brief_shape(&c.b.shape)),
                signed(c.change),
            ]);
        }
        out.push(s);
    }
    out
}

/// Every section of a diff.
pub fn diff(d: &crate::compare::Diff) -> Vec<Section> {
    let mut figures = section(
        "Figures",
        &[
            ("figure", false),
            ("a", true),
            ("b", true),
            ("change", true),
        ],
    );
    for f in &d.figures {
        // Figures only some families have are left out when both sides are 0.
        let optional = [
            "buckets.router.",
            "buckets.routed_experts.",
            "buckets.shared_experts.",
            "buckets.quantization.",
            "totals.overhead",
            "differences.norms",
            "differences.position_tables",
            "differences.shared_layers",
            "differences.extra_layers",
            "differences.not_stored",
        ];
        if f.a == 0 && f.b == 0 && optional.iter().any(|o| f.figure.starts_with(o)) {
            continue;
        }
        figures.rows.push(vec![
            f.figure.clone(),
            super::int(f.a),
            super::int(f.b),
            signed(f.change),
        ]);
    }
    let mut out = vec![figures];
    out.extend(diff_tensors(d));
    out
}

/// The one-line verdict of a check.
pub fn check_verdict(c: &crate::compare::CheckOutcome) -> String {
    if c.passed() {
        format!(
            "check passed: {} against {}: {} {}",
            c.model,
            c.expect,
            plural(count::len(c.held.len()), "figure"),
            hold(c.held.len())
        )
    } else {
        let tensors = c.tensors.as_ref().map_or(0, |d| {
            d.only_in_a.len() + d.only_in_b.len() + d.changed.len()
        });
        format!(
            "check FAILED: {} against {}: {} drifted, {} {}, {} {}",
            c.model,
            c.expect,
            plural(count::len(c.drift.len()), "figure"),
            plural(count::len(tensors), "tensor"),
            if tensors == 1 { "differs" } else { "differ" },
            plural(count::len(c.held.len()), "figure"),
            hold(c.held.len())
        )
    }
}

fn hold(n: usize) -> &'static str {
    if n == 1 {
        "holds"
    } else {
        "hold"
    }
}

fn figure(f: &crate::compare::Figure) -> String {
    match f {
        crate::compare::Figure::Count(n) => super::int(*n),
        crate::compare::Figure::Text(t) => t.clone(),
    }
}

/// The sections of a check: drift, then tensor differences.
pub fn check(c: &crate::compare::CheckOutcome) -> Vec<Section> {
    let mut out = Vec::new();
    if !c.drift.is_empty() {
        let mut s = section(
            "Drift",
            &[
                ("figure", false),
                ("expected", true),
                ("found", true),
                ("change", true),
            ],
        );
        for d in &c.drift {
            s.push_toned(
                vec![
                    d.figure.clone(),
                    figure(&d.expected),
                    figure(&d.found),
                    d.change.map(signed).unwrap_or_default(),
                ],
                Some(Tone::Bad),
            );
        }
        out.push(s);
    }
    if let Some(d) = &c.tensors {
        let mut renamed = d.clone();
        renamed.a = "the expectation".to_string();
        renamed.b = "the model".to_string();
        out.extend(diff_tensors(&renamed));
    }
    out.extend(finding_rows(&c.findings));
    out
}

/// The one-line verdict of a verify run.
pub fn verify_verdict(r: &crate::verify::VerifyReport) -> String {
    let nonfinite = r
        .flags
        .iter()
        .filter(|f| {
            matches!(
                f.problem,
                crate::verify::Problem::NonFinite | crate::verify::Problem::AllNan
            )
        })
        .count();
    let mismatched = r.files.iter().filter(|f| f.matches == Some(false)).count();
    let checked = r.files.iter().filter(|f| f.matches.is_some()).count();
    let unscanned = r.tensors.iter().filter(|t| !t.scanned).count();
    let hashed_only = if unscanned > 0 {
        format!(
            "; {} hashed only (quantized blocks and sub-byte values are not decoded)",
            plural(count::len(unscanned), "tensor")
        )
    } else {
        String::new()
    };
    format!(
        "verify {}: {}: {}, {} bytes ({}), {}; sha256 checked {checked}, mismatched {mismatched}; {} with NaN/Inf{}{hashed_only}",
        if r.passed { "passed" } else { "FAILED" },
        r.spec,
        plural(count::len(r.files.len()), "file"),
        count(r.bytes),
        human_bytes(r.bytes),
        plural(count::len(r.tensors.len()), "tensor"),
        plural(count::len(nonfinite), "tensor"),
        if r.allow_nonfinite { " (allowed)" } else { "" }
    )
}

fn opt_num(n: &Option<serde_json::Number>) -> String {
    n.as_ref().map_or_else(
        || "-".to_string(),
        |n| match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => format!("{f:.6}"),
            _ => n.to_string(),
        },
    )
}

fn opt_f64(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |f| format!("{f:.6}"))
}

/// The sections of a verify report.
pub fn verify(r: &crate::verify::VerifyReport, options: super::Options) -> Vec<Section> {
    let mut files = section(
        "Files",
        &[
            ("file", false),
            ("bytes", true),
            ("sha256", false),
            ("expected from", false),
            ("match", false),
        ],
    );
    for f in &r.files {
        let from = match f.expected_from {
            Some(crate::verify::HashSource::HubCache) => "hub cache blob",
            Some(crate::verify::HashSource::Flag) => "--sha256",
            Some(crate::verify::HashSource::Expectations) => "--expect",
            None => "-",
        };
        let m = match f.matches {
            Some(true) => "yes".to_string(),
            Some(false) => format!("NO (expected {})", f.expected.clone().unwrap_or_default()),
            None => "not checked".to_string(),
        };
        let tone = match f.matches {
            Some(true) => Some(Tone::Good),
            Some(false) => Some(Tone::Bad),
            None => None,
        };
        files.push_toned(
            vec![
                f.path.clone(),
                count(f.bytes),
                f.sha256.clone(),
                from.to_string(),
                m,
            ],
            tone,
        );
    }
    let mut buckets = section(
        "Values by bucket",
        &[
            ("bucket", false),
            ("tensors", true),
            ("elements", true),
            ("NaN", true),
            ("Inf", true),
            ("zeros", true),
            ("subnormals", true),
        ],
    );
    for b in Bucket::ALL {
        if let Some(s) = r.buckets.get(&b).filter(|s| shown(b, s.tensors, None)) {
            buckets.rows.push(vec![
                b.name().to_string(),
                count(s.tensors),
                count(s.elements),
                count(s.nan),
                count(s.inf),
                count(s.zeros),
                count(s.subnormals),
            ]);
        }
    }
    let mut out = vec![files, buckets];
    if !r.flags.is_empty() {
        let mut flags = section(
            "Flagged tensors",
            &[("tensor", false), ("problem", false), ("detail", false)],
        );
        for f in &r.flags {
            let problem = serde_json::to_value(f.problem)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let tone = match f.problem {
                crate::verify::Problem::NonFinite | crate::verify::Problem::AllNan => Tone::Bad,
                _ => Tone::Warn,
            };
            flags.push_toned(
                vec![f.tensor.clone(), problem, f.detail.clone()],
                Some(tone),
            );
        }
        out.push(flags);
    }
    if options.tensors {
        let mut t = section(
            "Tensor values",
            &[
                ("tensor", false),
                ("dtype", false),
                ("elements", true),
                ("NaN", true),
                ("+Inf", true),
                ("-Inf", true),
                ("zeros", true),
                ("subnormals", true),
                ("min", true),
                ("max", true),
                ("mean", true),
                ("std", true),
            ],
        );
        for s in &r.tensors {
            t.rows.push(vec![
                s.name.clone(),
                s.dtype.clone(),
                count(s.elements),
                count(s.nan),
                count(s.pos_inf),
                count(s.neg_inf),
                count(s.zeros),
                count(s.subnormals),
                opt_num(&s.min),
                opt_num(&s.max),
                opt_f64(s.mean),
                opt_f64(s.std),
            ]);
        }
        out.push(t);
    }
    out
}
