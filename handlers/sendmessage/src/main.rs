//! `sendmessage`: posts the text to every connection.

use chat_core::{config, routes, runtime};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_logging();
    let table = runtime::or_exit(config::table_name(runtime::env));
    let fanout = runtime::or_exit(config::fanout_config(runtime::env));
    let sdk_config = runtime::sdk_config().await;
    let store = runtime::dynamo_store(&sdk_config, &table);
    let apis = runtime::ManagementApis::from_env(&sdk_config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<runtime::Event>| {
        let (store, apis) = (&store, &apis);
        async move {
            let poster = apis.for_event(&event.payload)?;
            Ok::<_, Error>(routes::send_message(store, poster, &event.payload, fanout).await)
        }
    }))
    .await
}
