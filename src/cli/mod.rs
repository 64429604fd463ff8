//! The command line: argument parsing and the commands, each writing to an
//! injected writer so tests drive them without a process.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cfn::TemplateError;
use crate::chat::{self, StageName};
use crate::deploy::assets::default_assets_dir;
use crate::deploy::aws::{AwsCloud, AwsOptions, load_config};
use crate::deploy::ui::{Approval, Interrupts, Ui, write_outputs};
use crate::deploy::{Assets, DeployError, Deployer, Poll, deploy_stage, diff_stage};

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

    /// Build the Lambda zips, upload them and create or update the stage's
    /// stack (chatstack-<stage>) through a change set you approve.
    #[command(after_help = "Examples:\n  chatstack deploy --stage dev\n  \
        chatstack deploy --stage ci --yes --no-build --outputs-file outputs.json\n\n\
        AWS settings come from --region/--profile, the AWS_* environment variables \
        (AWS_ENDPOINT_URL included) and your AWS config files.")]
    Deploy(DeployArgs),

    /// Show what a deploy of the stage would change, executing nothing.
    Diff(DiffArgs),

    /// Delete the stage's stack and everything in it (API, functions, table,
    /// log groups). The assets bucket, shared by all stages, stays.
    Destroy(DestroyArgs),

    /// Run the whole app on localhost from the synthesized template: a
    /// WebSocket gateway, the real handler binaries and DynamoDB (moto).
    #[command(after_help = "Examples:\n  chatstack local\n  \
        chatstack local --port 9000 --dynamodb-endpoint http://localhost:8000\n\n\
        Then, in other terminals: chatstack chat ws://127.0.0.1:8080/dev")]
    Local(LocalArgs),

    /// A terminal chat client: each line you type is sent as
    /// {"action":"sendmessage","data":LINE}; what arrives is printed.
    #[command(after_help = "Examples:\n  chatstack chat ws://127.0.0.1:8080/dev\n  \
        chatstack chat wss://abc123.execute-api.eu-west-1.amazonaws.com/dev")]
    Chat(ChatArgs),
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Stage to run; clients connect at ws://127.0.0.1:PORT/STAGE.
    #[arg(long, default_value = "dev")]
    pub stage: StageName,
    /// Port of the WebSocket gateway and management API (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Use this DynamoDB endpoint (DynamoDB Local, AWS) instead of starting
    /// moto_server (which must then be on PATH: pip install 'moto[server]').
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// Use the handler binaries already built instead of running cargo build.
    #[arg(long)]
    pub no_build: bool,
    /// The handlers workspace.
    #[arg(long, value_name = "DIR", default_value = "handlers")]
    pub handlers_dir: PathBuf,
    /// Seconds without a message before a connection is closed (API Gateway: 600).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub idle_timeout: u64,
    /// Seconds a connection may last (API Gateway: 7200).
    #[arg(long, value_name = "SECONDS", default_value_t = 7200)]
    pub max_lifetime: u64,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// ws:// or wss:// URL of a stage (printed by `local` and `deploy`).
    pub url: String,
    /// Send each line exactly as typed (for other routes or your own JSON).
    #[arg(long)]
    pub raw: bool,
}

/// The AWS account and region to work in.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: AWS_REGION or your profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Named profile from your AWS config files (default: AWS_PROFILE or "default").
    #[arg(long)]
    pub profile: Option<String>,
}

/// Where the functions' zips come from.
#[derive(Debug, Args)]
pub struct AssetArgs {
    /// Use the zips already built instead of running handlers/build.sh first.
    #[arg(long)]
    pub no_build: bool,
    /// The handlers workspace (holds build.sh).
    #[arg(long, value_name = "DIR", default_value = "handlers")]
    pub handlers_dir: PathBuf,
    /// Directory holding <function>/bootstrap.zip (default: the handlers'
    /// target/lambda, or $CARGO_TARGET_DIR/lambda).
    #[arg(long, value_name = "DIR")]
    pub assets_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Stage to deploy; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    /// Approve the changes without asking (needed when there is no terminal).
    #[arg(long, short)]
    pub yes: bool,
    /// Also write the stack's outputs to FILE as a JSON object.
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
    #[command(flatten)]
    pub assets: AssetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Stage to compare; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    #[command(flatten)]
    pub assets: AssetArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Stage to delete; its stack is chatstack-<stage>.
    #[arg(long)]
    pub stage: StageName,
    /// Delete without asking (needed when there is no terminal).
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Stage to describe: 1 to 128 letters, digits, '-' or '_'. It becomes the
    /// API Gateway stage (the last part of the wss:// URL) and names the stack
    /// (chatstack-<stage>).
    #[arg(long, default_value = "dev")]
    pub stage: StageName,

    /// Template format. Both are accepted by CloudFormation.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,

