//! The `paramaudit` binary: parse, run, map the result to an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use paramaudit::{app, cli::Cli};

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    let mut out = io::BufWriter::new(io::stdout().lock());
    let result = app::run(cli, &mut out, &mut io::stderr());
    let flushed = out.flush();
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paramaudit: error: {e}");
            e.exit_code()
        }
    };
    // A closed pipe (`| head`) ends the output early; it never changes the verdict.
    match flushed {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("paramaudit: error: writing the report: {e}");
            ExitCode::from(code.max(1))
        }
        _ => ExitCode::from(code),
    }
}

/// A run builds its tables (tensors, expected tensors, report rows) and frees most of them
/// before it ends. glibc's defaults give large blocks back to the system at once (`mmap`
/// above a threshold, the heap's top trimmed), so the next table faults its pages in again,
/// and a page fault costs microseconds (more in a virtual machine): on DeepSeek-V3's 163
/// shards that was a quarter of `inspect`'s time. Keep freed memory in the heap for reuse
/// instead; nothing is reserved that is not used (bench/inspect.sh measures it).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    const MIB: libc::c_int = 1 << 20;
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only sets allocator parameters; called first thing in `main`,
    // before any other thread exists. A refused value leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * MIB);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 * MIB);
        libc::mallopt(libc::M_TOP_PAD, 64 * MIB);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
