//! `notify`: pushes a message to every connection, or to chosen ones, for
//! the notify endpoint and the stage's schedule.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let clients = runtime::fanout_clients().await;
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    runtime::serve(|event: serde_json::Value, deadline| async move {
        Ok(routes::notify(store, poster, event, fanout, deadline).await?)
    })
    .await
}
