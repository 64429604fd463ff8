//! `$default`: tells the caller how to use the API.

use chat_core::{routes, runtime};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    runtime::init_logging();
    let sdk_config = runtime::sdk_config().await;
    let apis = runtime::ManagementApis::from_env(&sdk_config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<runtime::Event>| {
        let apis = &apis;
        async move {
            let poster = apis.for_event(&event.payload)?;
            Ok::<_, Error>(routes::default_route(poster, &event.payload).await)
        }
    }))
    .await
}
