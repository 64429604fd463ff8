//! The template's SQS queues, in moto, and Lambda's SQS event sources,
//! emulated: pollers that receive batches, invoke the function with SQS's
//! event, and delete what it handled. A job whose invocation fails is left
//! on the queue, so SQS hands it out again after its visibility timeout
//! (moved to the dead-letter queue after `maxReceiveCount` receives), as
//! with Lambda. <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::LocalError;
use super::app::{LocalEventSource, LocalQueue};
use super::runtime::FunctionRuntime;

fn sqs_error(what: String) -> impl FnOnce(String) -> LocalError {
    move |error| LocalError::Dynamo(format!("{what} in moto: {error}"))
}

/// Creates the queues, dead-letter queues first; their URLs by name.
pub async fn create(
    client: &aws_sdk_sqs::Client,
    queues: &[LocalQueue],
) -> Result<BTreeMap<String, String>, LocalError> {
    let mut urls = BTreeMap::new();
    let mut arns = BTreeMap::new();
    // A queue's dead-letter queue must exist first; none of the template's
    // dead-letter queues has one of its own.
    let (plain, redriven): (Vec<&LocalQueue>, Vec<&LocalQueue>) =
        queues.iter().partition(|q| q.dead_letters.is_none());
    for queue in plain.into_iter().chain(redriven) {
        let mut attributes = vec![];
        if queue.fifo {
            attributes.push((QueueAttributeName::FifoQueue, "true".to_owned()));
        }
        if let Some(seconds) = queue.visibility_timeout {
            attributes.push((QueueAttributeName::VisibilityTimeout, seconds.to_string()));
        }
        if let Some(seconds) = queue.message_retention {
            attributes.push((
                QueueAttributeName::MessageRetentionPeriod,
                seconds.to_string(),
            ));
        }
        if let Some((target, receives)) = &queue.dead_letters {
            let arn: &String = arns.get(target).ok_or_else(|| {
                LocalError::Template(format!(
                    "queue {}: its dead-letter queue {target} is not a queue of the template",
                    queue.logical_id
                ))
            })?;
            let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": receives});
            attributes.push((QueueAttributeName::RedrivePolicy, policy.to_string()));
        }
        let created = client
            .create_queue()
            .queue_name(&queue.name)
            .set_attributes(Some(attributes.into_iter().collect()))
            .send()
            .await
            .map_err(|e| crate::aws::error_chain(&e))
            .map_err(sqs_error(format!("creating the queue {}", queue.name)))?;
        let url = created.queue_url().unwrap_or_default().to_owned();
        let arn = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| crate::aws::error_chain(&e))
            .map_err(sqs_error(format!("reading the queue {}", queue.name)))?
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap_or_default();
        arns.insert(queue.logical_id.clone(), arn);
        urls.insert(queue.name.clone(), url);
    }
    Ok(urls)
}

/// The running pollers, stopped when dropped.
pub struct EventSources {
    tasks: Vec<JoinHandle<()>>,
    /// One line per event source for the banner.
    pub described: Vec<String>,
}

