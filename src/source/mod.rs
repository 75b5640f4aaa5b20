//! Where a checkpoint comes from: a local path ([`local`]) or a Hub model id ([`hub`]). The result is a
//! [`Resolved`] source: which safetensors layout to open and which `config.json` to use.

pub mod download;
pub mod hub;
pub mod local;
pub mod net;
pub mod spec;
pub mod weights;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use spec::Spec;

/// How to find a model: the flags every command that takes a model shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// `--revision` (Hub ids only; `None` is `main`).
    pub revision: Option<&'a str>,
    /// Never touch the network.
    pub offline: bool,
    /// Read remote headers only.
    pub header_only: bool,
    /// `--config`, overriding the config beside the weights.
    pub config: Option<&'a Path>,
    /// Draw download progress on stderr.
    pub progress: bool,
    /// Say on stderr what a download will fetch when it is more than asked (PyTorch
    /// weights fetched whole); off with `--quiet`.
    pub notes: bool,
}

/// Resolve a model argument: an existing path is read as a path; a path-shaped argument
/// that does not exist is an error at once; anything else is a Hub id, read from the
/// cache or the Hub. Flags are checked before any file or request is touched.
pub fn resolve(arg: &str, request: &Request) -> Result<Resolved> {
    if let Some(revision) = request.revision {
        hub::check_revision(revision)?;
    }
    if let Some(config) = request.config {
        if let Err(e) = std::fs::metadata(config) {
            return Err(Error::Usage(format!("--config {}: {e}", config.display())));
        }
    }
    match spec::classify(arg)? {
        Spec::Local(path) => {
            if request.header_only {
                return Err(Error::Usage(format!(
                    "--header-only reads a Hub model's headers remotely; the local path `{arg}` is already read header-only"
                )));
            }
            if request.revision.is_some() {
                return Err(Error::Usage(format!(
                    "--revision applies to Hub models; `{arg}` is a local path"
                )));
            }
            local::resolve(&path, request.config)
        }
        Spec::Hub(repo, tag) => {
            let env = hub::HubEnv::from_env(request.offline);
            let options = hub::Fetch {
                header_only: request.header_only,
                progress: request.progress,
                notes: request.notes,
            };
            let revision = request.revision.unwrap_or(hub::DEFAULT_REVISION);
            let target = hub::Target {
                repo: &repo,
                tag: tag.as_deref(),
                revision,
            };
            hub::resolve(&env, &target, request.config, options).map_err(|e| Error::Remote {
                spec: arg.to_string(),
                source: Box::new(e),
                suggestion: spec::suggest(Path::new(arg)),
            })
        }
    }
}

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
    /// Several files that together make one checkpoint without an index (GGUF splits
    /// `-00001-of-00003.gguf`), in order.
    Files(Vec<PathBuf>),
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
