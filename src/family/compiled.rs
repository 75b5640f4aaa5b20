//! A family's table compiled once per process: patterns split into segments, shapes
//! parsed, and an index from a name's "template" (its segments with every number
//! replaced by one marker) to the rows that can match it. Classifying a tensor hashes
//! the suffixes of its name, allocation-free, and checks the few candidate rows; the
//! expected tensors are spelled out from the same rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::fastmap::Map;

use super::expr::Expr;
use super::{Dims, Family, Range, Row, RowKind, BACKBONE};

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A literal segment (numbers included: `block.0`).
    Lit(&'static str),
    /// A capture: `{layer}` (its range's index in the family).
    Cap(&'static str, usize),
}

/// A compiled row.
#[derive(Debug, Clone)]
pub struct CompiledRow {
    /// The row as declared.
    pub row: &'static Row,
    /// Its pattern, segment by segment.
    pub segs: Vec<Seg>,
    /// Its shape, parsed.
    pub shape: Vec<Expr>,
    /// How many of its segments are captures.
    pub captures: usize,
}

/// A family's compiled table.
#[derive(Debug)]
pub struct Compiled {
    /// The family.
    pub family: &'static Family,
    /// Rows in table order.
    pub rows: Vec<CompiledRow>,
    /// Parsed range bounds, in the family's order.
    ranges: Vec<(Expr, Expr)>,
    /// Template hash of a suffix -> candidate rows (most specific first).
    index: Map<u64, Vec<usize>>,
    /// Pattern lengths in segments, longest first.
    lengths: Vec<usize>,
}

/// A stored name matched to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index of the row in [`Compiled::rows`].
    pub row: usize,
    /// The canonical key: the matched suffix, leaf normalised (`gamma` -> `weight`).
    pub key: String,
    /// The captured numbers, by capture name.
    pub captures: Captures,
}

/// Most captures one pattern may have (`layers.{layer}.mlp.experts.{expert}....`);
/// [`Compiled::new`] refuses a pattern with more.
pub const MAX_CAPTURES: usize = 2;

