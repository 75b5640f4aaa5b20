//! Element types across containers: the safetensors dtypes (which PyTorch storages and
//! GGUF's plain types map to) and ggml's block-quantized types, whose bytes are counted per
//! block.

use std::fmt;

use safetensors::Dtype;

/// A ggml type id as GGUF stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub u32);

/// ggml's types: id, name, elements per block, bytes per block (llama.cpp
/// `gguf-py/gguf/constants.py`, GGML_QUANT_SIZES). Ids 4, 5, 31-33 and 36-38 are retired.
/// Q8_1 is 40 bytes as gguf-py writes and reads it (f32 `d` and `s`); ggml's C
/// `block_q8_1` is 36 (two halves): an intermediate type no quantizer writes to files.
const GGML_TYPES: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    /// Name, elements per block and bytes per block; `None` for an id not in the table
    /// (a newer type: its bytes are unknown, the file is still read).
    pub fn info(self) -> Option<(&'static str, u64, u64)> {
        GGML_TYPES
            .iter()
            .find(|(id, ..)| *id == self.0)
            .map(|&(_, name, block, bytes)| (name, block, bytes))
    }

    /// The safetensors dtype with the same element layout, for the plain types.
    pub fn plain(self) -> Option<Dtype> {
        Some(match self.0 {
            0 => Dtype::F32,
            1 => Dtype::F16,
            24 => Dtype::I8,
            25 => Dtype::I16,
            26 => Dtype::I32,
            27 => Dtype::I64,
            28 => Dtype::F64,
            30 => Dtype::BF16,
            _ => return None,
        })
    }

    /// Bytes of `elements` of this type: whole blocks only (`None` when the elements do
    /// not fill whole blocks, the type is unknown, or the product overflows).
    pub fn bytes(self, elements: u64) -> Option<u64> {
        let (_, block, bytes) = self.info()?;
        if !elements.is_multiple_of(block) {
            return None;
        }
        (elements / block).checked_mul(bytes)
    }
}

/// The element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// A safetensors dtype (also PyTorch storages and GGUF's plain types).
    St(Dtype),
    /// A ggml block-quantized type (or an unknown ggml id).
    Ggml(GgmlType),
}

impl DType {
    /// The safetensors dtype, when the elements are laid out as one.
    pub fn st(self) -> Option<Dtype> {
        match self {
            DType::St(d) => Some(d),
            DType::Ggml(_) => None,
        }
    }

    /// True for the types parameters are stored in: floats, and quantized blocks (which
    /// hold weights). Integer and boolean tensors that match no parameter name are buffers.
    pub fn is_float(self) -> bool {
        match self {
            DType::St(d) => !matches!(
                d,
                Dtype::BOOL
                    | Dtype::U8
                    | Dtype::I8
                    | Dtype::I16
                    | Dtype::U16
                    | Dtype::I32
                    | Dtype::U32
                    | Dtype::I64
                    | Dtype::U64
            ),
            DType::Ggml(_) => true,
        }
    }
}

impl From<Dtype> for DType {
    fn from(d: Dtype) -> Self {
        DType::St(d)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DType::St(d) => write!(f, "{d}"),
            DType::Ggml(t) => match t.info() {
                Some((name, ..)) => f.write_str(name),
                None => write!(f, "ggml type {}", t.0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_follow_the_ggml_table() {
        assert_eq!(GgmlType(12).bytes(256 * 4), Some(144 * 4), "Q4_K");
        assert_eq!(GgmlType(8).bytes(64), Some(68), "Q8_0");
        assert_eq!(GgmlType(39).bytes(64), Some(34), "MXFP4");
        assert_eq!(GgmlType(12).bytes(100), None, "not whole blocks");
        assert_eq!(GgmlType(42).bytes(256), None, "unknown id");
        assert_eq!(DType::Ggml(GgmlType(42)).to_string(), "ggml type 42");
        assert_eq!(DType::Ggml(GgmlType(14)).to_string(), "Q6_K");
        assert_eq!(GgmlType(30).plain(), Some(Dtype::BF16));
    }
}
