//! `verify`: read every byte of a checkpoint once, hash each file and scan every tensor's
//! values, in parallel, with memory bounded whatever the model size.
//!
//! Each file is read through the memory map it was validated with when the checkpoint was
//! opened (never opened again by path, so a file replaced meanwhile is not read), in
//! windows of [`WINDOW`] bytes. Files are verified concurrently (rayon: about one file per
//! core at a time, so on 2 cores two shards are hashed at once); results are reported in
//! file order.
//!
//! Per file, three parties share the work:
//!
//! - the hashing thread feeds window after window to sha256 (one sequential stream, the
//!   bottleneck: about 1.9 GB/s per core with SHA-NI), while
//! - the other rayon threads scan the pieces of tensors that start in that window (up to
//!   [`PIECE`] bytes each, cut at element boundaries relative to each tensor's start, so
//!   alignment never matters), and
//! - a prefetch thread keeps up to [`AHEAD`] windows past the one being hashed mapped, one
//!   `madvise(MADV_POPULATE_READ)` per window: the kernel reads the window (when it is not
//!   in the page cache) and fills its page tables in one call, so the hashing thread
//!   neither takes page faults nor waits on the disk while the prefetcher keeps ahead (it
//!   waits for a window only when the prefetcher falls behind). The prefetcher also
//!   releases each window the hashing thread has finished (`madvise(MADV_DONTNEED)`, off
//!   the hashing thread), so resident memory stays near `AHEAD + 1` windows per file in
//!   flight, a few tens of MiB.
//!
//! The map is advised `MADV_HUGEPAGE` (when transparent huge pages are not disabled): on a
//! file system with large folios (ext4, XFS) the kernel then reads the file in 2 MiB
//! folios, reading ahead asynchronously, and maps each with one page-table entry, where
//! 4 KiB pages cost an allocation, a page-table entry and an rmap update each on the way
//! in and again on the way out; on a cold page cache, the difference was most of the gap
//! to `openssl dgst`'s `read(2)` loop. Without huge pages, the prefetcher asks the kernel
//! to read [`READ_AHEAD`] bytes ahead instead (`MADV_WILLNEED`). All advice is best effort
//! (`MADV_POPULATE_READ` needs Linux 5.14): without it, the threads' own page faults map
//! the pages, as slowly as before but with the same results.

pub mod scan;

use std::collections::BTreeMap;

use memmap2::{Advice, Mmap, UncheckedAdvice};
use rayon::prelude::*;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::checkpoint::{Checkpoint, FileInfo};
use crate::classify::{Bucket, Classified, Role};
use crate::error::{Error, Result};
use scan::{Acc, IntRange};

/// Bytes hashed and scanned per step (a multiple of 2 MiB, the huge-page size); the
/// resident-memory bound is about [`AHEAD`]` + 1` windows per file in flight.
pub const WINDOW: usize = 4 << 20;
/// Windows mapped ahead of the one being hashed (resident memory: about this many
/// windows plus the one being hashed, per file in flight).
pub const AHEAD: usize = 4;
/// Without huge pages: how far ahead of the window being mapped the kernel is asked to
/// read into the page cache (not mapped, so not counted in this process's resident memory).
pub const READ_AHEAD: usize = 64 << 20;
/// Largest piece of a tensor scanned as one task.
pub const PIECE: usize = 1 << 20;
/// Norm weights whose mean falls outside this range around their family's centre (1, or
/// 0 for Gemma's `1 + weight` RMSNorm) are flagged: below 0.1 or above 10 for a centre
/// of 1.
pub const GAMMA_RANGE: (f64, f64) = (-0.9, 9.0);

/// Where an expected sha256 came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashSource {
    /// The blob name in the Hugging Face cache (the Hub's LFS id).
    HubCache,
    /// `--sha256` on the command line.
    Flag,
    /// A `check` expectations file (`--expect`).
    Expectations,
}

