//! Every JSON document a test reads is validated against the published JSON Schema in
//! `docs/schema/` (with boon, a JSON Schema 2020-12 validator), before any field is used.

use std::cell::RefCell;
use std::collections::HashMap;

use boon::{Compiler, SchemaIndex, Schemas};
use serde_json::Value;

const BASE: &str = "https://paramaudit.dev/schema/";
/// The published documents.
pub const KINDS: [&str; 8] = [
    "report", "failure", "batch", "diff", "check", "verify", "formula", "families",
];

thread_local! {
    static COMPILED: RefCell<Option<(Schemas, HashMap<&'static str, SchemaIndex>)>> =
        const { RefCell::new(None) };
}

fn compile() -> (Schemas, HashMap<&'static str, SchemaIndex>) {
    let dir = super::root().join("docs").join("schema");
    let mut compiler = Compiler::new();
    for kind in KINDS {
        let path = dir.join(format!("{kind}.schema.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value["$id"],
            format!("{BASE}{kind}.schema.json"),
            "{path:?}"
        );
        compiler
            .add_resource(&format!("{BASE}{kind}.schema.json"), value)
            .unwrap();
    }
    let mut schemas = Schemas::new();
    let index = KINDS
        .iter()
        .map(|&k| {
            let url = format!("{BASE}{k}.schema.json");
            (k, compiler.compile(&url, &mut schemas).unwrap())
        })
        .collect();
    (schemas, index)
}

/// Panic unless `value` is a valid `kind` document.
pub fn validate(kind: &str, value: &Value) {
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        let (schemas, index) = c.get_or_insert_with(compile);
        let i = *index
            .get(kind)
            .unwrap_or_else(|| panic!("no schema `{kind}`"));
        if let Err(e) = schemas.validate(value, i) {
            panic!("output does not match docs/schema/{kind}.schema.json: {e:#}\n{value:#}");
        }
    });
}

/// Parse `text` as one JSON document and validate it as `kind`.
pub fn doc(kind: &str, text: &str) -> Value {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    validate(kind, &value);
    value
}
