//! The command line: one module per command, each a clap `Args` type that
//! [`Execute`]s with everything meant for the user written to an injected
//! writer, so tests drive the commands without a process. A new command is
//! a new module and a line in [`Command`] and in [`run`].

mod aws;
mod chat;
mod cost;
mod deploy;
mod deployer_policy;
mod destroy;
mod diff;
mod local;
mod logs;
mod notify;
mod output;
mod status;
mod synth;
mod token;
mod users;
mod web;

use std::io::{self, Write};

use clap::{Parser, Subcommand};

pub use chat::ChatArgs;
pub use cost::CostArgs;
pub use deploy::{DeployArgs, outputs_json};
pub use deployer_policy::DeployerPolicyArgs;
pub use destroy::DestroyArgs;
pub use diff::DiffArgs;
pub use local::LocalArgs;
pub use logs::LogsArgs;
pub use notify::NotifyArgs;
pub use status::StatusArgs;
pub use synth::{Format, SynthArgs, render};
pub use token::TokenArgs;
pub use users::UsersArgs;
pub use web::WebArgs;

use crate::cfn::TemplateError;
use crate::deploy::DeployError;

#[derive(Debug, Parser)]
#[command(
    name = "chatstack",
    version,
    about = "Ship a serverless WebSocket chat backend (API Gateway, Lambda, DynamoDB) on AWS",
    long_about = "Ship a serverless WebSocket chat backend on AWS.\n\n\
        chatstack describes the app of AWS's guide \"Building a serverless chat app with \
        WebSocket APIs, Lambda and DynamoDB\" as typed Rust, synthesizes its CloudFormation \
        template and drives the stack. Each stage (dev, prod, ...) is its own stack, \
        named chatstack-<stage>.",
    arg_required_else_help = true,
    after_help = "Start here:\n  \
        chatstack synth                   the CloudFormation template of stage dev, no AWS account needed\n  \
        chatstack local                   the whole app on your machine; then open the printed chat page\n  \
        chatstack deploy --stage dev      the stage in your AWS account\n\n\
        chatstack <command> --help tells more about each."
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
    #[command(after_help = "Examples:\n  chatstack diff --stage prod\n  \
        chatstack diff --stage prod --exit-code   # in CI: 2 when a deploy would change something")]
    Diff(DiffArgs),

    /// Print the IAM policy (JSON) a user or role needs to run deploy,
    /// diff and destroy of chatstack stages in an account: chatstack's own
    /// calls, and what CloudFormation does with your credentials to create
    /// each resource, scoped to chatstack-named resources where AWS allows.
    #[command(
        name = "deployer-policy",
        after_help = "Examples:\n  chatstack deployer-policy > chatstack-deployer.json\n  \
        aws iam create-policy --policy-name chatstack-deployer --policy-document file://chatstack-deployer.json"
    )]
    DeployerPolicy(DeployerPolicyArgs),

    /// Delete the stage's stack and everything in it (API, functions, table,
    /// log groups). The assets bucket, shared by all stages, stays.
    #[command(after_help = "Examples:\n  chatstack destroy --stage dev\n  \
        chatstack destroy --stage ci --yes --region eu-west-1")]
    Destroy(DestroyArgs),

    /// Run the whole app on localhost from the synthesized template: a
    /// WebSocket gateway, the real handler binaries and DynamoDB (moto).
    #[command(after_help = "Examples:\n  chatstack local\n  \
        chatstack local --port 9000 --dynamodb-endpoint http://localhost:8000\n\n\
        Then, in other terminals: chatstack chat ws://127.0.0.1:8080/dev")]
    Local(LocalArgs),

    /// Show a stage's function logs (or a local run's): every function's
    /// events merged in time order, one readable line each.
    #[command(after_help = "Examples:\n  chatstack logs --stage dev\n  \
        chatstack logs --stage prod --function sendmessage --since 1h --filter ERROR\n  \
        chatstack logs --stage dev --follow\n  \
        chatstack logs --stage dev --start 2026-11-23T21:00:00Z --end 2026-11-23T21:15:00Z --json\n  \
        chatstack logs --stage prod --access --since 15m   # API Gateway's access log\n  \
        chatstack logs --local --since 1m\n\n\
        Reading a stage's logs needs cloudformation:ListStackResources on its stack and \
        logs:FilterLogEvents on its log groups (/aws/lambda/chatstack-<stage>-*, and \
        /aws/apigateway/chatstack-<stage>/access for --access). Times are UTC.")]
    Logs(LogsArgs),

    /// Push a message to a stage's connected clients (all, those named with
    /// --to, or a room's members with --room) through its notify endpoint,
    /// signed with your AWS credentials. The stage needs `notify = true` in
    /// chatstack.toml.
    #[command(
        override_usage = "chatstack notify (--stage S | --url URL) [--to CONNECTION_ID... | --room NAME] [--region R] [--profile P] TEXT",
        after_help = "Examples:\n  chatstack notify --stage prod \"Maintenance at 18:00 UTC\"\n  \
        chatstack notify --stage dev --to Bc2dEeXyIAMCJcw= \"just for you\"\n  \
        chatstack notify --stage dev --room ops \"deploy at 17:00\"\n  \
        chatstack notify --url http://127.0.0.1:PORT/notify \"hello from local\"\n\n\
        Your credentials need execute-api:Invoke on the stack's NotifyRouteArn output; \
        a stage's URL is read with cloudformation:DescribeStacks."
    )]
    Notify(NotifyArgs),

    /// A stage on one screen: the stack's status and outputs, alarms and
    /// their state, the last hour's connections, messages and errors, the
    /// fan-out backlog and dead letters, the last errors logged. Each part
    /// it may not read is said in its place.
    #[command(
        override_usage = "chatstack status (--stage S | --local [DIR]) [--json] [--region R] [--profile P]",
        after_help = "Examples:\n  chatstack status --stage prod\n  \
        chatstack status --stage prod --json | jq .lastHour\n  \
        chatstack status --local\n\n\
        Needs cloudformation:DescribeStacks and cloudformation:ListStackResources on the stack, \
        cloudwatch:DescribeAlarms and cloudwatch:GetMetricData, sqs:GetQueueAttributes on the \
        fan-out queues, and logs:FilterLogEvents on the functions' log groups."
    )]
    Status(StatusArgs),

    /// Estimate what a stage costs a month: from its metrics (--stage), or
    /// from a month you describe (--connections, --messages, --room-size,
    /// ...), priced with the published prices it names and dates.
    #[command(
        override_usage = "chatstack cost (--stage S [--days 7] | --connections N --messages N [--room-size 10] [--message-bytes 300] [--history] [--authorized]) [--minutes-per-connection 30] [--json]",
        after_help = "Examples:\n  chatstack cost --stage prod\n  \
        chatstack cost --connections 100000 --messages 2000000 --room-size 25 --minutes-per-connection 45\n\n\
        With --stage it reads the stage's metrics (cloudformation:DescribeStacks, \
        cloudformation:ListStackResources, cloudwatch:GetMetricData). It counts what grows with \
        use (API Gateway messages in 32 KB units and connection minutes, Lambda arm64, DynamoDB \
        on-demand, SQS FIFO) and says what it leaves out."
    )]
    Cost(CostArgs),

    /// Print a connection token for a stage that requires one: minted with
    /// its secret (`authorization = true`), or an ID token of its own user
    /// pool (`cognito = true`), for which the user's password is asked.
    /// Clients send it in Sec-WebSocket-Protocol (chatstack chat --token
    /// does) or as ?token=...
    #[command(
        override_usage = "chatstack token (--stage S | --local [DIR] | --secret-file F) --user NAME [--ttl 12h] [--region R] [--profile P]",
        after_help = "Examples:\n  chatstack token --stage prod --user alice\n  \
        chatstack token --stage dev --user bob --ttl 30m\n  \
        chatstack token --local --user carol\n  \
        chatstack token --secret-file /tmp/chatstack-local-5f0c2a9e81d34b17/token-secret --user carol\n\n\
        A stage's outputs are read with cloudformation:DescribeStacks; minting reads its secret \
        (secretsmanager:GetSecretValue on the TokenSecretArn output); signing in to its pool \
        needs no AWS permission, only the user's password."
    )]
    Token(TokenArgs),

    /// Manage the users of a stage's own Cognito user pool (`cognito =
    /// true`), or of a local run's: add (asks for a password), remove, list.
    #[command(after_help = "Examples:\n  chatstack users add alice --stage prod\n  \
        chatstack users list --stage prod\n  \
        chatstack users remove alice --stage prod\n  \
        chatstack users add alice --local            # the latest chatstack local run's pool\n  \
        printf '%s\\n' \"$PASSWORD\" | chatstack users add bob --stage dev   # password from standard input\n\n\
        Needs cloudformation:DescribeStacks on the stack and, on the pool of its UserPoolId \
        output, cognito-idp:AdminCreateUser and cognito-idp:AdminSetUserPassword (add), \
        cognito-idp:AdminDeleteUser (remove), cognito-idp:ListUsers (list).")]
    Users(UsersArgs),

    /// Serve the chat page on localhost for a deployed stage: chat from a
    /// browser without hosting anything.
    #[command(
        after_help = "Examples:\n  chatstack web --stage prod\n  chatstack web --stage dev --port 9000\n\n\
        The page also works with any stage through ?url=wss://...; chatstack local \
        serves it for the local stage."
    )]
    Web(WebArgs),

    /// A terminal chat client: each line you type goes to the room you are
    /// talking in; what arrives is printed, other rooms' marked [#room].
    ///
    /// It speaks the chatstack.v1 protocol; against a stage deployed
    /// before rooms (or with --raw) it talks as the guide's wscat does.
    #[command(
        after_help = "Commands (in the chat):\n  /join ROOM     join a room, or switch to one you are in\n  \
        /leave [ROOM]  leave it (default: the room you talk in)\n  \
        /who [ROOM]    who is there\n  \
        //text         send a line that begins with /\n\n\
        Examples:\n  chatstack chat ws://127.0.0.1:8080/dev\n  \
        chatstack chat ws://127.0.0.1:8080/dev --room ops\n  \
        chatstack chat wss://abc123.execute-api.eu-west-1.amazonaws.com/dev"
    )]
    Chat(ChatArgs),
}

