//! `$default`: tells the caller how to use the API.

use chat_core::poster::ManagementApi;
use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let sdk_config = runtime::sdk_config().await;
    let endpoint = runtime::or_exit(config::management_endpoint(runtime::env));
    let poster = &ManagementApi::new(&sdk_config, &endpoint);
    runtime::serve(
        |event, _deadline| async move { Ok(routes::default_route(poster, &event).await) },
    )
    .await
}
