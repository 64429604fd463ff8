//! The AWS calls deploy makes, behind a trait so every path (rollback,
//! throttling, no-op, Ctrl-C) can be driven by a fake.

pub use crate::aws::{CloudError, Stack, StackReader};

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub event_id: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// Whether a change set creates the stack or updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSetKind {
    Create,
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetRequest {
    pub stack: String,
    pub name: String,
    pub kind: ChangeSetKind,
    pub template: TemplateSource,
    /// Parameter key and value.
    pub parameters: Vec<(String, String)>,
}

/// A template as a change set takes it: inline, or (past CloudFormation's
/// 51,200-byte `TemplateBody` limit) from an S3 object deploy uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    /// The template itself, as deployed.
    pub body: String,
    /// Where CloudFormation reads it instead of `body`, when set.
    pub url: Option<String>,
}

/// The account's Lambda concurrency in one region (GetAccountSettings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConcurrency {
    /// Concurrent executions the account may have.
    pub total: u32,
    /// What is left of them once every reserved concurrency is taken.
    pub unreserved: u32,
}

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, ...
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for modifications.
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: String,
    pub status_reason: Option<String>,
    pub changes: Vec<Change>,
}

/// CloudFormation and S3, as deploy uses them.
// Used only through generics, never boxed or sent across tasks, so the
// futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Cloud: StackReader {
    /// Returns the change set's id.
    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<String, CloudError>;
    async fn describe_change_set(&self, id: &str) -> Result<ChangeSet, CloudError>;
    async fn execute_change_set(&self, id: &str) -> Result<(), CloudError>;
    async fn delete_change_set(&self, id: &str) -> Result<(), CloudError>;
    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError>;
    async fn cancel_update(&self, stack: &str) -> Result<(), CloudError>;
    /// The physical id of one resource of a stack (a bucket's name, ...).
    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError>;
    /// The most recent events, newest first.
    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError>;
    /// The object's tags (key and value), or `None` when it does not exist.
    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, CloudError>;
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), CloudError>;
    /// The template a stack was last deployed with, as it was sent.
    async fn template_body(&self, stack: &str) -> Result<Option<String>, CloudError>;
    /// The account's Lambda concurrency in the region deployed to.
    async fn account_concurrency(&self) -> Result<AccountConcurrency, CloudError>;
    /// The region deployed to.
    fn region(&self) -> String;
    /// The role API Gateway writes CloudWatch logs with, set once for the
    /// account and region (`GET /account`'s `cloudwatchRoleArn`); `None`
    /// when there is none.
    async fn api_gateway_logs_role(&self) -> Result<Option<String>, CloudError>;
    /// The `https://` URL of an object, as CloudFormation's `TemplateURL`
    /// takes it.
    fn object_url(&self, bucket: &str, key: &str) -> String;
    /// Sets the object's tags to the one `tag` (key and value).
    async fn tag_object(
        &self,
        bucket: &str,
        key: &str,
        tag: (&str, &str),
    ) -> Result<(), CloudError>;
}
