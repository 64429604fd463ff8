//! `$disconnect`: forgets the connection's id.

use chat_core::{config, routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let table = runtime::or_exit(config::table_name(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    let store = &runtime::dynamo_store(&sdk_config, &table);
    runtime::serve(|event, _deadline| async move { Ok(routes::disconnect(store, &event).await) })
        .await
}
