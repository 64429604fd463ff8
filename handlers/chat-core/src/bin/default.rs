//! `$default`: tells the caller how to use the API.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let sdk_config = runtime::sdk_config().await;
    let apis = &runtime::ManagementApis::from_env(&sdk_config);
    runtime::serve(|event| async move {
        let poster = apis.for_event(&event)?;
        Ok(routes::default_route(poster, &event).await)
    })
    .await
}
