//! Registry-wide properties: one set of tests guards every family. For each registered
//! family and many random dimension sets (read through the same config path users take):
//! the closed form equals the sum of the table, part by part and step by step; every
//! expected tensor classifies back to its own row under any prefix; every model class
//! the family names adds up from the table.

use std::collections::BTreeMap;

use super::*;
use crate::formula::ModelConfig;

/// A ladder step and the part it is about.
type Group<'a> = (Step, Option<&'a str>);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn upto(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A random config for `family`: every dimension set (small values), or left to its
/// default a third of the time.
fn random_config(family: &Family, rng: &mut Rng) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("model_type".into(), family.model_types[0].into());
    let layers = rng.upto(1, 6);
    for d in family.dims {
        if rng.next().is_multiple_of(3)
            && !matches!(d.default, Default::Value(_) | Default::Flag(_))
        {
            continue;
        }
        let value = match d.kind {
            DimKind::Count { min, max } => {
                let hi = max.min(if d.symbol.starts_with('L') { 6 } else { 48 });
                serde_json::Value::from(
                    rng.upto(min.max(if min == 0 { 0 } else { 1 }), hi.max(min)),
                )
            }
            DimKind::Flag { .. } => serde_json::Value::from(rng.next().is_multiple_of(2)),
            DimKind::List => serde_json::Value::from(
                (0..layers)
                    .filter(|_| rng.next().is_multiple_of(3))
                    .collect::<Vec<u64>>(),
            ),
        };
        if !rng.next().is_multiple_of(4) || !matches!(d.kind, DimKind::Count { .. }) {
            m.insert(d.key().into(), value);
        }
    }
    serde_json::Value::Object(m)
}

/// Valid random dimension sets for `family`, read through `from_config`.
fn samples(family: &'static Family, n: usize) -> Vec<Dims> {
    let mut rng = Rng(0x51_7cc1_b727_220a ^ family.name.len() as u64);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        assert!(
            tries < n * 2_000,
            "{}: too few valid random configs",
            family.name
        );
        let text = random_config(family, &mut rng).to_string();
        let config = ModelConfig::parse(std::path::Path::new("c.json"), &text).unwrap();
        if let Ok((dims, _)) = dims::from_config(family, &config) {
            out.push(dims);
        }
    }
    out
}

/// Every part a family's table names.
fn all_parts(family: &Family) -> Vec<&'static str> {
    let mut parts: Vec<&'static str> = family.rows().map(|r| r.part).collect();
    parts.sort_unstable();
    parts.dedup();
    parts
}

