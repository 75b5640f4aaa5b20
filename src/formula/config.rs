//! Read `config.json`: the model type, the claimed architectures and the raw fields that a
//! family's formula turns into dimensions.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest `config.json` read.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// A parsed `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// `model_type` (`"bert"`), if present.
    pub model_type: Option<String>,
    /// `architectures`: what the saving code claimed; never trusted for counting.
    pub architectures: Vec<String>,
    /// Every field, for the family formulas.
    pub fields: Map<String, Value>,
}

impl ModelConfig {
    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<ModelConfig> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: format!(
                    "{} bytes, over the {MAX_CONFIG_BYTES}-byte limit",
                    meta.len()
                ),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &text)
    }

    /// Parse config text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<ModelConfig> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        Self::from_value(path, value)
    }

    /// A config from parsed JSON (a config.json, or the config a format reader derived
    /// from a file's own metadata); `path` is used in messages.
    pub fn from_value(path: &Path, value: Value) -> Result<ModelConfig> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let Value::Object(fields) = value else {
            return Err(bad("not a JSON object".to_string()));
        };
        let model_type = match fields.get("model_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(bad(format!("`model_type` must be a string, found {other}")))
            }
        };
        let architectures = match fields.get("architectures") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("`architectures` must be a list of strings".to_string()))?,
            Some(other) => {
                return Err(bad(format!(
                    "`architectures` must be a list of strings, found {other}"
                )))
            }
        };
        Ok(ModelConfig {
            path: path.to_path_buf(),
            model_type,
            architectures,
            fields,
        })
    }

    /// An unsigned integer field, `None` when absent or null; an error when it has another
    /// type or exceeds `max`.
    pub fn uint(&self, key: &str, max: u64) -> Result<Option<u64>> {
        let bad = |message: String| Error::Config {
            path: self.path.clone(),
            message,
        };
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v <= max => Ok(Some(v)),
                Some(v) => Err(bad(format!("`{key}` is {v}, beyond the supported {max}"))),
                None => Err(bad(format!(
                    "`{key}` must be a non-negative integer, found {n}"
                ))),
            },
            Some(other) => Err(bad(format!(
                "`{key}` must be a non-negative integer, found {other}"
            ))),
        }
    }

    /// A boolean field, `None` when absent or null.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::Config {
                path: self.path.clone(),
                message: format!("`{key}` must be true or false, found {other}"),
            }),
        }
    }

    /// A string field, `None` when absent or not a string.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// Number of entries of an object field (`id2label`), `None` when absent.
    pub fn object_len(&self, key: &str) -> Option<u64> {
        self.fields
            .get(key)
            .and_then(Value::as_object)
            .map(|m| crate::count::len(m.len()))
    }
}
