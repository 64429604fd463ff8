//! `chatstack deployer-policy` against what the code calls and what
//! CloudFormation needs: every `Cloud` method chatstack calls, and the
//! handler permissions of each resource type's CloudFormation schema (as
//! cfn-lint ships them), are granted or left out with a reason; IAM (moto's
//! validator) accepts the document, within the managed-policy size quota.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::moto::Moto;
use crate::common::{ROOT, python_tool};
use chatstack::deploy::aws::CLOUD_CALLS;
use chatstack::deploy::policy::{NOT_USED, allows, deployer_policy, not_used, operations_policy};
use serde_json::Value;

/// The methods of the `Cloud` trait and of `StackReader`, the part of it
/// the shared AWS layer holds, read from their sources.
fn cloud_methods() -> BTreeSet<String> {
    let methods = |file: &str, declaration: &str| {
        let source = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let body = source
            .split_once(declaration)
            .unwrap_or_else(|| panic!("{declaration} in {file}"))
            .1
            .to_owned();
        let body = &body[..body.find("\n}").unwrap()];
        body.split("fn ")
            .skip(1)
            .map(|rest| rest[..rest.find(['(', '<']).unwrap()].to_owned())
            .collect::<Vec<_>>()
    };
    methods("src/deploy/cloud.rs", "pub trait Cloud: StackReader {")
        .into_iter()
        .chain(methods("src/aws.rs", "pub trait StackReader {"))
        .collect()
}

#[test]
fn every_call_the_code_makes_is_named_and_granted() {
    let named: BTreeSet<String> = CLOUD_CALLS.iter().map(|(m, _)| (*m).to_owned()).collect();
    assert_eq!(
        named,
        cloud_methods(),
        "CLOUD_CALLS names every Cloud method"
    );
    for (method, actions) in CLOUD_CALLS {
        for action in *actions {
            assert!(
                allows(action),
                "{method} calls {action}, which the policy lacks"
            );
        }
    }
}

/// Where cfn-lint keeps CloudFormation's resource schemas.
fn schemas_dir() -> PathBuf {
    let output = Command::new(python_tool("python"))
        .args([
            "-c",
            "import cfnlint.data.schemas as s, os; print(os.path.dirname(s.__file__))",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// The resource types of every template deploy sends: the assets bucket's,
/// a stage with every setting, one with a user pool of its own, and one run
/// in production (a domain, logs, alarms).
fn resource_types() -> BTreeSet<String> {
    let settings = chatstack::settings::Settings::parse(
        "[stages.all]\nnotify = true\nauthorization = true\n\
         [stages.all.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"m\"\n\
         [stages.pool.authorization]\ncognito = true\n\
         [stages.ops.domain]\nname = \"chat.example.com\"\n\
         certificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n\
         hosted_zone_id = \"Z0123456789ABCDEFGHIJ\"\n\
         [stages.ops.logging]\naccess = true\nexecution = \"ERROR\"\n\
         [stages.ops.alarms]\nemail = \"ops@example.com\"\n",
        Path::new("chatstack.toml"),
    )
    .unwrap();
    let chat = |stage: &str| {
        let stage = stage.parse().unwrap();
        chatstack::chat::template(&stage, &settings.stage(&stage)).unwrap()
    };
    let bootstrap = chatstack::deploy::bootstrap::template().unwrap();
    [chat("all"), chat("pool"), chat("ops"), bootstrap]
        .iter()
        .flat_map(|t| {
            let value = serde_json::to_value(t).unwrap();
            value["Resources"]
                .as_object()
                .unwrap()
                .values()
                .map(|r| r["Type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_permission_cloudformation_needs_is_granted_or_left_out_with_a_reason() {
    let dir = schemas_dir();
    let read = |path: PathBuf| -> Value {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let providers = read(dir.join("providers/us-east-1.json"));
    let mut missing = Vec::new();
    let mut used_exclusions = BTreeSet::new();
    let types = resource_types();
    assert!(types.len() >= 15, "{types:?}");
    for kind in &types {
        let hash = providers[kind]
            .as_str()
            .unwrap_or_else(|| panic!("no schema for {kind}"));
        let schema = read(dir.join(format!("resources/{hash}.json")));
        for handler in ["create", "read", "update", "delete"] {
            for permission in schema["handlers"][handler]["permissions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let permission = permission.as_str().unwrap();
                if allows(permission) {
                    continue;
                }
                match not_used(permission) {
                    Some((prefix, _why)) => {
                        used_exclusions.insert(*prefix);
                    }
                    None => missing.push(format!("{kind} {handler}: {permission}")),
                }
            }
        }
    }
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "granted nowhere, left out for no reason"
    );
    let stale: Vec<&str> = NOT_USED
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !used_exclusions.contains(p))
        .collect();
    assert_eq!(stale, Vec::<&str>::new(), "exclusions no schema asks for");
}

#[test]
fn chatstack_deployer_policy_prints_two_policies_iam_accepts() {
    let moto = Moto::start();
    for (flags, expected, name) in [
        (
            &["deployer-policy"][..],
            deployer_policy(),
            "chatstack-deployer",
        ),
        (
            &["deployer-policy", "--operations"][..],
            operations_policy(),
            "chatstack-deployer-operations",
        ),
    ] {
        let output = common::chatstack(flags);
        assert!(output.status.success(), "{output:?}");
        let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_eq!(printed, expected);
        // IAM's quota for a managed policy, not counting white space.
        let size = serde_json::to_string(&printed).unwrap().len();
        assert!(size <= 6_144, "{name}: {size} characters");
        let document = serde_json::to_string(&printed).unwrap();
        let created = moto.boto3(&format!(
            "p = boto3.client('iam', **kw).create_policy(PolicyName='{name}', PolicyDocument={document:?})\n\
             print(p['Policy']['PolicyName'])"
        ));
        assert_eq!(created, name);
    }
}
