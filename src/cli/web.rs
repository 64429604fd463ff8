//! `chatstack web`: the chat page on localhost, for a deployed stage.

use std::io::Write;

use clap::Args;

use super::aws::AwsArgs;
use super::{CliError, Execute, block_on};
use crate::chat::StageName;
use crate::web::{self, WebError};

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Stage to chat on (its stack's WebSocketUrl output).
    #[arg(long)]
    pub stage: StageName,
    /// Port on 127.0.0.1 to serve the page on.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl Execute for WebArgs {
    fn execute(self, out: &mut dyn Write) -> Result<(), CliError> {
        block_on(async {
            let page = web::deployed_page(&self.aws.cloud().await?, &self.stage).await?;
            let address = format!("127.0.0.1:{}", self.port);
            let serve_error = |source| WebError::Serve {
                address: address.clone(),
                source,
            };
            let listener = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(serve_error)?;
            let bound = listener.local_addr().map_err(serve_error)?;
            writeln!(
                out,
                "Chat page: http://{bound}/ (stage {}, {}{})\nPress Ctrl-C to stop.",
                self.stage,
                page.url,
                if page.token_required {
                    "; it asks for a token: chatstack token --stage ... --user NAME"
                } else {
                    ""
                }
            )
            .and_then(|()| out.flush())
            .map_err(CliError::Stdout)?;
            axum::serve(
                listener,
                crate::loopback::own_host_only(web::router(page), bound.port()),
            )
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(serve_error)?;
            Ok(())
        })
    }
}
