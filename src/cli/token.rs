//! `chatstack token`: a connection token for a stage that requires one:
//! minted with the stage's secret (`authorization = true`), or an ID token
//! of the stage's own user pool (`cognito = true`), signed in to with a
//! password.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chat_token::UserName;
use clap::{ArgGroup, Args};

use super::aws::AwsArgs;
use super::users::read_password;
use super::{CliError, Execute, block_on};
use crate::chat::StageName;
use crate::deploy::aws::AwsCloud;
use crate::local::services::USER_POOL_FILE;
use crate::logs::local::latest_run_link;
use crate::tokens::{self, TokenCommandError};
use crate::users::{PoolUserName, TokenSource, UserPool};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["stage", "secret_file", "local"])))]
pub struct TokenArgs {
    /// Who the token is for; their messages arrive with this name. With
    /// the stage's secret: 1 to 32 letters, digits, '.', '-' or '_'. With
    /// its user pool: a user added with `chatstack users add`, whose
    /// password is asked for (or read as one line of standard input).
    #[arg(long)]
    pub user: String,
    /// How long a token minted with the stage's secret is valid, for
    /// example 30m, 12h or 7d (at most 30d) [default: 12h]. A user pool's
    /// app client sets its ID tokens' lifetime (60 minutes).
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub ttl: Option<Duration>,
    /// Stage to get the token for (read with your AWS credentials through
    /// the stack's outputs: TokenSecretArn, or UserPoolClientId).
    #[arg(long)]
    pub stage: Option<StageName>,
    /// Sign with the secret in FILE instead: `chatstack local` prints the
    /// file holding its run's secret.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// For a `chatstack local` run (the latest, or the run in DIR): its
    /// secret, or its user pool.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub local: Option<Option<PathBuf>>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// A lifetime from one minute to 30 days, refused before anything is read.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if ttl < chat_token::MIN_TTL {
        return Err(chat_token::TokenError::TtlTooShort.to_string());
    }
    if ttl > chat_token::MAX_TTL {
        return Err(chat_token::TokenError::TtlTooLong.to_string());
    }
    Ok(ttl)
}

impl TokenArgs {
    /// A token minted with `secret`.
    fn mint(&self, secret: &[u8]) -> Result<String, CliError> {
        let user: UserName = self
            .user
            .parse()
            .map_err(|e: chat_token::TokenError| TokenCommandError::Token(e))?;
        let ttl = self.ttl.unwrap_or(tokens::DEFAULT_TTL);
        Ok(tokens::mint(secret, &user, ttl)?)
    }

    /// An ID token of `pool`, signing in as the user.
    async fn sign_in(&self, pool: UserPool) -> Result<String, CliError> {
        if self.ttl.is_some() {
            return Err(TokenCommandError::TtlOfPool.into());
        }
        let user: PoolUserName = self.user.parse()?;
        let password = read_password(&format!("Password for {}: ", user.as_str()), false)?;
        Ok(pool.sign_in(&user, &password).await?)
    }

    /// For the local run in `dir`: its secret's token, or its pool's.
    async fn local_token(&self, dir: &Path) -> Result<String, CliError> {
        let secret = dir.join(crate::local::TOKEN_SECRET_FILE);
        if secret.is_file() {
            return self.mint(&tokens::read_secret_file(&secret)?);
        }
        if dir.join(USER_POOL_FILE).is_file() {
            return self.sign_in(UserPool::of_local_run(dir).await?).await;
        }
        Err(TokenCommandError::LocalOpen {
            dir: dir.display().to_string(),
        }
        .into())
    }

    async fn stage_token(&self, stage: &StageName) -> Result<String, CliError> {
        let config = self.aws.config().await?;
        let cloud = AwsCloud::new(&config);
        match crate::users::token_source(&cloud, stage)
            .await
            .map_err(TokenCommandError::from)?
        {
            TokenSource::Secret(arn) => self.mint(&tokens::read_secret(&config, &arn).await?),
            // The outputs just read name the pool: no second DescribeStacks.
            TokenSource::Pool { pool_id, client_id } => {
                self.sign_in(UserPool::new(&config, pool_id, client_id))
                    .await
            }
            TokenSource::Issuer(issuer) => Err(TokenCommandError::FromIssuer {
                stage: stage.to_string(),
                issuer,
            }
            .into()),
            TokenSource::None => Err(TokenCommandError::NotRequired {
                stage: stage.to_string(),
            }
            .into()),
        }
    }
}

impl Execute for TokenArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let token = match (&self.secret_file, &self.local, &self.stage) {
            (Some(path), _, _) => self.mint(&tokens::read_secret_file(path)?)?,
            (None, Some(dir), _) => {
                let dir = dir.clone().unwrap_or_else(latest_run_link);
                block_on(self.local_token(&dir))?
            }
            (None, None, Some(stage)) => block_on(self.stage_token(stage))?,
            // clap refuses this already; say the same if it ever gets here.
            (None, None, None) => {
                return Err(CliError::Usage(
                    "name the stage (--stage), the secret file (--secret-file) or a local run (--local)"
                        .to_owned(),
                ));
            }
        };
        writeln!(out, "{token}").map_err(CliError::Stdout)
    }
}
