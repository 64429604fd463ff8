//! The chat app for one stage, composed from [`crate::cfn`] resources.
//!
//! The constructs add a piece of the app each, from props of their own
//! ([`LambdaFunction`] from [`FunctionProps`], [`WebSocketStage`] from
//! [`StageProps`], routes from [`RouteOptions`]). A function's access is
//! granted by the resource it reaches ([`ConnectionsTable::grant`],
//! [`WebSocketApi::grant_manage_connections`], [`FanoutQueue::grant`],
//! [`TokenSecret::grant_read`]), each adding the IAM statement and the
//! environment variable together to the function's [`Grants`]. The app's
//! functions are one list, [`FUNCTIONS`]; [`template`] wires them.

mod api;
mod authorizer;
mod domain;
mod fanout;
mod function;
mod functions;
mod logs;
mod monitoring;
mod notify;
mod role;
mod schedule;
mod stage;
mod table;

pub use crate::stage_name::{BOOTSTRAP_STACK, StageName, StageNameError};
pub use api::{
    CONNECT_ROUTE, ConnectionMethod, RouteIntegration, RouteOptions, WEBSOCKET_API_ID, WebSocketApi,
};
pub use authorizer::{
    ConnectAuthorizer, IdentityProvider, MIN_PASSWORD_CHARS, OIDC_ISSUER_OUTPUT,
    TOKEN_SECRET_OUTPUT, TokenSecret, USER_POOL_CLIENT_OUTPUT, USER_POOL_OUTPUT,
    add_connect_authorizer,
};
pub use domain::{DOMAIN_TARGET_OUTPUT, DOMAIN_URL_OUTPUT, NOTIFY_DOMAIN_URL_OUTPUT};
pub use fanout::{FANOUT_DEAD_LETTERS_ID, FANOUT_QUEUE_ID, FanoutQueue};
pub use function::{
    ASSETS_BUCKET_PARAMETER, CodeBucket, FunctionProps, InvokedBy, LambdaFunction,
    code_key_parameter, is_code_key_parameter,
};
pub use functions::{Enforces, FUNCTIONS, FanoutPart, FunctionSpec, RouteSpec, Trigger};
pub use logs::FunctionLogs;
pub use monitoring::{ALARM_TOPIC_OUTPUT, DASHBOARD_OUTPUT, alarm_prefix};
pub use notify::{NOTIFY_PATH, NOTIFY_ROUTE, NOTIFY_URL_OUTPUT, NotifyEndpoint};
pub use role::Grants;
pub use schedule::{add_push_schedule, scheduled_event};
pub use stage::{
    ACCESS_LOG_GROUP_ID, ACCESS_LOG_OUTPUT, CALLBACK_URL_OUTPUT, StageProps, WEBSOCKET_URL_OUTPUT,
    WebSocketStage, access_log_format,
};
pub use table::{CONNECTIONS_TABLE_ID, ConnectionsTable, HistoryTable, MembersTable, TableAction};

use crate::cfn::{Template, TemplateError};
use crate::settings::{Authorization, Domain, Oidc, StageSettings};
use domain::CustomDomain;
use monitoring::{Watched, WatchedFunction};

/// A stack's outputs as people read them: the `wss://` URLs first (the
/// custom domain's, then the API's), the others by name.
pub fn outputs_in_reading_order<'a>(
    outputs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(&'a String, &'a String)> {
    let rank = |key: &str| match key {
        DOMAIN_URL_OUTPUT => 0,
        WEBSOCKET_URL_OUTPUT => 1,
        _ => 2,
    };
    let mut sorted: Vec<_> = outputs.into_iter().collect();
    sorted.sort_by(|(a, _), (b, _)| (rank(a), a).cmp(&(rank(b), b)));
    sorted
}

/// The complete template of the chat app for `stage`, with what its
/// `settings` add (none: the guide's app exactly).
pub fn template(stage: &StageName, settings: &StageSettings) -> Result<Template, TemplateError> {
    let mut template = Template::new(&format!(
        "chatstack: serverless WebSocket chat (API Gateway, Lambda, DynamoDB), stage {stage}"
    ));
    let code = CodeBucket::add_to(&mut template)?;
    let table = ConnectionsTable::add_to(&mut template, settings.authorization.has_users())?;
    let members = MembersTable::add_to(&mut template)?;
    let history = settings
        .history
        .map(|history| HistoryTable::add_to(&mut template, history))
        .transpose()?;
    let mut api = WebSocketApi::add_to(&mut template, stage)?;
    let fanout = FanoutQueue::add_to(&mut template, settings.broadcast)?;
    let authorization = add_authorization(&mut template, stage, &api, &code, settings)?;
    let tables = Tables {
        connections: &table,
        members: &members,
        history: history.as_ref(),
    };
    let wired = Wired {
        code: &code,
        settings,
        tables,
        fanout: &fanout,
        authorization: authorization.as_ref(),
    };
    let (functions, notify) = add_functions(&mut template, &mut api, &wired)?;
    let endpoint = notify
        .as_ref()
        .map(|function| add_push(&mut template, function, settings))
        .transpose()?;
    api.add_heartbeat_route(&mut template)?;
    let stage_props = StageProps {
        throttling: settings.throttling,
        logging: settings.logging,
    };
    let stage = WebSocketStage::add_to(&mut template, api, stage_props)?;
    add_outputs(
        &mut template,
        &stage,
        tables,
        &fanout,
        authorization.as_ref(),
    )?;
    if let Some(domain) = &settings.domain {
        add_domains(&mut template, domain, &stage, endpoint.as_ref())?;
    }
    if let Some(alarms) = &settings.alarms {
        let watched = Watched {
            stage: stage.name(),
            api: stage.api(),
            functions: &functions,
            tables: &tables.ids(&fanout),
            queue: fanout.queue(),
            dead_letters: fanout.dead_letters(),
        };
        monitoring::add_monitoring(&mut template, alarms, &watched)?;
    }
    Ok(template)
}

