//! The fan-out queue of broadcasts too large for one invocation: a FIFO
//! queue of segment jobs (one message group per segment), its dead-letter
//! queue, and the `fanout` worker's event source. How the jobs flow is
//! described in the handlers' `chat_core::segments`.

use chat_contract::{
    DIRECT_LIMIT_VAR, FANOUT_JOBS_TABLE_VAR, FANOUT_QUEUE_URL_VAR, FANOUT_SEGMENTS_VAR, JOB_ID,
};

use crate::cfn::dynamodb::Table;

use crate::cfn::lambda::{EventSourceMapping, FunctionResponseType, ScalingConfig};
use crate::cfn::sqs::{Queue, RedrivePolicy};
use crate::cfn::{
    Expr, LogicalId, Output, Pseudo, Resource, RetentionPolicy, Template, TemplateError,
};
use crate::settings::Broadcast;

use super::{FanoutPart, Grants, LambdaFunction};

/// The worker's timeout; the queue hides a job for six times as long
/// (AWS's advice for SQS event sources), so a retry comes two minutes on.
pub const WORKER_TIMEOUT_SECONDS: u32 = 20;
/// Receives of a job before it moves to the dead-letter queue: AWS advises
/// at least five for an SQS event source, so a throttled worker does not
/// send a job to the dead letters. Retries then come up to ten minutes on,
/// past SQS FIFO's five-minute deduplication window: the jobs table, not
/// the window, keeps a late retry from repeating the rest of a segment.
const MAX_RECEIVES: u32 = 5;
/// A job older than this is stale chat: SQS drops it.
const JOB_RETENTION_SECONDS: u32 = 60 * 60;
/// Failed jobs are kept as long as SQS allows, for inspection or redrive.
const DEAD_LETTER_RETENTION_SECONDS: u32 = 14 * 24 * 60 * 60;

const SSE_REASON: &str = "encrypted at rest with SQS-managed keys; the jobs hold chat text that every recipient gets anyway";

/// A FIFO queue's name, which must end in `.fifo` and so cannot be left to
/// CloudFormation: `chatstack-<purpose>-<the stack id's UUID>.fifo`, unique
/// to the stack (SQS refuses a name deleted less than 60 s ago, so a stage
/// destroyed and deployed again must not reuse it) and short (SQS allows 80).
fn fifo_queue_name(purpose: &str) -> Expr {
    let stack_uuid = Expr::Select(
        2,
        Box::new(Expr::Split(
            "/".into(),
            Box::new(Expr::Pseudo(Pseudo::StackId)),
        )),
    );
    Expr::Join(
        String::new(),
        vec![
            format!("chatstack-{purpose}-").into(),
            stack_uuid,
            ".fifo".into(),
        ],
    )
}

/// The queue, its dead letters, the table of jobs that ran to the end, and
/// the stage's broadcast settings.
#[derive(Debug)]
pub struct FanoutQueue {
    queue: LogicalId,
    dead_letters: LogicalId,
    jobs: LogicalId,
    broadcast: Broadcast,
}

/// One small item per finished job (`jobId`), gone by TTL two hours on.
fn jobs_table() -> Resource<Table> {
    Resource::new(super::table::expiring_table(JOB_ID))
        .retention(RetentionPolicy::Delete)
        .skip_checkov(
            "CKV_AWS_119",
            "encrypted with the AWS managed key; it holds job ids, no chat text",
        )
        .skip_checkov(
            "CKV_AWS_28",
            "items live two hours (TTL) and only deduplicate retries: nothing to restore",
        )
}

/// The queues' logical ids, by which `status`, `cost` and `local` find
/// them in a stack.
pub const FANOUT_QUEUE_ID: &str = "FanoutQueue";
pub const FANOUT_DEAD_LETTERS_ID: &str = "FanoutDeadLetterQueue";

impl FanoutQueue {
    pub fn queue(&self) -> &LogicalId {
        &self.queue
    }

    pub fn dead_letters(&self) -> &LogicalId {
        &self.dead_letters
    }

    pub fn jobs(&self) -> &LogicalId {
        &self.jobs
    }

