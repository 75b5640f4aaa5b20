//! What a scheme works on: the tensors by name, the few data bytes a scheme must read
//! (bounded), and errors that name the file and the tensor.

use std::collections::HashMap;

use crate::checkpoint::{FileInfo, Tensor};
use crate::error::{Error, Result};

use super::params::Params;

/// The checkpoint's tensors, addressable by name while a scheme rewrites them.
#[derive(Debug, Default)]
pub struct Tensors {
    slots: Vec<Option<Tensor>>,
    index: HashMap<String, usize>,
}

impl Tensors {
    /// Index `tensors` by name (names are unique: every reader checks it).
    pub fn new(tensors: Vec<Tensor>) -> Tensors {
        let index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Tensors {
            slots: tensors.into_iter().map(Some).collect(),
            index,
        }
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index
            .get(name)
            .and_then(|&i| self.slots.get(i))
            .and_then(Option::as_ref)
    }

    /// Every tensor still present, in list order.
    pub fn iter(&self) -> impl Iterator<Item = &Tensor> {
        self.slots.iter().flatten()
    }

    /// Names ending with `suffix`, in list order.
    pub fn ending(&self, suffix: &str) -> Vec<String> {
        self.iter()
            .filter(|t| t.name.ends_with(suffix))
            .map(|t| t.name.clone())
            .collect()
    }

    /// Whether any name ends with `suffix`.
    pub fn any_ending(&self, suffix: &str) -> bool {
        self.iter().any(|t| t.name.ends_with(suffix))
    }

    /// Remove and return the tensor named `name`.
    pub fn take(&mut self, name: &str) -> Option<Tensor> {
        let i = self.index.remove(name)?;
        self.slots.get_mut(i).and_then(Option::take)
    }

    /// Add `t`; false (and nothing added) when its name is taken.
    pub fn insert(&mut self, t: Tensor) -> bool {
        if self.index.contains_key(&t.name) {
            return false;
        }
        self.index.insert(t.name.clone(), self.slots.len());
        self.slots.push(Some(t));
        true
    }

    /// Mark `name` as quantization overhead; its element count when it was not already.
    pub fn set_overhead(&mut self, name: &str) -> Option<u64> {
        let i = *self.index.get(name)?;
        let t = self.slots.get_mut(i)?.as_mut()?;
        if t.overhead {
            return None;
        }
        t.overhead = true;
        Some(t.elements)
    }

    /// The tensors, in natural name order.
    pub fn into_vec(self) -> Vec<Tensor> {
        let mut out: Vec<Tensor> = self.slots.into_iter().flatten().collect();
        crate::checkpoint::sort_tensors(&mut out);
        out
    }
}

/// What a scheme did, for the note.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Quantized modules (one logical weight each).
    pub modules: u64,
    /// Logical elements of their weights.
    pub logical: u64,
    /// Elements stored for them.
    pub stored: u64,
    /// Overhead elements marked.
    pub overhead: u64,
}

/// One scheme's pass over the tensors.
pub struct Job<'a> {
    /// The tensors being rewritten.
    pub tensors: &'a mut Tensors,
    /// The checkpoint's files (paths for messages, maps for the few bytes read).
    pub files: &'a [FileInfo],
    /// The quantization config (empty when recognised from tensor names).
    pub params: &'a Params,
    /// Notes for the report.
    pub notes: &'a mut Vec<String>,
    /// What was done so far.
    pub tally: Tally,
    /// The scheme's name, for messages.
    pub scheme: &'static str,
}

/// Largest element count a logical shape may reach: 2^62, far beyond any model, so that
/// sums over thousands of tensors stay inside 64 bits.
pub const MAX_ELEMENTS: u64 = 1 << 62;

impl<'a> Job<'a> {
    /// An [`Error::Format`] naming `t`'s file and `t`.
    pub fn error(&self, t: &Tensor, message: impl std::fmt::Display) -> Error {
        Error::Format {
            path: self
                .files
                .get(t.file)
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            format: self.scheme,
            message: format!("tensor `{}`: {message}", t.name),
        }
    }