/// What the stage's functions are wired to.
struct Wired<'a> {
    code: &'a CodeBucket,
    settings: &'a StageSettings,
    tables: Tables<'a>,
    fanout: &'a FanoutQueue,
    authorization: Option<&'a StageAuthorization>,
}

/// Every function of the stage but the authorizer (added before the route
/// it guards), each with its grants and wired to its trigger: its routes,
/// the fan-out queue, or the notify endpoint. All of them, the authorizer
/// too, for the alarms; and the notify function, if the stage has one.
fn add_functions(
    template: &mut Template,
    api: &mut WebSocketApi,
    wired: &Wired,
) -> Result<(Vec<WatchedFunction>, Option<LambdaFunction>), TemplateError> {
    let settings = wired.settings;
    let mut notify = None;
    let mut functions: Vec<WatchedFunction> = wired
        .authorization
        .iter()
        .map(|with| with.function.clone())
        .collect();
    for spec in FUNCTIONS {
        if !(spec.in_every_stage() || spec.trigger == Trigger::Notify && settings.has_notify()) {
            continue;
        }
        let grants = grants_for(spec, settings, wired.tables, api, wired.fanout);
        let function = LambdaFunction::add_to(template, &spec.props(), wired.code, grants)?;
        functions.push(WatchedFunction {
            name: spec.name,
            logical_prefix: spec.logical_prefix,
            id: function.id().clone(),
        });
        match spec.trigger {
            Trigger::WebSocketRoutes(routes) => {
                let authorizer = wired.authorization.map(|with| &with.authorizer);
                let routes = routes
                    .iter()
                    .filter(|route| !route.needs_history || wired.tables.history.is_some());
                add_routes(template, api, &function, routes, authorizer)?;
            }
            Trigger::Notify => notify = Some(function),
            Trigger::FanoutQueue => wired.fanout.add_worker(template, &function)?,
            Trigger::Authorizer => {}
        }
    }
    Ok((functions, notify))
}

/// The notify endpoint for `function`, and the stage's schedule if it has one.
fn add_push(
    template: &mut Template,
    function: &LambdaFunction,
    settings: &StageSettings,
) -> Result<NotifyEndpoint, TemplateError> {
    let endpoint = NotifyEndpoint::add_to(template, function)?;
    endpoint.add_outputs(template)?;
    if let Some(schedule) = &settings.schedule {
        add_push_schedule(template, function, schedule)?;
    }
    Ok(endpoint)
}

/// The stage's custom domain, and the notify endpoint's if it has one.
fn add_domains(
    template: &mut Template,
    domain: &Domain,
    stage: &WebSocketStage,
    endpoint: Option<&NotifyEndpoint>,
) -> Result<(), TemplateError> {
    let zone = domain.hosted_zone_id.as_ref();
    let certificate = &domain.certificate_arn;
    let mapped = domain::Mapped {
        logical_prefix: "CustomDomain",
        api: stage.api(),
        stage: stage.id(),
    };
    let custom = CustomDomain::add_to(template, &domain.name, certificate, zone, mapped)?;
    custom.add_url_output(template, DOMAIN_URL_OUTPUT, "wss", "")?;
    custom.add_target_output(template)?;
    if let (Some(name), Some(endpoint)) = (&domain.notify_name, endpoint) {
        let (api, stage) = endpoint.api_and_stage();
        let mapped = domain::Mapped {
            logical_prefix: "NotifyDomain",
            api,
            stage,
        };
        CustomDomain::add_to(template, name, certificate, zone, mapped)?.add_url_output(
            template,
            NOTIFY_DOMAIN_URL_OUTPUT,
            "https",
            NOTIFY_PATH,
        )?;
    }
    Ok(())
}

/// The stage's outputs: its URLs, the tables, the fan-out queues and, with
/// tokens, the secret or the identity provider.
fn add_outputs(
    template: &mut Template,
    stage: &WebSocketStage,
    tables: Tables,
    fanout: &FanoutQueue,
    authorization: Option<&StageAuthorization>,
) -> Result<(), TemplateError> {
    stage.add_outputs(template)?;
    stage.add_access_log_output(template)?;
    tables.connections.add_output(template)?;
    if let Some(history) = tables.history {
        history.add_output(template)?;
    }
    fanout.add_output(template)?;
    match authorization.map(|with| &with.trusts) {
        Some(Trusted::Secret(secret)) => secret.add_output(template)?,
        Some(Trusted::Provider(provider)) => provider.add_outputs(template)?,
        None => {}
    }
    Ok(())
}

