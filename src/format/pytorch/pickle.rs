//! A pickle evaluator of our own that runs nothing: the opcodes and globals of torch's
//! `weights_only` unpickler (torch/_weights_only_unpickler.py, torch 2.15) that state
//! dicts need, plus the pure-data opcodes of protocols 3 to 5 (framing, memoize, short
//! strings, bytes, `STACK_GLOBAL` through the same allowlist). Globals resolve to inert
//! markers from a fixed table; "calling" one builds a tensor description, a dict, a
//! tuple. Anything else (`os.system`, `builtins.eval`, a `REDUCE` of anything not in the
//! table, `INST`/`OBJ`/`NEWOBJ`, `BUILD` on anything but a dict) stops evaluation with
//! the global or opcode named, before it could have any effect.
//!
//! Objects live in an arena indexed by [`Id`]; the stack and memo hold ids, so a memo
//! reference costs one id, never a copy. Every opcode adds at most one object, so the
//! arena, the stack and the memo are bounded by the pickle's length; every length read
//! from the pickle is checked against the bytes that remain before anything is sliced.

use std::collections::HashMap;

use safetensors::Dtype;

/// Index of an object in the arena.
pub type Id = usize;

/// Deepest nesting of `MARK`s accepted.
pub const MAX_MARKS: usize = 1_000;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = crate::format::safetensors::MAX_RANK;
/// Longest storage key or location accepted (torch writes decimal keys, or memory
/// addresses in the legacy format, and `cpu` / `cuda:0`): they are copied per tensor.
pub const MAX_KEY_BYTES: usize = 256;

/// Storage classes torch writes (torch.storage `_dtype_to_storage_type_map`) that hold a
/// dtype paramaudit counts. `torch.cuda.*` spellings come from GPU checkpoints of older
/// torch versions.
const STORAGES: &[(&str, Dtype)] = &[
    ("FloatStorage", Dtype::F32),
    ("DoubleStorage", Dtype::F64),
    ("HalfStorage", Dtype::F16),
    ("BFloat16Storage", Dtype::BF16),
    ("LongStorage", Dtype::I64),
    ("IntStorage", Dtype::I32),
    ("ShortStorage", Dtype::I16),
    ("CharStorage", Dtype::I8),
    ("ByteStorage", Dtype::U8),
    ("BoolStorage", Dtype::BOOL),
    ("ComplexFloatStorage", Dtype::C64),
];

/// torch dtypes (as `str(dtype)` names them, without `torch.`) with a counterpart.
const DTYPES: &[(&str, Dtype)] = &[
    ("float32", Dtype::F32),
    ("float64", Dtype::F64),
    ("float16", Dtype::F16),
    ("bfloat16", Dtype::BF16),
    ("int64", Dtype::I64),
    ("int32", Dtype::I32),
    ("int16", Dtype::I16),
    ("int8", Dtype::I8),
    ("uint8", Dtype::U8),
    ("bool", Dtype::BOOL),
    ("complex64", Dtype::C64),
    ("float8_e5m2", Dtype::F8_E5M2),
    ("float8_e4m3fn", Dtype::F8_E4M3),
    ("float8_e5m2fnuz", Dtype::F8_E5M2FNUZ),
    ("float8_e4m3fnuz", Dtype::F8_E4M3FNUZ),
    ("float8_e8m0fnu", Dtype::F8_E8M0),
    ("uint16", Dtype::U16),
    ("uint32", Dtype::U32),
    ("uint64", Dtype::U64),
];

/// Modules torch's unpickler never allows, whatever its allowlist.
const BLOCKED_MODULES: &[&str] = &["sys", "os", "posix", "nt"];

/// A storage class: its dtype, or `None` for `torch.storage.UntypedStorage` (bytes; the
/// tensor's dtype comes with `_rebuild_tensor_v3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageClass {
    /// The class name (`FloatStorage`).
    pub name: &'static str,
    /// Its element type.
    pub dtype: Option<Dtype>,
}

/// A global the allowlist resolves: an inert marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `collections.OrderedDict`.
    OrderedDict,
    /// `torch._utils._rebuild_tensor` (torch < 1.0).
    RebuildTensor,
    /// `torch._utils._rebuild_tensor_v2`.
    RebuildTensorV2,
    /// `torch._utils._rebuild_tensor_v3` (dtypes stored as untyped storages).
    RebuildTensorV3,
    /// `torch._utils._rebuild_parameter`.
    RebuildParameter,
    /// `torch._utils._rebuild_parameter_with_state`.
    RebuildParameterWithState,
    /// `torch._tensor._rebuild_from_type_v2` (a tensor with Python attributes).
    RebuildFromTypeV2,
    /// A storage class.
    Storage(StorageClass),
    /// A dtype (`torch.float16`).
    Dtype(&'static str, Dtype),
    /// `torch.Size`.
    Size,
    /// `torch.Tensor` (as `_rebuild_from_type_v2`'s type).
    TensorClass,
    /// `torch.nn.parameter.Parameter` (as `_rebuild_from_type_v2`'s type).
    ParameterClass,
    /// `torch.device`.
    Device,
    /// `builtins.set` / `builtins.frozenset`.
    Set,
    /// `builtins.complex`.
    Complex,
    /// `builtins.bytearray` / `_codecs.encode` (bytes in protocol 2).
    Bytes,
}