/// Integrity of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIntegrity {
    /// Path.
    pub path: String,
    /// Container format: `safetensors`, `gguf` or `pytorch`.
    pub format: String,
    /// Bytes.
    pub bytes: u64,
    /// sha256 of the whole file.
    pub sha256: String,
    /// What it should be, if known.
    pub expected: Option<String>,
    /// Where `expected` came from.
    pub expected_from: Option<HashSource>,
    /// `sha256 == expected`, `null` when nothing was expected.
    pub matches: Option<bool>,
}

/// Statistics of one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorStats {
    /// Name.
    pub name: String,
    /// Bucket.
    pub bucket: Bucket,
    /// Dtype.
    pub dtype: String,
    /// Elements.
    pub elements: u64,
    /// Whether values were scanned (sub-byte and complex dtypes are only hashed).
    pub scanned: bool,
    /// NaN values (floats).
    pub nan: u64,
    /// +Inf values.
    pub pos_inf: u64,
    /// -Inf values.
    pub neg_inf: u64,
    /// Zeros.
    pub zeros: u64,
    /// Subnormals, in the tensor's own format.
    pub subnormals: u64,
    /// Smallest finite value (integers: smallest value).
    pub min: Option<serde_json::Number>,
    /// Largest finite value.
    pub max: Option<serde_json::Number>,
    /// Mean of the finite values (floats only).
    pub mean: Option<f64>,
    /// Population standard deviation of the finite values (floats only).
    pub std: Option<f64>,
}

/// What is wrong, or odd, about a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Holds NaN or ±Inf (an error unless `--allow-nonfinite`).
    NonFinite,
    /// Every value is NaN.
    AllNan,
    /// Every value is zero.
    AllZero,
    /// A LayerNorm gamma whose mean is far from 1.
    GammaFarFromOne,
    /// An embedding table with zero variance.
    ConstantEmbedding,
}

/// One flagged tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Tensor.
    pub tensor: String,
    /// What.
    pub problem: Problem,
    /// Detail with the figures.
    pub detail: String,
}

/// Per-bucket totals of the value checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BucketStats {
    /// Tensors.
    pub tensors: u64,
    /// Elements.
    pub elements: u64,
    /// NaN values.
    pub nan: u64,
    /// ±Inf values.
    pub inf: u64,
    /// Zeros.
    pub zeros: u64,
    /// Subnormals.
    pub subnormals: u64,
}

/// The `verify` report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Version of the JSON layout (the same for every document).
    pub schema_version: u32,
    /// What was verified.
    pub spec: String,
    /// True when every hash matched (or none was expected) and no tensor holds NaN/Inf
    /// (unless allowed).
    pub passed: bool,
    /// Whether NaN/Inf were allowed.
    pub allow_nonfinite: bool,
    /// Bytes read.
    pub bytes: u64,
    /// Files, in order.
    pub files: Vec<FileIntegrity>,
    /// Per bucket, in report order.
    pub buckets: BTreeMap<Bucket, BucketStats>,
    /// Flagged tensors.
    pub flags: Vec<Flag>,
    /// Every tensor, sorted by name.
    pub tensors: Vec<TensorStats>,
}

/// Where each piece of work lands.
struct Piece {
    tensor: usize,
    dtype: Option<Dtype>,
    start: usize,
    end: usize,
    /// The values are big-endian (a big-endian GGUF file).
    swap: bool,
}

/// The stored extents a tensor's bytes lie in, with the dtype to scan them as: its own
/// extent and dtype, or for a GGUF file the stored tensors' extents inside it (a tensor
/// joined from two stored ones spans their padding, which is not scanned) and their own
/// types.
fn stored_ranges(
    span: (u64, u64),
    dtype: Option<Dtype>,
    plan: Option<&crate::format::gguf::ScanPlan>,
) -> Vec<(u64, u64, Option<Dtype>)> {
    let Some(plan) = plan else {
        return vec![(span.0, span.1, dtype)];
    };
    let first = plan.extents.partition_point(|&(_, e, _)| e <= span.0);
    plan.extents[first..]
        .iter()
        .take_while(|&&(s, _, _)| s < span.1)
        .map(|&(s, e, d)| (s.max(span.0), e.min(span.1), d))
        .filter(|&(s, e, _)| s < e)
        .collect()
}

