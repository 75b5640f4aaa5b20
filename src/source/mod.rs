//! Where a checkpoint comes from: a local path ([`local`]) or a Hub model id ([`hub`]). The result is a
//! [`Resolved`] source: which safetensors layout to open and which `config.json` to use.

pub mod download;
pub mod hub;
pub mod local;

use std::path::PathBuf;

/// The file name of a checkpoint file, as reports and hash pins name it (the whole path
/// when it has no file name).
pub fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// How the weights of a checkpoint are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One `.safetensors` file.
    Single(PathBuf),
    /// `model.safetensors.index.json` naming the shards beside it.
    Sharded(PathBuf),
    /// Headers read remotely with ranged requests; the weights were never downloaded.
    Remote(RemoteHeaders),
}

/// One remote safetensors file, header only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name in the repository.
    pub name: String,
    /// The URL it was read from.
    pub url: String,
    /// The whole file's size as the Hub declares it (X-Linked-Size).
    pub size: u64,
    /// The first bytes: the 8-byte length and the complete JSON header.
    pub prefix: Vec<u8>,
}

/// The headers of a remote checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHeaders {
    /// The safetensors files (one, or every shard).
    pub files: Vec<RemoteFile>,
    /// The shard index, for sharded checkpoints: where it is and its text.
    pub index: Option<(PathBuf, String)>,
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
