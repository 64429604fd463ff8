//! `$default`: tells the caller how to use the API.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let sdk_config = runtime::sdk_config().await;
    let store = &runtime::dynamo_store(&sdk_config);
    let poster = &runtime::management_api(&sdk_config);
    runtime::serve(|event, _deadline| async move {
        Ok(routes::default_route(store, poster, &event).await)
    })
    .await
}