/// Scan one piece; big-endian values are byte-swapped into a copy first.
fn scan_piece(slice: &[u8], dtype: Option<Dtype>, swap: bool) -> Partial {
    let Some(dtype) = dtype.filter(|d| scan::scanned_width(*d).is_some()) else {
        return Partial::Skipped;
    };
    let width = scan::scanned_width(dtype).unwrap_or(1);
    let swapped;
    let slice = if swap && width > 1 {
        let mut copy = slice.to_vec();
        for value in copy.chunks_exact_mut(width) {
            value.reverse();
        }
        swapped = copy;
        &swapped[..]
    } else {
        slice
    };
    if let Some(a) = scan::scan_float(slice, dtype) {
        Partial::Float(a)
    } else {
        scan::scan_int(slice, dtype).map_or(Partial::Skipped, Partial::Int)
    }
}

/// Per-tensor result of a piece.
enum Partial {
    Float(Acc),
    Int(IntRange),
    Skipped,
}

fn number(v: f64) -> Option<serde_json::Number> {
    serde_json::Number::from_f64(v)
}

fn int_number(v: i128) -> Option<serde_json::Number> {
    i64::try_from(v)
        .map(serde_json::Number::from)
        .ok()
        .or_else(|| u64::try_from(v).ok().map(serde_json::Number::from))
}

/// One file's sha256, its length, and every piece's partial result (tensor index, result).
struct FileScan {
    sha256: String,
    bytes: u64,
    partials: Vec<(usize, Partial)>,
}

/// The map a file was validated with, checked to be as long as its header promised.
fn mapped(spec: &str, f: &FileInfo) -> Result<std::sync::Arc<Mmap>> {
    let Some(mapped) = f.mapped.as_ref().filter(|_| !f.header_only) else {
        return Err(Error::Usage(format!(
            "{spec}: {} holds only a header (saved with --save-header, or read remotely); verify needs the original checkpoint's files",
            f.path.display()
        )));
    };
    let end = f.data_start.checked_add(f.data_bytes);
    let mapped_len = crate::count::len(mapped.0.len());
    if mapped_len != f.file_bytes || end.is_none_or(|e| e > mapped_len) {
        return Err(Error::Impossible {
            path: f.path.clone(),
            message: format!(
                "mapped {mapped_len} bytes, but the header promised a {}-byte file ({} bytes of data from offset {})",
                f.file_bytes, f.data_bytes, f.data_start
            ),
        });
    }
    Ok(mapped.0.clone())
}

/// A GGUF file's scan plan (byte order, stored extents), read again from the map its
/// header was validated with.
fn scan_plan(f: &FileInfo, map: &Mmap) -> Result<Option<crate::format::gguf::ScanPlan>> {
    if f.format != "gguf" {
        return Ok(None);
    }
    crate::format::gguf::scan_plan(map)
        .map(Some)
        .ok_or_else(|| Error::Impossible {
            path: f.path.clone(),
            message: "the GGUF header no longer reads as it did when the file was opened"
                .to_string(),
        })
}

/// Progress shared by a file's hashing thread and its prefetcher, in windows.
#[derive(Default)]
struct Ahead {
    state: std::sync::Mutex<AheadState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct AheadState {
    /// Windows mapped (or given up on) by the prefetcher.
    mapped: usize,
    /// Windows hashed, scanned and released by the hashing thread.
    released: usize,
    /// The hashing thread is done (or unwinding): the prefetcher stops.
    stop: bool,
}

impl Ahead {
    fn update(&self, f: impl FnOnce(&mut AheadState)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        self.changed.notify_all();
    }

    /// Wait until `ok` holds; the windows released by then, and false when the wait
    /// ended because of `stop`.
    fn wait(&self, ok: impl Fn(&AheadState) -> bool) -> (usize, bool) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while !ok(&s) && !s.stop {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        (s.released, ok(&s))
    }

    /// Block until window `w` is mapped.
    fn wait_mapped(&self, w: usize) {
        self.wait(|s| s.mapped > w);
    }

    fn released(&self, w: usize) {
        self.update(|s| s.released = w + 1);
    }

