//! The stack lifecycle: change sets, waiting, recovery, destroy.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::DeployError;
use super::cloud::{
    ChangeSet, ChangeSetKind, ChangeSetRequest, Cloud, CloudError, Stack, StackEvent,
    TemplateSource,
};
use super::status::{Existing, classify, is_settled, is_success, remedy};
use super::ui::{Approval, Interrupts, Progress, Ui, write_changes};

/// How often to poll, and how far to back off when throttled.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub interval: Duration,
    pub max_interval: Duration,
    /// Consecutive failed polls (other than throttling) before giving up.
    pub max_errors: u32,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            max_errors: 10,
        }
    }
}

/// The operation being waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Create,
    Update,
    Delete,
}

/// What a stack's status asks of a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextStep {
    Create,
    Update,
    /// A first create failed and rolled back: delete, then create again.
    RecreateRolledBack,
}

/// Where the reporting of an operation starts.
struct Baseline {
    /// Ids of the events from before the operation.
    seen: HashSet<String>,
    /// For the elapsed time shown on each event line.
    started_ms: i64,
}

/// How a waited-for operation ended.
struct Settled {
    /// `None` once the stack is gone.
    stack: Option<Stack>,
    interrupted: bool,
    first_failure: Option<StackEvent>,
}

impl Settled {
    fn status(&self) -> &str {
        self.stack
            .as_ref()
            .map_or("DELETE_COMPLETE", |s| s.status.as_str())
    }
}

/// The events of one operation: those already shown, the progress view,
/// and the failures among them.
struct EventLog {
    seen: HashSet<String>,
    progress: Progress,
    failures: Vec<StackEvent>,
}

impl EventLog {
    fn new(baseline: Baseline, live: bool) -> Self {
        EventLog {
            seen: baseline.seen,
            progress: Progress::new(live, baseline.started_ms),
            failures: Vec::new(),
        }
    }

    /// Ends the progress view; returns the earliest failure, the root
    /// cause of the ones that follow it.
    fn finish(self) -> Option<StackEvent> {
        self.progress.finish();
        self.failures.into_iter().min_by_key(|e| e.timestamp_ms)
    }
}

/// Whether the awaited operation is over: the stack is gone, or settled in
/// a status of that operation (after a delete request the old status may
/// still show for a moment).
fn has_ended(stack: Option<&Stack>, operation: Operation) -> bool {
    stack.is_none_or(|stack| {
        is_settled(&stack.status)
            && (operation != Operation::Delete || stack.status.starts_with("DELETE_"))
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// "Resource creation cancelled" and friends follow the real failure.
fn is_root_cause(event: &StackEvent) -> bool {
    event.status.ends_with("_FAILED")
        && !event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("cancelled") || r.contains("canceled"))
}

/// CloudFormation's ways of saying a change set is empty.
fn is_no_change(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.contains("didn't contain changes")
            || r.contains("No updates are to be performed")
            || r.contains("no changes")
    })
}

/// Drives one stack through `Cloud`, reporting to `Ui`.
pub struct Deployer<'a, C: Cloud> {
    pub cloud: &'a C,
    pub ui: Ui<'a>,
    pub interrupts: Interrupts,
    pub poll: Poll,
}

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    Changed { outputs: Vec<(String, String)> },
    NoChanges { outputs: Vec<(String, String)> },
}

impl Deployed {
    pub fn outputs(&self) -> &[(String, String)] {
        match self {
            Deployed::Changed { outputs } | Deployed::NoChanges { outputs } => outputs,
        }
    }
}

