//! `sendmessage`: posts the text to the members of a room.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let clients = runtime::fanout_clients().await;
    let per_minute = runtime::or_exit(chat_core::config::messages_per_minute(runtime::env));
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    let history = &runtime::room_history(store);
    runtime::serve(|event, deadline| async move {
        let history = history.as_ref();
        Ok(
            routes::send_message(store, poster, &event, fanout, history, per_minute, deadline)
                .await,
        )
    })
    .await
}
