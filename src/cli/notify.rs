//! `chatstack notify`: server push to a stage's connected clients.

use std::io::Write;

use aws_credential_types::provider::ProvideCredentials;
use clap::Args;

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on};
use crate::aws::CloudError;
use crate::aws::{AwsOptions, load_config};
use crate::chat::StageName;
use crate::deploy::DeployError;
use crate::deploy::aws::AwsCloud;
use crate::notify::{self, NotifyError};

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The text to push (at most 128 KB).
    pub text: String,
    /// Stage whose endpoint to use (its stack's NotifyUrl output).
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub stage: Option<StageName>,
    /// POST here instead: `chatstack local`'s notify URL, or any endpoint.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Push to this connection only; repeat for several (at most 100).
    /// Without it (and without --room), every connected client gets the text.
    #[arg(long = "to", value_name = "CONNECTION_ID", conflicts_with = "room")]
    pub to: Vec<String>,
    /// Push to this room's members only (1 to 64 letters, digits, '-', '_', '.').
    #[arg(long, value_name = "NAME")]
    pub room: Option<crate::settings::RoomName>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for NotifyArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        let room = self.room.as_ref().map(crate::settings::RoomName::as_str);
        let body = notify::request_body(&self.text, room, &self.to)?;
        block_on(async {
            // A URL's request is signed for the region its host names (an
            // emulator's takes any), so no configured region is needed.
            let region = self.aws.region.clone().or_else(|| {
                let fallback = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
                self.url
                    .as_deref()
                    .map(|url| notify::region_of(url, &fallback))
            });
            let options = AwsOptions {
                region,
                profile: self.aws.profile.clone(),
            };
            let config = load_config(&options).await.map_err(DeployError::from)?;
            let url = match (&self.url, &self.stage) {
                (Some(url), _) => url.clone(),
                (None, Some(stage)) => notify::endpoint_of(&AwsCloud::new(&config), stage).await?,
                // clap refuses this already; say the same if it ever gets here.
                (None, None) => return Err(NotifyError::NoTarget.into()),
            };
            let credentials = config
                .credentials_provider()
                .ok_or(CloudError::NoCredentials)
                .map_err(DeployError::from)?
                .provide_credentials()
                .await
                .map_err(|_| DeployError::from(CloudError::NoCredentials))?;
            let fallback = config.region().map_or("us-east-1", |r| r.as_ref());
            let region = notify::region_of(&url, fallback);
            let outcome = notify::post(&url, &region, &credentials, body).await?;
            writeln!(out, "{outcome}").map_err(CliError::Stdout)
        })
    }
}
