use std::io::{self, ErrorKind};
use std::process::ExitCode;

use clap::Parser;

use chatstack::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`chatstack synth | head`): nothing to report.
        Err(CliError::Stdout(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        // diff --exit-code: the changes are shown; the status says there are some.
        Err(CliError::ChangesPending) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
