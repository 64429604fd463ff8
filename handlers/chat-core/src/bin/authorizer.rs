//! `authorizer`: the `$connect` authorizer of stages that require tokens.

use chat_core::authorize::{self, TokenSecret};
use chat_core::{config, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let arn = runtime::or_exit(config::token_secret_arn(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    // Once per execution environment; without it no token can be checked,
    // so the environment fails to start (and Lambda tries a new one).
    let secret: TokenSecret = match authorize::read_token_secret(&sdk_config, &arn).await {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(%error, "could not read the token secret");
            eprintln!("error: could not read the token secret {arn}: {error}");
            std::process::exit(1);
        }
    };
    let secret = &secret;
    runtime::serve(
        |event: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest,
         _deadline| async move {
            Ok(authorize::authorize(
                secret,
                &event,
                std::time::SystemTime::now(),
            ))
        },
    )
    .await
}
