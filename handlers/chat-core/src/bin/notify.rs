//! `notify`: pushes a message to every connection, or to chosen ones, for
//! the notify endpoint and the stage's schedule.

use chat_core::poster::ManagementApi;
use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let table = runtime::or_exit(config::table_name(runtime::env));
    let fanout = runtime::or_exit(config::fanout_config(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    let store = &runtime::dynamo_store(&sdk_config, &table);
    let endpoint = runtime::or_exit(config::management_endpoint(runtime::env));
    let poster = &ManagementApi::new(&sdk_config, &endpoint);
    runtime::serve(|event: serde_json::Value, deadline| async move {
        Ok(routes::notify(store, poster, event, fanout, deadline).await?)
    })
    .await
}