/// `function`'s routes; `authorizer` (a stage with tokens) guards
/// `$connect`, the only route API Gateway authorizes.
fn add_routes(
    template: &mut Template,
    api: &mut WebSocketApi,
    function: &LambdaFunction,
    routes: impl Iterator<Item = &'static RouteSpec>,
    authorizer: Option<&ConnectAuthorizer>,
) -> Result<(), TemplateError> {
    for route in routes {
        let options = RouteOptions {
            route_key: route.key,
            logical_prefix: route.logical_prefix,
            integration: RouteIntegration::Lambda(function),
            authorizer: authorizer.filter(|_| route.key == CONNECT_ROUTE),
        };
        api.add_route(template, options)?;
    }
    Ok(())
}

/// The stage's tables.
#[derive(Clone, Copy)]
struct Tables<'a> {
    connections: &'a ConnectionsTable,
    members: &'a MembersTable,
    /// On stages that keep history.
    history: Option<&'a HistoryTable>,
}

impl Tables<'_> {
    /// Every table of the stage, the fan-out's jobs table too.
    fn ids(&self, fanout: &FanoutQueue) -> Vec<crate::cfn::LogicalId> {
        [self.connections.id(), self.members.id()]
            .into_iter()
            .chain(self.history.map(HistoryTable::id))
            .chain([fanout.jobs()])
            .cloned()
            .collect()
    }
}

/// What `spec`'s function reaches, each granted by the resource with the
/// variable that names it, and the stage's limits it enforces.
fn grants_for(
    spec: &FunctionSpec,
    settings: &StageSettings,
    tables: Tables,
    api: &WebSocketApi,
    fanout: &FanoutQueue,
) -> Grants {
    let mut grants = Grants::new();
    let table = tables.connections;
    table.grant(&mut grants, spec.table_actions);
    tables.members.grant(&mut grants, spec.member_actions);
    if let Some(history) = tables.history {
        history.grant(&mut grants, spec.history_actions);
    }
    if spec.announces_presence {
        tables
            .members
            .grant_presence(&mut grants, settings.rooms.presence_limit);
    }
    if spec.enforces == Enforces::MessagesPerMinute {
        table.grant_message_count(&mut grants, settings.limits.messages_per_minute);
    }
    api.grant_manage_connections(&mut grants, spec.connection_methods);
    fanout.grant(&mut grants, spec.fanout);
    if spec.enforces == Enforces::ConnectionsPerUser {
        table.grant_user_count(&mut grants, settings.limits.connections_per_user);
    }
    grants
}

/// What a stage with tokens adds: the authorizer, and what it trusts.
struct StageAuthorization {
    trusts: Trusted,
    authorizer: ConnectAuthorizer,
    function: WatchedFunction,
}

enum Trusted {
    /// Tokens signed with the stage's secret.
    Secret(TokenSecret),
    /// An identity provider's tokens.
    Provider(IdentityProvider),
}

/// Connecting takes a token: the authorizer function, told what to trust
/// (the stage's secret, which it may read, or an identity provider), and
/// the authorizer, for the `$connect` route. `None` on an open stage.
fn add_authorization(
    template: &mut Template,
    stage: &StageName,
    api: &WebSocketApi,
    code: &CodeBucket,
    settings: &StageSettings,
) -> Result<Option<StageAuthorization>, TemplateError> {
    let mut grants = Grants::new();
    let (trusts, name) = match &settings.authorization {
        Authorization::Open => return Ok(None),
        Authorization::Tokens => {
            let secret = TokenSecret::add_to(template)?;
            secret.grant_read(&mut grants);
            (Trusted::Secret(secret), "token")
        }
        Authorization::Oidc(oidc) => (
            Trusted::Provider(trust_provider(template, stage, oidc, &mut grants)?),
            "oidc",
        ),
    };
    let spec = FUNCTIONS
        .iter()
        .find(|spec| spec.trigger == Trigger::Authorizer)
        .ok_or_else(|| TemplateError::Missing("the authorizer function".to_owned()))?;
    let function = LambdaFunction::add_to(template, &spec.props(), code, grants)?;
    let authorizer = add_connect_authorizer(template, api, &function, name)?;
    Ok(Some(StageAuthorization {
        trusts,
        authorizer,
        function: WatchedFunction {
            name: spec.name,
            logical_prefix: spec.logical_prefix,
            id: function.id().clone(),
        },
    }))
}

fn trust_provider(
    template: &mut Template,
    stage: &StageName,
    oidc: &Oidc,
    grants: &mut Grants,
) -> Result<IdentityProvider, TemplateError> {
    let provider = IdentityProvider::add_to(template, stage, oidc)?;
    provider.trust(grants, oidc);
    Ok(provider)
}