impl<C: Cloud> Deployer<'_, C> {
    fn say(&mut self, text: &str) -> Result<(), DeployError> {
        writeln!(self.ui.out, "{text}").map_err(DeployError::Output)
    }

    /// Retries a call while AWS throttles it, backing off.
    async fn patiently<T, F, Fut>(&self, mut call: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        let mut delay = self.poll.interval;
        loop {
            match call().await {
                Err(CloudError::Throttled(_)) => {
                    tokio::time::sleep(delay).await;
                    delay = self.backoff(delay);
                }
                other => return other,
            }
        }
    }

    async fn describe(&self, stack: &str) -> Result<Option<Stack>, DeployError> {
        Ok(self.patiently(|| self.cloud.describe_stack(stack)).await?)
    }

    /// What the stack's current status asks of a deploy or diff; a stack
    /// that is busy or stuck is an error saying what to do.
    async fn next_step(&self, stack: &str) -> Result<NextStep, DeployError> {
        let Some(existing) = self.describe(stack).await? else {
            return Ok(NextStep::Create);
        };
        match classify(&existing.status) {
            Existing::Absent => Ok(NextStep::Create),
            Existing::Updatable => Ok(NextStep::Update),
            Existing::RolledBackCreate => Ok(NextStep::RecreateRolledBack),
            Existing::Busy => Err(DeployError::Busy {
                stack: stack.to_owned(),
                status: existing.status,
            }),
            Existing::Stuck => Err(DeployError::Stuck(remedy(stack, &existing.status))),
        }
    }

    /// The kind of change set the stack needs, recreating a rolled-back
    /// first create.
    async fn prepare(&mut self, stack: &str) -> Result<ChangeSetKind, DeployError> {
        match self.next_step(stack).await? {
            NextStep::Create => Ok(ChangeSetKind::Create),
            NextStep::Update => Ok(ChangeSetKind::Update),
            NextStep::RecreateRolledBack => {
                self.say(&format!(
                    "Stack {stack} is ROLLBACK_COMPLETE after a failed first create; \
                     deleting it to create it again."
                ))?;
                let before = self.baseline(stack).await;
                self.patiently(|| self.cloud.delete_stack(stack)).await?;
                let settled = self.wait(stack, Operation::Delete, before).await?;
                if settled.stack.is_some() {
                    return Err(self.failure(stack, &settled));
                }
                Ok(ChangeSetKind::Create)
            }
        }
    }

    /// Creates a change set and waits until it is computed. `None` when it
    /// holds no changes (it is then deleted).
    async fn change_set(
        &mut self,
        request: &ChangeSetRequest,
    ) -> Result<Option<(String, ChangeSet)>, DeployError> {
        let id = match self
            .patiently(|| self.cloud.create_change_set(request))
            .await
        {
            Ok(id) => id,
            // Some CloudFormation implementations refuse an empty change set
            // outright instead of creating it FAILED.
            Err(CloudError::Other(message)) if is_no_change(Some(&message)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        loop {
            tokio::time::sleep(self.poll.interval).await;
            let change_set = self
                .patiently(|| self.cloud.describe_change_set(&id))
                .await?;
            match change_set.status.as_str() {
                "CREATE_PENDING" | "CREATE_IN_PROGRESS" => continue,
                // Possibly without resource changes: outputs or parameters
                // alone changed, which executing still applies.
                "CREATE_COMPLETE" => return Ok(Some((id, change_set))),
                status => {
                    self.discard(request, &id).await?;
                    if is_no_change(change_set.status_reason.as_deref()) {
                        return Ok(None);
                    }
                    return Err(DeployError::ChangeSetFailed {
                        stack: request.stack.clone(),
                        reason: change_set
                            .status_reason
                            .unwrap_or_else(|| status.to_owned()),
                    });
                }
            }
        }
    }

    /// Deletes an unexecuted change set, and the empty stack a CREATE change
    /// set leaves behind in REVIEW_IN_PROGRESS.
    async fn discard(&self, request: &ChangeSetRequest, id: &str) -> Result<(), DeployError> {
        self.patiently(|| self.cloud.delete_change_set(id)).await?;
        if request.kind == ChangeSetKind::Create {
            self.patiently(|| self.cloud.delete_stack(&request.stack))
                .await?;
        }
        Ok(())
    }

    /// Asks for approval of the changes shown; `Ok(false)` when declined.
    fn approve(&mut self, question: &str) -> Result<bool, DeployError> {
        match &mut self.ui.approval {
            Approval::Yes => Ok(true),
            Approval::Ask(ask) => ask(question).map_err(DeployError::Output),
            Approval::NoTerminal => Err(DeployError::NeedsConfirmation),
        }
    }

    /// Whether the change set shown may run: approved, and no Ctrl-C came
    /// during the build, the upload or the question (that means "stop
    /// before anything changes", not "cancel the operation about to start").
    fn go_ahead(&mut self, stack: &str) -> Result<(), DeployError> {
        if !self.approve(&format!("Deploy these changes to {stack}?"))? {
            return Err(DeployError::Declined);
        }
        if self.interrupts.pressed() {
            return Err(DeployError::InterruptedBeforeChange);
        }
        Ok(())
    }

    /// Creates or updates `stack` from `template` through a change set.
    pub async fn deploy(
        &mut self,
        stack: &str,
        template: &TemplateSource,
        parameters: &[(String, String)],
    ) -> Result<Deployed, DeployError> {
        let kind = self.prepare(stack).await?;
        let request = ChangeSetRequest {
            stack: stack.to_owned(),
            name: format!("chatstack-{}", now_ms()),
            kind,
            template: template.clone(),
            parameters: parameters.to_vec(),
        };
        let Some((id, change_set)) = self.change_set(&request).await? else {
            self.say(&format!("No changes: {stack} is up to date."))?;
            let outputs = self
                .describe(stack)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            return Ok(Deployed::NoChanges { outputs });
        };
        write_changes(self.ui.out, stack, &change_set.changes).map_err(DeployError::Output)?;
        if let Err(refusal) = self.go_ahead(stack) {
            self.discard(&request, &id).await?;
            return Err(refusal);
        }
        let before = self.baseline(stack).await;
        self.patiently(|| self.cloud.execute_change_set(&id))
            .await?;
        let operation = match kind {
            ChangeSetKind::Create => Operation::Create,
            ChangeSetKind::Update => Operation::Update,
        };
        let settled = self.wait(stack, operation, before).await?;
        if settled.interrupted {
            return Err(self.failure(stack, &settled));
        }
        let Some(deployed) = settled.stack.as_ref() else {
            // Not our Ctrl-C: someone (or something) else deleted it.
            return Err(DeployError::DeletedDuringDeploy {
                stack: stack.to_owned(),
            });
        };
        if !is_success(&deployed.status) {
            return Err(self.failure(stack, &settled));
        }
        let outputs = deployed.outputs.clone();
        self.say(&format!("Deployed {stack}."))?;
        Ok(Deployed::Changed { outputs })
    }

    /// Shows what a deploy would change, executing nothing; whether it
    /// would change anything.
    pub async fn diff(
        &mut self,
        stack: &str,
        template: &TemplateSource,
        parameters: &[(String, String)],
    ) -> Result<bool, DeployError> {
        let kind = match self.next_step(stack).await? {
            NextStep::Create => ChangeSetKind::Create,
            NextStep::Update => ChangeSetKind::Update,
            NextStep::RecreateRolledBack => {
                self.say(&format!(
                    "Stack {stack} is ROLLBACK_COMPLETE: deploy will delete it and create every resource again."
                ))?;
                return Ok(true);
            }
        };
        let request = ChangeSetRequest {
            stack: stack.to_owned(),
            name: format!("chatstack-diff-{}", now_ms()),
            kind,
            template: template.clone(),
            parameters: parameters.to_vec(),
        };
        match self.change_set(&request).await? {
            None => {
                self.say(&format!("No changes: {stack} is up to date."))?;
                Ok(false)
            }
            Some((id, change_set)) => {
                write_changes(self.ui.out, stack, &change_set.changes)
                    .map_err(DeployError::Output)?;
                self.discard(&request, &id).await?;
                self.say("Nothing was executed.")?;
                Ok(true)
            }
        }
    }

    /// Deletes `stack` and waits until it is gone.
    pub async fn destroy(&mut self, stack: &str) -> Result<(), DeployError> {
        let existing = self.describe(stack).await?;
        let Some(existing) = existing.filter(|s| s.status != "DELETE_COMPLETE") else {
            return self.say(&format!(
                "Stack {stack} does not exist: nothing to destroy."
            ));
        };
        if classify(&existing.status) == Existing::Busy && existing.status != "REVIEW_IN_PROGRESS" {
            return Err(DeployError::Busy {
                stack: stack.to_owned(),
                status: existing.status,
            });
        }
        let question = format!(
            "Delete stack {stack} ({}) with its API, functions, table and log groups?",
            existing.status
        );
        if !self.approve(&question)? {
            return Err(DeployError::Declined);
        }
        let before = self.baseline(stack).await;
        self.patiently(|| self.cloud.delete_stack(stack)).await?;
        let settled = self.wait(stack, Operation::Delete, before).await?;
        if settled.stack.is_some() {
            return Err(self.failure(stack, &settled));
        }
        self.say(&format!("Deleted {stack}."))
    }

    fn failure(&self, stack: &str, settled: &Settled) -> DeployError {
        DeployError::Failed {
            stack: stack.to_owned(),
            status: settled.status().to_owned(),
            interrupted: settled.interrupted,
            root_cause: settled.first_failure.clone().map(Box::new),
        }
    }

    /// The events a stack already has before an operation starts, so only
    /// the operation's own are reported (by id: immune to clock skew).
    async fn baseline(&self, stack: &str) -> Baseline {
        let seen = match self.cloud.stack_events(stack).await {
            Ok(events) => events.into_iter().map(|e| e.event_id).collect(),
            Err(_) => HashSet::new(),
        };
        Baseline {
            seen,
            started_ms: now_ms(),
        }
    }

    /// Polls until the operation settles, reporting new events, backing off
    /// when throttled and turning a first Ctrl-C into a cancel.
    async fn wait(
        &mut self,
        stack: &str,
        mut operation: Operation,
        baseline: Baseline,
    ) -> Result<Settled, DeployError> {
        let mut events = EventLog::new(baseline, self.ui.live);
        let mut delay = self.poll.interval;
        let mut heard_ctrl_c = false;
        let mut interrupted = false;
        let mut errors = 0;
        let outcome = loop {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                Some(()) = self.interrupts.0.recv(), if !heard_ctrl_c => {
                    heard_ctrl_c = true;
                    (operation, interrupted) = self.cancel(stack, operation).await?;
                    continue;
                }
            }
            // Events first, so the last ones are shown before the end.
            self.report_new_events(stack, &mut events).await?;
            match self.cloud.describe_stack(stack).await {
                Ok(current) if has_ended(current.as_ref(), operation) => break Ok(current),
                Ok(_) => {
                    errors = 0;
                    delay = self.poll.interval;
                }
                Err(CloudError::Throttled(_)) => delay = self.backoff(delay),
                Err(error) => {
                    errors += 1;
                    if errors >= self.poll.max_errors {
                        break Err(error);
                    }
                    delay = self.backoff(delay);
                }
            }
        };
        let first_failure = events.finish();
        match outcome {
            Ok(stack) => Ok(Settled {
                stack,
                interrupted,
                first_failure,
            }),
            Err(error) => Err(DeployError::LostContact {
                stack: stack.to_owned(),
                error,
            }),
        }
    }

    fn backoff(&self, delay: Duration) -> Duration {
        (delay * 2).min(self.poll.max_interval)
    }

    /// Shows the events not seen yet, oldest first, and keeps the failures.
    /// A failed read is retried on the next poll.
    async fn report_new_events(
        &mut self,
        stack: &str,
        log: &mut EventLog,
    ) -> Result<(), DeployError> {
        let Ok(events) = self.cloud.stack_events(stack).await else {
            return Ok(());
        };
        let mut fresh: Vec<_> = events
            .into_iter()
            .filter(|e| log.seen.insert(e.event_id.clone()))
            .collect();
        fresh.sort_by_key(|e| e.timestamp_ms);
        for event in fresh {
            log.progress
                .event(self.ui.out, &event)
                .map_err(DeployError::Output)?;
            if is_root_cause(&event) {
                log.failures.push(event);
            }
        }
        Ok(())
    }

    /// Ctrl-C: delete a stack being created, cancel an update; a delete
    /// cannot be stopped. Returns the operation now awaited, and whether
    /// the one running was stopped.
    async fn cancel(
        &mut self,
        stack: &str,
        operation: Operation,
    ) -> Result<(Operation, bool), DeployError> {
        match operation {
            Operation::Create => {
                self.say(
                    "Interrupted: deleting the stack being created (Ctrl-C again to exit now).",
                )?;
                self.patiently(|| self.cloud.delete_stack(stack)).await?;
                Ok((Operation::Delete, true))
            }
            Operation::Update => {
                self.say("Interrupted: cancelling the update, CloudFormation rolls it back (Ctrl-C again to exit now).")?;
                match self.patiently(|| self.cloud.cancel_update(stack)).await {
                    Ok(()) => Ok((Operation::Update, true)),
                    // Refused once the update is past UPDATE_IN_PROGRESS
                    // (cleaning up, or already rolling back).
                    Err(refusal) => {
                        self.say(&format!(
                            "Too late to cancel ({refusal}): the update goes on; waiting for its result."
                        ))?;
                        Ok((Operation::Update, false))
                    }
                }
            }
            Operation::Delete => {
                self.say("A deletion cannot be stopped; waiting for it to end (Ctrl-C again to exit now).")?;
                Ok((Operation::Delete, false))
            }
        }
    }
}
