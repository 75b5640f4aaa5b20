//! From an evaluated pickle to named tensors: the state dict, found under a common
//! wrapper when the file is a training checkpoint, flattened to dotted names.
//!
//! The rule: the pickle's root must be a dict. While that dict holds no tensor directly
//! and one of the keys [`WRAPPERS`] (tried in that order) holds a dict with tensors in
//! it, that dict is read instead, and the wrapper's other keys are summarised (an
//! optimizer's state, an epoch counter): they are not model weights. The dict read is
//! flattened: nested dicts, lists and tuples join their keys (or positions) with dots,
//! as `state_dict()` names parameters. Walking is bounded: a memo reference can make one
//! object appear many times, so the walk may visit no more objects than the pickle has
//! bytes, build no more than 64 bytes of names per byte of pickle, nor nest deeper than
//! [`MAX_DEPTH`].

use std::collections::HashSet;

use super::pickle::{Id, Node, Pickle, TensorRef};

/// Keys a training checkpoint keeps its model's state dict under, in the order tried.
pub const WRAPPERS: [&str; 4] = ["state_dict", "model_state_dict", "model", "module"];
/// Deepest container nesting walked.
pub const MAX_DEPTH: usize = 64;
/// Wrappers unwrapped at most (`{"model": {"module": ...}}`).
const MAX_UNWRAP: usize = 4;

/// A top-level entry that is not part of the state dict read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    /// Its key, dotted from the root (`optimizer_state_dict`).
    pub key: String,
    /// What it is (`a dict`, `an int`).
    pub kind: &'static str,
    /// Tensors inside it.
    pub tensors: u64,
    /// Their elements (each tensor's shape product).
    pub elements: u64,
}

/// The tensors of the state dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Named tensors, in the pickle's order.
    pub tensors: Vec<(String, TensorRef)>,
    /// The wrapper keys walked through (`["model_state_dict"]`), empty for a plain state
    /// dict.
    pub wrapper: Vec<String>,
    /// What else the file holds beside the state dict.
    pub others: Vec<Other>,
}

struct Walker<'a> {
    p: &'a Pickle,
    /// Objects that may still be visited.
    budget: usize,
    /// Bytes of names that may still be spelled out.
    name_budget: usize,
}

/// Bytes of names a walk may build per byte of pickle (a real state dict builds each name
/// once: about its own length).
const NAME_BYTES_PER_BYTE: usize = 64;

type Res<T> = std::result::Result<T, String>;

/// One step of a path: a dict key (an object) or a position.
#[derive(Clone, Copy)]
enum Part {
    Key(Id),
    Index(usize),
}

