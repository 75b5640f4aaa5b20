//! The human layouts, pinned with insta so that a change to the report's look is reviewed
//! as a snapshot diff (`cargo insta review`, or INSTA_UPDATE=always and read `git diff`).
//! Paths are relative to the repository root so that the output is the same everywhere.

use crate::common::{root, run};

fn at_root(args: &[&str]) -> String {
    let out = run(&root(), args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn inspect_table_layout() {
    insta::assert_snapshot!(at_root(&["inspect", "fixtures/tiny/bert-for-pretraining"]));
}

#[test]
fn inspect_table_with_tensors_for_a_sharded_checkpoint() {
    insta::assert_snapshot!(at_root(&[
        "inspect",
        "fixtures/tiny/bert-for-pretraining-sharded",
        "--tensors"
    ]));
}

#[test]
fn inspect_markdown_layout() {
    insta::assert_snapshot!(at_root(&[
        "inspect",
        "fixtures/tiny/bert-for-sequence-classification",
        "--format",
        "markdown"
    ]));
}

#[test]
fn diff_table_layout() {
    insta::assert_snapshot!(at_root(&[
        "diff",
        "fixtures/tiny/bert-for-pretraining",
        "fixtures/tiny/bert-for-sequence-classification"
    ]));
}

#[test]
fn formula_table_layout() {
    insta::assert_snapshot!(at_root(&[
        "formula",
        "fixtures/tiny/bert-model/config.json"
    ]));
}
