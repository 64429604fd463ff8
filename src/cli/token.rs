//! `chatstack token`: a connection token for a stage that requires one.

use std::io::Write;
use std::path::PathBuf;

use chat_token::UserName;
use clap::Args;

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on};
use crate::aws::{AwsOptions, load_config};
use crate::chat::StageName;
use crate::deploy::DeployError;
use crate::deploy::aws::AwsCloud;
use crate::tokens;

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Who the token is for: 1 to 32 letters, digits, '.', '-' or '_'.
    /// Their messages arrive with this name.
    #[arg(long, value_parser = parse_user)]
    pub user: UserName,
    /// How long the token is valid, for example 30m, 12h or 7d (at most 30d).
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = parse_ttl)]
    pub ttl: std::time::Duration,
    /// Stage whose secret signs the token (read with your AWS credentials
    /// through the stack's TokenSecretArn output).
    #[arg(
        long,
        required_unless_present = "secret_file",
        conflicts_with = "secret_file"
    )]
    pub stage: Option<StageName>,
    /// Sign with the secret in FILE instead: `chatstack local` prints the
    /// file holding its run's secret.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// A lifetime from one minute to 30 days, refused before anything is read.
fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if ttl < chat_token::MIN_TTL {
        return Err(chat_token::TokenError::TtlTooShort.to_string());
    }
    if ttl > chat_token::MAX_TTL {
        return Err(chat_token::TokenError::TtlTooLong.to_string());
    }
    Ok(ttl)
}

fn parse_user(name: &str) -> Result<UserName, String> {
    name.parse()
        .map_err(|e: chat_token::TokenError| e.to_string())
}

impl Execute for TokenArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let secret = match (&self.secret_file, &self.stage) {
            (Some(path), _) => tokens::read_secret_file(path)?,
            (None, Some(stage)) => block_on(async {
                let options = AwsOptions {
                    region: self.aws.region.clone(),
                    profile: self.aws.profile.clone(),
                };
                let config = load_config(&options).await.map_err(DeployError::from)?;
                let arn = tokens::secret_arn(&AwsCloud::new(&config), stage).await?;
                Ok::<_, CliError>(tokens::read_secret(&config, &arn).await?)
            })?,
            // clap refuses this already; say the same if it ever gets here.
            (None, None) => {
                return Err(CliError::Usage(
                    "name the stage (--stage) or the secret file (--secret-file)".to_owned(),
                ));
            }
        };
        let token = tokens::mint(&secret, &self.user, self.ttl)?;
        writeln!(out, "{token}").map_err(CliError::Stdout)
    }
}
