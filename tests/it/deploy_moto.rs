//! The real SDK path of deploy and destroy against a moto server the test
//! starts. moto skips AWS::ApiGatewayV2 resources and reports only
//! stack-level events, so neither is asserted here (the fake covers them).

use std::process::{Command, Output};

use crate::common::moto::Moto;
use crate::common::scratch_dir;
use chatstack::chat::FUNCTIONS;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The S3 key each function's code came from, by function name prefix.
fn code_keys(moto: &Moto) -> String {
    moto.boto3(
        "l = boto3.client('lambda', **kw)\n\
         for f in sorted(l.list_functions()['Functions'], key=lambda f: f['FunctionName']):\n\
         \x20   print(f['FunctionName'].split('-')[2], l.get_function(FunctionName=f['FunctionName'])['Code']['Location'].split('/', 3)[3])",
    )
}

/// The keys of the assets bucket tagged for removal, sorted.
fn superseded_zips(moto: &Moto) -> String {
    moto.boto3(
        "s3 = boto3.client('s3', **kw)\n\
         b = [x['Name'] for x in s3.list_buckets()['Buckets'] if x['Name'].startswith('chatstack-bootstrap')][0]\n\
         keys = [o['Key'] for o in s3.list_objects_v2(Bucket=b)['Contents']]\n\
         print(sorted(k for k in keys if {'Key': 'chatstack:superseded', 'Value': 'true'} in s3.get_object_tagging(Bucket=b, Key=k)['TagSet']))",
    )
}

#[test]
fn deploy_creates_updates_and_destroy_removes_the_stage() {
    let moto = Moto::start();
    let zips = scratch_dir("deploy_moto_zips");
    Moto::write_zips(&zips, "v1");
    // Every function: the stage's settings add notify, a schedule and tokens.
    let config = zips.join("chatstack.toml");
    std::fs::write(
        &config,
        "[stages.ci]\nauthorization = true\n\n\
         [stages.ci.schedule]\nexpression = \"rate(1 hour)\"\nmessage = \"hourly\"\n",
    )
    .unwrap();
    let deploy = [
        "deploy",
        "--stage",
        "ci",
        "--yes",
        "--no-build",
        "--assets-dir",
        zips.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];

    let first = moto.chatstack(&deploy);
    assert!(first.status.success(), "{}", text(&first));
    let out = text(&first);
    assert!(out.contains("Creating chatstack-bootstrap"), "{out}");
    let all = FUNCTIONS.len();
    assert!(
        out.contains(&format!("Uploaded {all} of {all} zips")),
        "{out}"
    );
    assert!(out.contains("Deployed chatstack-ci."), "{out}");

    let bucket_objects = moto.boto3(
        "s3 = boto3.client('s3', **kw)\n\
         b = [x['Name'] for x in s3.list_buckets()['Buckets'] if x['Name'].startswith('chatstack-bootstrap')][0]\n\
         print(sorted(o['Key'].split('/')[2] for o in s3.list_objects_v2(Bucket=b)['Contents'] if o['Key'].startswith('chatstack/ci/')))",
    );
    let mut names: Vec<_> = FUNCTIONS
        .iter()
        .map(|spec| format!("'{}'", spec.name))
        .collect();
    names.sort();
    assert_eq!(bucket_objects, format!("[{}]", names.join(", ")));
    let tables = moto.boto3("print(boto3.client('dynamodb', **kw).list_tables()['TableNames'])");
    assert!(tables.contains("chatstack-ci-ConnectionsTable"), "{tables}");
    let keys = code_keys(&moto);
    assert_eq!(keys.lines().count(), all, "{keys}");
    let changed = &FUNCTIONS[0];
    let changed_function = format!("{}Function", changed.logical_prefix);
    assert!(
        keys.contains(&format!(
            "{changed_function} chatstack/ci/{}/",
            changed.name
        )),
        "{keys}"
    );

    // The stage requires tokens: chatstack token reads the secret
    // CloudFormation generated, through the stack's output.
    let again = moto.chatstack(&deploy);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("No changes: chatstack-ci is up to date."),
        "{}",
        text(&again)
    );
    assert!(text(&again).contains("Zips unchanged"));

    // diff --exit-code gates CI: 0 while up to date, 2 once a zip changed.
    let diff = |moto: &Moto| {
        moto.chatstack(&[
            "diff",
            "--stage",
            "ci",
            "--exit-code",
            "--no-build",
            "--assets-dir",
            zips.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ])
    };
    let same = diff(&moto);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("No changes"), "{}", text(&same));

    std::fs::write(zips.join(changed.name).join("bootstrap.zip"), "v2").unwrap();
    let pending = diff(&moto);
    assert_eq!(pending.status.code(), Some(2), "{}", text(&pending));
    assert!(
        text(&pending).contains("Nothing was executed"),
        "{}",
        text(&pending)
    );
    assert!(!text(&pending).contains("error"), "{}", text(&pending));
    let update = moto.chatstack(&deploy);
    assert!(update.status.success(), "{}", text(&update));
    assert!(
        text(&update).contains(&format!("Uploaded 1 of {all} zips")),
        "{}",
        text(&update)
    );
    let new_keys = code_keys(&moto);
    let changed_key = |keys: &str| {
        keys.lines()
            .find(|l| l.starts_with(&changed_function))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        changed_key(&keys),
        changed_key(&new_keys),
        "the function runs the new zip"
    );
    let others = |keys: &str| {
        keys.lines()
            .filter(|l| !l.starts_with(&changed_function))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(others(&keys), others(&new_keys));
    // The zip the function ran before is marked for removal; none in use is.
    let old_zip = changed_key(&keys).split_once(' ').unwrap().1.to_owned();
    assert_eq!(superseded_zips(&moto), format!("['{old_zip}']"));

    let unconfirmed = moto.chatstack(&["destroy", "--stage", "ci"]);
    assert!(!unconfirmed.status.success());
    assert!(
        text(&unconfirmed).contains("--yes"),
        "{}",
        text(&unconfirmed)
    );

    let destroy = moto.chatstack(&["destroy", "--stage", "ci", "--yes"]);
    assert!(destroy.status.success(), "{}", text(&destroy));
    let left = moto.boto3(
        "print(boto3.client('dynamodb', **kw).list_tables()['TableNames'], \
         [f['FunctionName'] for f in boto3.client('lambda', **kw).list_functions()['Functions']], \
         [g['logGroupName'] for g in boto3.client('logs', **kw).describe_log_groups()['logGroups']])",
    );
    assert_eq!(left, "[] [] []", "nothing of the stage is left");
    let mut all_zips: Vec<_> = new_keys
        .lines()
        .map(|line| format!("'{}'", line.split_once(' ').unwrap().1))
        .chain([format!("'{old_zip}'")])
        .collect();
    all_zips.sort();
    assert_eq!(
        superseded_zips(&moto),
        format!("[{}]", all_zips.join(", ")),
        "the destroyed stage's zips are all marked for removal"
    );

    let twice = moto.chatstack(&["destroy", "--stage", "ci", "--yes"]);
    assert!(twice.status.success(), "{}", text(&twice));
    assert!(text(&twice).contains("does not exist"));
}