/// Where a storage's elements are: the persistent id `('storage', class, key,
/// location, numel)` (the legacy format adds a view of a root storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// Storage class.
    pub class: StorageClass,
    /// Key: the record `data/<key>` of a zip, the root key of a legacy file.
    pub key: String,
    /// Device it was saved from (`cpu`, `cuda:0`).
    pub location: String,
    /// Elements of the (root) storage; bytes for an untyped storage.
    pub numel: u64,
    /// Legacy format: the view of the root storage this id stands for.
    pub view: Option<View>,
}

/// A legacy view of a root storage: `(view_key, offset, size)` in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The view's own key.
    pub key: String,
    /// First element of the root storage it covers.
    pub offset: u64,
    /// Elements it covers.
    pub numel: u64,
}

/// A tensor as a rebuild function describes it: nothing is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    /// Its storage.
    pub storage: StorageRef,
    /// First element, in elements of the storage (of the view, for legacy views).
    pub offset: u64,
    /// Shape.
    pub shape: Vec<u64>,
    /// Strides, in elements.
    pub stride: Vec<u64>,
    /// The dtype `_rebuild_tensor_v3` gives (else the storage class's).
    pub dtype: Option<Dtype>,
}

/// A dict key that Python would compare by value. Strings are interned when read (one
/// object per distinct string), so a string compares by its id: a key referenced from
/// the memo a million times is hashed in constant time, never by its length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i128),
    Object(Id),
}

/// A dict (or OrderedDict): insertion order, a re-set key keeps its place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dict {
    /// Entries, in insertion order.
    pub entries: Vec<(Id, Id)>,
    index: HashMap<Key, usize>,
}

/// One object.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `None`.
    None,
    /// A bool.
    Bool(bool),
    /// An integer that fits 128 bits.
    Int(i128),
    /// A larger integer.
    BigInt,
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// Bytes (their length; the content is not kept).
    Bytes(u64),
    /// A tuple.
    Tuple(Vec<Id>),
    /// A list.
    List(Vec<Id>),
    /// A dict.
    Dict(Dict),
    /// A set or frozenset (its element count).
    Set(u64),
    /// A complex number.
    Complex,
    /// An allowed global.
    Global(Global),
    /// A storage from a persistent id.
    Storage(StorageRef),
    /// A tensor.
    Tensor(TensorRef),
}

impl Node {
    /// What it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::None => "None",
            Node::Bool(_) => "a bool",
            Node::Int(_) | Node::BigInt => "an int",
            Node::Float(_) => "a float",
            Node::Str(_) => "a string",
            Node::Bytes(_) => "bytes",
            Node::Tuple(_) => "a tuple",
            Node::List(_) => "a list",
            Node::Dict(_) => "a dict",
            Node::Set(_) => "a set",
            Node::Complex => "a complex",
            Node::Global(_) => "a global",
            Node::Storage(_) => "a storage",
            Node::Tensor(_) => "a tensor",
        }
    }
}

/// What persistent ids a pickle may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistent {
    /// None (the legacy format's header pickles).
    Refused,
    /// `('storage', class, key, location, numel)`: a zip archive's `data.pkl`.
    Zip,
    /// `('storage', class, root_key, location, numel, view_metadata)`: the legacy format.
    Legacy,
}

/// An evaluated pickle: its objects and the root.
#[derive(Debug)]
pub struct Pickle {
    /// Every object.
    pub arena: Vec<Node>,
    /// The object `STOP` returned.
    pub root: Id,
    /// Bytes the pickle took (it ends after `STOP`).
    pub len: usize,
    /// The protocol it declared.
    pub protocol: u8,
}

impl Pickle {
    /// The object `id`.
    pub fn node(&self, id: Id) -> &Node {
        &self.arena[id]
    }
}

/// A problem, at a byte of the pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// Offset of the opcode, from the pickle's start.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

type Res<T> = std::result::Result<T, String>;

/// Evaluate the pickle at the start of `b`.
pub fn evaluate(b: &[u8], persistent: Persistent) -> std::result::Result<Pickle, PickleError> {
    let mut vm = Vm {
        b,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        strings: HashMap::new(),
        persistent,
        protocol: 0,
    };
    loop {
        let at = vm.pos;
        let op = match vm.byte() {
            Ok(op) => op,
            Err(_) => {
                return Err(PickleError {
                    at,
                    message: "the pickle ends without a STOP opcode (truncated)".to_string(),
                })
            }
        };
        match vm.step(op) {
            Ok(Some(root)) => {
                return Ok(Pickle {
                    arena: vm.arena,
                    root,
                    len: vm.pos,
                    protocol: vm.protocol,
                })
            }
            Ok(None) => {}
            Err(message) => return Err(PickleError { at, message }),
        }
    }
}

