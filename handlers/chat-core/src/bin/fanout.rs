//! `fanout`: the worker of broadcasts too large for one invocation; takes
//! one job at a time from the fan-out queue (see `chat_core::segments`).

use aws_lambda_events::sqs::SqsEvent;
use chat_core::{routes, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::init_process();
    let (clients, ledger) = runtime::worker_clients().await;
    let (store, poster, fanout, ledger) =
        (&clients.store, &clients.poster, &clients.fanout, &ledger);
    runtime::serve(|event: SqsEvent, deadline| async move {
        Ok(routes::fanout_jobs(store, poster, fanout, ledger, event, deadline).await)
    })
    .await
}