#[test]
fn deploy_without_a_terminal_or_yes_changes_nothing() {
    let moto = Moto::start();
    let zips = scratch_dir("deploy_moto_unconfirmed");
    Moto::write_zips(&zips, "v1");
    let output = moto.chatstack(&[
        "deploy",
        "--stage",
        "ci",
        "--no-build",
        "--assets-dir",
        zips.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("pass --yes"), "{}", text(&output));
    let stacks = moto.boto3(
        "print([s['StackName'] for s in boto3.client('cloudformation', **kw).list_stacks()['StackSummaries'] if s['StackStatus'] != 'DELETE_COMPLETE'])",
    );
    assert!(!stacks.contains("chatstack-ci"), "{stacks}");
}

#[test]
fn missing_region_or_credentials_is_one_line_saying_how_to_fix_it() {
    let home = scratch_dir("deploy_no_config_home");
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatstack"));
        command
            .args(["destroy", "--stage", "ci", "--yes"])
            .env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("chatstack runs")
    };
    let no_region = run(&[]);
    assert_eq!(no_region.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_region.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no AWS region") && stderr.contains("--region"),
        "{stderr}"
    );

    let no_credentials = run(&[("AWS_REGION", "eu-west-1")]);
    assert_eq!(no_credentials.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_credentials.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no AWS credentials found") && stderr.contains("--profile"),
        "{stderr}"
    );
}

