//! `sendmessage`: posts the text to every connection.

use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let table = runtime::or_exit(config::table_name(runtime::env));
    let fanout = runtime::or_exit(config::fanout_config(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    let store = &runtime::dynamo_store(&sdk_config, &table);
    let apis = &runtime::ManagementApis::from_env(&sdk_config);
    runtime::serve(|event| async move {
        let poster = apis.for_event(&event)?;
        Ok(routes::send_message(store, poster, &event, fanout).await)
    })
    .await
}