    /// Write the template to FILE instead of standard output. The file is
    /// replaced only once the whole template is written.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
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
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Local(#[from] crate::local::LocalError),
    #[error(transparent)]
    Chat(#[from] crate::client::ClientError),
    #[error("could not start the async runtime: {0}")]
    Runtime(#[source] io::Error),
}

/// Runs one command; everything meant for the user goes to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(args) => synth(&args, out),
        Command::Deploy(args) => block_on(deploy(args, out)),
        Command::Diff(args) => block_on(diff(args, out)),
        Command::Destroy(args) => block_on(destroy(args, out)),
        Command::Local(args) => block_on(local(args, out)),
        Command::Chat(args) => block_on(async {
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            crate::client::run_chat(&args.url, args.raw, stdin, out).await?;
            Ok(())
        }),
    }
}

fn block_on<F: std::future::Future<Output = Result<(), CliError>>>(
    future: F,
) -> Result<(), CliError> {
    tokio::runtime::Runtime::new()
        .map_err(CliError::Runtime)?
        .block_on(future)
}

/// Forwards the first Ctrl-C to the running operation; the second exits.
fn interrupts() -> Interrupts {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        let _ = sender.send(());
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Interrupted again: exiting; the stack operation goes on in CloudFormation.");
            std::process::exit(130);
        }
    });
    Interrupts(receiver)
}

/// `--yes`, or ask on the terminal, or refuse when there is none.
fn approval(yes: bool) -> Approval {
    if yes {
        Approval::Yes
    } else if io::stdin().is_terminal() {
        Approval::Ask(Box::new(|question| {
            eprint!("{question} [y/N] ");
            io::stderr().flush()?;
            let mut answer = String::new();
            io::stdin().read_line(&mut answer)?;
            Ok(matches!(
                answer.trim().to_ascii_lowercase().as_str(),
                "y" | "yes"
            ))
        }))
    } else {
        Approval::NoTerminal
    }
}

async fn aws_cloud(args: &AwsArgs) -> Result<AwsCloud, CliError> {
    let options = AwsOptions {
        region: args.region.clone(),
        profile: args.profile.clone(),
    };
    let config = load_config(&options).await.map_err(DeployError::from)?;
    Ok(AwsCloud::new(&config))
}

fn assets(args: &AssetArgs) -> Assets {
    Assets {
        build: !args.no_build,
        dir: args
            .assets_dir
            .clone()
            .unwrap_or_else(|| default_assets_dir(&args.handlers_dir)),
        handlers_dir: args.handlers_dir.clone(),
    }
}

/// A deployer that may change stacks: asks on a terminal (or `--yes`),
/// shows live progress there, and turns Ctrl-C into a cancel.
fn interactive_deployer<'a>(
    cloud: &'a AwsCloud,
    out: &'a mut dyn Write,
    yes: bool,
) -> Deployer<'a, AwsCloud> {
    Deployer {
        cloud,
        ui: Ui {
            out,
            approval: approval(yes),
            live: io::stderr().is_terminal(),
        },
        interrupts: interrupts(),
        poll: Poll::default(),
    }
}

async fn deploy(args: DeployArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let stack = args.stage.stack_name().map_err(DeployError::from)?;
    let cloud = aws_cloud(&args.aws).await?;
    let mut deployer = interactive_deployer(&cloud, out, args.yes);
    let deployed = deploy_stage(&mut deployer, &args.stage, &assets(&args.assets)).await?;
    write_outputs(deployer.ui.out, &stack, deployed.outputs()).map_err(CliError::Stdout)?;
    if let Some(path) = &args.outputs_file {
        write_replacing(path, &outputs_json(deployed.outputs()))?;
    }
    Ok(())
}

/// The stack's outputs as a JSON object, `{"WebSocketUrl": "wss://...", ...}`.
pub fn outputs_json(outputs: &[(String, String)]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|(key, value)| (key.clone(), serde_json::Value::from(value.as_str())))
        .collect();
    let mut text = serde_json::Value::Object(object).to_string();
    text.push('\n');
    text
}

async fn diff(args: DiffArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let cloud = aws_cloud(&args.aws).await?;
    let mut deployer = Deployer {
        cloud: &cloud,
        ui: Ui {
            out,
            approval: Approval::NoTerminal,
            live: false,
        },
        interrupts: Interrupts::none(),
        poll: Poll::default(),
    };
    diff_stage(&mut deployer, &args.stage, &assets(&args.assets)).await?;
    Ok(())
}

async fn destroy(args: DestroyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let stack = args.stage.stack_name().map_err(DeployError::from)?;
    let cloud = aws_cloud(&args.aws).await?;
    let mut deployer = interactive_deployer(&cloud, out, args.yes);
    deployer.destroy(&stack).await?;
    Ok(())
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

async fn local(args: LocalArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let options = crate::local::LocalOptions {
        stage: args.stage,
        port: args.port,
        dynamodb_endpoint: args.dynamodb_endpoint,
        build: !args.no_build,
        handlers_dir: args.handlers_dir,
        limits: crate::local::gateway::Limits {
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout),
            max_lifetime: std::time::Duration::from_secs(args.max_lifetime),
            ..Default::default()
        },
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    crate::local::run_local(options, out, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_file_is_a_json_object_of_the_outputs() {
        let text = outputs_json(&[
            ("WebSocketUrl".to_owned(), "wss://a/dev".to_owned()),
            ("ConnectionsTableName".to_owned(), "t\"x".to_owned()),
        ]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"WebSocketUrl": "wss://a/dev", "ConnectionsTableName": "t\"x"})
        );
        assert!(text.ends_with('\n'));
    }
}
