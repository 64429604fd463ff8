//! `sendmessage`: posts the text to the members of a room.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let clients = runtime::fanout_clients().await;
    let per_minute = runtime::or_exit(chat_core::config::messages_per_minute(runtime::env));
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    runtime::serve(|event, deadline| async move {
        Ok(routes::send_message(store, poster, &event, fanout, per_minute, deadline).await)
    })
    .await
}
