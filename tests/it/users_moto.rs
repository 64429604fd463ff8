//! `chatstack users` and `chatstack token` against a deployed stage's user
//! pool, through the real SDK against moto's Cognito (which signs real
//! JWTs). moto's CloudFormation does not make Cognito resources (and drops
//! the outputs of stacks made by change sets), so the pool is made with
//! boto3 and a stand-in stack holds the outputs a `cognito = true` stage's
//! stack has; the pool's template itself is checked by the snapshot,
//! cfn-lint and checkov.

use base64::Engine;
use serde_json::Value;

use crate::common::moto::Moto;

/// A pool with the template's app client, and stack `chatstack-<stage>`
/// whose outputs name it; the pool id and client id.
fn deployed_pool(moto: &Moto, stage: &str) -> (String, String) {
    let printed = moto.boto3(&format!(
        r#"idp = boto3.client('cognito-idp', **kw)
pool = idp.create_user_pool(PoolName='chatstack-{stage}',
    AdminCreateUserConfig={{'AllowAdminCreateUserOnly': True}},
    Policies={{'PasswordPolicy': {{'MinimumLength': 12, 'RequireLowercase': False,
        'RequireUppercase': False, 'RequireNumbers': False, 'RequireSymbols': False}}}})['UserPool']
client = idp.create_user_pool_client(UserPoolId=pool['Id'], ClientName='chatstack', GenerateSecret=False,
    ExplicitAuthFlows=['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'])['UserPoolClient']
issuer = 'https://cognito-idp.us-east-1.amazonaws.com/' + pool['Id']
template = {{'Resources': {{'Stand': {{'Type': 'AWS::SQS::Queue'}}}}, 'Outputs': {{
    'UserPoolId': {{'Value': pool['Id']}}, 'UserPoolClientId': {{'Value': client['ClientId']}},
    'OidcIssuer': {{'Value': issuer}}}}}}
boto3.client('cloudformation', **kw).create_stack(StackName='chatstack-{stage}', TemplateBody=json.dumps(template))
print(pool['Id'], client['ClientId'])"#
    ));
    let (pool, client) = printed.split_once(' ').expect("two ids");
    (pool.to_owned(), client.to_owned())
}

fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn users_of_a_stages_pool_are_added_listed_signed_in_and_removed() {
    let moto = Moto::start();
    let (pool, client) = deployed_pool(&moto, "pooled");
    let password = "a long enough passphrase";
    let users = |args: &[&str], input: &str| {
        let mut all = vec!["users"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--stage", "pooled"]);
        moto.chatstack_with_input(&all, input)
    };

    let added = users(&["add", "alice"], &format!("{password}\n"));
    assert!(added.status.success(), "{}", said(&added));
    assert!(
        users(&["add", "carol"], &format!("{password}\n"))
            .status
            .success()
    );
    let listed = users(&["list"], "");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let names: Vec<&str> = listed
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["alice", "carol"], "{listed}");
    assert!(
        listed.lines().all(|l| l.contains("\tCONFIRMED\tenabled\t")),
        "{listed}"
    );

    let token = moto.chatstack_with_input(
        &["token", "--stage", "pooled", "--user", "alice"],
        &format!("{password}\n"),
    );
    assert!(token.status.success(), "{}", said(&token));
    let token = String::from_utf8(token.stdout).unwrap();
    let claims = claims_of(token.trim());
    assert_eq!(claims["cognito:username"], "alice");
    assert_eq!(claims["aud"], client.as_str());
    assert_eq!(claims["token_use"], "id");
    assert_eq!(
        claims["iss"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}")
    );

    let ttl = moto.chatstack_with_input(
        &[
            "token", "--stage", "pooled", "--user", "alice", "--ttl", "2h",
        ],
        &format!("{password}\n"),
    );
    assert!(
        said(&ttl).contains("app client sets its ID tokens' lifetime"),
        "{}",
        said(&ttl)
    );
    let removed = users(&["remove", "carol"], "");
    assert!(removed.status.success(), "{}", said(&removed));
    let listed = users(&["list"], "");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).lines().count(),
        1,
        "{}",
        said(&listed)
    );
    let refused = moto.chatstack_with_input(
        &["token", "--stage", "pooled", "--user", "carol"],
        &format!("{password}\n"),
    );
    assert!(
        said(&refused).contains("wrong user name or password"),
        "{}",
        said(&refused)
    );
}

#[test]
fn stages_without_a_pool_of_their_own_say_where_tokens_come_from() {
    let moto = Moto::start();
    moto.boto3(
        r#"template = {'Resources': {'Stand': {'Type': 'AWS::SQS::Queue'}},
    'Outputs': {'OidcIssuer': {'Value': 'https://example.eu.auth0.com/'}}}
boto3.client('cloudformation', **kw).create_stack(StackName='chatstack-idp', TemplateBody=json.dumps(template))
open_template = {'Resources': {'Stand': {'Type': 'AWS::SQS::Queue'}}, 'Outputs': {'WebSocketUrl': {'Value': 'wss://x'}}}
boto3.client('cloudformation', **kw).create_stack(StackName='chatstack-open', TemplateBody=json.dumps(open_template))"#,
    );
    let token = moto.chatstack_with_input(&["token", "--stage", "idp", "--user", "a"], "");
    assert!(!token.status.success());
    assert!(
        said(&token).contains("stage idp trusts https://example.eu.auth0.com/: its tokens come from that identity provider"),
        "{}",
        said(&token)
    );
    let users = moto.chatstack_with_input(&["users", "list", "--stage", "idp"], "");
    assert!(
        said(&users).contains("has no user pool of its own")
            && said(&users).contains("manage its users there"),
        "{}",
        said(&users)
    );
    let open = moto.chatstack_with_input(&["token", "--stage", "open", "--user", "a"], "");
    assert!(
        said(&open).contains("does not require tokens"),
        "{}",
        said(&open)
    );
    let missing = moto.chatstack_with_input(&["users", "list", "--stage", "nowhere"], "");
    assert!(
        said(&missing).contains("deploy the stage first"),
        "{}",
        said(&missing)
    );
}
