//! The fast path of the header parse: the header as writers produce it (plain strings,
//! unsigned integers, the three tensor fields once each), names and dtypes borrowed from
//! the header text. Anything else, however valid, makes it step aside (`None`) and the
//! serde parse reads the header, so every message stays the serde parse's; the tests hold
//! the two to the same result on every header the scanner reads.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Entry, RawHeader, MAX_RANK};
use crate::fastmap::Set;
use crate::format::scanner::Scanner;

/// Read a header the scanner knows; `None` for anything else (the caller then parses it
/// with serde). A duplicate key also returns `None`: the serde parse names it.
pub(super) fn scan(text: &str) -> Option<RawHeader<'_>> {
    let mut s = Scanner::new(text);
    let mut header = RawHeader {
        metadata: BTreeMap::new(),
        entries: Vec::new(),
        duplicate: None,
    };
    let mut seen: Set<&str> = Set::default();
    s.object(|s| {
        let key = s.string()?;
        s.expect(b':')?;
        if !seen.insert(key) {
            return None;
        }
        if key == "__metadata__" {
            header.metadata = metadata(s)?;
        } else {
            header.entries.push(tensor(s, key)?);
        }
        Some(())
    })?;
    s.at_end().then_some(header)
}

/// `{"key": "value", ...}`: the metadata map (a repeated key keeps its last value, as a
/// map deserialised by serde does).
fn metadata(s: &mut Scanner) -> Option<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    s.object(|s| {
        let key = s.string()?;
        s.expect(b':')?;
        map.insert(key.to_string(), s.string()?.to_string());
        Some(())
    })?;
    Some(map)
}

/// `[n, ...]` into `out`; the count read. More than `out` holds steps aside.
fn numbers(s: &mut Scanner, out: &mut [u64]) -> Option<usize> {
    s.expect(b'[')?;
    if s.eat(b']') {
        return Some(0);
    }
    let mut n = 0;
    loop {
        *out.get_mut(n)? = s.number()?;
        n += 1;
        if !s.eat(b',') {
            s.expect(b']')?;
            return Some(n);
        }
    }
}

/// `{"dtype": ..., "shape": [...], "data_offsets": [start, end]}` in any order, each
/// field once, no other field.
fn tensor<'a>(s: &mut Scanner<'a>, name: &'a str) -> Option<Entry<'a>> {
    let mut dtype = None;
    let mut shape = None;
    let mut offsets = None;
    s.object(|s| {
        let field = s.string()?;
        s.expect(b':')?;
        match field {
            "dtype" if dtype.is_none() => dtype = Some(s.string()?),
            "shape" if shape.is_none() => {
                let mut dims = [0u64; MAX_RANK];
                let n = numbers(s, &mut dims)?;
                shape = Some(dims[..n].to_vec());
            }
            "data_offsets" if offsets.is_none() => {
                let mut pair = [0u64; 2];
                if numbers(s, &mut pair)? != 2 {
                    return None;
                }
                offsets = Some((pair[0], pair[1]));
            }
            _ => return None,
        }
        Some(())
    })?;
    Some(Entry {
        name: Cow::Borrowed(name),
        dtype: Cow::Borrowed(dtype?),
        shape: shape?,
        data_offsets: offsets?,
    })
}