/// The numbers a name's captures took, by capture name, held inline: every classified
/// tensor carries them, and a heap allocation each would cost more than the match.
#[derive(Debug, Clone, Copy, Default)]
pub struct Captures {
    items: [(&'static str, u64); MAX_CAPTURES],
    len: usize,
}

impl Captures {
    /// Add one; `None` past [`MAX_CAPTURES`] (which compiled patterns never reach).
    fn push(&mut self, capture: (&'static str, u64)) -> Option<()> {
        *self.items.get_mut(self.len)? = capture;
        self.len += 1;
        Some(())
    }

    /// The captures, in pattern order.
    pub fn as_slice(&self) -> &[(&'static str, u64)] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl PartialEq for Captures {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Captures {}

impl<'a> IntoIterator for &'a Captures {
    type Item = &'a (&'static str, u64);
    type IntoIter = std::slice::Iter<'a, (&'static str, u64)>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

const NUMBER: u64 = 0x9e37_79b9_7f4a_7c15;

/// A segment's hash, eight bytes at a time. Patterns and names hash alike; a collision
/// only costs a row check.
fn seg_hash(bytes: &[u8]) -> u64 {
    let step = |h: u64, word: [u8; 8]| {
        (h ^ u64::from_le_bytes(word))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29)
    };
    let mut h = 0xcbf2_9ce4_8422_2325 ^ crate::count::len(bytes.len());
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = step(h, word);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = step(h, word);
    }
    h
}

fn is_number(seg: &str) -> bool {
    !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit())
}

/// The TF-era LayerNorm spellings read as the PyTorch ones.
pub fn normalise_leaf(leaf: &str) -> &str {
    match leaf {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    }
}

/// Mix one segment's template into a running suffix hash.
fn mix(h: u64, seg: &str, is_leaf: bool) -> u64 {
    let seg_hash = if is_number(seg) {
        NUMBER
    } else if is_leaf {
        self::seg_hash(normalise_leaf(seg).as_bytes())
    } else {
        self::seg_hash(seg.as_bytes())
    };
    (h.rotate_left(17) ^ seg_hash).wrapping_mul(0x0000_0100_0000_01b3)
}

/// Most segments a pattern may have.
pub const MAX_SEGMENTS: usize = 32;

impl Compiled {
    /// Compile `family`'s table. A malformed pattern or shape is a bug in the family file
    /// (the registry tests catch it), reported here by a panic naming the row.
    pub fn new(family: &'static Family) -> Compiled {
        let ranges: Vec<(Expr, Expr)> = family
            .ranges
            .iter()
            .map(|r| {
                let parse = |t| Expr::parse(t).unwrap_or_else(|e| panic!("{}: {e}", family.name));
                (parse(r.start), parse(r.end))
            })
            .collect();
        let mut rows = Vec::new();
        for row in family.rows() {
            let segs: Vec<Seg> = row
                .pattern
                .split('.')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => {
                            let i = family
                                .ranges
                                .iter()
                                .position(|r| r.name == name)
                                .unwrap_or_else(|| {
                                    panic!(
                                        "{}: `{}` has no range `{name}`",
                                        family.name, row.pattern
                                    )
                                });
                            Seg::Cap(family.ranges[i].name, i)
                        }
                        None => Seg::Lit(s),
                    },
                )
                .collect();
            assert!(
                segs.len() <= MAX_SEGMENTS,
                "{}: pattern too long",
                row.pattern
            );
            let shape = Expr::parse_shape(row.shape)
                .unwrap_or_else(|e| panic!("{}: `{}`: {e}", family.name, row.pattern));
            let captures = segs.iter().filter(|s| matches!(s, Seg::Cap(..))).count();
            assert!(
                captures <= MAX_CAPTURES,
                "{}: more than {MAX_CAPTURES} captures",
                row.pattern
            );
            rows.push(CompiledRow {
                row,
                segs,
                shape,
                captures,
            });
        }
        let mut index: Map<u64, Vec<usize>> = Map::default();
        let mut lengths: Vec<usize> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            let n = r.segs.len();
            let mut h = 0u64;
            for (j, s) in r.segs.iter().enumerate().rev() {
                let text = match s {
                    Seg::Lit(t) => t,
                    Seg::Cap(..) => "0",
                };
                h = mix(h, text, j + 1 == n);
            }
            index.entry(h).or_default().push(i);
            if !lengths.contains(&n) {
                lengths.push(n);
            }
        }
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        Compiled {
            family,
            rows,
            ranges,
            index,
            lengths,
        }
    }

    /// The row a stored name matches, most specific pattern first, with its canonical key
    /// and captures.
    ///
    /// Rows may share a template: the same names over different ranges (DeepSeek's
    /// multi-token-prediction layer `L` repeats a decoder layer's names under its own rows,
    /// in their own ladder step). A name then takes the first such row in table order,
    /// whatever its numbers; the formula matches stored tensors to expected ones by key
    /// and counts each with the row it was expanded from, so rows sharing a template must
    /// agree on bucket, part and role (the registry tests check it).
    pub fn classify(&self, name: &str) -> Option<Match> {
        // The last segments, as many as the longest pattern has, last first; hashes[k - 1]:
        // the template hash of the last k segments.
        let longest = self.lengths.first().copied().unwrap_or(0);
        let mut segs: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
        let mut hashes = [0u64; MAX_SEGMENTS];
        let mut n = 0;
        let mut h = 0u64;
        let mut end = name.len();
        while n < longest {
            let start = name.as_bytes()[..end]
                .iter()
                .rposition(|&b| b == b'.')
                .map_or(0, |dot| dot + 1);
            // Next to a dot or at an end: character boundaries.
            let seg = name.get(start..end).unwrap_or_default();
            h = mix(h, seg, n == 0);
            segs[n] = seg;
            hashes[n] = h;
            n += 1;
            if start == 0 {
                break;
            }
            end = start - 1;
        }
        for &len in &self.lengths {
            if len > n {
                continue;
            }
            let Some(candidates) = self.index.get(&hashes[len - 1]) else {
                continue;
            };
            for &i in candidates {
                if let Some(m) = self.try_row(i, name, &segs[..len]) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// Check row `i` against the last segments of `name` (given last first). The key is
    /// the matched suffix of the name, its leaf normalised.
    fn try_row(&self, i: usize, name: &str, tail: &[&str]) -> Option<Match> {
        let row = &self.rows[i];
        let len = row.segs.len();
        let mut captures = Captures::default();
        for (j, seg) in row.segs.iter().enumerate() {
            let stored = tail[len - 1 - j];
            let stored = if j + 1 == len {
                normalise_leaf(stored)
            } else {
                stored
            };
            match seg {
                Seg::Lit(t) if *t == stored => {}
                Seg::Lit(_) => return None,
                Seg::Cap(name, _) => {
                    if !is_number(stored) {
                        return None;
                    }
                    captures.push((*name, stored.parse().ok()?))?;
                }
            }
        }
        // The segments were split from the end of `name` at dots: the suffix they span
        // starts that many bytes (and dots) before its end.
        let spanned: usize = tail.iter().map(|s| s.len() + 1).sum::<usize>() - 1;
        let (leaf, normalised) = (tail[0], normalise_leaf(tail[0]));
        let body = &name[name.len() - spanned..name.len() - leaf.len()];
        let mut key = String::with_capacity(body.len() + normalised.len());
        key.push_str(body);
        key.push_str(normalised);
        Some(Match {
            row: i,
            key,
            captures,
        })
    }

    /// The values range `i` takes for `dims` (`None` when its bounds have no value).
    pub fn range_values(&self, i: usize, dims: &Dims) -> Option<Vec<u64>> {
        let (start, end) = &self.ranges[i];
        let (start, end) = (dims.eval(start)?, dims.eval(end)?);
        let filter = self.family.ranges[i].filter;
        // Ranges are bounded by the dimension limits (at most 2^12 layers or experts).
        if end.saturating_sub(start) > 1 << 20 {
            return None;
        }
        Some(
            (start..end)
                .filter(|v| filter.is_none_or(|f| f(dims, *v)))
                .collect(),
        )
    }

    /// The range a capture name refers to.
    pub fn range(&self, name: &str) -> Option<(usize, &Range)> {
        self.family
            .ranges
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == name)
    }

    /// Spell out every tensor the rows in `parts` (and the backbone) expect for `dims`,
    /// in table order. `None` when a shape or range has no value for these dimensions.
    pub fn expand(&self, dims: &Dims, parts: &[&str]) -> Option<Vec<Expanded>> {
        let mut out = Vec::with_capacity(self.expanded_len(dims, parts));
        for (i, r) in self.rows.iter().enumerate() {
            let row = r.row;
            if !expected(row, dims, parts) {
                continue;
            }
            let shape: Vec<u64> = r
                .shape
                .iter()
                .map(|e| dims.eval(e))
                .collect::<Option<_>>()?;
            let elements = crate::count::product(shape.iter().copied())?;
            // Each capture's values, as the text of the key.
            let caps: Vec<Vec<String>> = r
                .segs
                .iter()
                .filter_map(|s| match s {
                    Seg::Cap(_, ri) => Some(*ri),
                    Seg::Lit(_) => None,
                })
                .map(|ri| {
                    Some(
                        self.range_values(ri, dims)?
                            .iter()
                            .map(u64::to_string)
                            .collect(),
                    )
                })
                .collect::<Option<_>>()?;
            let tied = match row.kind {
                RowKind::Alias { flag, .. } => flag.is_none_or(|f| dims.flag(f)),
                RowKind::Tied { flag, .. } => dims.flag(flag),
                _ => false,
            };
            let alias = match row.kind {
                RowKind::Alias { flag, .. } => flag.is_none_or(|f| dims.flag(f)),
                _ => false,
            };
            let shape: Arc<[u64]> = shape.into();
            // Every combination of the captures' values, the last capture varying fastest.
            let mut at = vec![0usize; caps.len()];
            while at.iter().zip(&caps).all(|(k, values)| *k < values.len()) {
                out.push(Expanded {
                    row: i,
                    key: key_of(&r.segs, &caps, &at),
                    shape: shape.clone(),
                    elements,
                    tied,
                    alias,
                });
                if !next_combination(&mut at, &caps) {
                    break;
                }
            }
        }
        Some(out)
    }

    /// How many tensors [`Compiled::expand`] gives (room reserved once, where regrowing
    /// would copy tens of thousands of them); 0 when a range has no value.
    fn expanded_len(&self, dims: &Dims, parts: &[&str]) -> usize {
        let count = |r: &CompiledRow| {
            r.segs.iter().try_fold(1usize, |n, s| match s {
                Seg::Cap(_, ri) => n.checked_mul(self.range_values(*ri, dims)?.len()),
                Seg::Lit(_) => Some(n),
            })
        };
        self.rows
            .iter()
            .filter(|r| expected(r.row, dims, parts))
            .map(|r| count(r).unwrap_or(0))
            .fold(0usize, usize::saturating_add)
    }

    /// What the stored tensors reveal about the dimensions: every shape axis whose
    /// expression is a single symbol, and every capture's count (`{layer}` seen up to 11:
    /// its range's end symbol is 12), or, for a range starting at a symbol, its first
    /// value (DeepSeek's `{mtp}` layers start at `L`). First seen wins: shapes in table
    /// order, then ranges in the family's order.
    pub fn reveal<'a>(
        &self,
        stored: impl Iterator<Item = (&'a Match, &'a [u64])>,
    ) -> BTreeMap<&'static str, u64> {
        let mut known = BTreeMap::new();
        let mut captured: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        let mut by_row: BTreeMap<usize, &[u64]> = BTreeMap::new();
        for (m, shape) in stored {
            by_row.entry(m.row).or_insert(shape);
            for (name, v) in &m.captures {
                if let Some((ri, _)) = self.range(name) {
                    let e = captured.entry(ri).or_insert((*v, *v));
                    *e = (e.0.min(*v), e.1.max(*v));
                }
            }
        }
        for (row, shape) in by_row {
            for (expr, dim) in self.rows[row].shape.iter().zip(shape) {
                if let Some(sym) = expr.as_symbol() {
                    known.entry(sym).or_insert(*dim);
                }
            }
        }
        for (ri, (min, max)) in captured {
            let (start, end) = &self.ranges[ri];
            if let (Some(0), Some(sym)) = (start.eval(&|_| None), end.as_symbol()) {
                // A capture of u64::MAX has no count: saturating keeps it beyond every
                // limit, so the dimensions are refused rather than defaulted.
                known.entry(sym).or_insert(max.saturating_add(1));
            } else if let Some(sym) = start.as_symbol() {
                known.entry(sym).or_insert(min);
            }
        }
        known
    }
}

