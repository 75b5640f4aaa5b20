//! The integration tests: one binary, run against the real `paramaudit` executable.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod check_diff;
mod common;
mod decoder_layouts;
mod families;
mod first_contact;
mod fixtures;
mod formula_cmd;
mod gguf;
mod hub_cache;
mod hub_concurrency;
mod hub_download;
mod hub_formats;
mod layouts;
mod malformed;
mod minilm;
mod moe_layouts;
mod mutation;
mod pytorch;
mod quantized;
mod snapshots;
mod verify;
