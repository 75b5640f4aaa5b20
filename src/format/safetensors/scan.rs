//! The fast path of the header parse: a scanner for the header as writers produce it
//! (plain strings, unsigned integers, the three tensor fields once each), borrowing names
//! and dtypes from the header text. Anything else, however valid, makes it step aside
//! (`None`) and the serde parse reads the header, so every message stays the serde
//! parse's and the two agree on every header the scanner reads (see the tests).

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Entry, RawHeader, MAX_RANK};
use crate::fastmap::Set;

/// Read a header the scanner knows; `None` for anything else (the caller then parses it
/// with serde). A duplicate key also returns `None`: the serde parse names it.
pub(super) fn scan(text: &str) -> Option<RawHeader<'_>> {
    let mut s = Scanner {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut header = RawHeader {
        metadata: BTreeMap::new(),
        entries: Vec::new(),
        duplicate: None,
    };
    let mut seen_metadata = false;
    let mut seen: Set<&str> = Set::default();
    s.expect(b'{')?;
    if !s.eat(b'}') {
        loop {
            let key = s.string()?;
            s.expect(b':')?;
            if key == "__metadata__" {
                if std::mem::replace(&mut seen_metadata, true) {
                    return None;
                }
                header.metadata = s.metadata()?;
            } else {
                if !seen.insert(key) {
                    return None;
                }
                let entry = s.tensor(key)?;
                header.entries.push(entry);
            }
            if s.eat(b',') {
                continue;
            }
            s.expect(b'}')?;
            break;
        }
    }
    s.skip_space();
    (s.at == s.bytes.len()).then_some(header)
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    /// JSON whitespace, as serde_json skips it.
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Skip whitespace and take `b` if it comes next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    /// A string without escapes or control characters, borrowed from the text.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..start + len)
    }

    /// An unsigned integer as serde_json reads one into a `u64`: no sign, fraction,
    /// exponent or leading zero, no overflow.
    fn number(&mut self) -> Option<u64> {
        self.skip_space();
        let digits = self.bytes[self.at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let text = &self.bytes[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.bytes.get(self.at + digits) {
            return None;
        }
        let mut n = 0u64;
        for &d in text {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at += digits;
        Some(n)
    }

    /// `[n, ...]` into `out`; the count read. More than `out` holds steps aside.
    fn numbers(&mut self, out: &mut [u64]) -> Option<usize> {
        self.expect(b'[')?;
        if self.eat(b']') {
            return Some(0);
        }
        let mut n = 0;
        loop {
            *out.get_mut(n)? = self.number()?;
            n += 1;
            if self.eat(b',') {
                continue;
            }
            self.expect(b']')?;
            return Some(n);
        }
    }

    /// `{"key": "value", ...}`: the metadata map (a repeated key keeps its last value,
    /// as a map deserialised by serde does).
    fn metadata(&mut self) -> Option<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        self.expect(b'{')?;
        if self.eat(b'}') {
            return Some(map);
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.string()?;
            map.insert(key.to_string(), value.to_string());
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            return Some(map);
        }
    }

    /// `{"dtype": ..., "shape": [...], "data_offsets": [start, end]}` in any order, each
    /// field once, no other field.
    fn tensor(&mut self, name: &'a str) -> Option<Entry<'a>> {
        let mut dtype = None;
        let mut shape = None;
        let mut offsets = None;
        self.expect(b'{')?;
        loop {
            let field = self.string()?;
            self.expect(b':')?;
            match field {
                "dtype" if dtype.is_none() => dtype = Some(self.string()?),
                "shape" if shape.is_none() => {
                    let mut dims = [0u64; MAX_RANK];
                    let n = self.numbers(&mut dims)?;
                    shape = Some(dims[..n].to_vec());
                }
                "data_offsets" if offsets.is_none() => {
                    let mut pair = [0u64; 2];
                    if self.numbers(&mut pair)? != 2 {
                        return None;
                    }
                    offsets = Some((pair[0], pair[1]));
                }
                _ => return None,
            }
            if self.eat(b',') {
                continue;
            }
            self.expect(b'}')?;
            break;
        }
        Some(Entry {
            name: Cow::Borrowed(name),
            dtype: Cow::Borrowed(dtype?),
            shape: shape?,
            data_offsets: offsets?,
        })
    }
}