struct Vm<'a> {
    b: &'a [u8],
    pos: usize,
    arena: Vec<Node>,
    stack: Vec<Id>,
    /// Stack lengths at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u32, Id>,
    /// Every distinct string read, to its one object.
    strings: HashMap<String, Id>,
    persistent: Persistent,
    protocol: u8,
}

/// Names of the opcodes refused, for messages.
fn opcode_name(op: u8) -> String {
    let name = match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82..=0x84 => "EXT",
        b'P' => "PERSID",
        b'g' => "GET",
        b'p' => "PUT",
        b'I' => "INT",
        b'L' => "LONG",
        0x8b => "LONG4",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'V' => "UNICODE",
        b'F' => "FLOAT",
        b'2' => "DUP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'd' => "DICT",
        b'l' => "LIST",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return format!("0x{op:02x} (not a pickle opcode)"),
    };
    format!("{name} (0x{op:02x})")
}

/// Resolve `module.name` against the allowlist, or refuse it by name.
pub fn resolve_global(module: &str, name: &str) -> Res<Global> {
    let module = if module == "__builtin__" {
        "builtins"
    } else {
        module
    };
    let storage = |name: &str| {
        STORAGES.iter().find(|(n, _)| *n == name).map(|&(n, d)| {
            Global::Storage(StorageClass {
                name: n,
                dtype: Some(d),
            })
        })
    };
    let found = match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor") => Some(Global::RebuildTensor),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_tensor_v3") => Some(Global::RebuildTensorV3),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch._utils", "_rebuild_parameter_with_state") => {
            Some(Global::RebuildParameterWithState)
        }
        ("torch._tensor", "_rebuild_from_type_v2") => Some(Global::RebuildFromTypeV2),
        ("torch.storage", "UntypedStorage") => Some(Global::Storage(StorageClass {
            name: "UntypedStorage",
            dtype: None,
        })),
        ("torch" | "torch.cuda", n) if n.ends_with("Storage") => storage(n),
        ("torch", "Size") => Some(Global::Size),
        ("torch", "Tensor") => Some(Global::TensorClass),
        ("torch.nn.parameter", "Parameter") => Some(Global::ParameterClass),
        ("torch", "device") => Some(Global::Device),
        ("torch", n) => DTYPES
            .iter()
            .find(|(d, _)| *d == n)
            .map(|&(d, t)| Global::Dtype(d, t)),
        ("builtins", "set" | "frozenset") => Some(Global::Set),
        ("builtins", "complex") => Some(Global::Complex),
        ("builtins", "bytearray") | ("_codecs", "encode") => Some(Global::Bytes),
        _ => None,
    };
    found.ok_or_else(|| refusal(module, name))
}

/// The message for a global outside the allowlist.
fn refusal(module: &str, name: &str) -> String {
    let why = if BLOCKED_MODULES.contains(&module) {
        format!("module `{module}` runs commands and is never allowed (torch.load(weights_only=True) blocks it too)")
    } else if module.starts_with("torch") && name.ends_with("Storage") {
        "a storage class without a dtype paramaudit counts (quantized or complex128)".to_string()
    } else if module == "torch" {
        "a torch global outside the weights-only allowlist (a dtype without a counterpart?)"
            .to_string()
    } else {
        "not a tensor, storage, dtype or container global of torch's weights-only allowlist"
            .to_string()
    };
    format!("refused global `{module}.{name}`: {why}; nothing was executed")
}

