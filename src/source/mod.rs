//! Where a checkpoint comes from: a local path ([`local`]) or a Hub model id ([`hub`]). The result is a
//! [`Resolved`] source: which safetensors layout to open and which `config.json` to use.

pub mod download;
pub mod hub;
pub mod local;

use std::path::PathBuf;

/// How the weights of a checkpoint are laid out on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One `.safetensors` file.
    Single(PathBuf),
    /// `model.safetensors.index.json` naming the shards beside it.
    Sharded(PathBuf),
}

/// A checkpoint located on disk, ready to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// What the user asked for, as given.
    pub spec: String,
    /// The files to open.
    pub layout: Layout,
    /// The `config.json` to use, if one was found or given.
    pub config: Option<PathBuf>,
}
