//! GGUF metadata values: the thirteen value types (gguf-py `GGUFValueType`, llama.cpp
//! `gguf_type`), read with every count and length bounded by the bytes the file still
//! holds, and nested arrays bounded in depth.

use std::fmt;

use super::reader::{Cursor, Problem, Res};

/// Deepest array nesting read (`[[[...]]]`). llama.cpp refuses arrays of arrays
/// altogether; gguf-py reads them; no writer nests deeper than two.
pub const MAX_ARRAY_DEPTH: u32 = 8;
/// Longest array whose items are kept (per-layer arrays are a few hundred long; the
/// tokenizer's 150,000 tokens are only counted).
pub const MAX_KEPT_ITEMS: u64 = 1024;
/// Longest string kept whole; longer strings (chat templates) are kept cut.
pub const MAX_KEPT_STRING: usize = 64 * 1024;

/// A value type id as GGUF stores it (u32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// 0
    U8,
    /// 1
    I8,
    /// 2
    U16,
    /// 3
    I16,
    /// 4
    U32,
    /// 5
    I32,
    /// 6
    F32,
    /// 7: one byte, 0 is false.
    Bool,
    /// 8: u64 length, then UTF-8 bytes.
    Str,
    /// 9: u32 item type, u64 count, then the items.
    Array,
    /// 10
    U64,
    /// 11
    I64,
    /// 12
    F64,
}

impl ValueType {
    /// The type of id `id`, `None` for an id GGUF does not define.
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => Str,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// gguf-py's name (`UINT32`).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "UINT8",
            I8 => "INT8",
            U16 => "UINT16",
            I16 => "INT16",
            U32 => "UINT32",
            I32 => "INT32",
            F32 => "FLOAT32",
            Bool => "BOOL",
            Str => "STRING",
            Array => "ARRAY",
            U64 => "UINT64",
            I64 => "INT64",
            F64 => "FLOAT64",
        }
    }

    /// Bytes of one value of a fixed-size type; `None` for strings and arrays.
    pub fn fixed_size(self) -> Option<u64> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            Str | Array => None,
        }
    }

    /// The fewest bytes one value can take (an empty string is its 8-byte length, an
    /// empty array its 4-byte type and 8-byte count): bounds counts read from the file.
    pub fn min_size(self) -> u64 {
        match self {
            ValueType::Str => 8,
            ValueType::Array => 12,
            t => t.fixed_size().unwrap_or(1),
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UINT8 .. UINT64.
    Unsigned(u64, ValueType),
    /// INT8 .. INT64.
    Signed(i64, ValueType),
    /// FLOAT32 (widened) or FLOAT64.
    Float(f64, ValueType),
    /// BOOL.
    Bool(bool),
    /// STRING (cut at [`MAX_KEPT_STRING`] bytes; `len` is the stored length).
    Str {
        /// The text, lossily decoded.
        text: String,
        /// Its length in the file, in bytes.
        len: u64,
    },
    /// ARRAY.
    Array(Array),
}

/// An array value: its item type and count, and the items when they are few scalars.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Item type.
    pub item: ValueType,
    /// Number of items.
    pub len: u64,
    /// The items, for arrays of scalars or strings of at most [`MAX_KEPT_ITEMS`].
    pub items: Option<Vec<Value>>,
}

