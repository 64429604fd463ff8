//! `notify`: pushes a message to every connection, or to chosen ones, for
//! the notify endpoint and the stage's schedule.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let clients = runtime::fanout_clients().await;
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    let history = &runtime::room_history(store);
    runtime::serve(|event: serde_json::Value, deadline| async move {
        let history = history.as_ref();
        Ok(routes::notify(store, poster, event, fanout, history, deadline).await?)
    })
    .await
}