    pub fn add_to(template: &mut Template, broadcast: Broadcast) -> Result<Self, TemplateError> {
        let dead_letters = template.add(
            FANOUT_DEAD_LETTERS_ID,
            Resource::new(Queue {
                queue_name: Some(fifo_queue_name("fanout-dlq")),
                fifo_queue: Some(true),
                message_retention_period: Some(DEAD_LETTER_RETENTION_SECONDS),
                sqs_managed_sse_enabled: Some(true),
                ..Queue::default()
            })
            // Failed chat broadcasts are not worth outliving the stack.
            .retention(RetentionPolicy::Delete)
            .skip_checkov("CKV_AWS_27", SSE_REASON),
        )?;
        let queue = template.add(
            FANOUT_QUEUE_ID,
            Resource::new(Queue {
                queue_name: Some(fifo_queue_name("fanout")),
                fifo_queue: Some(true),
                visibility_timeout: Some(6 * WORKER_TIMEOUT_SECONDS),
                message_retention_period: Some(JOB_RETENTION_SECONDS),
                sqs_managed_sse_enabled: Some(true),
                redrive_policy: Some(RedrivePolicy {
                    dead_letter_target_arn: Expr::arn_of(&dead_letters),
                    max_receive_count: MAX_RECEIVES,
                }),
            })
            .retention(RetentionPolicy::Delete)
            .skip_checkov("CKV_AWS_27", SSE_REASON),
        )?;
        let jobs = template.add("FanoutJobsTable", jobs_table())?;
        Ok(FanoutQueue {
            queue,
            dead_letters,
            jobs,
            broadcast,
        })
    }

    /// Gives the function what `part` needs of the queue, and nothing
    /// else, with the variables that go with it: the queue's URL and the
    /// split rule for both parts, the jobs table for the worker.
    pub fn grant(&self, grants: &mut Grants, part: FanoutPart) {
        if part == FanoutPart::None {
            return;
        }
        self.grant_send(grants);
        grants.set(FANOUT_QUEUE_URL_VAR, (&self.queue).into());
        grants.set(
            DIRECT_LIMIT_VAR,
            self.broadcast.direct_limit.0.to_string().into(),
        );
        grants.set(
            FANOUT_SEGMENTS_VAR,
            self.broadcast.workers.0.to_string().into(),
        );
        if part == FanoutPart::Works {
            self.grant_consume(grants);
            grants.allow(
                "RecordFanoutJobs",
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                vec![Expr::arn_of(&self.jobs)],
            );
            grants.set(FANOUT_JOBS_TABLE_VAR, (&self.jobs).into());
        }
    }

    /// Lets the function queue jobs.
    fn grant_send(&self, grants: &mut Grants) {
        grants.allow(
            "QueueFanoutJobs",
            &["sqs:SendMessage"],
            vec![Expr::arn_of(&self.queue)],
        );
    }

    /// What Lambda's event source needs of the worker's role: receive and
    /// delete jobs, read the queue's attributes.
    fn grant_consume(&self, grants: &mut Grants) {
        grants.allow(
            "ReceiveFanoutJobs",
            &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ],
            vec![Expr::arn_of(&self.queue)],
        );
    }

    /// Feeds the queue's jobs to `worker` one at a time, at most `workers`
    /// invocations at once (a FIFO queue also never runs two jobs of one
    /// segment at once).
    pub fn add_worker(
        &self,
        template: &mut Template,
        worker: &LambdaFunction,
    ) -> Result<(), TemplateError> {
        template.add(
            "FanoutEventSource",
            EventSourceMapping {
                event_source_arn: Expr::arn_of(&self.queue),
                function_name: worker.id().into(),
                batch_size: Some(1),
                function_response_types: vec![FunctionResponseType::ReportBatchItemFailures],
                scaling_config: Some(ScalingConfig {
                    maximum_concurrency: self.broadcast.workers.0,
                }),
            },
        )?;
        Ok(())
    }

    /// Outputs the dead-letter queue's URL, where failed jobs wait.
    pub fn add_output(&self, template: &mut Template) -> Result<(), TemplateError> {
        template.add_output(
            "FanoutDeadLetterQueueUrl",
            Output {
                description: "Broadcast jobs that failed five times (SQS FIFO)".to_owned(),
                value: (&self.dead_letters).into(),
            },
        )
    }
}
