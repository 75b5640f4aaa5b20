//! Checked arithmetic for counts: every count is a `u64` summed with overflow checks, every
//! signed difference an `i128` (the difference of two `u64` always fits), so no input can
//! make a figure wrap. Also the natural order used for tensor names.

use std::cmp::Ordering;

/// The sum of `values`, `None` when it exceeds `u64`.
pub fn sum(values: impl IntoIterator<Item = u64>) -> Option<u64> {
    values.into_iter().try_fold(0u64, u64::checked_add)
}

/// The product of `values`, `None` when it exceeds `u64`.
pub fn product(values: impl IntoIterator<Item = u64>) -> Option<u64> {
    values.into_iter().try_fold(1u64, u64::checked_mul)
}

/// `a - b`, exactly.
pub fn difference(a: u64, b: u64) -> i128 {
    i128::from(a) - i128::from(b)
}

/// A count as a signed figure.
pub fn signed(n: u64) -> i128 {
    i128::from(n)
}

/// A `usize` count (a number of tensors) as `u64`; lossless on every supported target.
pub fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Natural order: runs of digits compare as numbers (`layer.2` before `layer.10`), the
/// rest byte by byte; equal-valued numbers with different zero padding fall back to the
/// plain order so the result is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    // Names share long prefixes (`model.layers.12.mlp.experts.`): skip the common bytes,
    // backing up to the start of a number they end inside, then compare the rest.
    let common = common_prefix(a.as_bytes(), b.as_bytes());
    let start = a.as_bytes()[..common]
        .iter()
        .rposition(|c| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let (mut x, mut y) = (&a.as_bytes()[start..], &b.as_bytes()[start..]);
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let i = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let j = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (trim_zeros(&x[..i]), trim_zeros(&y[..j]));
                let by_value = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                x = &x[i..];
                y = &y[j..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// The length of the longest common prefix of `a` and `b`, compared eight bytes at a
/// time (the first differing byte of a word is its lowest set bit of `x ^ y`).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        };
        let diff = word(x) ^ word(y);
        if diff != 0 {
            // trailing_zeros < 64, so the quotient is below 8.
            return n + usize::try_from(diff.trailing_zeros() / 8).unwrap_or(0);
        }
        n += 8;
    }
    n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(p, q)| p == q)
        .count()
}

/// Sort items by a name in natural order ([`natural_cmp`]), each item moved once.
pub fn sort_natural<T>(items: &mut [T], name: impl Fn(&T) -> &str) {
    let order = {
        let names: Vec<&str> = items.iter().map(name).collect();
        natural_order(&names)
    };
    if let Some(order) = order {
        permute(items, order);
    }
}

/// The positions of `names` in natural order ([`natural_cmp`]); `None` when they are in
/// it already. The names are sorted with their positions, on every core from
/// [`crate::classify::PARALLEL_FROM`] names (a merge sort: a checkpoint's tensors come in
/// sorted runs, a shard's header at a time).
pub fn natural_order(names: &[&str]) -> Option<Vec<usize>> {
    if names.is_sorted_by(|a, b| natural_cmp(a, b).is_le()) {
        return None;
    }
    let mut named: Vec<(&str, usize)> = names.iter().copied().zip(0..).collect();
    if named.len() >= crate::classify::PARALLEL_FROM {
        use rayon::prelude::*;
        named.par_sort_by(|a, b| natural_cmp(a.0, b.0));
    } else {
        named.sort_by(|a, b| natural_cmp(a.0, b.0));
    }
    Some(named.into_iter().map(|(_, i)| i).collect())
}

/// Rearrange `items` so that position `k` holds what was at `order[k]`.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        // Follow the cycle through `start`, moving each item into place once.
        let mut current = start;
        while order[current] != start {
            let next = order[current];
            items.swap(current, next);
            order[current] = current;
            current = next;
        }
        order[current] = current;
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_that_exceed_64_bits_are_none() {
        assert_eq!(sum([1, 2, 3]), Some(6));
        assert_eq!(sum([u64::MAX, 1]), None);
        assert_eq!(product([1 << 32, 1 << 32]), None);
        assert_eq!(difference(0, u64::MAX), -i128::from(u64::MAX));
    }

    #[test]
    fn layer_numbers_sort_by_value() {
        let mut names = vec![
            "layer.10.w",
            "layer.2.w",
            "layer.1.w",
            "embed",
            "layer.02.w",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "embed",
                "layer.1.w",
                "layer.02.w",
                "layer.2.w",
                "layer.10.w"
            ]
        );
        let huge = "x.184467440737095516150";
        assert_eq!(natural_cmp(huge, "x.9"), Ordering::Greater);
    }

    /// The comparison as first written, without the common-prefix shortcut.
    fn reference(a: &str, b: &str) -> Ordering {
        let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
        loop {
            match (x.first(), y.first()) {
                (None, None) => return a.cmp(b),
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                    let i = x.iter().take_while(|c| c.is_ascii_digit()).count();
                    let j = y.iter().take_while(|c| c.is_ascii_digit()).count();
                    let (dx, dy) = (trim_zeros(&x[..i]), trim_zeros(&y[..j]));
                    let by_value = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
                    if by_value != Ordering::Equal {
                        return by_value;
                    }
                    x = &x[i..];
                    y = &y[j..];
                }
                (Some(p), Some(q)) if p != q => return p.cmp(q),
                _ => {
                    x = &x[1..];
                    y = &y[1..];
                }
            }
        }
    }

    #[test]
    fn the_prefix_shortcut_orders_like_the_plain_comparison() {
        let parts = ["a", "1", "10", "01", "2", ".", "x", "009", "", "b1"];
        let mut names = Vec::new();
        for p in parts {
            for q in parts {
                for r in parts {
                    names.push(format!("{p}{q}{r}"));
                }
            }
        }
        for a in &names {
            for b in &names {
                assert_eq!(natural_cmp(a, b), reference(a, b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn sorting_orders_like_the_comparison() {
        let parts = [
            "a", "1", "10", "01", "2", ".", "x", "009", "", "b1", "/", ":",
        ];
        // Short names, and long ones whose differences sit past 16-byte blocks (more
        // names than the parallel threshold).
        for prefixes in [
            &[""][..],
            &["", "model.layers.00000000000000001", "model.layers.1"],
        ] {
            let mut names = Vec::new();
            for prefix in prefixes {
                for p in parts {
                    for q in parts {
                        for r in parts {
                            names.push(format!("{prefix}{p}{q}{r}"));
                        }
                    }
                }
            }
            names.reverse();
            let mut expected = names.clone();
            expected.sort_by(|a, b| reference(a, b));
            let mut sorted = names.clone();
            sort_natural(&mut sorted, |s| s.as_str());
            assert_eq!(sorted, expected);
        }
        assert_eq!(
            common_prefix(b"0123456789abcdefXY", b"0123456789abcdefXZ"),
            17
        );
        assert_eq!(common_prefix(b"0123456789abcdef", b"0123456789abcdef"), 16);
        assert_eq!(common_prefix(b"", b"a"), 0);
    }
}
