//! Quantized weights in their logical view: from `quantization_config` (config.json,
//! `quantize_config.json`) and tensor names, each quantized module's packed tensors
//! become one logical weight (its shape and element count as the unquantized model has
//! them; `stored_as` and `stored_elements` say how it is stored) plus overhead tensors
//! (scales, zero points, indices) that are never parameters.
//!
//! One file per scheme, behind [`SCHEMES`]: adding a scheme is a file and a line there.
//! Each scheme's packing arithmetic, with its origin, is in docs/formats.md.

pub mod awq;
pub mod bnb;
pub mod compressed;
pub mod fp8;
pub mod gptq;
pub mod mxfp4;
pub mod params;
pub mod rules;
pub mod store;

use std::path::Path;

use crate::checkpoint::{FileInfo, Tensor};
use crate::error::Result;
use crate::formula::ModelConfig;

use params::{Origin, Params};
use store::{Job, Tally, Tensors};

/// One quantization scheme.
pub struct Scheme {
    /// Its name in notes and messages (`GPTQ`).
    pub name: &'static str,
    /// The `quant_method` values that name it.
    pub methods: &'static [&'static str],
    /// Name endings without which no tensor of the scheme is stored: a checkpoint with
    /// none of any scheme's (and no quantization config) passes through untouched.
    pub markers: &'static [&'static str],
    /// Whether tensor names alone show the scheme (no config says which).
    pub sniff: fn(&Tensors) -> bool,
    /// Rewrite the scheme's tensors into the logical view; returns its settings, for the
    /// note (`4-bit, group size 32`).
    pub apply: fn(&mut Job<'_>) -> Result<String>,
}

/// Every scheme, in the order tensor names are tried (GPTQ, whose modules have `g_idx`,
/// before AWQ, whose modules have none).
pub const SCHEMES: &[&Scheme] = &[
    &gptq::SCHEME,
    &awq::SCHEME,
    &bnb::SCHEME,
    &compressed::SCHEME,
    &fp8::SCHEME,
    &mxfp4::SCHEME,
];

/// The scheme a `quant_method` names.
pub fn by_method(method: &str) -> Option<&'static Scheme> {
    SCHEMES
        .iter()
        .copied()
        .find(|s| s.methods.contains(&method))
}

/// Rewrite `tensors` into their logical view. Tensors of no recognised scheme pass
/// through unchanged; notes say what was recognised, and how.
pub fn to_logical(
    tensors: Vec<Tensor>,
    files: &[FileInfo],
    config: Option<&ModelConfig>,
    notes: &mut Vec<String>,
) -> Result<Vec<Tensor>> {
    let configured = match config {
        Some(c) => params::from_config(&c.path, &c.fields)?.is_some(),
        None => false,
    };
    if !configured && !tensors.iter().any(|t| has_marker(&t.name)) {
        return Ok(tensors);
    }
    let mut store = Tensors::new(tensors);
    let params = settings(&store, files, config)?;
    let Some(scheme) = recognise(&store, &params, notes) else {
        return Ok(store.into_vec());
    };
    let mut job = Job {
        tensors: &mut store,
        files,
        params: &params,
        notes,
        tally: Tally::default(),
        scheme: scheme.name,
    };
    let settings = (scheme.apply)(&mut job)?;
    let tally = job.tally;
    check_not_converted(&store, &params, notes)?;
    notes.push(summary(scheme, &params, &settings, &tally));
    Ok(store.into_vec())
}

/// The quantization settings: config.json's `quantization_config`, else a tool's file
/// beside it when the tensors look packed, else none (tensor names decide).
fn settings(store: &Tensors, files: &[FileInfo], config: Option<&ModelConfig>) -> Result<Params> {
    if let Some(c) = config {
        if let Some(p) = params::from_config(&c.path, &c.fields)? {
            return Ok(p);
        }
    }
    if store.any_ending(".qweight") {
        let dir = config
            .map(|c| c.path.as_path())
            .or_else(|| files.first().map(|f| f.path.as_path()))
            .and_then(Path::parent);
        if let Some(p) = dir.map(params::from_tool_file).transpose()?.flatten() {
            return Ok(p);
        }
    }
    Ok(Params::default())
}

/// The scheme the settings name, else the first whose tensor names are present.
fn recognise(store: &Tensors, params: &Params, notes: &mut Vec<String>) -> Option<&'static Scheme> {
    match params.method() {
        Some(m) => match by_method(&m) {
            Some(s) => Some(s),
            None => {
                notes.push(format!(
                    "quant_method `{m}` ({}) is not a scheme paramaudit reads (it reads {}): packed tensors are counted as stored, not as the weights they hold",
                    params.describe(),
                    names()
                ));
                None
            }
        },
        None => SCHEMES.iter().copied().find(|s| (s.sniff)(store)),
    }
}

/// Whether `name` ends like a tensor of some scheme.
fn has_marker(name: &str) -> bool {
    SCHEMES
        .iter()
        .flat_map(|s| s.markers)
        .any(|m| name.ends_with(m))
}

/// The schemes, for messages.
pub fn names() -> String {
    SCHEMES
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A quantized module the config says is not converted: told, not fatal (the tensors
/// show what is stored).
fn check_not_converted(store: &Tensors, params: &Params, notes: &mut Vec<String>) -> Result<()> {
    for key in ["modules_to_not_convert", "llm_int8_skip_modules"] {
        let rules = rules::NotConvert::read(params, key)?;
        let hits: Vec<String> = store
            .iter()
            .filter(|t| t.stored_as.is_some() && !t.overhead)
            .filter_map(|t| {
                let module = t.name.rsplit_once('.').map_or(t.name.as_str(), |(m, _)| m);
                rules
                    .matching(module)
                    .map(|k| format!("`{}` (`{k}`)", t.name))
            })
            .collect();
        if let Some(first) = hits.first() {
            notes.push(format!(
                "{key} lists {} quantized weight(s) as not converted, yet they are stored quantized, e.g. {first}; counted as stored",
                hits.len()
            ));
        }
    }
    Ok(())
}

/// The note naming the scheme, its settings and what became of the tensors.
fn summary(scheme: &Scheme, params: &Params, settings: &str, t: &Tally) -> String {
    let how = match params.origin {
        Origin::Tensors => "recognised from tensor names (no quantization config)".to_string(),
        _ => format!("from {}", params.describe()),
    };
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!(" ({settings})")
    };
    format!(
        "quantized with {}{settings}, {how}: {} quantized module(s) store {} elements for {} logical weights (counted as parameters); {} elements of scales, zero points and indices are overhead, not parameters",
        scheme.name,
        crate::render::count(t.modules),
        crate::render::count(t.stored),
        crate::render::count(t.logical),
        crate::render::count(t.overhead)
    )
}