/// Whether `row` is expected for `dims`: in the backbone or one of `parts`, and its
/// condition holds.
fn expected(row: &Row, dims: &Dims, parts: &[&str]) -> bool {
    (row.part == BACKBONE || parts.contains(&row.part)) && row.cond.holds(dims)
}

/// The key of a pattern with its captures at `at` in their values.
fn key_of(segs: &[Seg], caps: &[Vec<String>], at: &[usize]) -> String {
    let parts = || {
        let mut values = caps.iter().zip(at).map(|(values, k)| values[*k].as_str());
        segs.iter().map(move |s| match s {
            Seg::Lit(t) => t,
            Seg::Cap(..) => values.next().unwrap_or_default(),
        })
    };
    let mut key = String::with_capacity(parts().map(|p| p.len() + 1).sum());
    for (j, p) in parts().enumerate() {
        if j > 0 {
            key.push('.');
        }
        key.push_str(p);
    }
    key
}

/// Step `at` to the next combination (the last position fastest); false after the last.
fn next_combination(at: &mut [usize], caps: &[Vec<String>]) -> bool {
    for (k, values) in at.iter_mut().zip(caps).rev() {
        *k += 1;
        if *k < values.len() {
            return true;
        }
        *k = 0;
    }
    false
}

/// One tensor the formula expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// Index of its row.
    pub row: usize,
    /// Canonical key.
    pub key: String,
    /// Shape (shared by every tensor of its row).
    pub shape: Arc<[u64]>,
    /// Elements.
    pub elements: u64,
    /// Expected not to be stored (tied to another tensor, or an alias of one).
    pub tied: bool,
    /// A second name of another tensor (never counted, even as tied).
    pub alias: bool,
}
