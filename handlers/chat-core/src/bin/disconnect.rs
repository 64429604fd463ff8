//! `$disconnect`: forgets the connection and its memberships.

use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let sdk_config = runtime::sdk_config().await;
    let presence_limit = runtime::or_exit(config::presence_limit(runtime::env));
    let store = &runtime::dynamo_store(&sdk_config);
    let poster = &runtime::management_api(&sdk_config);
    runtime::serve(|event, _deadline| async move {
        Ok(routes::disconnect(store, poster, &event, presence_limit).await)
    })
    .await
}
