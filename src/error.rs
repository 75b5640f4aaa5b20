//! The one error type of the library. Every variant names the file (or URL) it is about,
//! so the binary can print a single line and exit with [`Error::exit_code`].

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a path on the command line and a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or mapping a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// Writing the report failed (for example a closed pipe).
    #[error("writing the report: {0}")]
    Output(#[source] io::Error),
    /// A safetensors file is malformed.
    #[error("{path}: {problem}")]
    Header {
        /// The safetensors file.
        path: PathBuf,
        /// What is wrong with it.
        problem: HeaderProblem,
    },
    /// A sharded checkpoint's index (`model.safetensors.index.json`) is malformed or
    /// disagrees with its shards.
    #[error("{path}: {message}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `config.json` is unreadable or lacks what the formula needs.
    #[error("{path}: invalid config: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The path exists but holds no safetensors checkpoint.
    #[error("{path}: {message}")]
    NoCheckpoint {
        /// The path given.
        path: PathBuf,
        /// What was looked for and what was found instead.
        message: String,
    },
    /// The argument is a path that does not exist (or neither a path nor a Hub id).
    #[error("no such file or directory: {}{}", path.display(), suggestion.as_ref().map(|s| format!("; did you mean {}?", s.display())).unwrap_or_default())]
    NotFound {
        /// The path given.
        path: PathBuf,
        /// The closest existing path, when one is near (edit distance 2 or less).
        suggestion: Option<PathBuf>,
    },
    /// A Hub id could not be served; no local path of that name exists either.
    #[error("{source} (no local path `{spec}` exists either{})", suggestion.as_ref().map(|s| format!("; did you mean {}?", s.display())).unwrap_or_default())]
    Remote {
        /// The argument as given.
        spec: String,
        /// Why the Hub (or the cache) could not serve it.
        source: Box<Error>,
        /// The closest existing local path, when one is near.
        suggestion: Option<PathBuf>,
    },
    /// A file is a checkpoint format paramaudit does not read (yet), or not a checkpoint.
    #[error("{}: {what}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What the file is, from its first bytes.
        what: String,
    },
    /// A GGUF or PyTorch file is malformed, or holds what paramaudit refuses to run (a
    /// pickle calling anything outside torch's `weights_only` allowlist).
    #[error("{}: {format}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format (`GGUF`, `PyTorch`).
        format: &'static str,
        /// What is wrong, with the byte offset where one helps.
        message: String,
    },
    /// Figures that cannot be right: counts whose sum or product exceeds 64 bits.
    #[error("{}: {message}", path.display())]
    Impossible {
        /// The checkpoint (or expectations file) holding them.
        path: PathBuf,
        /// Which figure overflowed.
        message: String,
    },
    /// The Hub cache holds something unreadable.
    #[error("{path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model is not in the cache and the network may not be used.
    #[error("{repo} (revision {revision}): {reason} in the cache at {cache}, and offline mode is on (HF_HUB_OFFLINE or --offline)")]
    NotCached {
        /// Model id.
        repo: String,
        /// Revision asked for.
        revision: String,
        /// The cache directory.
        cache: PathBuf,
        /// What was missing.
        reason: String,
    },
    /// The Hub repository has no safetensors weights.
    #[error("{repo} (revision {revision}): {message}")]
    NoSafetensors {
        /// Model id.
        repo: String,
        /// Revision.
        revision: String,
        /// What the repository has instead.
        message: String,
    },
    /// An expectations file for `check` is malformed.
    #[error("{path}: {message}")]
    Expectations {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Flags that do not fit together or do not apply.
    #[error("{0}")]
    Usage(String),
    /// Talking to the Hub failed.
    #[error("{url}: {message}")]
    Hub {
        /// The URL requested.
        url: String,
        /// What went wrong, with the hint that fixes it.
        message: String,
    },
}