impl Value {
    /// The value type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Unsigned(_, t) | Value::Signed(_, t) | Value::Float(_, t) => *t,
            Value::Bool(_) => ValueType::Bool,
            Value::Str { .. } => ValueType::Str,
            Value::Array(_) => ValueType::Array,
        }
    }

    /// A non-negative integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Unsigned(v, _) => Some(*v),
            Value::Signed(v, _) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    /// A number, as written (FLOAT32 values keep their shortest decimal form: 1e-6, not
    /// 9.99999997e-7).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v, ValueType::F32) => (*v as f32).to_string().parse().ok(),
            Value::Float(v, _) => Some(*v),
            Value::Unsigned(v, _) => Some(*v as f64),
            Value::Signed(v, _) => Some(*v as f64),
            _ => None,
        }
    }

    /// A string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unsigned(v, _) => write!(f, "{v}"),
            Value::Signed(v, _) => write!(f, "{v}"),
            Value::Float(v, ValueType::F32) => write!(f, "{}", *v as f32),
            Value::Float(v, _) => write!(f, "{v}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str { text, len } if *len as usize > text.len() => {
                write!(f, "{text}... ({len} bytes)")
            }
            Value::Str { text, .. } => f.write_str(text),
            Value::Array(a) => match &a.items {
                Some(items) if items.len() <= 32 => {
                    f.write_str("[")?;
                    for (i, v) in items.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    f.write_str("]")
                }
                _ => write!(f, "array of {} {}", a.len, a.item.name()),
            },
        }
    }
}

/// Read a value of type `t` (its type id already read).
pub fn read(c: &mut Cursor<'_>, t: ValueType, what: &str) -> Res<Value> {
    read_at_depth(c, t, what, 0)
}

fn read_at_depth(c: &mut Cursor<'_>, t: ValueType, what: &str, depth: u32) -> Res<Value> {
    use ValueType::*;
    Ok(match t {
        U8 => Value::Unsigned(u64::from(c.u8(what)?), t),
        U16 => Value::Unsigned(u64::from(c.u16(what)?), t),
        U32 => Value::Unsigned(u64::from(c.u32(what)?), t),
        U64 => Value::Unsigned(c.u64(what)?, t),
        I8 => Value::Signed(i64::from(c.u8(what)? as i8), t),
        I16 => Value::Signed(i64::from(c.u16(what)? as i16), t),
        I32 => Value::Signed(i64::from(c.u32(what)? as i32), t),
        I64 => Value::Signed(c.u64(what)? as i64, t),
        F32 => Value::Float(f64::from(f32::from_bits(c.u32(what)?)), t),
        F64 => Value::Float(f64::from_bits(c.u64(what)?), t),
        Bool => Value::Bool(c.u8(what)? != 0),
        Str => {
            let bytes = c.string(what)?;
            let kept = &bytes[..bytes.len().min(MAX_KEPT_STRING)];
            Value::Str {
                text: String::from_utf8_lossy(kept).into_owned(),
                len: crate::count::len(bytes.len()),
            }
        }
        Array => Value::Array(read_array(c, what, depth)?),
    })
}

/// An array: its item type, its count (bounded by the bytes left before anything is
/// allocated), then its items, kept when they are few scalars.
fn read_array(c: &mut Cursor<'_>, what: &str, depth: u32) -> Res<Array> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(Problem::Bad(format!(
            "{what}: arrays nested more than {MAX_ARRAY_DEPTH} deep (at byte {})",
            c.pos()
        )));
    }
    let id = c.u32(what)?;
    let item = ValueType::from_id(id).ok_or_else(|| {
        Problem::Bad(format!(
            "{what}: array of unknown value type {id} (at byte {})",
            c.pos().saturating_sub(4)
        ))
    })?;
    let at = c.pos();
    let len = c.u64(what)?;
    c.bound_count(len, item.min_size(), what, at)?;
    if let Some(size) = item.fixed_size() {
        // A run of fixed-size items: keep the few, skip the many at once.
        if len > MAX_KEPT_ITEMS {
            c.skip(len * size, what)?;
            return Ok(Array {
                item,
                len,
                items: None,
            });
        }
    }
    let keep = len <= MAX_KEPT_ITEMS && item != ValueType::Array;
    let mut items = Vec::new();
    for _ in 0..len {
        let v = if keep || item == ValueType::Array {
            read_at_depth(c, item, what, depth + 1)?
        } else {
            c.string(what)?;
            continue;
        };
        if keep {
            items.push(v);
        }
    }
    Ok(Array {
        item,
        len,
        items: keep.then_some(items),
    })
}