    fn stop_on_drop(&self) -> impl Drop + '_ {
        struct Stop<'a>(&'a Ahead);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.update(|s| s.stop = true);
            }
        }
        Stop(self)
    }
}

/// The prefetcher (see the module docs): maps window after window with
/// `MADV_POPULATE_READ`, never more than [`AHEAD`] windows past the one being hashed,
/// releases (`MADV_DONTNEED`) each window the hashing thread is done with, and without
/// huge pages asks the kernel to read [`READ_AHEAD`] bytes further into the page cache
/// (`MADV_WILLNEED`: not mapped, so not resident in this process).
fn prefetch(map: &Mmap, windows: usize, ahead: &Ahead) {
    // Whatever happens here, the hashing thread never waits for a window in vain.
    let _done = {
        struct Done<'a>(&'a Ahead);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.update(|s| s.mapped = usize::MAX);
            }
        }
        Done(ahead)
    };
    // Huge-page advice makes the kernel read the file in 2 MiB folios (where the file
    // system keeps large folios) and map each with one page-table entry: the read-ahead
    // then rides on the prefetcher's own faults. Without transparent huge pages, the
    // kernel is asked to read ahead explicitly (MADV_WILLNEED, page by page).
    #[cfg(target_os = "linux")]
    let huge = transparent_huge_pages() && map.advise(Advice::HugePage).is_ok();
    #[cfg(not(target_os = "linux"))]
    let huge = false;
    let len = map.len();
    let range = |w: usize| {
        let start = w.saturating_mul(WINDOW).min(len);
        (start, WINDOW.min(len - start))
    };
    let mut dropped = 0;
    let drop_until = |dropped: &mut usize, released: usize| {
        while *dropped < released.min(windows) {
            let (start, n) = range(*dropped);
            release(map, start, n);
            *dropped += 1;
        }
    };
    let far = READ_AHEAD / WINDOW;
    if !huge {
        for w in 0..far.min(windows) {
            let (start, n) = range(w);
            let _ = map.advise_range(Advice::WillNeed, start, n);
        }
    }
    for w in 0..windows {
        let (released, go) = ahead.wait(|s| s.released + AHEAD >= w);
        drop_until(&mut dropped, released);
        if !go {
            return;
        }
        if !huge && w + far < windows {
            let (start, n) = range(w + far);
            let _ = map.advise_range(Advice::WillNeed, start, n);
        }
        let (start, n) = range(w);
        #[cfg(target_os = "linux")]
        let _ = map.advise_range(Advice::PopulateRead, start, n);
        #[cfg(not(target_os = "linux"))]
        let _ = (start, n);
        ahead.update(|s| s.mapped = w + 1);
    }
    // Release the last windows as the hashing thread finishes them.
    loop {
        let (released, go) = ahead.wait(|s| s.released > dropped);
        drop_until(&mut dropped, released);
        if !go || dropped >= windows {
            return;
        }
    }
}

/// Drop `len` bytes from `start` from the mapping (`MADV_DONTNEED`): they no longer count
/// in resident memory; a later read maps them again from the page cache or the file.
fn release(map: &Mmap, start: usize, len: usize) {
    // SAFETY: MADV_DONTNEED on a read-only, file-backed mapping only drops pages the
    // kernel re-reads from the file on the next access; nothing is written through this
    // map, so no data can be lost.
    #[allow(unsafe_code)]
    unsafe {
        let _ = map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, len);
    }
}

/// Whether transparent huge pages can back file mappings on `madvise` (unless disabled).
#[cfg(target_os = "linux")]
fn transparent_huge_pages() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|s| !s.contains("[never]"))
}

