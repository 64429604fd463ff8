//! One log group per function, owned by the stack.

use crate::cfn::logs::LogGroup;
use crate::cfn::{
    Expr, LogicalId, Pseudo, Resource, RetentionPolicy, SubPart, Template, TemplateError,
};

use super::{FunctionProps, Grants};

/// How long function logs are kept.
const RETENTION_DAYS: u32 = 14;

/// A function's log group. Created by the stack rather than by Lambda on
/// first write, so it has a retention period and is deleted with the stack.
#[derive(Debug)]
pub struct FunctionLogs {
    id: LogicalId,
}

impl FunctionLogs {
    /// The logical id of the log group of the function whose logical ids
    /// start with `logical_prefix` (`chatstack logs` finds the groups of a
    /// stage by it).
    pub fn logical_id(logical_prefix: &str) -> String {
        format!("{logical_prefix}LogGroup")
    }

    /// The group `/aws/lambda/<stack>-<function>` of `function`'s logs.
    pub fn add_to(
        template: &mut Template,
        function: &FunctionProps,
    ) -> Result<Self, TemplateError> {
        let group = LogGroup {
            log_group_name: Some(Expr::sub([
                "/aws/lambda/".into(),
                Pseudo::StackName.into(),
                SubPart::Text(format!("-{}", function.name)),
            ])),
            retention_in_days: Some(RETENTION_DAYS),
        };
        let id = template.add(
            &Self::logical_id(function.logical_prefix),
            Resource::new(group)
                .retention(RetentionPolicy::Delete)
                .skip_checkov(
                    "CKV_AWS_158",
                    "CloudWatch Logs encrypts at rest already; the logs hold no secrets",
                ),
        )?;
        Ok(FunctionLogs { id })
    }

    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    /// Lets the function write log streams of this group only.
    pub fn grant_write(&self, grants: &mut Grants) {
        // The group's Arn attribute ends in `:*`, which covers its streams.
        grants.allow(
            "WriteOwnLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![Expr::arn_of(&self.id)],
        );
    }
}
