//! A message pushed on a schedule: an EventBridge Scheduler schedule that
//! invokes the notify function, through a role that may invoke that
//! function and nothing else.

use crate::cfn::iam::{Effect, InlinePolicy, PolicyDocument, Role, Statement};
use crate::cfn::lambda::EventInvokeConfig;
use crate::cfn::scheduler::{
    FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Schedule, Target,
};
use crate::cfn::{Expr, Template, TemplateError};
use crate::settings;

use super::LambdaFunction;

/// A notice more than five minutes late is stale. Two queues can hold it:
/// Scheduler's, while Lambda refuses the invoke (its shortest bound, one
/// minute), then Lambda's own queue of asynchronous events, which by
/// default keeps them six hours and retries twice. Together: at most five
/// minutes before the push starts.
const SCHEDULER_EVENT_AGE_SECONDS: u32 = 60;
const SCHEDULER_RETRY_ATTEMPTS: u32 = 2;
const LAMBDA_EVENT_AGE_SECONDS: u32 = 240;
/// A push that failed may have reached some clients: Lambda does not run it
/// again, so nobody gets it twice.
const LAMBDA_RETRY_ATTEMPTS: u32 = 0;

/// The event the notify function receives from the schedule: the text,
/// and the room when the push is for one room's members.
pub fn scheduled_event(message: &str, room: Option<&str>) -> serde_json::Value {
    match room {
        Some(room) => serde_json::json!({ "text": message, "room": room }),
        None => serde_json::json!({ "text": message }),
    }
}

/// Adds the schedule and its role.
pub fn add_push_schedule(
    template: &mut Template,
    notify: &LambdaFunction,
    schedule: &settings::Schedule,
) -> Result<(), TemplateError> {
    let role = template.add("PushScheduleRole", invoke_role(notify))?;
    template.add(
        "PushSchedule",
        Schedule {
            schedule_expression: schedule.expression.as_str().to_owned(),
            flexible_time_window: FlexibleTimeWindow {
                mode: FlexibleTimeWindowMode::Off,
                maximum_window_in_minutes: None,
            },
            target: Target {
                arn: Expr::arn_of(notify.id()),
                role_arn: Expr::arn_of(&role),
                input: Some(
                    scheduled_event(
                        schedule.message.as_str(),
                        schedule.room.as_ref().map(settings::RoomName::as_str),
                    )
                    .to_string(),
                ),
                retry_policy: Some(RetryPolicy {
                    maximum_event_age_in_seconds: SCHEDULER_EVENT_AGE_SECONDS,
                    maximum_retry_attempts: SCHEDULER_RETRY_ATTEMPTS,
                }),
            },
            schedule_expression_timezone: schedule
                .timezone
                .as_ref()
                .map(|tz| tz.as_str().to_owned()),
            description: Some("chatstack: pushes the stage's scheduled message".to_owned()),
            state: Some("ENABLED".to_owned()),
        },
    )?;
    // Scheduler invokes asynchronously: bound what Lambda does after.
    template.add(
        "NotifyAsyncInvokeConfig",
        EventInvokeConfig {
            function_name: notify.id().into(),
            qualifier: "$LATEST".to_owned(),
            maximum_event_age_in_seconds: Some(LAMBDA_EVENT_AGE_SECONDS),
            maximum_retry_attempts: Some(LAMBDA_RETRY_ATTEMPTS),
        },
    )?;
    Ok(())
}

/// The role Scheduler takes: it may invoke the notify function, nothing else.
fn invoke_role(notify: &LambdaFunction) -> Role {
    Role {
        assume_role_policy_document: PolicyDocument::service_trust_for_this_account(
            "scheduler.amazonaws.com",
        ),
        description: Some(
            "Lets the chatstack push schedule invoke the notify function, and nothing else"
                .to_owned(),
        ),
        policies: vec![InlinePolicy {
            policy_name: "invoke-notify".to_owned(),
            policy_document: PolicyDocument::new(vec![Statement {
                sid: Some("InvokeNotify".to_owned()),
                effect: Effect::Allow,
                principal: None,
                action: vec!["lambda:InvokeFunction".to_owned()],
                resource: vec![Expr::arn_of(notify.id())],
                condition: Default::default(),
            }]),
        }],
    }
}
