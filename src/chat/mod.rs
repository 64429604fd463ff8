//! The chat app for one stage, composed from [`crate::cfn`] resources.
//!
//! The constructs add a piece of the app each, with what it needs
//! ([`LambdaFunction`], [`WebSocketApi`], [`WebSocketStage`],
//! [`ConnectionsTable`]). Permissions are granted by the resource being
//! accessed ([`ConnectionsTable::grant`],
//! [`WebSocketApi::grant_manage_connections`], [`FunctionLogs::grant_write`])
//! to an [`ExecutionRole`] being assembled. The functions are one list,
//! [`FUNCTIONS`].

mod api;
mod authorizer;
mod fanout;
mod function;
mod functions;
mod logs;
mod notify;
mod role;
mod schedule;
mod stage;
mod table;

pub use crate::stage_name::{BOOTSTRAP_STACK, StageName, StageNameError};
pub use api::{ConnectionMethod, WebSocketApi};
pub use authorizer::{TOKEN_SECRET_OUTPUT, TokenSecret, add_token_authorizer};
pub use fanout::FanoutQueue;
pub use function::{ASSETS_BUCKET_PARAMETER, CodeBucket, LambdaFunction};
pub use functions::{FUNCTIONS, FanoutPart, FunctionSpec, Trigger, is_code_key_parameter};
pub use logs::FunctionLogs;
pub use notify::{NOTIFY_PATH, NOTIFY_ROUTE, NOTIFY_URL_OUTPUT, NotifyEndpoint};
pub use role::ExecutionRole;
pub use schedule::{add_push_schedule, scheduled_event};
pub use stage::{CALLBACK_URL_OUTPUT, WEBSOCKET_URL_OUTPUT, WebSocketStage};
pub use table::{ConnectionsTable, TableAction};

use crate::cfn::{Template, TemplateError};
use crate::settings::StageSettings;

/// The complete template of the chat app for `stage`, with what its
/// `settings` add (none: the guide's app exactly).
pub fn template(stage: &StageName, settings: &StageSettings) -> Result<Template, TemplateError> {
    let mut template = Template::new(&format!(
        "chatstack: serverless WebSocket chat (API Gateway, Lambda, DynamoDB), stage {stage}"
    ));
    let code = CodeBucket::add_to(&mut template)?;
    let table = ConnectionsTable::add_to(&mut template, settings.authorization)?;
    let mut api = WebSocketApi::add_to(&mut template, stage)?;
    let fanout = FanoutQueue::add_to(&mut template, settings.broadcast)?;
    let secret = if settings.authorization {
        Some(add_token_authorization(&mut template, &mut api, &code)?)
    } else {
        None
    };
    let mut notify = None;
    for spec in FUNCTIONS {
        // The authorizer is added above, before the route it guards.
        let present =
            spec.in_every_stage() || (spec.trigger == Trigger::Notify && settings.has_notify());
        if !present {
            continue;
        }
        // $connect counts a user's connections where there are users.
        let counts_users = spec.trigger == Trigger::WebSocketRoute("$connect");
        let grant = |role: &mut ExecutionRole| {
            table.grant(role, spec.table_actions);
            api.grant_manage_connections(role, spec.connection_methods);
            fanout.grant(role, spec.fanout);
            if counts_users {
                table.grant_user_count(role);
            }
        };
        let mut environment = table.environment();
        if counts_users {
            environment.extend(table.user_count_environment(settings.limits.connections_per_user));
        }
        if !spec.connection_methods.is_empty() {
            environment.extend(api.management_environment());
        }
        if spec.fanout != FanoutPart::None {
            environment.extend(fanout.environment());
        }
        if spec.fanout == FanoutPart::Works {
            environment.extend(fanout.worker_environment());
        }
        if spec.trigger == Trigger::WebSocketRoute("sendmessage") {
            environment.insert(
                chat_contract::MESSAGES_PER_MINUTE_VAR.to_owned(),
                settings.limits.messages_per_minute.0.to_string().into(),
            );
        }
        let function = LambdaFunction::add_to(&mut template, spec, &code, grant, environment)?;
        match spec.trigger {
            Trigger::WebSocketRoute(route_key) => {
                api.add_route(&mut template, route_key, &function)?
            }
            Trigger::Notify => notify = Some(function),
            Trigger::FanoutQueue => fanout.add_worker(&mut template, &function)?,
            Trigger::Authorizer => {}
        }
    }
    if let Some(function) = &notify {
        NotifyEndpoint::add_to(&mut template, function)?.add_outputs(&mut template)?;
        if let Some(schedule) = &settings.schedule {
            add_push_schedule(&mut template, function, schedule)?;
        }
    }
    let stage = WebSocketStage::add_to(&mut template, api)?;
    stage.add_outputs(&mut template)?;
    table.add_output(&mut template)?;
    fanout.add_output(&mut template)?;
    if let Some(secret) = &secret {
        secret.add_output(&mut template)?;
    }
    Ok(template)
}

/// Connecting takes a token: the secret, the authorizer function that may
/// read it, and the authorizer on `$connect`, added before the route.
fn add_token_authorization(
    template: &mut Template,
    api: &mut WebSocketApi,
    code: &CodeBucket,
) -> Result<TokenSecret, TemplateError> {
    let secret = TokenSecret::add_to(template)?;
    let spec = FUNCTIONS
        .iter()
        .find(|spec| spec.trigger == Trigger::Authorizer)
        .ok_or_else(|| TemplateError::Missing("the authorizer function".to_owned()))?;
    let function = LambdaFunction::add_to(
        template,
        spec,
        code,
        |role| secret.grant_read(role),
        secret.environment(),
    )?;
    add_token_authorizer(template, api, &function)?;
    Ok(secret)
}