/// `chatstack token --stage` through the real SDK: the secret's ARN from
/// the stack's output, its value from Secrets Manager. (moto's
/// CloudFormation creates no secrets, so both are made here directly.)
#[test]
fn token_reads_the_stage_secret_through_the_stack_output() {
    let moto = Moto::start();
    let secret = "generated-by-secrets-manager";
    let made = moto.boto3(&format!(
        "arn = boto3.client('secretsmanager', **kw).create_secret(Name='chatstack-tok-TokenSecret', SecretString='{secret}')['ARN']\n\
         template = '{{\"Parameters\": {{\"Arn\": {{\"Type\": \"String\"}}}}, \"Resources\": {{\"Nothing\": {{\"Type\": \"AWS::SQS::Queue\"}}}}, \"Outputs\": {{\"TokenSecretArn\": {{\"Value\": {{\"Ref\": \"Arn\"}}}}}}}}'\n\
         boto3.client('cloudformation', **kw).create_stack(StackName='chatstack-tok', TemplateBody=template, Parameters=[{{'ParameterKey': 'Arn', 'ParameterValue': arn}}])\n\
         print(arn)"
    ));
    assert!(made.starts_with("arn:"), "{made}");
    let minted = moto.chatstack(&["token", "--stage", "tok", "--user", "alice", "--ttl", "30m"]);
    assert!(minted.status.success(), "{}", text(&minted));
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let claims = chat_token::verify(secret.as_bytes(), &token, std::time::SystemTime::now())
        .expect("signed with the stage's secret");
    assert_eq!(claims.user.as_str(), "alice");
    assert!(
        !text(&minted).contains(secret),
        "the secret is never printed"
    );

    let open = moto.chatstack(&["token", "--stage", "nope", "--user", "alice"]);
    assert!(!open.status.success());
    assert!(
        text(&open).contains("chatstack deploy --stage nope"),
        "{}",
        text(&open)
    );
}

/// Runs `deploy` of stage `ci` with the zips in `zips`; its output.
fn deploy_ci(moto: &Moto, zips: &std::path::Path) -> String {
    text(&moto.deploy("ci", zips, None))
}

/// Which of the code keys in `keys` (lines of [`code_keys`]) are tagged
/// for removal.
fn marked_for_removal(moto: &Moto, keys: &str) -> Vec<String> {
    let marked = superseded_zips(moto);
    keys.lines()
        .filter_map(|line| line.split_once(' ').map(|(_, key)| key.to_owned()))
        .filter(|key| marked.contains(&format!("'{key}'")))
        .collect()
}

#[test]
fn a_revert_or_a_deploy_after_destroy_leaves_no_zip_in_use_marked_for_removal() {
    let moto = Moto::start();
    let zips = scratch_dir("deploy_moto_revert");
    let changed = FUNCTIONS[0].name;
    Moto::write_zips(&zips, "A");
    deploy_ci(&moto, &zips);
    let keys_a = code_keys(&moto);
    std::fs::write(zips.join(changed).join("bootstrap.zip"), "B").unwrap();
    deploy_ci(&moto, &zips);
    assert_ne!(code_keys(&moto), keys_a);
    assert_eq!(
        marked_for_removal(&moto, &keys_a).len(),
        1,
        "A's zip of {changed}"
    );

    // A, B, then A again: A's zip, marked when B replaced it, is uploaded
    // again before the change set points at it. (moto never updates a
    // stack's parameters when it runs a change set, so it calls this
    // update "no changes"; CloudFormation would run it and mark B's zip.)
    Moto::write_zips(&zips, "A");
    let out = deploy_ci(&moto, &zips);
    assert!(
        out.contains("(1 again: they were marked for removal)"),
        "{out}"
    );
    assert_eq!(marked_for_removal(&moto, &keys_a), Vec::<String>::new());

    // destroy marks every zip; deploy --no-build of build A renews those of
    // its zips that are marked (under moto the stack ran B's zip of
    // `changed` to the end, so that one of A's is not).
    let running = code_keys(&moto);
    let destroy = moto.chatstack(&["destroy", "--stage", "ci", "--yes"]);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert_eq!(
        marked_for_removal(&moto, &running).len(),
        running.lines().count()
    );
    let marked = marked_for_removal(&moto, &keys_a).len();
    assert!(marked >= keys_a.lines().count() - 1, "{marked}");
    let out = deploy_ci(&moto, &zips);
    assert!(
        out.contains(&format!("({marked} again: they were marked for removal)")),
        "{out}"
    );
    assert_eq!(code_keys(&moto), keys_a, "the new stack runs build A");
    assert_eq!(marked_for_removal(&moto, &keys_a), Vec::<String>::new());
}