/// A command: its parsed arguments, run.
pub trait Execute {
    /// Runs the command; everything meant for the user goes to `out`.
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError>;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("could not build the template: {0}")]
    Template(#[from] TemplateError),
    #[error("could not serialize the template: {0}")]
    Serialize(String),
    #[error("could not write {path}: {source}")]
    WriteFile {
        path: std::path::PathBuf,
        source: io::Error,
    },
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
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error(transparent)]
    Token(#[from] crate::tokens::TokenCommandError),
    #[error(transparent)]
    Users(#[from] crate::users::UsersError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error(transparent)]
    Logs(#[from] crate::logs::LogsError),
    /// `diff --exit-code` found changes: not a failure, a status.
    #[error("a deploy would change the stack")]
    ChangesPending,
}

/// `--config`: where the stage settings are.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// The stage settings file (default: chatstack.toml here, if it exists;
    /// see the README's "Stage settings").
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
}

impl SettingsArgs {
    /// The settings of `stage`, read and checked before anything else runs.
    pub fn stage(
        &self,
        stage: &crate::chat::StageName,
    ) -> Result<crate::settings::StageSettings, CliError> {
        Ok(crate::settings::Settings::load(self.config.as_deref())?.stage(stage))
    }
}

/// Runs one command; everything meant for the user goes to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Synth(args) => args.execute(out),
        Command::Deploy(args) => args.execute(out),
        Command::Diff(args) => args.execute(out),
        Command::DeployerPolicy(args) => args.execute(out),
        Command::Destroy(args) => args.execute(out),
        Command::Local(args) => args.execute(out),
        Command::Logs(args) => args.execute(out),
        Command::Chat(args) => args.execute(out),
        Command::Cost(args) => args.execute(out),
        Command::Notify(args) => args.execute(out),
        Command::Status(args) => args.execute(out),
        Command::Token(args) => args.execute(out),
        Command::Users(args) => args.execute(out),
        Command::Web(args) => args.execute(out),
    }
}

