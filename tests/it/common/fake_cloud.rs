//! A scripted CloudFormation and S3: each stack answers describe calls from
//! a queue of statuses, so a test can walk any path an operation can take.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chatstack::aws::{CloudError, Stack, StackReader};
use chatstack::deploy::cloud::{
    AccountConcurrency, ChangeSet, ChangeSetRequest, Cloud, StackEvent,
};

/// A status meaning "the stack no longer exists".
pub const GONE: &str = "GONE";

#[derive(Debug, Default)]
pub struct FakeStack {
    /// Statuses returned by successive describes; the last one repeats.
    pub statuses: VecDeque<String>,
    pub outputs: Vec<(String, String)>,
    pub events: Vec<StackEvent>,
    /// Statuses to play after execute, delete and cancel.
    pub after_execute: Vec<String>,
    pub after_delete: Vec<String>,
    pub after_cancel: Vec<String>,
    /// Events that appear once an operation (execute or delete) starts.
    pub events_after_execute: Vec<StackEvent>,
    pub physical_ids: BTreeMap<String, String>,
    pub parameters: Vec<(String, String)>,
    /// The template last deployed.
    pub template_body: Option<String>,
}

#[derive(Debug, Default)]
pub struct State {
    pub stacks: BTreeMap<String, FakeStack>,
    /// What describe_change_set answers.
    pub change_set: Option<ChangeSet>,
    /// Error CreateChangeSet answers instead, if any.
    pub create_change_set_error: Option<CloudError>,
    pub requests: Vec<ChangeSetRequest>,
    pub objects: BTreeSet<(String, String)>,
    /// Objects tagged, with the tag.
    pub tags: BTreeMap<String, (String, String)>,
    /// Errors the next describe_stack calls return first.
    pub describe_errors: VecDeque<CloudError>,
    /// Errors queued for describe_stack once a change set is executed.
    pub describe_errors_after_execute: Vec<CloudError>,
    /// Send a Ctrl-C when describe_stack has been called this many times
    /// after an execute.
    pub interrupt_at: Option<(usize, tokio::sync::mpsc::UnboundedSender<()>)>,
    pub describes_since_execute: usize,
    /// What CancelUpdateStack answers instead of cancelling, if anything.
    pub cancel_error: Option<CloudError>,
    /// Every mutating call, in order.
    pub calls: Vec<String>,
    /// What GetAccountSettings answers (default: AWS's usual 1,000).
    pub concurrency: Option<Result<AccountConcurrency, CloudError>>,
    /// The body of each object put, by key.
    pub bodies: BTreeMap<String, Vec<u8>>,
    /// The region deployed to (default `eu-west-1`).
    pub region: Option<String>,
    /// What GET /account says of API Gateway's CloudWatch role (default:
    /// one is set).
    pub logs_role: Option<Result<Option<String>, CloudError>>,
}

#[derive(Debug, Default)]
pub struct FakeCloud {
    pub state: RefCell<State>,
}

