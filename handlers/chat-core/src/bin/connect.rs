//! `$connect`: records the new connection in its first room.

use std::time::SystemTime;

use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let sdk_config = runtime::sdk_config().await;
    let most_per_user = runtime::or_exit(config::connections_per_user(runtime::env));
    let presence_limit = runtime::or_exit(config::presence_limit(runtime::env));
    let lifetime = runtime::or_exit(config::connection_lifetime(runtime::env));
    let store = &runtime::dynamo_store(&sdk_config);
    let poster = &runtime::management_api(&sdk_config);
    runtime::serve(|event, _deadline| async move {
        let now = SystemTime::now();
        if let Some(most) = most_per_user
            && let Some(refused) = routes::over_connection_cap(store, &event, most, now).await
        {
            return Ok(refused);
        }
        Ok(routes::connect(store, poster, &event, presence_limit, lifetime, now).await)
    })
    .await
}