/// The exit status of a command's `result`, its error written to `err`: 0
/// done (also when the reader of the output went away, as in
/// `chatstack synth | head`), 2 when `diff --exit-code` found changes, 1
/// for any error.
pub fn exit_status(result: Result<(), CliError>, err: &mut dyn Write) -> u8 {
    match result {
        Ok(()) => 0,
        Err(CliError::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(CliError::ChangesPending) => 2,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

/// Runs the command line `args` (the program's name first) as the binary
/// does, in this process: what is meant for the user, `--help` included,
/// goes to `out`; errors, and clap's refusals of bad arguments (status 2),
/// to `err`. Returns the exit status. The tests run commands through it.
pub fn run_from<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match Cli::try_parse_from(args) {
        Ok(cli) => exit_status(run(cli, out), err),
        Err(refusal) => {
            let text = refusal.render().to_string();
            let _ = if refusal.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            u8::try_from(refusal.exit_code()).unwrap_or(2)
        }
    }
}

/// `value` as pretty JSON, one document, for scripts.
fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::Serialize(e.to_string()))?;
    writeln!(out, "{text}").map_err(CliError::Stdout)
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Runs an async command to completion on a runtime of its own.
fn block_on<T, F: std::future::Future<Output = Result<T, CliError>>>(
    future: F,
) -> Result<T, CliError> {
    tokio::runtime::Runtime::new()
        .map_err(CliError::Runtime)?
        .block_on(future)
}