pub fn statuses(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn event(
    id: &str,
    at_ms: i64,
    logical: &str,
    kind: &str,
    status: &str,
    reason: Option<&str>,
) -> StackEvent {
    StackEvent {
        event_id: id.to_owned(),
        timestamp_ms: at_ms,
        logical_id: logical.to_owned(),
        resource_type: kind.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
    }
}

impl FakeCloud {
    pub fn with_stack(self, name: &str, stack: FakeStack) -> Self {
        self.state
            .borrow_mut()
            .stacks
            .insert(name.to_owned(), stack);
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.state.borrow().calls.clone()
    }

    fn play(stack: &mut FakeStack, script: Vec<String>) {
        stack.statuses = script.into();
        let fresh = std::mem::take(&mut stack.events_after_execute);
        stack.events.extend(fresh);
    }
}

impl StackReader for FakeCloud {
    async fn describe_stack(&self, name: &str) -> Result<Option<Stack>, CloudError> {
        let mut state = self.state.borrow_mut();
        if let Some(error) = state.describe_errors.pop_front() {
            return Err(error);
        }
        state.describes_since_execute += 1;
        let due =
            matches!(&state.interrupt_at, Some((at, _)) if state.describes_since_execute >= *at);
        if due && let Some((_, sender)) = state.interrupt_at.take() {
            let _ = sender.send(());
        }
        let Some(stack) = state.stacks.get_mut(name) else {
            return Ok(None);
        };
        let status = if stack.statuses.len() > 1 {
            stack.statuses.pop_front()
        } else {
            stack.statuses.front().cloned()
        };
        match status.as_deref() {
            None | Some(GONE) => Ok(None),
            Some(status) => Ok(Some(Stack {
                name: name.to_owned(),
                status: status.to_owned(),
                status_reason: None,
                updated_ms: None,
                outputs: stack.outputs.clone(),
                parameters: stack.parameters.clone(),
            })),
        }
    }
}

impl Cloud for FakeCloud {
    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<String, CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!(
            "create_change_set {} {:?}",
            request.stack, request.kind
        ));
        state.requests.push(request.clone());
        if let Some(error) = state.create_change_set_error.clone() {
            return Err(error);
        }
        state
            .stacks
            .entry(request.stack.clone())
            .or_insert_with(|| FakeStack {
                statuses: statuses(&["REVIEW_IN_PROGRESS"]).into(),
                ..FakeStack::default()
            });
        Ok(format!("cs-{}", request.name))
    }

    async fn describe_change_set(&self, _id: &str) -> Result<ChangeSet, CloudError> {
        let state = self.state.borrow();
        Ok(state.change_set.clone().unwrap_or(ChangeSet {
            status: "CREATE_COMPLETE".into(),
            status_reason: None,
            changes: Vec::new(),
        }))
    }

    async fn execute_change_set(&self, id: &str) -> Result<(), CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!("execute_change_set {id}"));
        state.describes_since_execute = 0;
        let errors = std::mem::take(&mut state.describe_errors_after_execute);
        state.describe_errors.extend(errors);
        let stack_name = state
            .requests
            .last()
            .map(|r| r.stack.clone())
            .unwrap_or_default();
        let request = state.requests.last().cloned().expect("a change set");
        let stack = state
            .stacks
            .get_mut(&stack_name)
            .expect("change set's stack");
        stack.parameters = request.parameters;
        stack.template_body = Some(request.template.body);
        let script = stack.after_execute.clone();
        FakeCloud::play(stack, script);
        Ok(())
    }

    async fn delete_change_set(&self, id: &str) -> Result<(), CloudError> {
        self.state
            .borrow_mut()
            .calls
            .push(format!("delete_change_set {id}"));
        Ok(())
    }

    async fn delete_stack(&self, name: &str) -> Result<(), CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!("delete_stack {name}"));
        if let Some(stack) = state.stacks.get_mut(name) {
            let script = if stack.after_delete.is_empty() {
                statuses(&["DELETE_IN_PROGRESS", GONE])
            } else {
                stack.after_delete.clone()
            };
            FakeCloud::play(stack, script);
        }
        Ok(())
    }

    async fn cancel_update(&self, name: &str) -> Result<(), CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!("cancel_update {name}"));
        if let Some(error) = state.cancel_error.clone() {
            return Err(error);
        }
        if let Some(stack) = state.stacks.get_mut(name) {
            stack.statuses = stack.after_cancel.clone().into();
        }
        Ok(())
    }

    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let state = self.state.borrow();
        Ok(state
            .stacks
            .get(stack)
            .and_then(|s| s.physical_ids.get(logical_id).cloned())
            .or_else(|| Some(format!("{stack}-{logical_id}-physical").to_lowercase())))
    }

    async fn stack_events(&self, name: &str) -> Result<Vec<StackEvent>, CloudError> {
        let state = self.state.borrow();
        let mut events = state
            .stacks
            .get(name)
            .map(|s| s.events.clone())
            .unwrap_or_default();
        events.reverse(); // newest first, as CloudFormation answers
        Ok(events)
    }

    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, CloudError> {
        let state = self.state.borrow();
        if !state.objects.contains(&(bucket.to_owned(), key.to_owned())) {
            return Ok(None);
        }
        Ok(Some(state.tags.get(key).cloned().into_iter().collect()))
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!("put_object {key}"));
        state.objects.insert((bucket.to_owned(), key.to_owned()));
        // A new object, as in S3: no tags unless the put sets them.
        state.tags.remove(key);
        state.bodies.insert(key.to_owned(), body);
        Ok(())
    }

    async fn account_concurrency(&self) -> Result<AccountConcurrency, CloudError> {
        self.state
            .borrow()
            .concurrency
            .clone()
            .unwrap_or(Ok(AccountConcurrency {
                total: 1000,
                unreserved: 1000,
            }))
    }

    fn region(&self) -> String {
        self.state
            .borrow()
            .region
            .clone()
            .unwrap_or_else(|| "eu-west-1".to_owned())
    }

    async fn api_gateway_logs_role(&self) -> Result<Option<String>, CloudError> {
        self.state.borrow().logs_role.clone().unwrap_or_else(|| {
            Ok(Some(
                "arn:aws:iam::123456789012:role/apigateway-cloudwatch".to_owned(),
            ))
        })
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.s3.fake-region.amazonaws.com/{key}")
    }

    async fn template_body(&self, stack: &str) -> Result<Option<String>, CloudError> {
        let state = self.state.borrow();
        Ok(state
            .stacks
            .get(stack)
            .and_then(|s| s.template_body.clone()))
    }

    async fn tag_object(
        &self,
        _bucket: &str,
        key: &str,
        (tag_key, tag_value): (&str, &str),
    ) -> Result<(), CloudError> {
        let mut state = self.state.borrow_mut();
        state.calls.push(format!("tag_object {key}"));
        state
            .tags
            .insert(key.to_owned(), (tag_key.to_owned(), tag_value.to_owned()));
        Ok(())
    }
}

/// A stack that exists, with `outputs`.
pub fn deployed_with_outputs(outputs: &[(&str, &str)]) -> FakeStack {
    FakeStack {
        statuses: statuses(&["UPDATE_COMPLETE"]).into(),
        outputs: outputs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..FakeStack::default()
    }
}
