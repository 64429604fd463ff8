//! `rooms`: the `join`, `leave`, `who` and `history` routes.

use std::time::SystemTime;

use chat_core::routes::rooms;
use chat_core::{config, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let sdk_config = runtime::sdk_config().await;
    let presence_limit = runtime::or_exit(config::presence_limit(runtime::env));
    let per_minute = runtime::or_exit(config::messages_per_minute(runtime::env));
    let store = &runtime::dynamo_store(&sdk_config);
    let poster = &runtime::management_api(&sdk_config);
    let history = &runtime::room_history(store);
    runtime::serve(|event, _deadline| async move {
        let now = SystemTime::now();
        let history = history.as_ref();
        let answer = rooms::room_action(
            store,
            poster,
            &event,
            history,
            presence_limit,
            per_minute,
            now,
        );
        Ok(answer.await)
    })
    .await
}
