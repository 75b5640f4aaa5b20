//! The fast path of the shard index parse: the index as transformers writes it
//! (`metadata` with integer or string values, `weight_map` of plain strings). Anything
//! else, however valid, makes it step aside (`None`) and serde parses the index, so every
//! message stays the serde parse's; the tests hold the two to the same result.

use super::{IndexRead, WeightMap};
use crate::format::scanner::Scanner;

/// Read an index the scanner knows; `None` for anything else.
pub(super) fn scan(text: &str) -> Option<IndexRead> {
    let mut s = Scanner::new(text);
    let mut metadata = None;
    let mut weight_map = None;
    s.object(|s| {
        match s.string()? {
            "metadata" if metadata.is_none() => {
                s.expect(b':')?;
                metadata = Some(read_metadata(s)?);
            }
            "weight_map" if weight_map.is_none() => {
                s.expect(b':')?;
                weight_map = Some(read_weight_map(s, text.len())?);
            }
            _ => return None,
        }
        Some(())
    })?;
    if !s.at_end() {
        return None;
    }
    let (total_size, total_parameters) = metadata.unwrap_or_default();
    Some(IndexRead {
        total_size,
        total_parameters,
        weight_map: weight_map?,
    })
}

/// `total_size` and `total_parameters` when they are integers (a repeated key keeps its
/// last value, as a map deserialised by serde does); other keys may hold plain strings.
fn read_metadata(s: &mut Scanner) -> Option<(Option<u64>, Option<u64>)> {
    let (mut size, mut parameters) = (None, None);
    s.object(|s| {
        let key = s.string()?;
        s.expect(b':')?;
        let value = if s.at_string() {
            s.string()?;
            None
        } else {
            Some(s.number()?)
        };
        match key {
            "total_size" => size = value,
            "total_parameters" => parameters = value,
            _ => {}
        }
        Some(())
    })?;
    Some((size, parameters))
}

/// Tensor name -> shard file name, in file order.
fn read_weight_map(s: &mut Scanner, text_len: usize) -> Option<WeightMap> {
    // Names take most of an index: room for them at once (pages never written to are
    // never paid for).
    let mut map = WeightMap::with_capacity(text_len);
    s.object(|s| {
        let name = s.string()?;
        s.expect(b':')?;
        map.push(name, s.string()?);
        Some(())
    })?;
    Some(map)
}
