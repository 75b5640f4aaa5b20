//! Tied weights in PyTorch files: one storage under several names.
//!
//! `torch.save` pickles a tensor once and refers back to it for every other name
//! (transformers 4.x `save_pretrained(safe_serialization=False)` kept the aliases, so a
//! `.bin` holds both `model.embed_tokens.weight` and `lm_head.weight`). The reader lists
//! every name; this step, run once the family is known, keeps ONE name per stored view
//! (same file, same bytes, same dtype and shape) and drops the others, with a note naming
//! them. The name kept is the one the family expects stored: a name whose family row is
//! tied or an alias (`lm_head.weight` under `tie_word_embeddings`, T5's
//! `encoder.embed_tokens.weight`) gives way to one that is not; without a family, the
//! first in name order is kept. The report then reads as for the safetensors twin, where
//! transformers removed the same aliases: the dropped names are `tied_not_stored`, the
//! storage's bytes are counted once, and nothing is unexplained.

use std::collections::HashMap;

use crate::checkpoint::{FileInfo, Tensor};
use crate::family::{Family, RowKind};

/// How strongly a name claims to be the stored one: lower is kept.
fn rank(name: &str, family: Option<&'static Family>) -> u8 {
    let Some(table) = family.map(Family::compiled) else {
        return 1;
    };
    match table.classify(name).map(|m| table.rows[m.row].row.kind) {
        Some(RowKind::Tied { .. } | RowKind::Alias { .. }) => 2,
        Some(_) => 0,
        None => 1,
    }
}

/// The view a tensor stores: file, byte extent, dtype, shape.
type ViewKey = (usize, (u64, u64), String, Vec<u64>);

/// Keep one name per stored view of the PyTorch files; notes name the dropped aliases.
/// `files[i].tensors` is lowered by the names dropped from file `i`.
pub fn untie(
    tensors: Vec<Tensor>,
    files: &mut [FileInfo],
    family: Option<&'static Family>,
    notes: &mut Vec<String>,
) -> Vec<Tensor> {
    let is_pytorch = |t: &Tensor| files.get(t.file).is_some_and(|f| f.format == "pytorch");
    let mut groups: HashMap<ViewKey, Vec<usize>> = HashMap::new();
    for (i, t) in tensors.iter().enumerate() {
        if is_pytorch(t) && t.bytes > 0 {
            let key = (t.file, t.data_offsets, t.dtype.to_string(), t.shape.clone());
            groups.entry(key).or_default().push(i);
        }
    }
    let mut drop = vec![false; tensors.len()];
    let mut found: Vec<(usize, Vec<usize>)> = Vec::new();
    for members in groups.into_values().filter(|m| m.len() > 1) {
        // Members are in the tensors' order; min_by_key keeps the first of equal rank.
        let keep = *members
            .iter()
            .min_by_key(|&&i| rank(&tensors[i].name, family))
            .unwrap_or(&members[0]);
        let dropped: Vec<usize> = members.into_iter().filter(|&i| i != keep).collect();
        for &i in &dropped {
            drop[i] = true;
        }
        found.push((keep, dropped));
    }
    found.sort_unstable();
    for (keep, dropped) in &found {
        let t = &tensors[*keep];
        if let Some(f) = files.get_mut(t.file) {
            f.tensors = f.tensors.saturating_sub(dropped.len());
        }
        let names: Vec<String> = dropped
            .iter()
            .map(|&i| format!("`{}`", tensors[i].name))
            .collect();
        let file = files
            .get(t.file)
            .map(|f| crate::source::file_name(&f.path))
            .unwrap_or_default();
        notes.push(format!(
            "{file}: {} {} the storage of `{}` (torch.save keeps every name of a tied weight): counted once, as `{}`",
            names.join(", "),
            if dropped.len() == 1 { "shares" } else { "share" },
            t.name,
            t.name
        ));
    }
    tensors
        .into_iter()
        .zip(drop)
        .filter_map(|(t, d)| (!d).then_some(t))
        .collect()
}
