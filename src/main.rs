//! The `paramaudit` binary: parse, run, map the result to an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use paramaudit::{app, cli::Cli, Error};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = app::run(cli, &mut out, &mut io::stderr())
        .and_then(|code| out.flush().map(|_| code).map_err(Error::Output));
    match result {
        Ok(code) => ExitCode::from(code),
        // `paramaudit ... | head` closes the pipe early: not an error.
        Err(Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paramaudit: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