/// Hash and scan one file through the map it was validated with. `tensors` are (index
/// into the output, tensor) for this file.
fn verify_file(
    map: &Mmap,
    data_start: u64,
    tensors: &[(usize, &Classified)],
    plan: Option<&crate::format::gguf::ScanPlan>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<FileScan> {
    let _ = map.advise(Advice::Sequential);
    // Offsets were validated against this map's length in checkpoint::parse and again in
    // `mapped`, so they fit in usize and inside the map.
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let data_start = to_usize(data_start);
    let swap = plan.is_some_and(|p| p.big_endian);
    let mut pieces = Vec::new();
    for &(i, t) in tensors {
        // Block-quantized tensors are hashed, not scanned; so are packed quantized
        // weights (several weights per stored element: their words are not values).
        let dtype = t
            .tensor
            .dtype
            .st()
            .filter(|_| t.tensor.stored_elements == t.tensor.elements);
        let ranges = stored_ranges(t.tensor.data_offsets, dtype, plan);
        for (s, e, dtype) in ranges {
            let width = dtype.and_then(scan::scanned_width);
            let (s, e) = (data_start + to_usize(s), data_start + to_usize(e));
            let step = width.map_or(e - s, |w| (PIECE / w).max(1) * w).max(1);
            let mut at = s;
            while at < e {
                let end = (at + step).min(e);
                pieces.push(Piece {
                    tensor: i,
                    dtype,
                    start: at,
                    end,
                    swap,
                });
                at = end;
            }
        }
    }
    pieces.sort_by_key(|p| p.start);
    let mut hasher = sha2::Sha256::new();
    let mut results = Vec::with_capacity(pieces.len());
    let mut next = 0;
    let len = map.len();
    let windows = len.div_ceil(WINDOW);
    let ahead = Ahead::default();
    std::thread::scope(|s| {
        // Maps the windows ahead of the one being hashed and releases the ones done (see
        // the module docs). Without it (no thread to be had), this thread's own page
        // faults map each window and it releases them itself.
        let prefetching = std::thread::Builder::new()
            .name("verify-prefetch".to_string())
            .spawn_scoped(s, || prefetch(map, windows, &ahead))
            .is_ok();
        if !prefetching {
            ahead.update(|s| s.mapped = usize::MAX);
        }
        // Tells the prefetcher to stop, even if this thread unwinds.
        let _stop = ahead.stop_on_drop();
        for w in 0..windows {
            let window_start = w * WINDOW;
            let window_end = (window_start + WINDOW).min(len);
            let first = next;
            while next < pieces.len() && pieces[next].start < window_end {
                next += 1;
            }
            let mine = &pieces[first..next];
            ahead.wait_mapped(w);
            let bytes = &map[window_start..window_end];
            let (_, scanned) = rayon::join(
                || hasher.update(bytes),
                || {
                    mine.par_iter()
                        .map(|p| {
                            let slice = &map[..][p.start..p.end];
                            (p.tensor, scan_piece(slice, p.dtype, p.swap))
                        })
                        .collect::<Vec<_>>()
                },
            );
            results.extend(scanned);
            // Pieces that started in this window may reach into the next one, which is
            // released only after its own step; this window's pages are no longer needed:
            // the prefetcher drops them from the mapping.
            if !prefetching {
                release(map, window_start, window_end - window_start);
            }
            ahead.released(w);
            progress((window_end - window_start) as u64);
        }
    });
    let digest = hasher.finalize();
    Ok(FileScan {
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        bytes: crate::count::len(len),
        partials: results,
    })
}

/// The blob name a cached snapshot file points to, when it is a sha256 (the LFS id).
pub fn cache_blob_sha256(path: &std::path::Path) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    let name = target.file_name()?.to_str()?;
    let in_blobs = target
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "blobs");
    (in_blobs && name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| name.to_ascii_lowercase())
}

/// Inputs of [`verify`].
pub struct Inputs<'a> {
    /// What the user asked for.
    pub spec: &'a str,
    /// The opened checkpoint (files).
    pub checkpoint: &'a Checkpoint,
    /// Classified tensors, sorted by name (their `file` indexes `checkpoint.files`).
    pub tensors: &'a [Classified],
    /// The family's norm, when known: what a trained norm weight's mean sits near.
    pub norm: Option<crate::family::Norm>,
    /// Expected sha256 by file name, with where it came from.
    pub expected: BTreeMap<String, (String, HashSource)>,
    /// Do not fail on NaN/Inf.
    pub allow_nonfinite: bool,
    /// Called with the number of bytes done after each window.
    pub progress: &'a (dyn Fn(u64) + Sync),
}

