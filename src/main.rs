use std::io;
use std::process::ExitCode;

use clap::Parser;

use chatstack::cli::{self, Cli};

fn main() -> ExitCode {
    // clap prints its own refusals and help (in colour on a terminal).
    let cli = Cli::parse();
    let result = cli::run(cli, &mut io::stdout().lock());
    ExitCode::from(cli::exit_status(result, &mut io::stderr().lock()))
}