impl Vm<'_> {
    fn byte(&mut self) -> Res<u8> {
        let b = *self
            .b
            .get(self.pos)
            .ok_or_else(|| "the pickle ends inside an opcode (truncated)".to_string())?;
        self.pos += 1;
        Ok(b)
    }

    /// `n` bytes, checked against what remains.
    fn take(&mut self, n: u64) -> Res<&[u8]> {
        let remaining = self.b.len() - self.pos;
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or_else(|| {
                format!("a length of {n} bytes runs past the end of the pickle ({remaining} bytes remain)")
            })?;
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Res<u64> {
        let s = self.take(n as u64)?;
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(s);
        Ok(u64::from_le_bytes(buf))
    }

    /// A text line (GLOBAL's operands), without its newline.
    fn line(&mut self) -> Res<String> {
        let rest = &self.b[self.pos..];
        let n = rest
            .iter()
            .take(1024)
            .position(|&c| c == b'\n')
            .ok_or_else(|| "GLOBAL operand without a newline in 1024 bytes".to_string())?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| "GLOBAL operand is not UTF-8".to_string())?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, node: Node) {
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
    }

    /// The lowest stack slot the innermost open MARK leaves reachable.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Res<Id> {
        if self.stack.len() <= self.floor() {
            return Err("stack underflow (a malformed pickle)".to_string());
        }
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow (a malformed pickle)".to_string())
    }

    fn top(&self) -> Res<Id> {
        if self.stack.len() <= self.floor() {
            return Err("stack underflow (a malformed pickle)".to_string());
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "stack underflow (a malformed pickle)".to_string())
    }

    /// The items above the innermost MARK, which is closed.
    fn pop_mark(&mut self) -> Res<Vec<Id>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| "an opcode needs a MARK that was never set".to_string())?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&mut self, index: u64) -> Res<()> {
        let id = u32::try_from(index)
            .ok()
            .and_then(|i| self.memo.get(&i).copied())
            .ok_or_else(|| format!("memo entry {index} was never stored"))?;
        self.stack.push(id);
        Ok(())
    }

    fn memo_put(&mut self, index: u64) -> Res<()> {
        let top = self.top()?;
        let index = u32::try_from(index).map_err(|_| format!("memo index {index} too large"))?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn string(&mut self, n: u64) -> Res<()> {
        let s = self.take(n)?;
        let s = std::str::from_utf8(s)
            .map_err(|_| "a string that is not UTF-8".to_string())?
            .to_string();
        self.push_str(s);
        Ok(())
    }

    /// Push a string, interned: an equal string read before is the same object.
    fn push_str(&mut self, s: String) {
        match self.strings.get(&s) {
            Some(&id) => self.stack.push(id),
            None => {
                self.push(Node::Str(s.clone()));
                self.strings.insert(s, self.arena.len() - 1);
            }
        }
    }

    fn long(&mut self, n: u64) -> Res<()> {
        let s = self.take(n)?;
        let node = if s.len() > 16 {
            Node::BigInt
        } else {
            let negative = s.last().is_some_and(|&b| b & 0x80 != 0);
            let mut buf = [if negative { 0xff } else { 0 }; 16];
            buf[..s.len()].copy_from_slice(s);
            Node::Int(i128::from_le_bytes(buf))
        };
        self.push(node);
        Ok(())
    }

    /// One opcode; `Some(root)` at STOP.
    fn step(&mut self, op: u8) -> Res<Option<Id>> {
        match op {
            0x80 => self.proto()?,
            0x95 => {
                let n = self.uint(8)?;
                if n > (self.b.len() - self.pos) as u64 {
                    return Err(format!(
                        "a FRAME of {n} bytes runs past the end of the pickle"
                    ));
                }
            }
            b'.' => {
                let root = self.pop()?;
                if !self.marks.is_empty() {
                    return Err("STOP inside an open MARK".to_string());
                }
                return Ok(Some(root));
            }
            b'(' => {
                if self.marks.len() == MAX_MARKS {
                    return Err(format!("MARKs nested deeper than {MAX_MARKS}"));
                }
                self.marks.push(self.stack.len());
            }
            _ => self.data_op(op)?,
        }
        Ok(None)
    }

    fn proto(&mut self) -> Res<()> {
        let p = self.byte()?;
        if !(2..=5).contains(&p) {
            return Err(format!(
                "pickle protocol {p}; torch.save writes 2 (2 to 5 are read)"
            ));
        }
        self.protocol = p;
        Ok(())
    }

    /// Opcodes that build values.
    fn data_op(&mut self, op: u8) -> Res<()> {
        match op {
            b'N' => self.push(Node::None),
            0x88 => self.push(Node::Bool(true)),
            0x89 => self.push(Node::Bool(false)),
            b'J' => {
                let v = self.uint(4)? as u32 as i32;
                self.push(Node::Int(i128::from(v)));
            }
            b'K' => {
                let v = self.uint(1)?;
                self.push(Node::Int(i128::from(v)));
            }
            b'M' => {
                let v = self.uint(2)?;
                self.push(Node::Int(i128::from(v)));
            }
            0x8a => {
                let n = self.uint(1)?;
                self.long(n)?;
            }
            b'G' => {
                let s = self.take(8)?;
                let v = f64::from_be_bytes(s.try_into().map_err(|_| "BINFLOAT".to_string())?);
                self.push(Node::Float(v));
            }
            b'X' => {
                let n = self.uint(4)?;
                self.string(n)?;
            }
            0x8c => {
                let n = self.uint(1)?;
                self.string(n)?;
            }
            0x8d => {
                let n = self.uint(8)?;
                self.string(n)?;
            }
            b'U' => {
                let n = self.uint(1)?;
                let s = self.take(n)?;
                match std::str::from_utf8(s) {
                    Ok(t) => {
                        let t = t.to_string();
                        self.push_str(t);
                    }
                    Err(_) => self.push(Node::Bytes(n)),
                }
            }
            b'C' | b'B' | 0x8e | 0x96 => {
                let width = match op {
                    b'C' => 1,
                    b'B' => 4,
                    _ => 8,
                };
                let n = self.uint(width)?;
                self.take(n)?;
                self.push(Node::Bytes(n));
            }
            _ => self.container_op(op)?,
        }
        Ok(())
    }

    /// Opcodes that build or fill containers, and the memo.
    fn container_op(&mut self, op: u8) -> Res<()> {
        match op {
            b')' => self.push(Node::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push(Node::Tuple(items));
            }
            b']' => self.push(Node::List(Vec::new())),
            b'}' => self.push(Node::Dict(Dict::default())),
            0x8f => self.push(Node::Set(0)),
            b'a' => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.set_items(vec![key, value])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            0x90 => {
                let items = self.pop_mark()?;
                let target = self.top()?;
                match &mut self.arena[target] {
                    Node::Set(n) => *n += items.len() as u64,
                    other => return Err(format!("ADDITEMS on {}, not a set", other.kind())),
                }
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Node::Set(items.len() as u64));
            }
            b'h' => {
                let i = self.uint(1)?;
                self.memo_get(i)?;
            }
            b'j' => {
                let i = self.uint(4)?;
                self.memo_get(i)?;
            }
            b'q' => {
                let i = self.uint(1)?;
                self.memo_put(i)?;
            }
            b'r' => {
                let i = self.uint(4)?;
                self.memo_put(i)?;
            }
            0x94 => {
                let i = self.memo.len() as u64;
                self.memo_put(i)?;
            }
            _ => self.object_op(op)?,
        }
        Ok(())
    }

    /// The opcodes that name globals and build objects: where a pickle could run code.
    fn object_op(&mut self, op: u8) -> Res<()> {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                let g = resolve_global(&module, &name)?;
                self.push(Node::Global(g));
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Node::Str(m), Node::Str(n)) = (&self.arena[module], &self.arena[name]) else {
                    return Err("STACK_GLOBAL operands are not strings".to_string());
                };
                let g = resolve_global(m, n)?;
                self.push(Node::Global(g));
            }
            b'R' => {
                let args = self.pop()?;
                let func = self.top()?;
                let node = self.reduce(func, args)?;
                self.arena.push(node);
                let last = self.stack.len() - 1;
                self.stack[last] = self.arena.len() - 1;
            }
            b'b' => {
                let _state = self.pop()?;
                let target = self.top()?;
                if !matches!(self.arena[target], Node::Dict(_)) {
                    return Err(format!(
                        "refused BUILD on {}: only a dict's attributes (an OrderedDict's _metadata) are accepted; nothing was executed",
                        self.arena[target].kind()
                    ));
                }
            }
            b'Q' => {
                let pid = self.pop()?;
                let storage = self.persistent_id(pid)?;
                self.push(Node::Storage(storage));
            }
            other => {
                return Err(format!(
                    "refused opcode {}: not one torch's weights-only unpickler allows; nothing was executed",
                    opcode_name(other)
                ))
            }
        }
        Ok(())
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Res<()> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::List(l) => {
                l.extend(items);
                Ok(())
            }
            other => Err(format!("APPEND to {}, not a list", other.kind())),
        }
    }

    fn key_of(&self, id: Id) -> Key {
        match &self.arena[id] {
            Node::Int(i) => Key::Int(*i),
            Node::Bool(b) => Key::Int(i128::from(*b)),
            _ => Key::Object(id),
        }
    }

    fn set_items(&mut self, items: Vec<Id>) -> Res<()> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of items".to_string());
        }
        let target = self.top()?;
        let keys: Vec<Key> = items.iter().step_by(2).map(|&k| self.key_of(k)).collect();
        let Node::Dict(d) = &mut self.arena[target] else {
            return Err(format!(
                "SETITEM on {}, not a dict",
                self.arena[target].kind()
            ));
        };
        for (pair, key) in items.chunks_exact(2).zip(keys) {
            match d.index.get(&key) {
                Some(&i) => d.entries[i].1 = pair[1],
                None => {
                    d.index.insert(key, d.entries.len());
                    d.entries.push((pair[0], pair[1]));
                }
            }
        }
        Ok(())
    }

    fn int(&self, id: Id, what: &str) -> Res<i128> {
        match &self.arena[id] {
            Node::Int(i) => Ok(*i),
            Node::Bool(b) => Ok(i128::from(*b)),
            other => Err(format!("{what} is {}, not an int", other.kind())),
        }
    }

    fn unsigned(&self, id: Id, what: &str) -> Res<u64> {
        let v = self.int(id, what)?;
        u64::try_from(v).map_err(|_| format!("{what} is {v}, not a size"))
    }

    fn text(&self, id: Id, what: &str) -> Res<String> {
        match &self.arena[id] {
            Node::Str(s) if s.len() > MAX_KEY_BYTES => Err(format!(
                "{what} is {} bytes long (torch writes short keys; at most {MAX_KEY_BYTES} are read)",
                s.len()
            )),
            Node::Str(s) => Ok(s.clone()),
            Node::Int(i) => Ok(i.to_string()),
            other => Err(format!("{what} is {}, not a string", other.kind())),
        }
    }

    fn items(&self, id: Id, what: &str) -> Res<&[Id]> {
        match &self.arena[id] {
            Node::Tuple(t) | Node::List(t) => Ok(t),
            other => Err(format!("{what} is {}, not a tuple", other.kind())),
        }
    }

    /// `('storage', class, key, location, numel[, view_metadata])`.
    fn persistent_id(&self, pid: Id) -> Res<StorageRef> {
        let want = match self.persistent {
            Persistent::Refused => {
                return Err(
                    "a persistent id where none may be (not a torch.save header)".to_string(),
                )
            }
            Persistent::Zip => 5,
            Persistent::Legacy => 6,
        };
        let items = self.items(pid, "a persistent id")?;
        if items.first().map(|&i| &self.arena[i]) != Some(&Node::Str("storage".to_string())) {
            return Err("refused persistent id: only ('storage', ...) ids are allowed".to_string());
        }
        if items.len() != want {
            return Err(format!(
                "a storage persistent id has {} fields, expected {want}",
                items.len()
            ));
        }
        let Node::Global(Global::Storage(class)) = self.arena[items[1]] else {
            return Err(format!(
                "a storage persistent id names {}, not a storage class",
                self.arena[items[1]].kind()
            ));
        };
        let view = match (want, items.get(5).map(|&i| &self.arena[i])) {
            (6, Some(Node::None)) | (_, None) => None,
            (_, Some(_)) => {
                let v = self.items(items[5], "a storage's view metadata")?;
                let [key, offset, numel] = v else {
                    return Err("a storage's view metadata is not (key, offset, size)".to_string());
                };
                Some(View {
                    key: self.text(*key, "a view key")?,
                    offset: self.unsigned(*offset, "a view offset")?,
                    numel: self.unsigned(*numel, "a view size")?,
                })
            }
        };
        Ok(StorageRef {
            class,
            key: self.text(items[2], "a storage key")?,
            location: self.text(items[3], "a storage location")?,
            numel: self.unsigned(items[4], "a storage size")?,
            view,
        })
    }

    /// `REDUCE`: call an allowed global with `args`.
    fn reduce(&self, func: Id, args: Id) -> Res<Node> {
        let Node::Global(g) = self.arena[func] else {
            return Err(format!(
                "refused REDUCE of {}: only allowed globals are called; nothing was executed",
                self.arena[func].kind()
            ));
        };
        // Borrowed, never copied: a memo reference to a long tuple costs nothing.
        let args = self.items(args, "REDUCE's arguments")?;
        self.call(g, args, 0)
    }

    fn call(&self, g: Global, args: &[Id], depth: usize) -> Res<Node> {
        match g {
            Global::OrderedDict if args.is_empty() => Ok(Node::Dict(Dict::default())),
            Global::RebuildTensor | Global::RebuildTensorV2 | Global::RebuildTensorV3 => {
                self.rebuild(g, args).map(Node::Tensor)
            }
            Global::RebuildParameter | Global::RebuildParameterWithState => {
                let data = args.first().map(|&i| &self.arena[i]);
                match data {
                    Some(Node::Tensor(t)) if args.len() >= 3 => Ok(Node::Tensor(t.clone())),
                    _ => Err("_rebuild_parameter without a tensor".to_string()),
                }
            }
            Global::RebuildFromTypeV2 if depth == 0 => self.rebuild_from_type(args),
            Global::Size => {
                let [dims] = args else {
                    return Err("torch.Size takes one tuple".to_string());
                };
                let dims = self.items(*dims, "torch.Size's argument")?;
                if dims.len() > MAX_RANK {
                    return Err(format!("a torch.Size of {} dimensions", dims.len()));
                }
                Ok(Node::Tuple(dims.to_vec()))
            }
            Global::Device => Ok(Node::Str(match args.first() {
                Some(&a) => self.text(a, "a device")?,
                None => String::new(),
            })),
            Global::Set => Ok(Node::Set(0)),
            Global::Complex => Ok(Node::Complex),
            Global::Bytes => Ok(Node::Bytes(0)),
            other => Err(format!(
                "refused REDUCE of {other:?} with {} arguments: not a call torch.save writes; nothing was executed",
                args.len()
            )),
        }
    }

    /// `_rebuild_from_type_v2(func, type, args, state)`: a tensor with Python attributes.
    fn rebuild_from_type(&self, args: &[Id]) -> Res<Node> {
        let [func, ty, inner, _state] = args else {
            return Err("_rebuild_from_type_v2 takes four arguments".to_string());
        };
        if !matches!(
            self.arena[*ty],
            Node::Global(Global::TensorClass | Global::ParameterClass)
        ) {
            return Err(format!(
                "refused _rebuild_from_type_v2 into {}: only torch.Tensor and Parameter are rebuilt",
                self.arena[*ty].kind()
            ));
        }
        let Node::Global(g) = self.arena[*func] else {
            return Err("_rebuild_from_type_v2 without a rebuild function".to_string());
        };
        let inner = self.items(*inner, "_rebuild_from_type_v2's arguments")?;
        match self.call(g, inner, 1)? {
            Node::Tensor(t) => Ok(Node::Tensor(t)),
            other => Err(format!("_rebuild_from_type_v2 built {}", other.kind())),
        }
    }

    fn dims(&self, id: Id, what: &str) -> Res<Vec<u64>> {
        let items = self.items(id, what)?;
        if items.len() > MAX_RANK {
            return Err(format!(
                "{what} has {} dimensions, more than {MAX_RANK}",
                items.len()
            ));
        }
        items.iter().map(|&i| self.unsigned(i, what)).collect()
    }

    /// `_rebuild_tensor(storage, offset, size, stride)`, `_v2(..., requires_grad, hooks
    /// [, metadata])`, `_v3(..., requires_grad, hooks, dtype[, metadata])`.
    fn rebuild(&self, g: Global, args: &[Id]) -> Res<TensorRef> {
        let (min, max) = match g {
            Global::RebuildTensor => (4, 4),
            Global::RebuildTensorV2 => (4, 7),
            _ => (7, 8),
        };
        if args.len() < min || args.len() > max {
            return Err(format!(
                "a tensor rebuild call with {} arguments (expected {min} to {max})",
                args.len()
            ));
        }
        let Node::Storage(storage) = &self.arena[args[0]] else {
            return Err(format!(
                "a tensor rebuilt from {}, not a storage",
                self.arena[args[0]].kind()
            ));
        };
        let dtype = match g {
            Global::RebuildTensorV3 => match self.arena[args[6]] {
                Node::Global(Global::Dtype(_, d)) => Some(d),
                ref other => return Err(format!("_rebuild_tensor_v3's dtype is {}", other.kind())),
            },
            _ => None,
        };
        let shape = self.dims(args[2], "a tensor's size")?;
        let stride = self.dims(args[3], "a tensor's stride")?;
        if shape.len() != stride.len() {
            return Err(format!(
                "a tensor's size {shape:?} and stride {stride:?} differ in rank"
            ));
        }
        Ok(TensorRef {
            storage: storage.clone(),
            offset: self.unsigned(args[1], "a tensor's storage offset")?,
            shape,
            stride,
            dtype,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol-2 pickle: `{name: _rebuild_tensor_v2(('storage', FloatStorage, key,
    /// 'cpu', numel), 0, shape, stride, False, OrderedDict())}`, as torch.save writes it.
    pub(crate) fn state_dict(tensors: &[(&str, &str, u64, &[u64])]) -> Vec<u8> {
        let mut p = b"\x80\x02}q\x00(".to_vec();
        for (name, key, numel, shape) in tensors {
            bin_unicode(&mut p, name);
            p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
            bin_unicode(&mut p, "storage");
            p.extend_from_slice(b"ctorch\nFloatStorage\n");
            bin_unicode(&mut p, key);
            bin_unicode(&mut p, "cpu");
            p.push(b'J');
            p.extend_from_slice(&(*numel as i32).to_le_bytes());
            p.extend_from_slice(b"tQK\x00(");
            let mut stride = vec![1u64; shape.len()];
            for i in (0..shape.len().saturating_sub(1)).rev() {
                stride[i] = stride[i + 1] * shape[i + 1];
            }
            for d in *shape {
                p.push(b'J');
                p.extend_from_slice(&(*d as i32).to_le_bytes());
            }
            p.extend_from_slice(b"t(");
            for s in stride {
                p.push(b'J');
                p.extend_from_slice(&(s as i32).to_le_bytes());
            }
            p.extend_from_slice(b"t\x89ccollections\nOrderedDict\n)RtR");
        }
        p.extend_from_slice(b"u.");
        p
    }

    pub(crate) fn bin_unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }

    fn eval(b: &[u8]) -> std::result::Result<Pickle, PickleError> {
        evaluate(b, Persistent::Zip)
    }

    #[test]
    fn a_state_dict_evaluates_to_tensors() {
        let p = eval(&state_dict(&[
            ("a.weight", "0", 6, &[2, 3]),
            ("b", "1", 4, &[4]),
        ]))
        .unwrap();
        let Node::Dict(d) = p.node(p.root) else {
            panic!("{:?}", p.node(p.root))
        };
        assert_eq!(d.entries.len(), 2);
        let Node::Tensor(t) = p.node(d.entries[0].1) else {
            panic!()
        };
        assert_eq!(
            (t.shape.clone(), t.stride.clone()),
            (vec![2, 3], vec![3, 1])
        );
        assert_eq!((t.storage.key.as_str(), t.storage.numel), ("0", 6));
        assert_eq!(t.storage.class.dtype, Some(Dtype::F32));
    }

    #[test]
    fn dangerous_globals_are_refused_by_name() {
        for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval")] {
            let mut p = b"\x80\x02".to_vec();
            p.extend_from_slice(format!("c{module}\n{name}\nX\x02\x00\x00\x00lsR.").as_bytes());
            let e = eval(&p).unwrap_err();
            assert!(
                e.message
                    .contains(&format!("refused global `{module}.{name}`")),
                "{e:?}"
            );
            assert_eq!(e.at, 2);
        }
        let e = eval(b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93.").unwrap_err();
        assert!(e.message.contains("`builtins.exec`"), "{e:?}");
    }

    #[test]
    fn refused_opcodes_are_named() {
        let e = eval(b"\x80\x02(iposix\nsystem\n.").unwrap_err();
        assert!(e.message.contains("refused opcode INST (0x69)"), "{e:?}");
        let e = eval(b"\x80\x02ccollections\nOrderedDict\n)\x81.").unwrap_err();
        assert!(e.message.contains("NEWOBJ"), "{e:?}");
        let e = eval(b"\x80\x02]N(b.").unwrap_err();
        assert!(e.message.contains("stack underflow"), "{e:?}");
        let e = eval(b"\x80\x02]}b.").unwrap_err();
        assert!(e.message.contains("refused BUILD on a list"), "{e:?}");
    }

    #[test]
    fn reducing_a_non_callable_is_refused() {
        let e = eval(b"\x80\x02X\x01\x00\x00\x00a)R.").unwrap_err();
        assert!(e.message.contains("refused REDUCE of a string"), "{e:?}");
        let e = eval(b"\x80\x02ctorch\nfloat16\n)R.").unwrap_err();
        assert!(e.message.contains("refused REDUCE of Dtype"), "{e:?}");
    }

    #[test]
    fn lengths_are_bounded_by_the_pickle() {
        let e = eval(b"\x80\x02X\xff\xff\xff\xffabc.").unwrap_err();
        assert!(e.message.contains("runs past the end"), "{e:?}");
        let e = eval(b"\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xffabc.").unwrap_err();
        assert!(e.message.contains("runs past the end"), "{e:?}");
        let e = eval(b"\x80\x02}").unwrap_err();
        assert!(e.message.contains("truncated"), "{e:?}");
        let deep = [b"\x80\x02".to_vec(), vec![b'('; MAX_MARKS + 1]].concat();
        assert!(eval(&deep).unwrap_err().message.contains("nested deeper"));
        let e = eval(b"\x80\x02h\x05.").unwrap_err();
        assert!(e.message.contains("memo entry 5 was never stored"), "{e:?}");
    }

    #[test]
    fn a_long_key_set_again_and_again_costs_its_length_once() {
        // A 1 MB key, then 200,000 SETITEMs of it through the memo: interned, each is
        // hashed as one id.
        let mut p = b"\x80\x02}X\x00\x00\x10\x00".to_vec();
        p.extend(std::iter::repeat_n(b'k', 1 << 20));
        p.extend_from_slice(b"q\x00K\x01s");
        p.extend(std::iter::repeat_n(*b"h\x00K\x02s", 200_000).flatten());
        p.push(b'.');
        let r = eval(&p).unwrap();
        let Node::Dict(d) = r.node(r.root) else {
            panic!()
        };
        assert_eq!(d.entries.len(), 1);
        assert_eq!(r.node(d.entries[0].1), &Node::Int(2));
        // A storage key that long is refused before it is copied per tensor.
        let long = "9".repeat(MAX_KEY_BYTES + 1);
        let t = tests::state_dict(&[("w", &long, 2, &[2])]);
        assert!(eval(&t).unwrap_err().message.contains("257 bytes long"));
    }

    #[test]
    fn a_memo_reference_shares_the_object() {
        // [[], <same>]: BINPUT then BINGET; one arena object, two references.
        let p = eval(b"\x80\x02](]q\x00h\x00e.").unwrap();
        let Node::List(items) = p.node(p.root) else {
            panic!()
        };
        assert_eq!(items[0], items[1]);
    }

    #[test]
    fn protocol_4_framing_is_read() {
        let p =
            eval(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.").unwrap();
        let Node::Dict(d) = p.node(p.root) else {
            panic!()
        };
        assert_eq!(d.entries.len(), 1);
        assert_eq!(p.protocol, 4);
    }

    #[test]
    fn a_dict_key_set_twice_keeps_its_place() {
        let p = eval(b"\x80\x02}(K\x01K\x02K\x03K\x04K\x01K\x05u.").unwrap();
        let Node::Dict(d) = p.node(p.root) else {
            panic!()
        };
        let values: Vec<&Node> = d.entries.iter().map(|e| p.node(e.1)).collect();
        assert_eq!(values, [&Node::Int(5), &Node::Int(4)]);
    }
}
