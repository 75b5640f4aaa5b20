//! A small GGUF writer for tests, written from the format as gguf-py's `GGUFWriter`
//! lays it out (magic, version, counts, key-value pairs, tensor infos with dims in ggml
//! order, the data section padded to the alignment, every tensor padded), independent of
//! paramaudit's reader. Fields can be overridden to write malformed files.
#![allow(dead_code)]

/// A metadata value.
#[derive(Debug, Clone)]
pub enum V {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    /// Item type id and items (written with that item type).
    Arr(u32, Vec<V>),
    U64(u64),
    I64(i64),
    F64(f64),
    /// A type id and raw value bytes, written as they are.
    Raw(u32, Vec<u8>),
}

impl V {
    pub fn type_id(&self) -> u32 {
        match self {
            V::U8(_) => 0,
            V::I8(_) => 1,
            V::U16(_) => 2,
            V::I16(_) => 3,
            V::U32(_) => 4,
            V::I32(_) => 5,
            V::F32(_) => 6,
            V::Bool(_) => 7,
            V::Str(_) => 8,
            V::Arr(..) => 9,
            V::U64(_) => 10,
            V::I64(_) => 11,
            V::F64(_) => 12,
            V::Raw(t, _) => *t,
        }
    }

    pub fn str(s: &str) -> V {
        V::Str(s.to_string())
    }
}

/// One tensor: name, dims in ggml order, type id, data bytes.
#[derive(Debug, Clone)]
pub struct T {
    pub name: String,
    pub ne: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
    /// Written instead of the computed offset.
    pub offset: Option<u64>,
}

impl T {
    /// An F32 tensor of `ne` (ggml order) filled with `value`.
    pub fn f32(name: &str, ne: &[u64], value: f32) -> T {
        let n: u64 = ne.iter().product();
        T {
            name: name.to_string(),
            ne: ne.to_vec(),
            ty: 0,
            data: (0..n).flat_map(|_| value.to_le_bytes()).collect(),
            offset: None,
        }
    }

    /// A tensor of type `ty` with `bytes` bytes of zeros.
    pub fn raw(name: &str, ne: &[u64], ty: u32, bytes: usize) -> T {
        T {
            name: name.to_string(),
            ne: ne.to_vec(),
            ty,
            data: vec![0; bytes],
            offset: None,
        }
    }
}

/// A whole file.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub big_endian: bool,
    pub alignment: u64,
    pub kv: Vec<(String, V)>,
    pub tensors: Vec<T>,
    pub tensor_count: Option<u64>,
    pub kv_count: Option<u64>,
    /// Bytes appended after the last tensor's padding.
    pub trailing: Vec<u8>,
}

impl Default for Gguf {
    fn default() -> Self {
        Gguf {
            version: 3,
            big_endian: false,
            alignment: 32,
            kv: Vec::new(),
            tensors: Vec::new(),
            tensor_count: None,
            kv_count: None,
            trailing: Vec::new(),
        }
    }
}

fn pad(n: u64, a: u64) -> u64 {
    n.div_ceil(a) * a
}

