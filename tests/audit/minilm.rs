//! The genuine all-MiniLM-L6-v2 weights (REFERENCE.md §4), fetched by
//! scripts/fetch-minilm.sh into data/minilm/ (git-ignored). The test command in the README
//! runs the fetch first; without the file this test fails and says how to get it.

use crate::common::{inspect_json, root};

#[test]
fn real_minilm_checkpoint_reconciles_with_reference_figures() {
    let dir = std::env::var_os("PARAMAUDIT_MINILM_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("data/minilm"));
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run scripts/fetch-minilm.sh (the README's test command does)",
        dir.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let r = inspect_json(tmp.path(), &dir, &[]);
    assert_eq!(r.totals.file_bytes, 90_868_376);
    assert_eq!(r.totals.tensors, 104);
    assert_eq!(r.totals.parameters, 22_713_216);
    assert_eq!(r.totals.buffers, 512);
    assert_eq!(r.totals.stored_elements, 22_713_728);
    assert_eq!(r.buckets.buffer.tensors, 1);
    let d = r.differences.unwrap();
    assert_eq!(
        (d.unexplained, d.buffers, d.heads, d.tied_not_stored),
        (0, 512, 0, 0)
    );
    let pos = r
        .tensors
        .iter()
        .find(|t| t.name == "embeddings.position_ids")
        .unwrap();
    assert_eq!(
        (pos.dtype.as_str(), pos.role.as_str(), pos.shape.as_slice()),
        ("I64", "buffer", &[1u64, 512][..])
    );
    let f32 = r.dtypes.iter().find(|d| d.dtype == "F32").unwrap();
    assert_eq!((f32.tensors, f32.elements), (103, 22_713_216));
}
