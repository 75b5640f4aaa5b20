//! A family's dimensions: read from `config.json` with transformers' defaults for absent
//! fields (each default recorded, so reports can list them), or inferred from the shapes
//! of the stored tensors when there is no config.

use std::collections::BTreeMap;

use serde_json::Value;

use super::expr::Expr;
use super::{Default, Dim, DimKind, Family};
use crate::formula::ModelConfig;

/// Dimension values by symbol. Flags are 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dims {
    values: BTreeMap<&'static str, u64>,
    lists: BTreeMap<&'static str, Vec<u64>>,
}

impl Dims {
    /// The value of `symbol`, if known.
    pub fn get(&self, symbol: &str) -> Option<u64> {
        self.values.get(symbol).copied()
    }

    /// The value of `symbol`, 0 when unknown (for closed forms, after validation).
    pub fn v(&self, symbol: &str) -> u64 {
        self.get(symbol).unwrap_or(0)
    }

    /// Whether flag `symbol` is set.
    pub fn flag(&self, symbol: &str) -> bool {
        self.get(symbol).is_some_and(|v| v != 0)
    }

    /// The list `symbol` (empty when unknown).
    pub fn list(&self, symbol: &str) -> &[u64] {
        self.lists.get(symbol).map_or(&[], Vec::as_slice)
    }

    /// Set `symbol`.
    pub fn set(&mut self, symbol: &'static str, value: u64) {
        self.values.insert(symbol, value);
    }

    /// Set list `symbol`.
    pub fn set_list(&mut self, symbol: &'static str, value: Vec<u64>) {
        self.lists.insert(symbol, value);
    }

    /// Evaluate an expression of these dimensions.
    pub fn eval(&self, expr: &Expr) -> Option<u64> {
        expr.eval(&|s| self.get(s))
    }

    /// The values by config key, for reports: counts and lists as numbers, flags as
    /// booleans, in the family's order (derived dimensions, with no config key, left out).
    pub fn by_key(&self, family: &Family) -> Vec<(String, Value)> {
        family
            .dims
            .iter()
            .filter(|d| !d.keys.is_empty())
            .filter_map(|d| {
                let value = match d.kind {
                    DimKind::Count { .. } => Value::from(self.get(d.symbol)?),
                    DimKind::Flag { .. } => Value::from(self.flag(d.symbol)),
                    DimKind::List => Value::from(self.lists.get(d.symbol)?.clone()),
                };
                Some((d.key().to_string(), value))
            })
            .collect()
    }

