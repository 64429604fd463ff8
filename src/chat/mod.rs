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
mod function;
mod functions;
mod logs;
mod role;
mod stage;
mod stage_name;
mod table;

pub use api::{ConnectionMethod, WebSocketApi};
pub use function::{ASSETS_BUCKET_PARAMETER, CodeBucket, LambdaFunction};
pub use functions::{FUNCTIONS, FunctionSpec, is_code_key_parameter};
pub use logs::FunctionLogs;
pub use role::ExecutionRole;
pub use stage::WebSocketStage;
pub use stage_name::{BOOTSTRAP_STACK, StageName, StageNameError};
pub use table::{ConnectionsTable, TableAction};

use crate::cfn::{Template, TemplateError};

/// The complete template of the chat app for `stage`.
pub fn template(stage: &StageName) -> Result<Template, TemplateError> {
    let mut template = Template::new(&format!(
        "chatstack: serverless WebSocket chat (API Gateway, Lambda, DynamoDB), stage {stage}"
    ));
    let code = CodeBucket::add_to(&mut template)?;
    let table = ConnectionsTable::add_to(&mut template)?;
    let mut api = WebSocketApi::add_to(&mut template, stage)?;
    for spec in FUNCTIONS {
        let grant = |role: &mut ExecutionRole| {
            table.grant(role, spec.table_actions);
            api.grant_manage_connections(role, spec.connection_methods);
        };
        let mut environment = table.environment();
        if !spec.connection_methods.is_empty() {
            environment.extend(api.management_environment());
        }
        let function = LambdaFunction::add_to(&mut template, spec, &code, grant, environment)?;
        api.add_route(&mut template, &function)?;
    }
    let stage = WebSocketStage::add_to(&mut template, api)?;
    stage.add_outputs(&mut template)?;
    table.add_output(&mut template)?;
    Ok(template)
}
