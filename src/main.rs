//! The `paramaudit` binary: parse, run, map the result to an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use paramaudit::{app, cli::Cli};

fn main() -> ExitCode {
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
