//! The quantization config a scheme reads: `quantization_config` in config.json, or an
//! older tool's `quantize_config.json` beside it, with typed accessors whose errors name
//! the file and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Largest `quantize_config.json` read.
pub const MAX_QUANTIZE_CONFIG_BYTES: u64 = 1024 * 1024;

/// Where the quantization settings came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// `quantization_config` in config.json.
    Config(PathBuf),
    /// A tool's own file beside config.json (`quantize_config.json`).
    File(PathBuf),
    /// No config: the scheme was recognised from tensor names.
    #[default]
    Tensors,
}

/// The quantization settings, as a JSON object.
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Every field.
    pub fields: Map<String, Value>,
    /// Where they came from.
    pub origin: Origin,
}

impl Params {
    /// How the scheme was recognised, for the note.
    pub fn describe(&self) -> String {
        let method = self
            .method()
            .map(|m| format!(" (quant_method `{m}`)"))
            .unwrap_or_default();
        match &self.origin {
            Origin::Config(p) => format!("quantization_config in {}{method}", p.display()),
            Origin::File(p) => format!("{}{method}", p.display()),
            Origin::Tensors => "tensor names (no quantization config)".to_string(),
        }
    }

    /// `quant_method`, lowercased.
    pub fn method(&self) -> Option<String> {
        self.fields
            .get("quant_method")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    }

    fn path(&self) -> PathBuf {
        match &self.origin {
            Origin::Config(p) | Origin::File(p) => p.clone(),
            Origin::Tensors => PathBuf::from("(tensor names)"),
        }
    }

    /// An [`Error::Config`] naming the settings' file.
    pub fn error(&self, message: String) -> Error {
        Error::Config {
            path: self.path(),
            message: format!("quantization config: {message}"),
        }
    }

    /// The first of `keys` present and not null.
    fn first<'v>(&'v self, keys: &[&str]) -> Option<(&'v str, &'v Value)> {
        keys.iter().find_map(|k| {
            self.fields
                .get_key_value(*k)
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.as_str(), v))
        })
    }

    /// An integer setting (the first of `keys` present) in `min..=max`.
    pub fn int(&self, keys: &[&str], min: i64, max: i64) -> Result<Option<i64>> {
        let Some((key, v)) = self.first(keys) else {
            return Ok(None);
        };
        int_value(key, v, min, max)
            .map(Some)
            .map_err(|m| self.error(m))
    }

    /// A boolean setting.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.first(&[key]) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((_, other)) => {
                Err(self.error(format!("`{key}` must be true or false, found {other}")))
            }
        }
    }

    /// A string setting (the first of `keys` present), lowercased.
    pub fn string(&self, keys: &[&str]) -> Result<Option<String>> {
        match self.first(keys) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.to_ascii_lowercase())),
            Some((key, other)) => {
                Err(self.error(format!("`{key}` must be a string, found {other}")))
            }
        }
    }

    /// An object setting.
    pub fn object(&self, key: &str) -> Result<Option<&Map<String, Value>>> {
        match self.first(&[key]) {
            None => Ok(None),
            Some((_, Value::Object(m))) => Ok(Some(m)),
            Some((_, other)) => {
                Err(self.error(format!("`{key}` must be an object, found {other}")))
            }
        }
    }

    /// A list of strings (`modules_to_not_convert`); non-string entries are an error.
    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.first(&[key]) {
            None => Ok(Vec::new()),
            Some((_, Value::Array(items))) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.error(format!("`{key}` must be a list of strings"))),
            Some((_, other)) => {
                Err(self.error(format!("`{key}` must be a list of strings, found {other}")))
            }
        }
    }
}

/// An integer JSON value in `min..=max`; the message names `key`.
pub fn int_value(key: &str, v: &Value, min: i64, max: i64) -> std::result::Result<i64, String> {
    v.as_i64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("`{key}` must be an integer from {min} to {max}, found {v}"))
}

/// The settings from config.json's `quantization_config`, if it has one.
pub fn from_config(path: &Path, fields: &Map<String, Value>) -> Result<Option<Params>> {
    match fields.get("quantization_config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(Params {
            fields: m.clone(),
            origin: Origin::Config(path.to_path_buf()),
        })),
        Some(other) => Err(Error::Config {
            path: path.to_path_buf(),
            message: format!("`quantization_config` must be an object, found {other}"),
        }),
    }
}

/// The settings an older quantization tool wrote beside config.json
/// (`quantize_config.json`: AutoGPTQ, GPTQModel; `quant_config.json`: AutoAWQ), read from
/// `dir` when present, size-capped.
pub fn from_tool_file(dir: &Path) -> Result<Option<Params>> {
    for name in ["quantize_config.json", "quant_config.json"] {
        let path = dir.join(name);
        if path.is_file() {
            return read_tool_file(&path).map(Some);
        }
    }
    Ok(None)
}

fn read_tool_file(path: &Path) -> Result<Params> {
    let bad = |message: String| Error::Config {
        path: path.to_path_buf(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > MAX_QUANTIZE_CONFIG_BYTES {
        return Err(bad(format!(
            "{len} bytes, over the {MAX_QUANTIZE_CONFIG_BYTES}-byte limit"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(fields)) => Ok(Params {
            fields,
            origin: Origin::File(path.to_path_buf()),
        }),
        Ok(_) => Err(bad("not a JSON object".to_string())),
        Err(e) => Err(bad(format!("not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Params {
        Params {
            fields: serde_json::from_str(json).unwrap(),
            origin: Origin::Config(PathBuf::from("config.json")),
        }
    }

    #[test]
    fn settings_are_typed_and_errors_name_the_key() {
        let p = params(
            r#"{"bits": 4, "w_bit": 8, "group_size": -1, "sym": true, "quant_method": "GPTQ", "desc_act": "yes"}"#,
        );
        assert_eq!(p.int(&["bits", "w_bit"], 1, 8).unwrap(), Some(4));
        assert_eq!(
            p.int(&["q_group_size", "group_size"], -1, 1 << 20).unwrap(),
            Some(-1)
        );
        assert_eq!(p.boolean("sym").unwrap(), Some(true));
        assert_eq!(p.method().as_deref(), Some("gptq"));
        let e = p.boolean("desc_act").unwrap_err().to_string();
        assert!(e.contains("config.json") && e.contains("desc_act"), "{e}");
        let e = p.int(&["bits"], 1, 3).unwrap_err().to_string();
        assert!(
            e.contains("`bits` must be an integer from 1 to 3, found 4"),
            "{e}"
        );
        assert_eq!(p.int(&["absent"], 0, 1).unwrap(), None);
    }
}