    /// `L=12 H=768 ... heads=12 labels=2 tied-embeddings`: every shown dimension.
    pub fn line(&self, family: &Family) -> String {
        family
            .dims
            .iter()
            .filter(|d| !d.show.is_empty())
            .filter_map(|d| match d.kind {
                DimKind::Count { .. } => Some(format!("{}={}", d.show, self.get(d.symbol)?)),
                DimKind::Flag { on, off } => {
                    let word = if self.flag(d.symbol) { on } else { off };
                    (!word.is_empty()).then(|| word.to_string())
                }
                DimKind::List => {
                    let l = self.lists.get(d.symbol)?;
                    (!l.is_empty()).then(|| format!("{}={:?}", d.show, l))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why a config cannot give dimensions.
fn bad(config: &ModelConfig, message: String) -> crate::Error {
    crate::Error::Config {
        path: config.path.clone(),
        message,
    }
}

/// Read one dimension's value from a config value; `Err` names what is wrong.
fn read_value(d: &Dim, key: &str, v: &Value) -> Result<Option<u64>, String> {
    if v.is_null() {
        return Ok(None);
    }
    if let Some(parse) = d.parse {
        if let Some(n) = parse(v) {
            return Ok(Some(n));
        }
    }
    match (d.kind, v) {
        (DimKind::Count { min, max }, Value::Number(n)) => match n.as_u64() {
            Some(x) if x > max => Err(format!("`{key}` is {x}, beyond the supported {max}")),
            Some(x) if x < min => Err(format!("`{key}` is {x}: it must be at least {min}")),
            Some(x) => Ok(Some(x)),
            None => Err(format!("`{key}` must be a non-negative integer, found {n}")),
        },
        (DimKind::Count { max, .. }, Value::Object(m)) => {
            let n = crate::count::len(m.len());
            if n > max {
                Err(format!(
                    "`{key}` has {n} entries, beyond the supported {max}"
                ))
            } else {
                Ok(Some(n))
            }
        }
        (DimKind::Flag { .. }, Value::Bool(b)) => Ok(Some(u64::from(*b))),
        (DimKind::Count { .. }, other) => Err(format!(
            "`{key}` must be a non-negative integer, found {other}"
        )),
        (DimKind::Flag { .. }, other) => {
            Err(format!("`{key}` must be true or false, found {other}"))
        }
        (DimKind::List, _) => Err(format!("`{key}` must be a list of layer indices")),
    }
}

fn read_list(key: &str, v: &Value) -> Result<Vec<u64>, String> {
    let bad = || format!("`{key}` must be a list of layer indices, found {v}");
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() <= super::MAX_LAYERS as usize => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .filter(|n| *n < super::MAX_LAYERS)
                    .ok_or_else(bad)
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Fill the defaults of absent dimensions: plain values first, then expressions in the
/// family's order (an expression may use any dimension before it). A dimension in
/// `nulled` (its key set to `null`) takes its [`Dim::null`] value instead.
fn fill_defaults(
    family: &Family,
    dims: &mut Dims,
    absent: &[&'static str],
    nulled: &[&'static str],
) -> Result<(), String> {
    let value_of = |d: &Dim| {
        if nulled.contains(&d.symbol) {
            d.null.unwrap_or(d.default)
        } else {
            d.default
        }
    };
    let filled = |d: &&Dim| absent.contains(&d.symbol) || nulled.contains(&d.symbol);
    for d in family.dims.iter().filter(filled) {
        match value_of(d) {
            Default::Value(v) => dims.set(d.symbol, v),
            Default::Flag(b) => dims.set(d.symbol, u64::from(b)),
            Default::Empty => dims.set_list(d.symbol, Vec::new()),
            Default::Expr(_) | Default::Derived(_) => {}
        }
    }
    for d in family.dims.iter().filter(filled) {
        match value_of(d) {
            Default::Expr(text) => {
                let expr = Expr::parse(text).map_err(|e| e.to_string())?;
                let v = dims.eval(&expr).ok_or_else(|| {
                    format!(
                        "`{}` is absent and its default `{text}` has no value for these dimensions",
                        d.key()
                    )
                })?;
                dims.set(d.symbol, v);
            }
            Default::Derived(f) => {
                let v = f(dims).ok_or_else(|| {
                    format!(
                        "`{}` is absent and its derived default has no value for these dimensions",
                        d.key()
                    )
                })?;
                dims.set(d.symbol, v);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check every count against its limits and the family's own rule.
pub fn validate(family: &Family, dims: &Dims) -> Result<(), String> {
    for d in family.dims {
        if let (DimKind::Count { min, max }, Some(v)) = (d.kind, dims.get(d.symbol)) {
            // A `null` key's own value may sit below the minimum (`q_lora_rank: null` is 0).
            let null_value = matches!(d.null, Some(Default::Value(n)) if n == v);
            if v < min && !null_value {
                return Err(format!("`{}` is {v}: it must be at least {min}", d.key()));
            }
            if v > max {
                return Err(format!("`{}` is {v}, beyond the supported {max}", d.key()));
            }
        }
    }
    (family.validate)(dims)
}

/// Dimensions from a config, with the family's defaults for absent fields; the symbols
/// that took a default are returned alongside. A config that sets none of the family's
/// dimensions is refused, unless its `model_type` is one the family serves: then every
/// field takes transformers' default, as `DistilBertConfig()` does for
/// `{"model_type": "distilbert"}` (distilbert-base in fixtures/families/full-size.json).
pub fn from_config(
    family: &Family,
    config: &ModelConfig,
) -> crate::Result<(Dims, Vec<&'static str>)> {
    let present = |d: &Dim| {
        d.keys
            .iter()
            .find(|k| config.fields.get(**k).is_some_and(|v| !v.is_null()))
            .copied()
    };
    let declared = config
        .model_type
        .as_deref()
        .is_some_and(|t| family.model_types.contains(&t));
    if !declared
        && !family
            .dims
            .iter()
            .any(|d| d.identifying && present(d).is_some())
    {
        let keys: Vec<&str> = family
            .dims
            .iter()
            .filter(|d| d.identifying)
            .map(|d| d.key())
            .collect();
        return Err(bad(
            config,
            format!(
                "none of the {} family's dimensions ({}) is set: not a model config, or another family",
                family.name,
                keys.join(", ")
            ),
        ));
    }
    let set_to_null = |d: &Dim| {
        d.null.is_some()
            && d.keys
                .iter()
                .any(|k| config.fields.get(*k).is_some_and(Value::is_null))
    };
    let mut dims = Dims::default();
    let mut absent = Vec::new();
    let mut nulled = Vec::new();
    for d in family.dims {
        let Some(key) = present(d) else {
            if set_to_null(d) {
                nulled.push(d.symbol);
            } else {
                absent.push(d.symbol);
            }
            continue;
        };
        let value = &config.fields[key];
        if matches!(d.kind, DimKind::List) {
            dims.set_list(d.symbol, read_list(key, value).map_err(|m| bad(config, m))?);
            continue;
        }
        match read_value(d, key, value).map_err(|m| bad(config, m))? {
            Some(v) => dims.set(d.symbol, v),
            None => absent.push(d.symbol),
        }
    }
    fill_defaults(family, &mut dims, &absent, &nulled).map_err(|m| bad(config, m))?;
    validate(family, &dims).map_err(|m| bad(config, m))?;
    Ok((dims, reported(family, absent)))
}

/// Dimensions from what the stored tensors reveal (`known`, by symbol: a dimension a
/// tensor's shape names on its own, or a capture's count), the rest from defaults. `Err`
/// says why they cannot make a formula (a limit, or a default that does not fit what the
/// tensors show, such as a head count that does not divide the width).
pub fn from_shapes(
    family: &Family,
    known: &BTreeMap<&'static str, u64>,
) -> Result<(Dims, Vec<&'static str>), String> {
    let mut dims = Dims::default();
    let mut absent = Vec::new();
    for d in family.dims {
        match known.get(d.symbol) {
            Some(v) => dims.set(d.symbol, *v),
            None => absent.push(d.symbol),
        }
    }
    fill_defaults(family, &mut dims, &absent, &[])?;
    validate(family, &dims)?;
    Ok((dims, reported(family, absent)))
}

/// The absent dimensions worth reporting as defaulted: derived ones (no config key) are
/// never read, so never defaulted.
fn reported(family: &Family, mut absent: Vec<&'static str>) -> Vec<&'static str> {
    absent.retain(|s| family.dim(s).is_some_and(|d| !d.keys.is_empty()));
    absent
}

/// The config key of each symbol in `symbols`, for reports: once each, when several
/// dimensions read one key (ViT's `image_size` as height and width).
pub fn keys(family: &Family, symbols: &[&'static str]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for s in symbols {
        let key = family.dim(s).map_or(*s, |d| d.key()).to_string();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{count, range, Derivation, MAX_WIDTH};

    fn floor_heads(d: &Dims) -> Option<u64> {
        d.get("H")?.checked_div(d.get("A")?)
    }

    fn doubled(d: &Dims) -> Option<u64> {
        d.get("H")?.checked_mul(2)
    }

    static DERIVED: Family = Family {
        name: "derived",
        title: "Derived",
        model_types: &["derived-test"],
        covers: "",
        norm: crate::family::Norm::LayerNorm,
        dims: &[
            count("H", &["hidden_size"], 8, MAX_WIDTH),
            count("A", &["num_attention_heads"], 3, MAX_WIDTH),
            count("D", &["head_dim"], 0, MAX_WIDTH).derived(floor_heads),
            count("W", &[], 0, MAX_WIDTH).derived(doubled),
        ],
        ranges: &[range("layer", "1")],
        tensors: &[],
        ladder: &[],
        claims: &[],
        validate: |_| Ok(()),
        derive: |_| None::<Derivation>,
        moe: None,
        compiled: std::sync::OnceLock::new(),
    };

    #[test]
    fn a_config_naming_the_model_type_alone_takes_every_default() {
        let (d, defaulted) = read(r#"{"model_type": "derived-test"}"#);
        assert_eq!(
            (d.get("H"), d.get("D"), d.get("W")),
            (Some(8), Some(2), Some(16))
        );
        assert_eq!(defaulted, vec!["H", "A", "D"]);
        let config =
            ModelConfig::parse(std::path::Path::new("c.json"), r#"{"model_type": "other"}"#)
                .unwrap();
        let refused = from_config(&DERIVED, &config).unwrap_err().to_string();
        assert!(
            refused.contains("none of the derived family's dimensions"),
            "{refused}"
        );
    }

    fn read(text: &str) -> (Dims, Vec<&'static str>) {
        let config = ModelConfig::parse(std::path::Path::new("c.json"), text).unwrap();
        from_config(&DERIVED, &config).unwrap()
    }

    #[test]
    fn derived_defaults_apply_when_absent_and_keyless_ones_are_not_listed_as_defaulted() {
        let (d, defaulted) = read(r#"{"hidden_size": 20, "num_attention_heads": 3}"#);
        assert_eq!(
            d.get("D"),
            Some(6),
            "floor division, as transformers' H // A"
        );
        assert_eq!(d.get("W"), Some(40));
        assert_eq!(
            defaulted,
            vec!["D"],
            "W has no config key: derived, not defaulted"
        );
        let (d, defaulted) = read(r#"{"hidden_size": 20, "head_dim": 5}"#);
        assert_eq!(
            d.get("D"),
            Some(5),
            "a config value wins over the derived default"
        );
        assert_eq!(defaulted, vec!["A"]);
        let known = BTreeMap::from([("H", 16), ("W", 7)]);
        let (d, defaulted) = from_shapes(&DERIVED, &known).unwrap();
        assert_eq!(d.get("W"), Some(7), "a shape reveals a keyless dimension");
        assert_eq!(d.get("D"), Some(5));
        assert_eq!(defaulted, vec!["A", "D"]);
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    fn config(text: &str) -> ModelConfig {
        ModelConfig::parse(std::path::Path::new("config.json"), text).unwrap()
    }

    /// A config naming the family's model_type and nothing else takes every default; one
    /// with neither a dimension nor the model_type is refused.
    #[test]
    fn a_declared_model_type_alone_takes_every_default() {
        let bert = &crate::family::bert::FAMILY;
        let (dims, defaulted) = from_config(bert, &config(r#"{"model_type": "bert"}"#)).unwrap();
        assert_eq!(dims.get("H"), Some(768));
        assert_eq!(defaulted.len(), bert.dims.len());
        assert!(from_config(bert, &config("{}")).is_err());
        assert!(from_config(bert, &config(r#"{"model_type": "gpt2"}"#)).is_err());
    }
}
