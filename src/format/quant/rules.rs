//! Which modules a config says are quantized, and how: GPTQModel's `dynamic` rules and
//! transformers' `modules_to_not_convert`, matched the way those tools match them. Patterns
//! are Python regular expressions; they are compiled by the `regex` crate (linear-time,
//! size-limited), so a hostile config cannot make matching slow.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::error::Result;

use super::params::{int_value, Params};

/// Largest compiled pattern, in bytes of the regex crate's program.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most rules read from one config.
const MAX_RULES: usize = 10_000;

/// Bits and group size a `+:` rule sets for the modules it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Override {
    /// `bits`, when the rule sets it.
    pub bits: Option<i64>,
    /// `group_size`, when the rule sets it.
    pub group_size: Option<i64>,
}

/// What the rules say of one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matches: the config's own settings apply.
    Default,
    /// A `+:` (or bare) rule matches: its settings override the config's.
    Override(Override),
    /// A `-:` rule matches: the module is not quantized.
    Excluded(String),
}

/// One `dynamic` rule.
#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    regex: Regex,
    exclude: bool,
    set: Override,
}

/// GPTQModel's `dynamic` rules (`quantization/config.py` `dynamic_get`): in the config's
/// order, the first pattern that matches the module name from its start (Python
/// `re.match`) decides; `-:pattern` excludes the module, `+:pattern` or a bare pattern
/// overrides `bits` / `group_size`.
#[derive(Debug, Clone, Default)]
pub struct Dynamic {
    rules: Vec<Rule>,
}

impl Dynamic {
    /// The `dynamic` rules of `params` (none when absent).
    pub fn read(params: &Params) -> Result<Dynamic> {
        let Some(map) = params.object("dynamic")? else {
            return Ok(Dynamic::default());
        };
        if map.len() > MAX_RULES {
            return Err(params.error(format!("`dynamic` has over {MAX_RULES} rules")));
        }
        let rules = map
            .iter()
            .map(|(key, value)| rule(key, value).map_err(|m| params.error(m)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dynamic { rules })
    }

    /// What the rules say of `module` (a dotted module name).
    pub fn verdict(&self, module: &str) -> Verdict {
        match self.rules.iter().find(|r| r.regex.is_match(module)) {
            None => Verdict::Default,
            Some(r) if r.exclude => Verdict::Excluded(r.pattern.clone()),
            Some(r) => Verdict::Override(r.set),
        }
    }

    /// Whether there are rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn rule(key: &str, value: &Value) -> std::result::Result<Rule, String> {
    let (exclude, body) = match key.strip_prefix("-:") {
        Some(b) => (true, b),
        None => (false, key.strip_prefix("+:").unwrap_or(key)),
    };
    let regex = compile(&format!("^(?:{body})")).map_err(|e| {
        format!(
            "dynamic rule `{key}` is not a regular expression paramaudit can match: {}",
            last_line(&e)
        )
    })?;
    let setting = |name: &str| match value.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_value(&format!("dynamic.{key}.{name}"), v, -1, 1 << 20).map(Some),
    };
    let set = if exclude {
        Override::default()
    } else {
        Override {
            bits: setting("bits")?,
            group_size: setting("group_size")?,
        }
    };
    Ok(Rule {
        pattern: key.to_string(),
        regex,
        exclude,
        set,
    })
}

/// The regex crate's message on one line: its last line says what is wrong (the lines
/// before it draw the pattern with carets).
fn last_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    last.trim().trim_start_matches("error: ").to_string()
}