/// Table sums by (step, part): parameters expected stored, and tied ones apart.
fn table_sums(
    family: &'static Family,
    dims: &Dims,
    parts: &[&'static str],
) -> BTreeMap<(Option<Step>, &'static str), i128> {
    let c = family.compiled();
    let mut sums = BTreeMap::new();
    for e in c.expand(dims, parts).unwrap() {
        let row = c.rows[e.row].row;
        let key = match row.kind {
            RowKind::Buffer => continue,
            RowKind::Alias { .. } if e.alias => continue,
            _ if e.tied => (Some(Step::TiedNotStored), row.part),
            _ => (row.step, row.part),
        };
        *sums.entry(key).or_insert(0i128) += i128::from(e.elements);
    }
    sums
}

#[test]
fn every_family_compiles_and_names_its_model_types() {
    let mut types = Vec::new();
    for f in REGISTRY {
        assert!(!f.model_types.is_empty(), "{}", f.name);
        let c = f.compiled();
        assert_eq!(c.rows.len(), f.rows().count());
        for t in f.model_types {
            assert!(!types.contains(t), "{t} served twice");
            types.push(*t);
        }
        for (step, _) in f.ladder {
            assert!(Step::ALL.contains(step));
        }
    }
}

#[test]
fn closed_form_equals_the_table_for_every_family_and_many_dimension_sets() {
    for &family in REGISTRY {
        let parts = all_parts(family);
        for dims in samples(family, 150) {
            let d = (family.derive)(&dims).unwrap_or_else(|| panic!("{}: {dims:?}", family.name));
            let sums = table_sums(family, &dims, &parts);
            let shared: i128 = d
                .additions
                .iter()
                .filter(|a| a.step == Step::SharedLayers)
                .map(|a| a.line.value)
                .sum();
            assert_eq!(
                sums.get(&(None, BACKBONE)).copied().unwrap_or(0),
                i128::from(d.weights_only) + shared,
                "{}: hand derivation vs table, {dims:?}",
                family.name
            );
            // The additions for each (step, part) equal their rows; every group of rows
            // has its additions.
            let mut grouped: BTreeMap<Group, (i128, Vec<&str>)> = BTreeMap::new();
            for a in d.additions.iter().filter(|a| a.step != Step::SharedLayers) {
                let e = grouped.entry((a.step, a.of.as_deref())).or_default();
                e.0 += a.line.value;
                e.1.push(&a.line.part);
            }
            let mut covered = BTreeMap::new();
            for ((step, of), (value, lines)) in &grouped {
                let matching = |(s, p): &(Option<Step>, &str)| {
                    *s == Some(*step) && of.is_none_or(|of| of == *p)
                };
                let table: i128 = sums
                    .iter()
                    .filter(|(k, _)| matching(k))
                    .map(|(_, v)| *v)
                    .sum();
                assert_eq!(
                    table, *value,
                    "{}: {lines:?} ({step:?}, {of:?}), {dims:?}",
                    family.name
                );
                for k in sums.keys().filter(|k| matching(k)) {
                    covered.insert(*k, ());
                }
            }
            for (key, v) in &sums {
                if key.0.is_some() && *v != 0 {
                    assert!(
                        covered.contains_key(key),
                        "{}: rows of {key:?} have no line in the derivation",
                        family.name
                    );
                }
            }
            // A mixture of experts: the closed-form active count equals the table's, for
            // the model class the active line names (every part when it names none).
            if let Some(moe) = family.moe {
                let c = family.compiled();
                let mut total = 0u64;
                let mut routed = 0u64;
                let class_parts = d
                    .active
                    .as_ref()
                    .and_then(|l| family.claim(&l.part))
                    .map_or_else(|| parts.clone(), <[&str]>::to_vec);
                for e in c.expand(&dims, &class_parts).unwrap() {
                    let row = c.rows[e.row].row;
                    let counted =
                        matches!(row.kind, RowKind::Param | RowKind::Tied { .. }) && !e.tied;
                    if !counted || row.step == Some(Step::ExtraLayers) {
                        continue;
                    }
                    total += e.elements;
                    if row.bucket == Bucket::RoutedExperts {
                        routed += e.elements;
                    }
                }
                let table =
                    active_parameters(total, routed, dims.v(moe.experts), dims.v(moe.per_token));
                let closed = d.active.as_ref().map(|l| l.value);
                assert_eq!(
                    table.map(i128::from),
                    closed,
                    "{}: active, {dims:?}",
                    family.name
                );
            } else {
                assert!(
                    d.active.is_none(),
                    "{}: a dense family has no active line",
                    family.name
                );
            }
            // Model classes named in claims add up from the table (transformers never
            // counts layers past the model's own).
            for m in &d.models {
                let Some(parts) = family.claim(&m.part) else {
                    continue;
                };
                let total: i128 = sums
                    .iter()
                    .filter(|((s, p), _)| {
                        *s != Some(Step::TiedNotStored)
                            && *s != Some(Step::SharedLayers)
                            && *s != Some(Step::ExtraLayers)
                            && (*p == BACKBONE || parts.contains(p))
                    })
                    .map(|(_, v)| *v)
                    .sum();
                assert_eq!(total, m.value, "{}: {} {dims:?}", family.name, m.part);
            }
        }
    }
}

/// A pattern with its capture names erased (`layers.{}.mlp`): rows with the same
/// template match the same names.
fn template(pattern: &str) -> String {
    pattern
        .split('.')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join(".")
}

#[test]
fn every_expected_tensor_classifies_back_to_its_own_row_under_any_prefix() {
    for &family in REGISTRY {
        let parts = all_parts(family);
        let c = family.compiled();
        for dims in samples(family, 20) {
            for e in c.expand(&dims, &parts).unwrap() {
                for prefix in ["", "model.", "a.b."] {
                    let name = format!("{prefix}{}", e.key);
                    let m = c
                        .classify(&name)
                        .unwrap_or_else(|| panic!("{}: `{name}` matches no row", family.name));
                    let (got, want) = (c.rows[m.row].row, c.rows[e.row].row);
                    if got.pattern != want.pattern {
                        // Only a row sharing its template (the same names over another
                        // range) may take it, and it must classify it the same way.
                        assert_eq!(
                            template(got.pattern),
                            template(want.pattern),
                            "{}: `{name}` classified as another row",
                            family.name
                        );
                        assert!(
                            got.bucket == want.bucket
                                && got.part == want.part
                                && (got.kind == RowKind::Buffer) == (want.kind == RowKind::Buffer),
                            "{}: `{name}`: rows sharing a template disagree on bucket, part or role",
                            family.name
                        );
                    }
                    assert_eq!(m.key, e.key);
                }
            }
        }
    }
}