    /// The tensor `name`, which `anchor` needs: a clear error when it is missing.
    pub fn require(&self, name: &str, anchor: &Tensor) -> Result<Tensor> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| self.error(anchor, format!("its companion `{name}` is missing")))
    }

    /// Mark every present tensor of `names` as overhead.
    pub fn overhead<S: AsRef<str>>(&mut self, names: &[S]) {
        for name in names {
            if let Some(n) = self.tensors.set_overhead(name.as_ref()) {
                self.tally.overhead = self.tally.overhead.saturating_add(n);
            }
        }
    }

    /// Replace the stored tensor `stored` by the logical weight `name` of `shape`, keeping
    /// the stored tensor's dtype, bytes and place. `stored_as` names the stored tensor.
    pub fn replace(&mut self, stored: &str, name: String, shape: Vec<u64>) -> Result<()> {
        let t = self
            .tensors
            .get(stored)
            .cloned()
            .ok_or_else(|| self.missing(stored))?;
        let elements = self.elements(&t, &shape)?;
        if name != stored && self.tensors.get(&name).is_some() {
            return Err(self.error(
                &t,
                format!("`{name}` is stored too: the module is both quantized and not"),
            ));
        }
        let _ = self.tensors.take(stored);
        self.tally.modules = self.tally.modules.saturating_add(1);
        self.tally.logical = self.tally.logical.saturating_add(elements);
        self.tally.stored = self.tally.stored.saturating_add(t.stored_elements);
        self.tensors.insert(Tensor {
            name,
            stored_as: Some(t.name.clone()),
            shape,
            elements,
            overhead: false,
            ..t
        });
        Ok(())
    }

    /// Mark `stored` as a quantized weight whose stored form is its logical one (int8,
    /// FP8): `stored_as` names it, nothing else changes.
    pub fn keep(&mut self, stored: &str) -> Result<()> {
        let shape = self
            .tensors
            .get(stored)
            .map(|t| t.shape.clone())
            .ok_or_else(|| self.missing(stored))?;
        self.replace(stored, stored.to_string(), shape)
    }

    fn missing(&self, name: &str) -> Error {
        Error::Format {
            path: self
                .files
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            format: self.scheme,
            message: format!("tensor `{name}` is missing"),
        }
    }

    /// The element count of `shape` for the logical form of `t`: an error when it
    /// overflows or exceeds [`MAX_ELEMENTS`].
    pub fn elements(&self, t: &Tensor, shape: &[u64]) -> Result<u64> {
        shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                self.error(
                    t,
                    format!("logical shape {shape:?} is impossibly large (over 2^62 elements)"),
                )
            })
    }

    /// The data bytes of `t`, when the file's data section is at hand (`None` when only
    /// headers were read); an error when it holds more than `cap` bytes or lies outside
    /// the file.
    pub fn bytes(&self, t: &Tensor, cap: u64) -> Result<Option<&'a [u8]>> {
        let files: &'a [FileInfo] = self.files;
        let Some(file) = files.get(t.file) else {
            return Ok(None);
        };
        let Some(map) = file.mapped.as_ref().filter(|_| !file.header_only) else {
            return Ok(None);
        };
        let (start, end) = t.data_offsets;
        let len = end
            .checked_sub(start)
            .ok_or_else(|| self.error(t, "its data offsets end before they start"))?;
        if len > cap {
            return Err(self.error(t, format!("holds {len} bytes, over the {cap}-byte limit")));
        }
        let at = file
            .data_start
            .checked_add(start)
            .and_then(|s| Some((usize::try_from(s).ok()?, usize::try_from(len).ok()?)));
        at.and_then(|(s, n)| map.0.get(s..s.checked_add(n)?))
            .map(Some)
            .ok_or_else(|| self.error(t, "its data lies outside the file"))
    }
}

/// A tensor's shape as exactly `N` dimensions.
pub fn dims<const N: usize>(t: &Tensor) -> Option<[u64; N]> {
    t.shape.as_slice().try_into().ok()
}

/// Bits of one element of an integer dtype (the words packed weights are stored in).
pub fn word_bits(t: &Tensor) -> Option<u64> {
    use safetensors::Dtype;
    match t.dtype.st()? {
        Dtype::I8 | Dtype::U8 => Some(8),
        Dtype::I16 | Dtype::U16 => Some(16),
        Dtype::I32 | Dtype::U32 => Some(32),
        Dtype::I64 | Dtype::U64 => Some(64),
        _ => None,
    }
}

/// `name` without `suffix`, when it ends with it and something is left.
pub fn module_of<'n>(name: &'n str, suffix: &str) -> Option<&'n str> {
    name.strip_suffix(suffix).filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::Dtype;

    fn t(name: &str, dtype: Dtype, shape: &[u64]) -> Tensor {
        let elements = shape.iter().product();
        Tensor {
            name: name.to_string(),
            stored_as: None,
            stored_elements: elements,
            overhead: false,
            dtype: dtype.into(),
            shape: shape.to_vec(),
            elements,
            bytes: 0,
            file: 0,
            data_offsets: (0, 0),
        }
    }

    #[test]
    fn replace_keeps_the_stored_facts_and_names_the_stored_tensor() {
        let mut tensors = Tensors::new(vec![
            t("m.qweight", Dtype::I32, &[16, 128]),
            t("m.scales", Dtype::F16, &[4, 128]),
        ]);
        let params = Params::default();
        let mut notes = Vec::new();
        let mut job = Job {
            tensors: &mut tensors,
            files: &[],
            params: &params,
            notes: &mut notes,
            tally: Tally::default(),
            scheme: "GPTQ",
        };
        job.replace("m.qweight", "m.weight".into(), vec![128, 128])
            .unwrap();
        job.overhead(&["m.scales", "m.absent"]);
        assert_eq!(
            job.tally,
            Tally {
                modules: 1,
                logical: 16384,
                stored: 2048,
                overhead: 512
            }
        );
        let out = tensors.into_vec();
        assert_eq!(out[0].name, "m.scales");
        assert!(out[0].overhead);
        assert_eq!(out[1].name, "m.weight");
        assert_eq!(out[1].stored_as.as_deref(), Some("m.qweight"));
        assert_eq!((out[1].elements, out[1].stored_elements), (16384, 2048));
    }

    #[test]
    fn a_logical_name_already_stored_is_an_error() {
        let mut tensors = Tensors::new(vec![
            t("m.qweight", Dtype::I32, &[16, 128]),
            t("m.weight", Dtype::F16, &[128, 128]),
        ]);
        let params = Params::default();
        let mut notes = Vec::new();
        let mut job = Job {
            tensors: &mut tensors,
            files: &[],
            params: &params,
            notes: &mut notes,
            tally: Tally::default(),
            scheme: "GPTQ",
        };
        let e = job
            .replace("m.qweight", "m.weight".into(), vec![128, 128])
            .unwrap_err();
        assert!(e.to_string().contains("both quantized and not"), "{e}");
        let huge = job.replace("m.qweight", "m.w".into(), vec![1 << 40, 1 << 40]);
        assert!(huge.unwrap_err().to_string().contains("impossibly large"));
    }
}