impl Drop for EventSources {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What every poller shares.
#[derive(Clone)]
struct Poller {
    client: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    region: String,
    runtime: Arc<FunctionRuntime>,
    source: LocalEventSource,
    log: mpsc::UnboundedSender<String>,
    /// Shortens the wait before a failed batch is handed out again.
    retry_after: Option<Duration>,
    /// Messages being handled, by id.
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// One receive at a time: moto's server is not safe against racing
    /// receives of a FIFO queue, which SQS serves atomically.
    receiving: Arc<tokio::sync::Mutex<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts `max_concurrency` pollers per event source (Lambda's ceiling
/// for the mapping); `retry_after` replaces the visibility timeout for
/// failed batches (to see a retry without waiting two minutes).
pub fn start(
    client: &aws_sdk_sqs::Client,
    sources: &[LocalEventSource],
    queues: &[LocalQueue],
    urls: &BTreeMap<String, String>,
    runtimes: &BTreeMap<String, Arc<FunctionRuntime>>,
    log: &mpsc::UnboundedSender<String>,
    (region, retry_after): (&str, Option<Duration>),
) -> EventSources {
    let mut running = EventSources {
        tasks: Vec::new(),
        described: Vec::new(),
    };
    for source in sources {
        let queue = queues.iter().find(|q| q.logical_id == source.queue);
        let url = queue.and_then(|q| urls.get(&q.name));
        let (Some(queue), Some(url), Some(runtime)) = (queue, url, runtimes.get(&source.function))
        else {
            continue;
        };
        let visibility_timeout = queue.visibility_timeout.unwrap_or(30);
        running.described.push(format!(
            "  Queue {}: {} at most {} at once, batches of {}; a failed batch is retried after {} s",
            queue.logical_id,
            source.function,
            source.max_concurrency,
            source.batch_size,
            retry_after.map_or(u64::from(visibility_timeout), |d| d.as_secs())
        ));
        let poller = Poller {
            client: client.clone(),
            url: url.clone(),
            arn: format!("arn:aws:sqs:{region}:123456789012:{}", queue.name),
            region: region.to_owned(),
            runtime: runtime.clone(),
            source: source.clone(),
            log: log.clone(),
            retry_after,
            in_flight: Arc::default(),
            receiving: Arc::default(),
        };
        for _ in 0..source.max_concurrency {
            let poller = poller.clone();
            running
                .tasks
                .push(tokio::spawn(async move { poller.run().await }));
        }
    }
    running
}

impl Poller {
    async fn run(self) {
        loop {
            match self.receive().await {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => self.invoke(messages).await,
                Err(error) => {
                    let _ = self.log.send(format!(
                        "queue        {}: ReceiveMessage failed: {error}",
                        self.source.queue
                    ));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn receive(&self) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
        let _one_at_a_time = self.receiving.lock().await;
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(self.source.batch_size.min(10)).unwrap_or(10))
            // Long polling, as Lambda's pollers do.
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| crate::aws::error_chain(&e))?;
        Ok(output.messages().to_vec())
    }

    /// Invokes the function with one batch; deletes what it handled.
    async fn invoke(&self, messages: Vec<aws_sdk_sqs::types::Message>) {
        let messages = self.not_in_flight(messages);
        if messages.is_empty() {
            return;
        }
        let failed = self.run_batch(&messages).await;
        for message in &messages {
            self.settle(message, &failed).await;
        }
    }

    /// SQS never hands out a message a receiver still holds; moto's server
    /// can, when receives race. Such a copy is left alone.
    fn not_in_flight(
        &self,
        messages: Vec<aws_sdk_sqs::types::Message>,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        messages
            .into_iter()
            .filter(|m| {
                let id = m.message_id().unwrap_or_default();
                let fresh = lock(&self.in_flight).insert(id.to_owned());
                if !fresh {
                    let _ = self.log.send(format!(
                        "queue        {}: moto handed out message {id} again while it was being handled; skipped",
                        self.source.queue
                    ));
                }
                fresh
            })
            .collect()
    }

    /// Invokes the function with the batch; the ids of the messages that
    /// failed (every one when the invocation did).
    async fn run_batch(&self, messages: &[aws_sdk_sqs::types::Message]) -> HashSet<String> {
        let event =
            json!({ "Records": messages.iter().map(|m| self.record(m)).collect::<Vec<_>>() });
        match self.runtime.invoke(event).await {
            Ok(answer) if self.source.reports_item_failures => {
                let failed: HashSet<String> = answer["batchItemFailures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|failure| failure["itemIdentifier"].as_str().map(str::to_owned))
                    .collect();
                if !failed.is_empty() {
                    let _ = self.log.send(format!(
                        "queue        {}: {} reported {} of {} messages failed; they go back to the queue",
                        self.source.queue,
                        self.source.function,
                        failed.len(),
                        messages.len()
                    ));
                }
                failed
            }
            Ok(_) => HashSet::new(),
            Err(error) => {
                let _ = self.log.send(format!(
                    "queue        {}: {} failed ({error}); its batch goes back to the queue",
                    self.source.queue, self.source.function
                ));
                messages
                    .iter()
                    .filter_map(|m| m.message_id().map(str::to_owned))
                    .collect()
            }
        }
    }

    /// Deletes a handled message; leaves a failed one for SQS to hand out
    /// again.
    async fn settle(&self, message: &aws_sdk_sqs::types::Message, failed: &HashSet<String>) {
        let id = message.message_id().unwrap_or_default();
        let receipt = message.receipt_handle().unwrap_or_default();
        let outcome = if failed.contains(id) {
            self.retry_later(receipt).await
        } else {
            self.client
                .delete_message()
                .queue_url(&self.url)
                .receipt_handle(receipt)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::error_chain(&e))
        };
        lock(&self.in_flight).remove(id);
        if let Err(error) = outcome {
            let _ = self.log.send(format!(
                "queue        {}: settling message {id} failed: {error}",
                self.source.queue
            ));
        }
    }

    /// Leaves a failed message for SQS to hand out again: after its
    /// visibility timeout, or sooner when local was asked to.
    async fn retry_later(&self, receipt: &str) -> Result<(), String> {
        let Some(after) = self.retry_after else {
            return Ok(());
        };
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(after.as_secs()).unwrap_or(i32::MAX))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| crate::aws::error_chain(&e))
    }

    /// One record of Lambda's SQS event.
    fn record(&self, message: &aws_sdk_sqs::types::Message) -> Value {
        let attributes: BTreeMap<String, String> = message
            .attributes()
            .into_iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
            .collect();
        json!({
            "messageId": message.message_id(),
            "receiptHandle": message.receipt_handle(),
            "body": message.body(),
            "attributes": attributes,
            "messageAttributes": {},
            "md5OfBody": message.md5_of_body(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        })
    }
}
