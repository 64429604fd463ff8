//! `sendmessage`: posts the text to every connection.

use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let clients = runtime::fanout_clients().await;
    let per_minute = runtime::or_exit(chat_core::config::messages_per_minute(runtime::env));
    let (store, poster, fanout) = (&clients.store, &clients.poster, &clients.fanout);
    runtime::serve(|event, deadline| async move {
        if let Some(limit) = per_minute {
            let now = std::time::SystemTime::now();
            if let Some(refused) =
                routes::over_message_rate(store, poster, &event, limit, now).await
            {
                return Ok(refused);
            }
        }
        Ok(routes::send_message(store, poster, &event, fanout, deadline).await)
    })
    .await
}
