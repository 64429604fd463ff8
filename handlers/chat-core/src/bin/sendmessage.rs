//! `sendmessage`: posts the text to every connection.

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
    runtime::serve(|event, deadline| async move {
        Ok(routes::send_message(store, poster, &event, fanout, deadline).await)
    })
    .await
}