/// Verify a checkpoint: hash every file, scan every tensor.
pub fn verify(input: Inputs<'_>) -> Result<VerifyReport> {
    let Inputs {
        spec,
        checkpoint,
        tensors,
        norm,
        mut expected,
        allow_nonfinite,
        progress,
    } = input;
    for f in &checkpoint.files {
        crate::format::pytorch::check_verifiable(f)?;
    }
    let maps = checkpoint
        .files
        .iter()
        .map(|f| mapped(spec, f))
        .collect::<Result<Vec<_>>>()?;
    let mut floats: Vec<Acc> = vec![Acc::default(); tensors.len()];
    let mut ints: Vec<Option<IntRange>> = vec![None; tensors.len()];
    let mut scanned = vec![false; tensors.len()];
    let mut files = Vec::new();
    let mut total = 0u64;
    // Files are hashed concurrently (each file's hash is one sequential stream): on N
    // cores, N shards at a time.
    let scans: Vec<Result<FileScan>> = checkpoint
        .files
        .par_iter()
        .zip(&maps)
        .enumerate()
        .map(|(fi, (f, map))| {
            let mine: Vec<(usize, &Classified)> = tensors
                .iter()
                .enumerate()
                .filter(|(_, t)| t.tensor.file == fi)
                .collect();
            let plan = scan_plan(f, map)?;
            verify_file(map, f.data_start, &mine, plan.as_ref(), progress)
        })
        .collect();
    for (f, scan) in checkpoint.files.iter().zip(scans) {
        let FileScan {
            sha256,
            bytes,
            partials,
        } = scan?;
        // Bytes actually read: bounded by real file sizes.
        total = total.saturating_add(bytes);
        for (i, p) in partials {
            match p {
                Partial::Float(a) => {
                    floats[i].merge(&a);
                    scanned[i] = true;
                }
                Partial::Int(r) => {
                    match &mut ints[i] {
                        Some(x) => x.merge(&r),
                        None => ints[i] = Some(r),
                    }
                    scanned[i] = true;
                }
                Partial::Skipped => {}
            }
        }
        let name = crate::source::file_name(&f.path);
        let (want, from) = match expected.remove(&name) {
            Some((h, s)) => (Some(h.to_ascii_lowercase()), Some(s)),
            None => match cache_blob_sha256(&f.path) {
                Some(h) => (Some(h), Some(HashSource::HubCache)),
                None => (None, None),
            },
        };
        files.push(FileIntegrity {
            path: f.path.display().to_string(),
            format: f.format.to_string(),
            bytes,
            matches: want.as_ref().map(|w| *w == sha256),
            sha256,
            expected: want,
            expected_from: from,
        });
    }
    if let Some((name, _)) = expected.into_iter().next() {
        return Err(Error::Usage(format!(
            "a sha256 is expected for `{name}`, which is not a file of {spec}"
        )));
    }
    let mut stats = Vec::with_capacity(tensors.len());
    let mut flags = Vec::new();
    let mut buckets: BTreeMap<Bucket, BucketStats> = Bucket::ALL
        .iter()
        .map(|&b| (b, BucketStats::default()))
        .collect();
    for (i, t) in tensors.iter().enumerate() {
        let a = &floats[i];
        let int = ints[i];
        let name = t.tensor.name.clone();
        let (min, max, mean, std, zeros) = match int {
            Some(r) => (int_number(r.min), int_number(r.max), None, None, r.zeros),
            None if a.finite > 0 => (number(a.min), number(a.max), Some(a.mean), a.std(), a.zeros),
            None => (None, None, None, None, a.zeros),
        };
        let s = TensorStats {
            name: name.clone(),
            bucket: t.class.bucket,
            dtype: t.tensor.dtype.to_string(),
            elements: t.tensor.elements,
            scanned: scanned[i] || t.tensor.elements == 0,
            nan: a.nan,
            pos_inf: a.pos_inf,
            neg_inf: a.neg_inf,
            zeros,
            subnormals: a.subnormals,
            min,
            max,
            mean,
            std,
        };
        let b = buckets.entry(t.class.bucket).or_default();
        // Counts of values actually read: bounded by the bytes of real files.
        b.tensors = b.tensors.saturating_add(1);
        b.elements = b.elements.saturating_add(s.elements);
        b.nan = b.nan.saturating_add(s.nan);
        b.inf = b.inf.saturating_add(s.pos_inf.saturating_add(s.neg_inf));
        b.zeros = b.zeros.saturating_add(s.zeros);
        b.subnormals = b.subnormals.saturating_add(s.subnormals);
        let n = s.elements;
        let mut flag = |problem, detail: String| {
            flags.push(Flag {
                tensor: name.clone(),
                problem,
                detail,
            })
        };
        if n > 0 && s.nan == n {
            flag(Problem::AllNan, format!("all {n} values are NaN"));
        } else if s.nan > 0 || s.pos_inf > 0 || s.neg_inf > 0 {
            flag(
                Problem::NonFinite,
                format!(
                    "{} NaN, {} +Inf, {} -Inf of {n}",
                    s.nan, s.pos_inf, s.neg_inf
                ),
            );
        }
        // Quantization overhead of zeros is normal (a format code 0, zero points of 0).
        if n > 0 && s.scanned && s.zeros == n && t.class.role != Role::Overhead {
            flag(Problem::AllZero, format!("all {n} values are zero"));
        }
        // A norm weight (gamma) of a family whose norm weights sit near a known value.
        let centre = norm
            .filter(|_| t.class.bucket == Bucket::Norm && t.class.role == Role::Weight)
            .map(|n| n.weight_centre());
        if let (Some(c), Some(m)) = (centre, s.mean) {
            if !(GAMMA_RANGE.0..=GAMMA_RANGE.1).contains(&(m - c)) && s.zeros != n {
                flag(
                    Problem::GammaFarFromOne,
                    format!("norm weight mean {m:.4}, expected near {c}"),
                );
            }
        }
        if t.class.bucket == Bucket::Embedding && s.std == Some(0.0) && n > 1 && s.zeros != n {
            flag(
                Problem::ConstantEmbedding,
                "every value of the embedding table is the same".to_string(),
            );
        }
        stats.push(s);
    }
    // NaN inside an all-NaN tensor is non-finite too.
    let nonfinite = flags
        .iter()
        .any(|f| matches!(f.problem, Problem::NonFinite | Problem::AllNan));
    let hashes_ok = files.iter().all(|f| f.matches != Some(false));
    Ok(VerifyReport {
        schema_version: crate::reconcile::SCHEMA_VERSION,
        spec: spec.to_string(),
        passed: hashes_ok && (allow_nonfinite || !nonfinite),
        allow_nonfinite,
        bytes: total,
        files,
        buckets,
        flags,
        tensors: stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::open_file;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/tiny")
            .join(name)
            .join("model.safetensors")
    }

    fn run(checkpoint: &Checkpoint, tensors: &[Classified]) -> Result<VerifyReport> {
        verify(Inputs {
            spec: "m",
            checkpoint,
            tensors,
            norm: None,
            expected: BTreeMap::new(),
            allow_nonfinite: false,
            progress: &|_| {},
        })
    }

    /// The file is mapped once, when the checkpoint is opened: replacing the path by a
    /// shorter file afterwards changes nothing (a second open sliced the new, shorter
    /// file with the old offsets and panicked).
    #[test]
    fn verify_reads_the_map_it_validated_even_when_the_path_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("model.safetensors");
        std::fs::copy(fixture("bert-model"), &path).unwrap();
        let original = crate::hash::sha256_file(&path).unwrap();
        let resolved = crate::source::local::resolve(&path, None).unwrap();
        let opened = crate::open_classified(&resolved, &Default::default()).unwrap();
        let (checkpoint, tensors) = (opened.checkpoint, opened.tensors);
        let other = tmp.path().join("short");
        std::fs::write(&other, b"12345678").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let report = run(&checkpoint, &tensors).unwrap();
        assert_eq!(report.files[0].sha256, original);
        assert_eq!(report.bytes, 55_832);
    }

    /// A file of several windows (tensors crossing window boundaries, a NaN in the last
    /// value of a window): the sha256 of every byte, and the statistics a single scan of
    /// each tensor gives, whatever the prefetcher's pace.
    #[test]
    fn a_file_of_many_windows_is_hashed_and_scanned_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("model.safetensors");
        // 4.5 windows of F32 in two tensors, and a small I64 tensor after them.
        let a_len = WINDOW * 3 / 4 + 12;
        let b_len = WINDOW * 4 - a_len + WINDOW / 2;
        let values = |n: usize, seed: u32| -> Vec<u8> {
            (0..n as u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 10_007) as f32 / 7.0 - 700.0)
                .flat_map(f32::to_le_bytes)
                .collect()
        };
        let a = values(a_len / 4, 1);
        let mut b = values(b_len / 4, 2);
        let header = format!(
            r#"{{"a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{a_len}]}},"b":{{"dtype":"F32","shape":[{}],"data_offsets":[{a_len},{}]}},"c":{{"dtype":"I64","shape":[2],"data_offsets":[{},{}]}}}}"#,
            a_len / 4,
            b_len / 4,
            a_len + b_len,
            a_len + b_len,
            a_len + b_len + 16
        );
        let mut header = header.into_bytes();
        while (header.len() + 8) % 8 != 0 {
            header.push(b' ');
        }
        let data_start = 8 + header.len();
        // The last F32 value of the second window is a NaN.
        let at = 2 * WINDOW - 4 - data_start - a_len;
        b[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&a);
        bytes.extend_from_slice(&b);
        bytes.extend_from_slice(&[-5i64, 9].map(i64::to_le_bytes).concat());
        std::fs::write(&path, &bytes).unwrap();
        assert!(bytes.len() > 4 * WINDOW, "several windows");
        let resolved = crate::source::local::resolve(&path, None).unwrap();
        let opened = crate::open_classified(&resolved, &Default::default()).unwrap();
        let report = run(&opened.checkpoint, &opened.tensors).unwrap();
        assert_eq!(
            report.files[0].sha256,
            crate::hash::sha256_file(&path).unwrap()
        );
        assert_eq!(report.bytes, bytes.len() as u64);
        for (name, data, nan) in [("a", &a, 0), ("b", &b, 1)] {
            let t = report.tensors.iter().find(|t| t.name == name).unwrap();
            let whole = scan::scan_float(data, Dtype::F32).unwrap();
            assert_eq!(
                (t.elements, t.nan, t.zeros),
                (whole.elements, nan, whole.zeros)
            );
            assert_eq!(
                (
                    t.min.as_ref().and_then(|m| m.as_f64()),
                    t.max.as_ref().and_then(|m| m.as_f64())
                ),
                (Some(whole.min), Some(whole.max))
            );
            let (mean, std) = (t.mean.unwrap(), t.std.unwrap());
            assert!(
                (mean - whole.mean).abs() < 1e-9 * whole.mean.abs().max(1.0),
                "{name}"
            );
            assert!((std - whole.std().unwrap()).abs() < 1e-9 * std, "{name}");
        }
        let c = report.tensors.iter().find(|t| t.name == "c").unwrap();
        assert_eq!(
            (
                c.min.as_ref().and_then(|m| m.as_i64()),
                c.max.as_ref().and_then(|m| m.as_i64())
            ),
            (Some(-5), Some(9))
        );
    }

    /// A map shorter than the header promised is an error (exit 2), never a read past it.
    #[test]
    fn a_map_that_disagrees_with_its_header_is_refused() {
        let (info, tensors) = open_file(&fixture("bert-model"), 0).unwrap();
        let (small, _) = open_file(&fixture("bert-model-no-pooler"), 0).unwrap();
        let checkpoint = Checkpoint {
            files: vec![FileInfo {
                mapped: small.mapped,
                ..info
            }],
            tensors: Vec::new(),
            index: None,
            warnings: Vec::new(),
            header_only: false,
        };
        let tensors = crate::classify::classify(tensors, None);
        let e = run(&checkpoint, &tensors).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("but the header promised a 55832-byte file"),
            "{e}"
        );
    }
}
