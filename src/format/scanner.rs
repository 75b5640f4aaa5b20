//! A JSON scanner for the fast paths of the header and index parses: the tokens their
//! writers produce (plain strings, unsigned integers), each read the way serde_json reads
//! it. Whatever it does not know it refuses (`None`), and the caller leaves the text to
//! serde, which reads it or names the problem.

/// A position in a JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Scanner<'a> {
        Scanner { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// JSON whitespace, as serde_json skips it.
    pub(crate) fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// Only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_space();
        self.at == self.text.len()
    }

    /// Skip whitespace and take `b` if it comes next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        self.skip_space();
        if self.bytes().get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// Whether a string comes next (whitespace skipped).
    pub(crate) fn at_string(&mut self) -> bool {
        self.skip_space();
        self.bytes().get(self.at) == Some(&b'"')
    }

    /// A string without escapes or control characters, borrowed from the text.
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = plain_run(&self.bytes()[start..]);
        if self.bytes().get(start + len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..start + len)
    }

    /// An unsigned integer as serde_json reads one into a `u64`: no sign, fraction,
    /// exponent or leading zero, no overflow.
    pub(crate) fn number(&mut self) -> Option<u64> {
        self.skip_space();
        let rest = &self.bytes()[self.at..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let text = &rest[..digits];
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = rest.get(digits) {
            return None;
        }
        let mut n = 0u64;
        for &d in text {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at += digits;
        Some(n)
    }

    /// `{` then `item` for each member, separated by commas, then `}`.
    pub(crate) fn object(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            item(self)?;
            if !self.eat(b',') {
                return self.expect(b'}');
            }
        }
    }
}

/// How many bytes come before the first quote, backslash or control character: read
/// eight at a time.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // A flag in the high bit of every byte below `n` (exact up to the first one, which is
    // all that is read: a borrow only runs upward from a flagged byte).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let mut i = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let special = below(x ^ (ONES * u64::from(b'"')), 1)
            | below(x ^ (ONES * u64::from(b'\\')), 1)
            | below(x, 0x20);
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_run_stops_at_the_first_special_byte() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        let alphabet = b"a\"\\\x00\x1f\x20\x7f\x80\xff.0";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = (x >> (i % 16 * 4)) as usize;
                    // Mostly plain bytes, so runs reach past a word.
                    if pick.is_multiple_of(5) {
                        alphabet[(pick / 5) % alphabet.len()]
                    } else {
                        b'a' + (pick % 26) as u8
                    }
                })
                .collect();
            assert_eq!(plain_run(&bytes), slow(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn numbers_are_read_as_serde_json_reads_a_u64() {
        for (text, n) in [
            ("0", Some(0)),
            (" 12,", Some(12)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("01", None),
            ("1.0", None),
            ("1e3", None),
            ("-1", None),
            ("", None),
        ] {
            assert_eq!(Scanner::new(text).number(), n, "{text}");
        }
    }
}
