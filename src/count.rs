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
    let common = a.bytes().zip(b.bytes()).take_while(|(p, q)| p == q).count();
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

/// A byte string whose plain order is [`natural_cmp`]'s order (ties aside): each run of
/// digits becomes `0`, its significant digit count (4 bytes, big-endian) and the digits
/// without leading zeros. `0` orders against any other byte as the run's first digit
/// would, since that byte is not a digit.
pub fn natural_key(name: &str) -> Vec<u8> {
    let bytes = name.as_bytes();
    let mut key = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let run = bytes[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let digits = trim_zeros(&bytes[i..i + run]);
            key.push(b'0');
            let len = u32::try_from(digits.len()).unwrap_or(u32::MAX);
            key.extend_from_slice(&len.to_be_bytes());
            key.extend_from_slice(digits);
            i += run;
        } else {
            key.push(bytes[i]);
            i += 1;
        }
    }
    key
}

/// Sort items by a name in natural order: one key per item, then byte comparisons
/// (ties broken by the plain name, as [`natural_cmp`] does).
pub fn sort_natural<T>(items: &mut [T], name: impl Fn(&T) -> &str) {
    if items.is_sorted_by(|a, b| natural_cmp(name(a), name(b)).is_le()) {
        return;
    }
    let mut keyed: Vec<(Vec<u8>, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, t)| (natural_key(name(t)), i))
        .collect();
    keyed.sort_unstable_by(|(ka, ia), (kb, ib)| {
        ka.cmp(kb)
            .then_with(|| name(&items[*ia]).cmp(name(&items[*ib])))
    });
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    permute(items, order);
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
    fn sorting_by_keys_orders_like_the_comparison() {
        let parts = [
            "a", "1", "10", "01", "2", ".", "x", "009", "", "b1", "/", ":",
        ];
        let mut names = Vec::new();
        for p in parts {
            for q in parts {
                for r in parts {
                    names.push(format!("{p}{q}{r}"));
                }
            }
        }
        names.reverse();
        let mut expected = names.clone();
        expected.sort_by(|a, b| natural_cmp(a, b));
        let mut by_key = names.clone();
        sort_natural(&mut by_key, |s| s.as_str());
        assert_eq!(by_key, expected);
    }
}
