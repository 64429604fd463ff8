//! `sendmessage`: posts the text to every connection.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_logging();
    let clients = runtime::fanout_clients().await;
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    runtime::serve(|event, deadline| async move {
        Ok(routes::send_message(store, poster, &event, fanout, deadline).await)
    })
    .await
}