impl Error {
    /// The process exit code for this error: 2 for every input or usage error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Output(_) => 1,
            Error::Remote { source, .. } => source.exit_code(),
            _ => 2,
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::Header`].
    pub fn header(path: impl Into<PathBuf>, problem: HeaderProblem) -> Self {
        Error::Header {
            path: path.into(),
            problem,
        }
    }
}

/// What is wrong with a safetensors file. Offsets are in bytes; "data" offsets count from
/// the start of the data section, as `data_offsets` in the header do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderProblem {
    /// Fewer than the 8 bytes of the header length.
    #[error(
        "file is {len} bytes long, too short for the 8-byte header length of a safetensors file"
    )]
    TooShort {
        /// File length.
        len: u64,
    },
    /// The declared header length exceeds the cap.
    #[error("header length {header_len} exceeds the {max}-byte limit")]
    HeaderTooLarge {
        /// Declared header length.
        header_len: u64,
        /// The limit.
        max: u64,
    },
    /// The declared header length runs past the end of the file.
    #[error("header length {header_len} runs past the end of the file ({file_len} bytes)")]
    HeaderBeyondFile {
        /// Declared header length.
        header_len: u64,
        /// File length.
        file_len: u64,
    },
    /// The header is not valid UTF-8.
    #[error("header is not valid UTF-8 (first bad byte at header offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte within the header.
        offset: usize,
    },
    /// The header is not the JSON object the format requires.
    #[error("header is not a valid safetensors JSON object: {message}")]
    NotJson {
        /// The parser's message.
        message: String,
    },
    /// A key appears twice in the header.
    #[error("duplicate tensor key `{key}` in header")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A dtype the format does not define.
    #[error("tensor `{tensor}` has unknown dtype `{dtype}`")]
    UnknownDtype {
        /// Tensor name.
        tensor: String,
        /// The dtype string found.
        dtype: String,
    },
    /// The shape's element count (or its size in bits) overflows 64 bits.
    #[error("tensor `{tensor}` has shape {shape:?} whose size overflows")]
    ShapeOverflow {
        /// Tensor name.
        tensor: String,
        /// The shape.
        shape: Vec<u64>,
    },
    /// Sub-byte dtypes whose total size is not a whole number of bytes.
    #[error("tensor `{tensor}`: {elements} elements of {dtype} do not fill whole bytes")]
    Misaligned {
        /// Tensor name.
        tensor: String,
        /// Element count.
        elements: u64,
        /// Dtype.
        dtype: String,
    },
    /// `data_offsets` end before they start.
    #[error("tensor `{tensor}` has data_offsets [{start}, {end}] that end before they start")]
    OffsetsReversed {
        /// Tensor name.
        tensor: String,
        /// Start offset.
        start: u64,
        /// End offset.
        end: u64,
    },
    /// The extent given by `data_offsets` disagrees with shape × dtype.
    #[error("tensor `{tensor}`: shape {shape:?} of {dtype} needs {expected} bytes but data_offsets span {actual}")]
    ExtentMismatch {
        /// Tensor name.
        tensor: String,
        /// Shape.
        shape: Vec<u64>,
        /// Dtype.
        dtype: String,
        /// Bytes needed by shape × dtype.
        expected: u64,
        /// Bytes spanned by the offsets.
        actual: u64,
    },
    /// Data bytes no tensor covers.
    #[error(
        "gap in the data section: bytes {start}..{end} belong to no tensor (before `{tensor}`)"
    )]
    Gap {
        /// First uncovered data offset.
        start: u64,
        /// Where the next tensor starts.
        end: u64,
        /// The tensor after the gap.
        tensor: String,
    },
    /// Two tensors share data bytes.
    #[error("tensor `{tensor}` overlaps `{previous}` (starts at data offset {start}, previous ends at {previous_end})")]
    Overlap {
        /// The later tensor.
        tensor: String,
        /// The earlier tensor.
        previous: String,
        /// Start of the later tensor.
        start: u64,
        /// End of the earlier tensor.
        previous_end: u64,
    },
    /// The file ends before the data the header describes.
    #[error("truncated: the header describes {expected} bytes of tensor data (up to `{tensor}`) but the file holds only {actual}")]
    Truncated {
        /// Data bytes the header describes.
        expected: u64,
        /// Data bytes present.
        actual: u64,
        /// The tensor that reaches furthest.
        tensor: String,
    },
    /// The file continues after the last tensor.
    #[error("{extra} trailing bytes after the last tensor (data section is {expected} bytes, file holds {actual})")]
    TrailingBytes {
        /// Data bytes the header describes.
        expected: u64,
        /// Data bytes present.
        actual: u64,
        /// The difference.
        extra: u64,
    },
    /// The safetensors crate rejected a header our own checks accepted.
    #[error("rejected by the safetensors parser: {message}")]
    Rejected {
        /// The crate's message.
        message: String,
    },
}