impl Gguf {
    fn u32(&self, out: &mut Vec<u8>, v: u32) {
        out.extend(if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }

    fn u64(&self, out: &mut Vec<u8>, v: u64) {
        out.extend(if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }

    fn string(&self, out: &mut Vec<u8>, s: &str) {
        self.u64(out, s.len() as u64);
        out.extend(s.as_bytes());
    }

    fn value(&self, out: &mut Vec<u8>, v: &V) {
        let be = self.big_endian;
        macro_rules! num {
            ($x:expr) => {
                out.extend(if be {
                    $x.to_be_bytes()
                } else {
                    $x.to_le_bytes()
                })
            };
        }
        match v {
            V::U8(x) => out.push(*x),
            V::I8(x) => out.push(*x as u8),
            V::U16(x) => num!(x),
            V::I16(x) => num!(x),
            V::U32(x) => num!(x),
            V::I32(x) => num!(x),
            V::F32(x) => num!(x),
            V::Bool(b) => out.push(u8::from(*b)),
            V::Str(s) => self.string(out, s),
            V::Arr(t, items) => {
                self.u32(out, *t);
                self.u64(out, items.len() as u64);
                for i in items {
                    self.value(out, i);
                }
            }
            V::U64(x) => num!(x),
            V::I64(x) => num!(x),
            V::F64(x) => num!(x),
            V::Raw(_, bytes) => out.extend(bytes),
        }
    }

    /// The header up to the end of the tensor infos, and each tensor's offset.
    pub fn header(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        self.u32(&mut out, self.version);
        self.u64(
            &mut out,
            self.tensor_count.unwrap_or(self.tensors.len() as u64),
        );
        self.u64(&mut out, self.kv_count.unwrap_or(self.kv.len() as u64));
        for (k, v) in &self.kv {
            self.string(&mut out, k);
            self.u32(&mut out, v.type_id());
            self.value(&mut out, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            self.string(&mut out, &t.name);
            self.u32(&mut out, t.ne.len() as u32);
            for d in &t.ne {
                self.u64(&mut out, *d);
            }
            self.u32(&mut out, t.ty);
            self.u64(&mut out, t.offset.unwrap_or(offset));
            offset += pad(t.data.len() as u64, self.alignment);
        }
        out
    }

    /// Each tensor's offset as written (relative to the data section).
    pub fn offsets(&self) -> Vec<u64> {
        let mut offset = 0u64;
        self.tensors
            .iter()
            .map(|t| {
                let o = t.offset.unwrap_or(offset);
                offset += pad(t.data.len() as u64, self.alignment);
                o
            })
            .collect()
    }

    /// The whole file.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        out.resize(pad(out.len() as u64, self.alignment) as usize, 0);
        for t in &self.tensors {
            out.extend(&t.data);
            out.resize(pad(out.len() as u64, self.alignment) as usize, 0);
        }
        out.extend(&self.trailing);
        out
    }

    /// A small llama file: 1 layer, H 8, I 16, A 2, V 4, every tensor F32.
    pub fn tiny_llama() -> Gguf {
        let kv = vec![
            ("general.architecture".to_string(), V::str("llama")),
            ("llama.block_count".to_string(), V::U32(1)),
            ("llama.embedding_length".to_string(), V::U32(8)),
            ("llama.feed_forward_length".to_string(), V::U32(16)),
            ("llama.attention.head_count".to_string(), V::U32(2)),
            ("llama.attention.head_count_kv".to_string(), V::U32(2)),
            ("llama.vocab_size".to_string(), V::U32(4)),
            (
                "llama.attention.layer_norm_rms_epsilon".to_string(),
                V::F32(1e-5),
            ),
        ];
        let tensors = vec![
            T::f32("token_embd.weight", &[8, 4], 0.5),
            T::f32("blk.0.attn_norm.weight", &[8], 1.0),
            T::f32("blk.0.attn_q.weight", &[8, 8], 0.1),
            T::f32("blk.0.attn_k.weight", &[8, 8], 0.1),
            T::f32("blk.0.attn_v.weight", &[8, 8], 0.1),
            T::f32("blk.0.attn_output.weight", &[8, 8], 0.1),
            T::f32("blk.0.ffn_norm.weight", &[8], 1.0),
            T::f32("blk.0.ffn_gate.weight", &[8, 16], 0.1),
            T::f32("blk.0.ffn_up.weight", &[8, 16], 0.1),
            T::f32("blk.0.ffn_down.weight", &[16, 8], 0.1),
            T::f32("output_norm.weight", &[8], 1.0),
        ];
        Gguf {
            kv,
            tensors,
            ..Gguf::default()
        }
    }

    /// The parameters of [`Gguf::tiny_llama`], counted by hand: embeddings 4·8, per
    /// layer 4 attention matrices 4·8·8 and 3 MLP matrices 3·8·16, two norms 2·8, the
    /// final norm 8; tied (no `output`).
    pub const TINY_LLAMA_PARAMETERS: u64 = 4 * 8 + 4 * 8 * 8 + 3 * 8 * 16 + 2 * 8 + 8;

    /// Set (or add) a key.
    pub fn set(&mut self, key: &str, v: V) {
        match self.kv.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.kv.push((key.to_string(), v)),
        }
    }
}