fn compile(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// transformers' `modules_to_not_convert` (`quantizers/quantizers_utils.py`
/// `should_convert_module`): a key matches a module when it matches, as a regex from the
/// start, a prefix of the name that ends at a module boundary (`layer.1` matches
/// `layer.1.attn`, not `layer.11.attn`), or when the name ends with the key.
#[derive(Debug, Clone, Default)]
pub struct NotConvert {
    keys: Vec<(String, Option<Regex>)>,
}

impl NotConvert {
    /// The list under `key` (`modules_to_not_convert`, `llm_int8_skip_modules`).
    pub fn read(params: &Params, key: &str) -> Result<NotConvert> {
        let keys = params.strings(key)?;
        if keys.len() > MAX_RULES {
            return Err(params.error(format!("`{key}` has over {MAX_RULES} entries")));
        }
        // A key Python could compile but the regex crate cannot still matches as a suffix.
        let keys = keys
            .into_iter()
            .map(|k| {
                let re = compile(&format!("^(?:{k})$")).ok();
                (k, re)
            })
            .collect();
        Ok(NotConvert { keys })
    }

    /// The key that keeps `module` unconverted, if any.
    pub fn matching(&self, module: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(key, re)| {
                module.ends_with(key.as_str())
                    || re.as_ref().is_some_and(|re| {
                        boundary_prefixes(module).any(|prefix| re.is_match(prefix))
                    })
            })
            .map(|(k, _)| k.as_str())
    }
}

/// The prefixes of `name` ending at a module boundary: before a dot, after a dot, or
/// the whole name (transformers' `(?:(?<=\.)|(?=\.|$))`).
fn boundary_prefixes(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('.')
        .flat_map(move |(i, _)| [&name[..i], &name[..=i]])
        .chain(std::iter::once(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::quant::params::Origin;

    fn params(json: &str) -> Params {
        Params {
            fields: serde_json::from_str(json).unwrap(),
            origin: Origin::Tensors,
        }
    }

    #[test]
    fn the_first_matching_dynamic_rule_decides_from_the_start_of_the_name() {
        let d = Dynamic::read(&params(
            r#"{"dynamic": {"+:model\\.layers\\.0\\.mlp\\.down_proj": {"bits": 8, "group_size": 64},
                            "-:model\\.layers\\.1\\.mlp\\..*": {},
                            "mlp\\.up_proj": {"bits": 3}}}"#,
        ))
        .unwrap();
        assert_eq!(
            d.verdict("model.layers.0.mlp.down_proj"),
            Verdict::Override(Override {
                bits: Some(8),
                group_size: Some(64)
            })
        );
        assert!(matches!(
            d.verdict("model.layers.1.mlp.up_proj"),
            Verdict::Excluded(_)
        ));
        // re.match anchors at the start only: `mlp\.up_proj` does not match mid-name.
        assert_eq!(d.verdict("model.layers.0.mlp.up_proj"), Verdict::Default);
        assert_eq!(
            d.verdict("model.layers.0.mlp.down_proj_extra"),
            Verdict::Override(Override {
                bits: Some(8),
                group_size: Some(64)
            }),
            "re.match does not anchor the end"
        );
    }

    #[test]
    fn a_pattern_the_regex_crate_cannot_compile_is_a_config_error() {
        let e = Dynamic::read(&params(r#"{"dynamic": {"-:(?<=x)y": {}}}"#)).unwrap_err();
        let line = e.to_string();
        assert!(line.contains("dynamic rule `-:(?<=x)y`"), "{line}");
        assert!(line.ends_with("look-behind, is not supported"), "{line}");
        assert!(!line.contains('\n'), "one line: {line}");
        let e = Dynamic::read(&params(r#"{"dynamic": {"+:a": {"bits": "8"}}}"#)).unwrap_err();
        assert!(e.to_string().contains("dynamic.+:a.bits"), "{e}");
    }

    #[test]
    fn modules_to_not_convert_match_at_module_boundaries_or_as_suffixes() {
        let n = NotConvert::read(
            &params(r#"{"m": ["model.layers.*.self_attn", "layer.1", "lm_head", "mlp.gate"]}"#),
            "m",
        )
        .unwrap();
        assert_eq!(
            n.matching("model.layers.3.self_attn.q_proj"),
            Some("model.layers.*.self_attn")
        );
        assert_eq!(n.matching("layer.1.attn"), Some("layer.1"));
        assert_eq!(n.matching("layer.11.attn"), None);
        assert_eq!(n.matching("lm_head"), Some("lm_head"));
        assert_eq!(n.matching("model.layers.0.mlp.gate_proj"), None);
        assert_eq!(n.matching("model.layers.0.mlp.experts"), None);
    }
}
