//! `chatstack users`: the users of a stage's own Cognito user pool
//! (`cognito = true`), or of a `chatstack local` run's pool.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on};
use crate::chat::StageName;
use crate::logs::local::latest_run_link;
use crate::users::{Password, PoolUserName, UserPool, UsersError};

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub action: UsersAction,
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Add a user with a password, asked for twice without echo (or read as
    /// one line of standard input when it is not a terminal). The pool
    /// takes at least 12 characters.
    Add {
        /// The user's name: their messages carry it.
        name: String,
        #[command(flatten)]
        pool: PoolArgs,
    },
    /// Remove a user. Tokens already issued stay valid until they expire
    /// (60 minutes at most), and open connections stay open.
    Remove {
        name: String,
        #[command(flatten)]
        pool: PoolArgs,
    },
    /// List the users: name, status, whether enabled, when created.
    List {
        #[command(flatten)]
        pool: PoolArgs,
    },
}

/// Which pool: a deployed stage's, or a local run's.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("pool").required(true).args(["stage", "local"])))]
pub struct PoolArgs {
    /// Stage whose user pool to use (its stack's UserPoolId output).
    #[arg(long)]
    pub stage: Option<StageName>,
    /// The pool of a `chatstack local` run instead: the latest run's, or
    /// that of the run in DIR (the directory local's banner shows).
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub local: Option<Option<PathBuf>>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl PoolArgs {
    pub(super) async fn pool(&self) -> Result<UserPool, CliError> {
        match (&self.local, &self.stage) {
            (Some(dir), _) => {
                let dir = dir.clone().unwrap_or_else(latest_run_link);
                Ok(UserPool::of_local_run(&dir).await?)
            }
            (None, Some(stage)) => {
                let config = self.aws.config().await?;
                let cloud = crate::deploy::aws::AwsCloud::new(&config);
                Ok(UserPool::of_stage(&config, &cloud, stage).await?)
            }
            // clap requires one of the two.
            (None, None) => Err(CliError::Usage("pass --stage NAME or --local".to_owned())),
        }
    }
}

impl Execute for UsersArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        match self.action {
            UsersAction::Add { name, pool } => {
                let user: PoolUserName = name.parse()?;
                let password = Password::new(read_password(
                    &format!("Password for {}: ", user.as_str()),
                    true,
                )?)?;
                block_on(async {
                    pool.pool().await?.add(&user, &password).await?;
                    Ok(())
                })?;
                writeln!(out, "Added {}.", user.as_str()).map_err(CliError::Stdout)
            }
            UsersAction::Remove { name, pool } => {
                let user: PoolUserName = name.parse()?;
                block_on(async {
                    pool.pool().await?.remove(&user).await?;
                    Ok(())
                })?;
                writeln!(out, "Removed {}.", user.as_str()).map_err(CliError::Stdout)
            }
            UsersAction::List { pool } => {
                let users = block_on(async { Ok(pool.pool().await?.list().await?) })?;
                for user in users {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        crate::terminal::visible(&user.name),
                        user.status,
                        if user.enabled { "enabled" } else { "disabled" },
                        user.created.as_deref().unwrap_or("-")
                    )
                    .map_err(CliError::Stdout)?;
                }
                Ok(())
            }
        }
    }
}

/// A password: asked for on the terminal without echo (twice when
/// `confirm`), or one line of standard input when that is not a terminal
/// (a pipe, a file). Never an argument, which other users can read.
pub(super) fn read_password(prompt: &str, confirm: bool) -> Result<String, UsersError> {
    let failed = |e: io::Error| UsersError::Password(e.to_string());
    if io::stdin().is_terminal() {
        let password = rpassword::prompt_password(prompt).map_err(failed)?;
        if confirm {
            let again = rpassword::prompt_password("Again: ").map_err(failed)?;
            if again != password {
                return Err(UsersError::PasswordsDiffer);
            }
        }
        return Ok(password);
    }
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).map_err(failed)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
