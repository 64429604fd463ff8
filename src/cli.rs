//! The command line: argument parsing and the commands, each writing to an
//! injected writer so tests drive them without a process.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cfn::TemplateError;
use crate::chat::{self, StageName};

#[derive(Debug, Parser)]
#[command(
    name = "chatstack",
    version,
    about = "Ship a serverless WebSocket chat backend (API Gateway, Lambda, DynamoDB) on AWS",
    long_about = "Ship a serverless WebSocket chat backend on AWS.\n\n\
        chatstack describes the app of AWS's guide \"Building a serverless chat app with \
        WebSocket APIs, Lambda and DynamoDB\" as typed Rust, synthesizes its CloudFormation \
        template and drives the stack. Each stage (dev, prod, ...) is its own stack, \
        named chatstack-<stage>."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CloudFormation template of a stage. Needs no AWS account.
    #[command(
        after_help = "Examples:\n  chatstack synth\n  chatstack synth --stage prod --format json --output prod.json"
    )]
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Stage to describe: 1 to 128 letters, digits, '-' or '_'. It becomes the
    /// API Gateway stage (the last part of the wss:// URL) and names the stack
    /// (chatstack-<stage>).
    #[arg(long, default_value = "dev", value_parser = clap::builder::ValueParser::new(parse_stage))]
    pub stage: StageName,

    /// Template format. Both are accepted by CloudFormation.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Write the template to FILE instead of standard output. The file is
    /// replaced only once the whole template is written.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_stage(value: &str) -> Result<StageName, chat::StageNameError> {
    value.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("could not build the template: {0}")]
    Template(#[from] TemplateError),
    #[error("could not serialize the template: {0}")]
    Serialize(String),
    #[error("could not write {path}: {source}")]
    WriteFile { path: PathBuf, source: io::Error },
    #[error("could not write to standard output: {0}")]
    Stdout(#[source] io::Error),
}

/// Runs one command; everything meant for the user goes to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(args) => synth(&args, out),
    }
}

/// The template of `stage` as text in `format`.
pub fn render(stage: &StageName, format: Format) -> Result<String, CliError> {
    let template = chat::template(stage)?;
    match format {
        Format::Json => template
            .to_json()
            .map_err(|e| CliError::Serialize(e.to_string())),
        Format::Yaml => template
            .to_yaml()
            .map_err(|e| CliError::Serialize(e.to_string())),
    }
}

fn synth(args: &SynthArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let text = render(&args.stage, args.format)?;
    match &args.output {
        Some(path) => write_replacing(path, &text),
        None => out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(CliError::Stdout),
    }
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`, so a failure never leaves a truncated template behind.
fn write_replacing(path: &Path, text: &str) -> Result<(), CliError> {
    let error = |source| CliError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = path.with_file_name(temp_name);
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&temp);
            error(source)
        })
}
