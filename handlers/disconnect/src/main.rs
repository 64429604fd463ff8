//! `$disconnect`: forgets the connection's id.

use chat_core::{config, routes, runtime};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_logging();
    let table = runtime::or_exit(config::table_name(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    let store = runtime::dynamo_store(&sdk_config, &table);
    lambda_runtime::run(service_fn(|event: LambdaEvent<runtime::Event>| {
        let store = &store;
        async move { Ok::<_, Error>(routes::disconnect(store, &event.payload).await) }
    }))
    .await
}