impl Walker<'_> {
    fn visit(&mut self, depth: usize) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(format!("containers nested deeper than {MAX_DEPTH} levels"));
        }
        self.budget = self.budget.checked_sub(1).ok_or_else(|| self.bomb())?;
        Ok(())
    }

    fn bomb(&self) -> String {
        format!(
            "its objects reference each other more often than its {} bytes can spell out (a memo bomb?)",
            self.p.len
        )
    }

    /// The children of a container; `None` for a leaf.
    fn children(&self, id: Id) -> Option<Vec<(Part, Id)>> {
        match self.p.node(id) {
            Node::Dict(d) => Some(d.entries.iter().map(|&(k, v)| (Part::Key(k), v)).collect()),
            Node::List(items) | Node::Tuple(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (Part::Index(i), v))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// `prefix.part`, its length charged to the name budget. Keys that cannot name
    /// anything may only hold scalars.
    fn name(&mut self, prefix: &str, part: Part, value: Id) -> Res<String> {
        let text = match part {
            Part::Index(i) => i.to_string(),
            Part::Key(k) => match self.p.node(k) {
                Node::Str(s) => {
                    self.charge(s.len())?;
                    s.clone()
                }
                Node::Int(i) => i.to_string(),
                Node::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                Node::None => "None".to_string(),
                other => match self.p.node(value) {
                    Node::Dict(_) | Node::List(_) | Node::Tuple(_) | Node::Tensor(_) => {
                        return Err(format!(
                            "a dict key that is {} holds {}: no name for what is inside",
                            other.kind(),
                            self.p.node(value).kind()
                        ))
                    }
                    _ => String::new(),
                },
            },
        };
        if prefix.is_empty() {
            return Ok(text);
        }
        self.charge(prefix.len() + 1)?;
        Ok(format!("{prefix}.{text}"))
    }

    fn charge(&mut self, bytes: usize) -> Res<()> {
        self.name_budget = self
            .name_budget
            .checked_sub(bytes)
            .ok_or_else(|| self.bomb())?;
        Ok(())
    }

    /// Every tensor under `id`, with `prefix` joined to its path.
    fn flatten(
        &mut self,
        id: Id,
        prefix: &str,
        depth: usize,
        out: &mut Vec<(String, TensorRef)>,
    ) -> Res<()> {
        self.visit(depth)?;
        if let Node::Tensor(t) = self.p.node(id) {
            out.push((prefix.to_string(), t.clone()));
            return Ok(());
        }
        for (part, child) in self.children(id).unwrap_or_default() {
            let name = self.name(prefix, part, child)?;
            self.flatten(child, &name, depth + 1, out)?;
        }
        Ok(())
    }

    /// Tensors and their elements under `id` (no names are built).
    fn count(&mut self, id: Id, depth: usize) -> Res<(u64, u64)> {
        self.visit(depth)?;
        if let Node::Tensor(t) = self.p.node(id) {
            let elements = crate::count::product(t.shape.iter().copied()).unwrap_or(u64::MAX);
            return Ok((1, elements));
        }
        let mut total = (0u64, 0u64);
        for (_, child) in self.children(id).unwrap_or_default() {
            let (n, e) = self.count(child, depth + 1)?;
            total = (total.0.saturating_add(n), total.1.saturating_add(e));
        }
        Ok(total)
    }

    /// The wrapper of `dict` to read instead, if it is a training checkpoint's.
    fn wrapper(&mut self, dict: Id) -> Res<Option<(String, Id)>> {
        let Node::Dict(d) = self.p.node(dict) else {
            return Ok(None);
        };
        if d.entries
            .iter()
            .any(|&(_, v)| matches!(self.p.node(v), Node::Tensor(_)))
        {
            return Ok(None);
        }
        for w in WRAPPERS {
            let hit = d
                .entries
                .iter()
                .find(|&&(k, _)| matches!(self.p.node(k), Node::Str(s) if s == w));
            if let Some(&(_, v)) = hit {
                if matches!(self.p.node(v), Node::Dict(_)) && self.count(v, 0)?.0 > 0 {
                    return Ok(Some((w.to_string(), v)));
                }
            }
        }
        Ok(None)
    }

    /// The entries of `dict` other than `skip`, summarised.
    fn others(&mut self, dict: Id, skip: Id, prefix: &str) -> Res<Vec<Other>> {
        let Node::Dict(d) = self.p.node(dict) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for &(k, v) in d.entries.iter().filter(|&&(_, v)| v != skip) {
            let key = self.name(prefix, Part::Key(k), v)?;
            let (tensors, elements) = self.count(v, 0)?;
            out.push(Other {
                key,
                kind: self.p.node(v).kind(),
                tensors,
                elements,
            });
        }
        Ok(out)
    }
}

/// The state dict of an evaluated pickle.
pub fn find(p: &Pickle) -> Res<Found> {
    let mut w = Walker {
        p,
        budget: p.len.saturating_add(64),
        name_budget: p
            .len
            .saturating_mul(NAME_BYTES_PER_BYTE)
            .saturating_add(1 << 20),
    };
    let mut at = p.root;
    if !matches!(p.node(at), Node::Dict(_)) {
        return Err(format!(
            "the pickle holds {}, not a dict of tensors (a state dict)",
            p.node(at).kind()
        ));
    }
    let (mut wrapper, mut others) = (Vec::new(), Vec::new());
    while wrapper.len() < MAX_UNWRAP {
        let Some((key, inner)) = w.wrapper(at)? else {
            break;
        };
        others.extend(w.others(at, inner, &wrapper.join("."))?);
        wrapper.push(key);
        at = inner;
    }
    let mut tensors = Vec::new();
    w.flatten(at, "", 0, &mut tensors)?;
    let mut seen = HashSet::new();
    if let Some((name, _)) = tensors.iter().find(|(n, _)| !seen.insert(n.as_str())) {
        return Err(format!("tensor name `{name}` appears twice"));
    }
    Ok(Found {
        tensors,
        wrapper,
        others,
    })
}

#[cfg(test)]
mod tests {
    use super::super::pickle::{evaluate, Persistent};
    use super::*;

    fn found(b: &[u8]) -> Res<Found> {
        let p = evaluate(b, Persistent::Zip).map_err(|e| e.message)?;
        find(&p)
    }

    /// A storage persistent id and a 1-D tensor of `n` elements on it.
    fn tensor(key: &str, n: u8) -> Vec<u8> {
        let mut p = b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
            .to_vec();
        p.extend_from_slice(key.as_bytes());
        p.extend_from_slice(b"X\x03\x00\x00\x00cpuK");
        p.push(n);
        p.extend_from_slice(b"tQK\x00K");
        p.push(n);
        p.extend_from_slice(b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR");
        p
    }

    #[test]
    fn nested_containers_give_dotted_names() {
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a}(X\x01\x00\x00\x00b".to_vec();
        p.extend(tensor("0", 2));
        p.extend_from_slice(b"uX\x01\x00\x00\x00l](");
        p.extend(tensor("1", 3));
        p.extend_from_slice(b"eu.");
        let f = found(&p).unwrap();
        let names: Vec<&str> = f.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.b", "l.0"]);
        assert!(f.wrapper.is_empty());
    }

    #[test]
    fn a_training_checkpoint_reads_its_model_state_dict() {
        let mut p = b"\x80\x02}(X\x05\x00\x00\x00epochK\x03X\x10\x00\x00\x00model_state_dict}(X\x01\x00\x00\x00w"
            .to_vec();
        p.extend(tensor("0", 2));
        p.extend_from_slice(b"uX\x03\x00\x00\x00opt}(X\x01\x00\x00\x00m");
        p.extend(tensor("1", 3));
        p.extend_from_slice(b"uu.");
        let f = found(&p).unwrap();
        assert_eq!(f.wrapper, ["model_state_dict"]);
        assert_eq!(f.tensors.len(), 1);
        assert_eq!(f.tensors[0].0, "w");
        assert_eq!(
            f.others,
            [
                Other {
                    key: "epoch".into(),
                    kind: "an int",
                    tensors: 0,
                    elements: 0
                },
                Other {
                    key: "opt".into(),
                    kind: "a dict",
                    tensors: 1,
                    elements: 3
                }
            ]
        );
    }

    #[test]
    fn a_memo_bomb_exhausts_the_walk_budget() {
        // l0 = [], t(k+1) = (tk, tk): 2^40 paths in a few hundred bytes.
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a(]q\x00".to_vec();
        for k in 0..40u8 {
            p.extend_from_slice(&[b'(', b'h', k, b'h', k, b't', b'q', k + 1]);
        }
        p.extend_from_slice(b"tu.");
        let e = found(&p).unwrap_err();
        assert!(e.contains("memo bomb"), "{e}");
    }

    #[test]
    fn names_spelled_out_through_the_memo_are_bounded() {
        // {"a": [d, d, ... 10,000 times]} with d = {<a 100 KB key>: tensor}: a gigabyte of
        // names from a 130 KB pickle.
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a](}X\xa0\x86\x01\x00".to_vec();
        p.extend(std::iter::repeat_n(b'k', 100_000));
        p.extend(tensor("0", 2));
        p.extend_from_slice(b"sq\x00");
        p.extend(std::iter::repeat_n(*b"h\x00", 9_999).flatten());
        p.extend_from_slice(b"eu.");
        let e = found(&p).unwrap_err();
        assert!(e.contains("memo bomb"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut p = b"\x80\x02}(X\x01\x00\x00\x00a".to_vec();
        p.extend(std::iter::repeat_n(b"]q\x00", 100).flatten());
        p.extend(std::iter::repeat_n(b'a', 99));
        p.extend_from_slice(b"u.");
        let e = found(&p).unwrap_err();
        assert!(e.contains("nested deeper than 64"), "{e}");
    }

    #[test]
    fn the_root_must_be_a_dict_and_names_unique() {
        assert!(found(b"\x80\x02K\x01.")
            .unwrap_err()
            .contains("holds an int"));
        let mut p = b"\x80\x02}(X\x03\x00\x00\x00a.b".to_vec();
        p.extend(tensor("0", 2));
        p.extend_from_slice(b"X\x01\x00\x00\x00a}X\x01\x00\x00\x00b");
        p.extend(tensor("1", 2));
        p.extend_from_slice(b"su.");
        assert!(found(&p).unwrap_err().contains("`a.b` appears twice"));
    }
}