/// Past CloudFormation's 51,200-byte `TemplateBody`, deploy uploads the
/// template and passes `TemplateURL`: moto reads it from its S3, as
/// CloudFormation would. Today's templates are under the limit, so the
/// stage's real template is padded with a YAML comment.
#[tokio::test]
async fn a_template_over_the_inline_limit_deploys_through_template_url() {
    use chatstack::deploy::aws::AwsCloud;
    use chatstack::deploy::ui::{Approval, Interrupts, Ui};
    use chatstack::deploy::{Deployed, Deployer, Poll, TEMPLATE_BODY_LIMIT, template_source};
    let moto = Moto::start();
    let zips = scratch_dir("deploy_moto_template_url");
    Moto::write_zips(&zips, "v1");
    deploy_ci(&moto, &zips);
    let parameters: Vec<(String, String)> = serde_json::from_str(&moto.boto3(
        "cf = boto3.client('cloudformation', **kw)\n\
         s = cf.describe_stacks(StackName='chatstack-ci')['Stacks'][0]\n\
         print(json.dumps([[p['ParameterKey'], p['ParameterValue']] for p in s['Parameters']]))",
    ))
    .unwrap();
    let bucket = parameters
        .iter()
        .find(|(k, _)| k == "AssetsBucket")
        .unwrap()
        .1
        .clone();

    let stage: chatstack::chat::StageName = "big".parse().unwrap();
    let template = chatstack::chat::template(&stage, &Default::default())
        .unwrap()
        .to_yaml()
        .unwrap();
    let body = format!(
        "{template}# {}\n",
        "padding ".repeat(TEMPLATE_BODY_LIMIT / 8)
    );
    assert!(body.len() > TEMPLATE_BODY_LIMIT);

    let config = moto.sdk_config().await;
    let cloud = AwsCloud::new(&config);
    let mut out = Vec::new();
    let mut deployer = Deployer {
        cloud: &cloud,
        ui: Ui {
            out: &mut out,
            approval: Approval::Yes,
            live: false,
        },
        interrupts: Interrupts::none(),
        poll: Poll {
            interval: std::time::Duration::from_millis(200),
            max_interval: std::time::Duration::from_secs(2),
            max_errors: 5,
        },
    };
    let source = template_source(&mut deployer, &bucket, &stage, body.clone())
        .await
        .unwrap();
    assert!(source.url.is_some());
    let deployed = deployer
        .deploy("chatstack-big", &source, &parameters)
        .await
        .unwrap();
    assert!(matches!(deployed, Deployed::Changed { .. }), "{deployed:?}");
    drop(deployer);

    let key = source
        .url
        .as_deref()
        .unwrap()
        .split_once(".com/")
        .unwrap()
        .1;
    let check = moto.boto3(&format!(
        "cf = boto3.client('cloudformation', **kw)\n\
         s3 = boto3.client('s3', **kw)\n\
         print(cf.describe_stacks(StackName='chatstack-big')['Stacks'][0]['StackStatus'])\n\
         print('padding padding' in cf.get_template(StackName='chatstack-big')['TemplateBody'])\n\
         print(any(t.startswith('chatstack-big-ConnectionsTable') for t in boto3.client('dynamodb', **kw).list_tables()['TableNames']))\n\
         print(s3.get_object_tagging(Bucket={bucket:?}, Key={key:?})['TagSet'])"
    ));
    assert_eq!(
        check,
        "CREATE_COMPLETE\nTrue\nTrue\n[{'Key': 'chatstack:superseded', 'Value': 'true'}]",
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// deploy's read of API Gateway's CloudWatch role, signed by hand for
/// `apigateway` (`GET /account`), against moto's API Gateway: none set,
/// then the one set with UpdateAccount.
#[tokio::test(flavor = "multi_thread")]
async fn the_accounts_api_gateway_logs_role_is_read_through_a_signed_get() {
    use chatstack::deploy::cloud::Cloud;
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let cloud = chatstack::deploy::aws::AwsCloud::new(&config);
    assert_eq!(cloud.region(), "us-east-1");
    assert_eq!(cloud.api_gateway_logs_role().await, Ok(None));
    moto.boto3(
        "boto3.client('apigateway', **kw).update_account(patchOperations=[{'op': 'replace', \
         'path': '/cloudwatchRoleArn', 'value': 'arn:aws:iam::123456789012:role/apigw-logs'}])",
    );
    assert_eq!(
        cloud.api_gateway_logs_role().await,
        Ok(Some("arn:aws:iam::123456789012:role/apigw-logs".to_owned()))
    );
}
