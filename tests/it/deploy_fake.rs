//! Every deploy and destroy path, driven by a scripted fake of
//! CloudFormation and S3 (moto cannot roll back, throttle or fail a stack).

use chatstack::settings::StageSettings;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::fake_cloud::{FakeCloud, FakeStack, GONE, event, statuses};
use crate::common::scratch_dir;
use chatstack::chat::{FUNCTIONS, StageName};
use chatstack::deploy::bootstrap;
use chatstack::deploy::cloud::{Change, ChangeSet, ChangeSetKind, CloudError, TemplateSource};
use chatstack::deploy::ui::{Approval, Interrupts, Ui};
use chatstack::deploy::{
    Assets, DeployError, Deployed, Deployer, Poll, deploy_stage, destroy_stage, diff_stage,
};

const STACK: &str = "chatstack-dev";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn changes() -> ChangeSet {
    ChangeSet {
        status: "CREATE_COMPLETE".into(),
        status_reason: None,
        changes: vec![
            Change {
                action: "Modify".into(),
                logical_id: "ConnectFunction".into(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: Some("False".into()),
            },
            Change {
                action: "Add".into(),
                logical_id: "ConnectRole".into(),
                resource_type: "AWS::IAM::Role".into(),
                replacement: None,
            },
        ],
    }
}

fn inline(body: &str) -> TemplateSource {
    TemplateSource {
        body: body.to_owned(),
        url: None,
    }
}

fn no_changes() -> ChangeSet {
    ChangeSet {
        status: "FAILED".into(),
        status_reason: Some(
            "The submitted information didn't contain changes. Submit different information to create a change set.".into(),
        ),
        changes: Vec::new(),
    }
}

/// Runs `f` with a deployer over `cloud`; returns its result and the output.
async fn with_deployer<T>(
    cloud: &FakeCloud,
    approval: Approval,
    interrupts: Interrupts,
    f: impl AsyncFnOnce(&mut Deployer<'_, FakeCloud>) -> T,
) -> (T, String) {
    let mut out = Vec::new();
    let result = {
        let mut deployer = Deployer {
            cloud,
            ui: Ui {
                out: &mut out,
                approval,
                live: false,
            },
            interrupts,
            poll: Poll {
                interval: Duration::from_secs(2),
                max_interval: Duration::from_secs(30),
                max_errors: 5,
            },
        };
        f(&mut deployer).await
    };
    (result, String::from_utf8(out).unwrap())
}

async fn deploy_with(
    cloud: &FakeCloud,
    approval: Approval,
    interrupts: Interrupts,
) -> (Result<Deployed, DeployError>, String) {
    with_deployer(cloud, approval, interrupts, async |d| {
        d.deploy(STACK, &inline("template"), &[("P".into(), "v".into())])
            .await
    })
    .await
}

async fn deploy(cloud: &FakeCloud) -> (Result<Deployed, DeployError>, String) {
    deploy_with(cloud, Approval::Yes, Interrupts::none()).await
}

/// A stack that does not exist yet and will play `after_execute`.
fn absent(after_execute: &[&str]) -> FakeStack {
    FakeStack {
        statuses: statuses(&[GONE]).into(),
        after_execute: statuses(after_execute),
        outputs: vec![
            ("ConnectionsTableName".into(), "table".into()),
            ("WebSocketUrl".into(), "wss://x/dev".into()),
        ],
        ..FakeStack::default()
    }
}

fn existing(status: &str, after_execute: &[&str]) -> FakeStack {
    FakeStack {
        statuses: statuses(&[status]).into(),
        ..absent(after_execute)
    }
}

fn cloud_with(stack: FakeStack, change_set: ChangeSet) -> FakeCloud {
    let cloud = FakeCloud::default().with_stack(STACK, stack);
    cloud.state.borrow_mut().change_set = Some(change_set);
    cloud
}

fn change_set_deleted(cloud: &FakeCloud) -> bool {
    cloud
        .calls()
        .iter()
        .any(|c| c.starts_with("delete_change_set"))
}

fn executed(cloud: &FakeCloud) -> bool {
    cloud
        .calls()
        .iter()
        .any(|c| c.starts_with("execute_change_set"))
}

#[tokio::test(start_paused = true)]
async fn creates_an_absent_stack_and_returns_its_outputs() {
    let cloud = cloud_with(
        absent(&["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]),
        changes(),
    );
    let (result, output) = deploy(&cloud).await;
    let deployed = result.unwrap();
    assert!(matches!(deployed, Deployed::Changed { .. }));
    assert_eq!(deployed.outputs().len(), 2);
    let state = cloud.state.borrow();
    assert_eq!(state.requests[0].kind, ChangeSetKind::Create);
    assert_eq!(
        state.requests[0].parameters,
        [("P".to_owned(), "v".to_owned())]
    );
    assert!(output.contains("Modify   ConnectFunction"), "{output}");
    assert!(
        output.contains("ConnectRole") && output.contains("[IAM]"),
        "{output}"
    );
    assert!(output.contains("1 to permissions (IAM)"), "{output}");
    drop(state);
    assert!(executed(&cloud));
}

#[tokio::test(start_paused = true)]
async fn updates_an_existing_stack() {
    let cloud = cloud_with(
        existing(
            "UPDATE_COMPLETE",
            &[
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "UPDATE_COMPLETE",
            ],
        ),
        changes(),
    );
    let (result, output) = deploy(&cloud).await;
    assert!(
        matches!(result.unwrap(), Deployed::Changed { .. }),
        "{output}"
    );
    assert_eq!(cloud.state.borrow().requests[0].kind, ChangeSetKind::Update);
}

#[tokio::test(start_paused = true)]
async fn an_empty_change_set_is_a_success_that_executes_nothing() {
    let cloud = cloud_with(existing("CREATE_COMPLETE", &[]), no_changes());
    let (result, output) = deploy(&cloud).await;
    assert!(matches!(result.unwrap(), Deployed::NoChanges { outputs } if outputs.len() == 2));
    assert!(output.contains("No changes"), "{output}");
    assert!(!executed(&cloud));
    assert!(change_set_deleted(&cloud));
}

#[tokio::test(start_paused = true)]
async fn an_empty_change_set_refused_at_creation_is_a_success_too() {
    let cloud = cloud_with(existing("UPDATE_COMPLETE", &[]), changes());
    cloud.state.borrow_mut().create_change_set_error = Some(CloudError::Other(
        "ValidationError: No updates are to be performed.".into(),
    ));
    let (result, _) = deploy(&cloud).await;
    assert!(matches!(result.unwrap(), Deployed::NoChanges { .. }));
    assert!(!executed(&cloud));
}

#[tokio::test(start_paused = true)]
async fn a_rolled_back_first_create_is_deleted_and_created_again() {
    let cloud = cloud_with(
        FakeStack {
            after_delete: statuses(&["DELETE_IN_PROGRESS", GONE]),
            ..existing(
                "ROLLBACK_COMPLETE",
                &["CREATE_IN_PROGRESS", "CREATE_COMPLETE"],
            )
        },
        changes(),
    );
    let (result, output) = deploy(&cloud).await;
    assert!(
        matches!(result.unwrap(), Deployed::Changed { .. }),
        "{output}"
    );
    assert!(
        output.contains("ROLLBACK_COMPLETE after a failed first create"),
        "{output}"
    );
    let calls = cloud.calls();
    assert_eq!(calls[0], format!("delete_stack {STACK}"));
    assert!(
        calls[1].starts_with("create_change_set chatstack-dev Create"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn update_rollback_failed_ends_with_what_to_do() {
    let cloud = cloud_with(existing("UPDATE_ROLLBACK_FAILED", &[]), changes());
    let (result, _) = deploy(&cloud).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("continue-update-rollback --stack-name chatstack-dev"),
        "{message}"
    );
    assert!(cloud.calls().is_empty(), "nothing attempted");
}

#[tokio::test(start_paused = true)]
async fn a_stack_in_progress_is_left_alone() {
    let cloud = cloud_with(existing("UPDATE_IN_PROGRESS", &[]), changes());
    let (result, _) = deploy(&cloud).await;
    assert!(
        matches!(result, Err(DeployError::Busy { ref status, .. }) if status == "UPDATE_IN_PROGRESS")
    );
    assert!(cloud.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_reports_the_first_failed_resource() {
    let t = now_ms() + 5_000;
    let cloud = cloud_with(
        FakeStack {
            events_after_execute: vec![
                event(
                    "1",
                    t,
                    STACK,
                    "AWS::CloudFormation::Stack",
                    "UPDATE_IN_PROGRESS",
                    Some("User Initiated"),
                ),
                event(
                    "2",
                    t + 1,
                    "ConnectFunction",
                    "AWS::Lambda::Function",
                    "UPDATE_FAILED",
                    Some("Error occurred while GetObject. S3 Error Code: NoSuchKey"),
                ),
                event(
                    "3",
                    t + 2,
                    "ConnectRole",
                    "AWS::IAM::Role",
                    "UPDATE_FAILED",
                    Some("Resource update cancelled"),
                ),
                event(
                    "4",
                    t + 3,
                    STACK,
                    "AWS::CloudFormation::Stack",
                    "UPDATE_ROLLBACK_COMPLETE",
                    None,
                ),
            ],
            ..existing(
                "UPDATE_COMPLETE",
                &[
                    "UPDATE_IN_PROGRESS",
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    "UPDATE_ROLLBACK_COMPLETE",
                ],
            )
        },
        changes(),
    );
    let (result, output) = deploy(&cloud).await;
    let error = result.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("failed: UPDATE_ROLLBACK_COMPLETE"),
        "{message}"
    );
    assert!(
        message.contains("root cause: ConnectFunction (AWS::Lambda::Function) UPDATE_FAILED: Error occurred while GetObject"),
        "{message}"
    );
    // Without a terminal: one plain line per event, in order.
    let lines: Vec<_> = output.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(lines.len(), 4, "{output}");
    assert!(lines[1].contains("UPDATE_FAILED") && lines[1].contains("ConnectFunction"));
}

#[tokio::test(start_paused = true)]
async fn throttling_and_passing_errors_while_polling_do_not_fail_a_deploy() {
    let cloud = cloud_with(
        absent(&["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]),
        changes(),
    );
    {
        let mut state = cloud.state.borrow_mut();
        // The first describe (before the change set) is used up by these too:
        // prepare retries throttling; wait tolerates both kinds.
        for _ in 0..3 {
            state
                .describe_errors
                .push_back(CloudError::Throttled("Rate exceeded".into()));
        }
    }
    let started = tokio::time::Instant::now();
    let (result, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        d.deploy(STACK, &inline("template"), &[]).await
    })
    .await;
    assert!(result.is_ok(), "{output}");
    // Back-off: 2 + 4 + 8 seconds before the first describe got through.
    assert!(
        started.elapsed() >= Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );

    let cloud = cloud_with(
        absent(&[
            "CREATE_IN_PROGRESS",
            "CREATE_IN_PROGRESS",
            "CREATE_COMPLETE",
        ]),
        changes(),
    );
    cloud.state.borrow_mut().describe_errors_after_execute = vec![
        CloudError::Throttled("Rate exceeded".into()),
        CloudError::Other("connection reset".into()),
        CloudError::Throttled("Rate exceeded".into()),
    ];
    let (result, output) = deploy(&cloud).await;
    assert!(
        matches!(result, Ok(Deployed::Changed { .. })),
        "{result:?} {output}"
    );
    assert!(
        cloud.state.borrow().describe_errors.is_empty(),
        "all errors were met"
    );
}

#[tokio::test(start_paused = true)]
async fn polling_gives_up_only_after_many_errors_in_a_row_and_says_the_operation_goes_on() {
    let cloud = cloud_with(absent(&["CREATE_IN_PROGRESS"]), changes());
    cloud.state.borrow_mut().describe_errors_after_execute =
        vec![CloudError::Other("network unreachable".into()); 5];
    let (result, _) = deploy(&cloud).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("lost contact") && message.contains("goes on in AWS"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_a_create_deletes_the_stack_and_reports_until_gone() {
    let cloud = cloud_with(
        FakeStack {
            after_delete: statuses(&["DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS", GONE]),
            ..absent(&["CREATE_IN_PROGRESS"])
        },
        changes(),
    );
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    cloud.state.borrow_mut().interrupt_at = Some((2, sender));
    let (result, output) = deploy_with(&cloud, Approval::Yes, Interrupts(receiver)).await;
    match result {
        Err(DeployError::Failed {
            interrupted: true,
            status,
            ..
        }) => assert_eq!(status, "DELETE_COMPLETE"),
        other => panic!("expected an interrupted failure, got {other:?}"),
    }
    assert!(
        output.contains("deleting the stack being created"),
        "{output}"
    );
    assert!(cloud.calls().contains(&format!("delete_stack {STACK}")));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_an_update_cancels_it_and_waits_for_the_rollback() {
    let cloud = cloud_with(
        FakeStack {
            after_cancel: statuses(&["UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"]),
            ..existing("UPDATE_COMPLETE", &["UPDATE_IN_PROGRESS"])
        },
        changes(),
    );
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    cloud.state.borrow_mut().interrupt_at = Some((3, sender));
    let (result, output) = deploy_with(&cloud, Approval::Yes, Interrupts(receiver)).await;
    match result {
        Err(DeployError::Failed {
            interrupted: true,
            status,
            ..
        }) => assert_eq!(status, "UPDATE_ROLLBACK_COMPLETE"),
        other => panic!("expected an interrupted failure, got {other:?}"),
    }
    assert!(output.contains("cancelling the update"), "{output}");
    assert!(cloud.calls().contains(&format!("cancel_update {STACK}")));
}

#[tokio::test(start_paused = true)]
async fn a_cancel_refused_as_too_late_keeps_waiting_for_the_result() {
    let cloud = cloud_with(
        existing(
            "UPDATE_COMPLETE",
            &[
                "UPDATE_IN_PROGRESS",
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "UPDATE_COMPLETE",
            ],
        ),
        changes(),
    );
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    {
        let mut state = cloud.state.borrow_mut();
        state.interrupt_at = Some((2, sender));
        state.cancel_error = Some(CloudError::Other(
            "CancelUpdateStack cannot be called from current stack status".into(),
        ));
    }
    let (result, output) = deploy_with(&cloud, Approval::Yes, Interrupts(receiver)).await;
    assert!(
        matches!(result, Ok(Deployed::Changed { .. })),
        "{result:?}\n{output}"
    );
    assert!(output.contains("Too late to cancel"), "{output}");
    assert!(output.contains("Deployed chatstack-dev."), "{output}");
    assert!(cloud.calls().contains(&format!("cancel_update {STACK}")));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_before_the_change_set_runs_declines_and_deletes_it() {
    for (stack, kind) in [
        (
            existing("UPDATE_COMPLETE", &["UPDATE_IN_PROGRESS"]),
            "Update",
        ),
        (absent(&["CREATE_IN_PROGRESS"]), "Create"),
    ] {
        let cloud = cloud_with(stack, changes());
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        // Pressed during the build, the upload or the question.
        sender.send(()).unwrap();
        let (result, _) = deploy_with(&cloud, Approval::Yes, Interrupts(receiver)).await;
        assert!(
            matches!(result, Err(DeployError::InterruptedBeforeChange)),
            "{kind}: {result:?}"
        );
        let calls = cloud.calls();
        assert!(change_set_deleted(&cloud), "{kind}: {calls:?}");
        assert!(
            !calls
                .iter()
                .any(|c| c.starts_with("execute_change_set") || c.starts_with("cancel_update")),
            "{kind}: nothing runs, nothing is cancelled: {calls:?}"
        );
        if kind == "Create" {
            assert!(
                calls.contains(&format!("delete_stack {STACK}")),
                "the empty REVIEW_IN_PROGRESS stack goes too: {calls:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stack_deleted_by_someone_else_mid_deploy_is_a_failure() {
    for stack in [
        existing("UPDATE_COMPLETE", &["UPDATE_IN_PROGRESS", GONE]),
        absent(&["CREATE_IN_PROGRESS", GONE]),
    ] {
        let cloud = cloud_with(stack, changes());
        let (result, output) = deploy(&cloud).await;
        let error = result.unwrap_err();
        assert!(
            matches!(error, DeployError::DeletedDuringDeploy { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("was deleted"), "{error}");
        assert!(!output.contains("Deployed"), "{output}");
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_terminal_or_yes_nothing_is_executed() {
    let cloud = cloud_with(existing("UPDATE_COMPLETE", &[]), changes());
    let (result, output) = deploy_with(&cloud, Approval::NoTerminal, Interrupts::none()).await;
    let error = result.unwrap_err();
    assert!(matches!(error, DeployError::NeedsConfirmation));
    assert!(error.to_string().contains("--yes"));
    assert!(
        output.contains("ConnectFunction"),
        "the changes are shown first"
    );
    assert!(!executed(&cloud));
    assert!(change_set_deleted(&cloud));
}

#[tokio::test(start_paused = true)]
async fn a_declined_prompt_executes_nothing() {
    let cloud = cloud_with(existing("UPDATE_COMPLETE", &[]), changes());
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = asked.clone();
    let approval = Approval::Ask(Box::new(move |question: &str| {
        log.borrow_mut().push(question.to_owned());
        Ok(false)
    }));
    let (result, _) = deploy_with(&cloud, approval, Interrupts::none()).await;
    assert!(matches!(result, Err(DeployError::Declined)));
    assert_eq!(
        asked.borrow().as_slice(),
        ["Deploy these changes to chatstack-dev?"]
    );
    assert!(!executed(&cloud));
}

#[tokio::test(start_paused = true)]
async fn destroying_an_absent_stack_is_fine() {
    let cloud = FakeCloud::default();
    let (result, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        d.destroy(STACK).await
    })
    .await;
    result.unwrap();
    assert!(output.contains("does not exist"), "{output}");
    assert!(cloud.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn destroy_deletes_and_waits_until_gone() {
    let cloud = FakeCloud::default().with_stack(STACK, existing("UPDATE_COMPLETE", &[]));
    let (result, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        d.destroy(STACK).await
    })
    .await;
    result.unwrap();
    assert!(output.contains("Deleted chatstack-dev"), "{output}");
    assert_eq!(cloud.calls(), [format!("delete_stack {STACK}")]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_delete_is_reported_with_its_cause() {
    let t = now_ms() + 5_000;
    let cloud = FakeCloud::default().with_stack(
        STACK,
        FakeStack {
            after_delete: statuses(&["DELETE_IN_PROGRESS", "DELETE_FAILED"]),
            events: vec![event(
                "old",
                t - 60_000,
                "ConnectRole",
                "AWS::IAM::Role",
                "UPDATE_FAILED",
                Some("an earlier failure, not this delete's"),
            )],
            events_after_execute: vec![event(
                "9",
                t,
                "ConnectionsTable",
                "AWS::DynamoDB::Table",
                "DELETE_FAILED",
                Some("Access denied"),
            )],
            ..existing("UPDATE_COMPLETE", &[])
        },
    );
    let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        d.destroy(STACK).await
    })
    .await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("DELETE_FAILED")
            && message.contains("ConnectionsTable")
            && !message.contains("earlier failure"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn diff_shows_and_deletes_the_change_set_executing_nothing() {
    let cloud = cloud_with(absent(&[]), changes());
    let (result, output) = with_deployer(
        &cloud,
        Approval::NoTerminal,
        Interrupts::none(),
        async |d| d.diff(STACK, &inline("template"), &[]).await,
    )
    .await;
    assert!(result.unwrap(), "there are changes");
    assert!(
        output.contains("ConnectFunction") && output.contains("Nothing was executed"),
        "{output}"
    );
    // Up to date: no changes, and diff says so.
    let up_to_date = cloud_with(existing("UPDATE_COMPLETE", &[]), no_changes());
    let (same, said) = with_deployer(
        &up_to_date,
        Approval::NoTerminal,
        Interrupts::none(),
        async |d| d.diff(STACK, &inline("template"), &[]).await,
    )
    .await;
    assert!(!same.unwrap(), "{said}");
    assert!(said.contains("No changes"), "{said}");
    let calls = cloud.calls();
    assert!(!executed(&cloud));
    assert!(change_set_deleted(&cloud));
    assert!(
        calls.contains(&format!("delete_stack {STACK}")),
        "the empty REVIEW_IN_PROGRESS stack goes too"
    );
}

/// The bootstrap stack, deployed from this version's template.
fn bootstrap_as_deployed() -> FakeStack {
    FakeStack {
        template_body: Some(bootstrap::template().unwrap().to_yaml().unwrap()),
        ..existing(
            "CREATE_COMPLETE",
            &["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        )
    }
}

#[tokio::test(start_paused = true)]
async fn the_bootstrap_stack_is_updated_when_its_template_changed_and_only_then() {
    let dir = scratch_dir("deploy_fake_bootstrap_update");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    for (deployed_template, updated) in [
        (Some("Resources: {}\n".to_owned()), true),
        (bootstrap_as_deployed().template_body, false),
    ] {
        let cloud = cloud_with(
            existing(
                "UPDATE_COMPLETE",
                &["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
            ),
            changes(),
        )
        .with_stack(
            "chatstack-bootstrap",
            FakeStack {
                template_body: deployed_template,
                ..bootstrap_as_deployed()
            },
        );
        let (result, output) =
            with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
                deploy_stage(d, &stage, &StageSettings::default(), &assets).await
            })
            .await;
        result.unwrap();
        let requests = cloud.state.borrow().requests.clone();
        let bootstrap_requests: Vec<_> = requests
            .iter()
            .filter(|r| r.stack == "chatstack-bootstrap")
            .collect();
        assert_eq!(bootstrap_requests.len(), usize::from(updated), "{output}");
        assert_eq!(output.contains("Updating chatstack-bootstrap"), updated);
        if updated {
            assert_eq!(
                bootstrap_requests[0].template.body,
                bootstrap::template().unwrap().to_yaml().unwrap()
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zips_the_stage_stops_using_are_marked_for_removal_and_no_others() {
    let dir = scratch_dir("deploy_fake_supersede");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    let old_parameters = vec![
        ("AssetsBucket".to_owned(), "bucket".to_owned()),
        // Replaced by a new zip: superseded.
        (
            FUNCTIONS[0].code_key_parameter(),
            "chatstack/dev/f/old.zip".to_owned(),
        ),
        // A function the app no longer has: superseded.
        (
            "GoneCodeKey".to_owned(),
            "chatstack/dev/gone/1.zip".to_owned(),
        ),
        // An earlier chatstack's key, shared by every stage: kept.
        (
            FUNCTIONS[1].code_key_parameter(),
            "chatstack/f/shared.zip".to_owned(),
        ),
    ];
    for (change_set, marked) in [(no_changes(), false), (changes(), true)] {
        let cloud = cloud_with(
            FakeStack {
                parameters: old_parameters.clone(),
                ..existing(
                    "UPDATE_COMPLETE",
                    &["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
                )
            },
            change_set,
        )
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
        let (result, output) =
            with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
                deploy_stage(d, &stage, &StageSettings::default(), &assets).await
            })
            .await;
        result.unwrap();
        let tagged: BTreeMap<_, _> = cloud.state.borrow().tags.clone();
        if !marked {
            assert!(
                tagged.is_empty(),
                "no deploy, nothing superseded: {tagged:?}"
            );
            continue;
        }
        let expected = BTreeMap::from([
            ("chatstack/dev/f/old.zip".to_owned(), superseded()),
            ("chatstack/dev/gone/1.zip".to_owned(), superseded()),
        ]);
        assert_eq!(tagged, expected, "{output}");
        assert!(
            output.contains("Marked 2 zips no longer used for removal"),
            "{output}"
        );
    }
}

fn superseded() -> (String, String) {
    ("chatstack:superseded".to_owned(), "true".to_owned())
}

#[tokio::test(start_paused = true)]
async fn destroy_marks_the_stages_zips_for_removal() {
    let stage: StageName = "dev".parse().unwrap();
    let cloud = FakeCloud::default()
        .with_stack(
            STACK,
            FakeStack {
                parameters: vec![
                    (
                        FUNCTIONS[0].code_key_parameter(),
                        "chatstack/dev/f/1.zip".to_owned(),
                    ),
                    (
                        FUNCTIONS[1].code_key_parameter(),
                        "chatstack/f/shared.zip".to_owned(),
                    ),
                ],
                ..existing("UPDATE_COMPLETE", &[])
            },
        )
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    let (result, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        destroy_stage(d, &stage).await
    })
    .await;
    result.unwrap();
    assert!(output.contains("Deleted chatstack-dev."), "{output}");
    let tagged: Vec<_> = cloud.state.borrow().tags.keys().cloned().collect();
    assert_eq!(tagged, ["chatstack/dev/f/1.zip"]);
}

/// Zips already built in `dir` (no build step).
fn prebuilt(dir: &std::path::Path) -> Assets {
    Assets {
        build: None,
        dir: dir.to_owned(),
    }
}

fn write_zips(dir: &std::path::Path, content: &str) {
    for name in FUNCTIONS.iter().map(|spec| spec.name) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(
            dir.join(name).join("bootstrap.zip"),
            format!("{name} {content}"),
        )
        .unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn first_deploy_creates_the_bootstrap_stack_and_uploads_each_zip_once() {
    let dir = scratch_dir("deploy_fake_assets");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes()).with_stack(
        "chatstack-bootstrap",
        absent(&["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]),
    );
    let asked = std::rc::Rc::new(std::cell::Cell::new(0));
    let count = asked.clone();
    let approval = Approval::Ask(Box::new(move |_: &str| {
        count.set(count.get() + 1);
        Ok(true)
    }));
    let (result, output) = with_deployer(&cloud, approval, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &StageSettings::default(), &assets).await
    })
    .await;
    result.unwrap();
    assert_eq!(
        asked.get(),
        1,
        "only the chat stack's changes are asked about"
    );
    assert!(output.contains("Creating chatstack-bootstrap"), "{output}");
    // The stage's functions: without settings, not notify.
    let all = FUNCTIONS.iter().filter(|f| f.in_every_stage()).count();
    assert!(
        output.contains(&format!("Uploaded {all} of {all} zips")),
        "{output}"
    );
    let requests = cloud.state.borrow().requests.clone();
    assert_eq!(requests[0].stack, "chatstack-bootstrap");
    let chat = &requests[1];
    assert!(
        !chat.parameters.iter().any(|(k, _)| k == "NotifyCodeKey"),
        "a parameter the template lacks fails the change set"
    );
    assert!(
        chat.parameters
            .iter()
            .any(|(k, v)| k == "AssetsBucket" && v == "chatstack-bootstrap-assetsbucket-physical")
    );
    let changed = &FUNCTIONS[0];
    let code_key = |parameters: &[(String, String)]| {
        parameters
            .iter()
            .find(|(k, _)| *k == changed.code_key_parameter())
            .unwrap()
            .1
            .clone()
    };
    let old_key = code_key(&chat.parameters);
    assert!(
        old_key.starts_with(&format!("chatstack/dev/{}/", changed.name))
            && old_key.ends_with(".zip"),
        "{old_key}"
    );

    // Same zips again: nothing uploaded. One changed zip: one upload, new key.
    let uploads = |cloud: &FakeCloud| {
        cloud
            .calls()
            .iter()
            .filter(|c| c.starts_with("put_object"))
            .count()
    };
    assert_eq!(uploads(&cloud), all);
    {
        let mut state = cloud.state.borrow_mut();
        state
            .stacks
            .insert("chatstack-bootstrap".into(), bootstrap_as_deployed());
        state
            .stacks
            .insert(STACK.into(), existing("CREATE_COMPLETE", &[]));
        state.change_set = Some(no_changes());
    }
    let (result, output) = with_deployer(
        &cloud,
        Approval::NoTerminal,
        Interrupts::none(),
        async |d| deploy_stage(d, &stage, &StageSettings::default(), &assets).await,
    )
    .await;
    assert!(matches!(result.unwrap(), Deployed::NoChanges { .. }));
    assert!(output.contains("Zips unchanged"), "{output}");
    assert_eq!(uploads(&cloud), all);

    std::fs::write(dir.join(changed.name).join("bootstrap.zip"), "v2").unwrap();
    let (_, output) = with_deployer(
        &cloud,
        Approval::NoTerminal,
        Interrupts::none(),
        async |d| deploy_stage(d, &stage, &StageSettings::default(), &assets).await,
    )
    .await;
    assert!(
        output.contains(&format!("Uploaded 1 of {all} zips")),
        "{output}"
    );
    let requests = cloud.state.borrow().requests.clone();
    assert_ne!(code_key(&requests.last().unwrap().parameters), old_key);
}

#[tokio::test(start_paused = true)]
async fn a_missing_zip_names_the_build_command() {
    let dir = scratch_dir("deploy_fake_missing_zip");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    let cloud = FakeCloud::default();
    let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &StageSettings::default(), &assets).await
    })
    .await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(&format!("{}/bootstrap.zip", FUNCTIONS[0].name))
            && message.contains("handlers/build.sh"),
        "{message}"
    );
    assert!(cloud.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn diff_before_the_first_deploy_creates_nothing() {
    let dir = scratch_dir("deploy_fake_diff_first");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    let cloud = cloud_with(absent(&[]), changes());
    let (result, output) = with_deployer(
        &cloud,
        Approval::NoTerminal,
        Interrupts::none(),
        async |d| diff_stage(d, &stage, &StageSettings::default(), &assets).await,
    )
    .await;
    result.unwrap();
    assert!(output.contains("does not exist yet"), "{output}");
    let calls = cloud.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("put_object") || c.contains("chatstack-bootstrap")),
        "{calls:?}"
    );
    assert!(!executed(&cloud));
}

/// A stage whose settings add functions gets their zips and code key
/// parameters too.
#[tokio::test(start_paused = true)]
async fn a_stage_with_notify_uploads_and_passes_the_notify_zip() {
    let dir = scratch_dir("deploy_fake_notify_assets");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    // Every function: notify and the authorizer.
    let settings = StageSettings {
        notify: true,
        authorization: chatstack::settings::Authorization::Tokens,
        ..Default::default()
    };
    let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes())
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    let (result, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &settings, &assets).await
    })
    .await;
    result.unwrap();
    let all = FUNCTIONS.len();
    assert!(
        output.contains(&format!("Uploaded {all} of {all} zips")),
        "{output}"
    );
    let requests = cloud.state.borrow().requests.clone();
    let chat = requests.last().unwrap();
    assert!(
        chat.parameters
            .iter()
            .any(|(k, v)| k == "NotifyCodeKey" && v.starts_with("chatstack/dev/notify/")),
        "{:?}",
        chat.parameters
    );
}

/// The keys the stack's parameters point at that carry the removal tag.
fn marked_keys_in_use(cloud: &FakeCloud) -> Vec<String> {
    let state = cloud.state.borrow();
    let stack = &state.stacks[STACK];
    stack
        .parameters
        .iter()
        .filter(|(name, key)| {
            chatstack::chat::is_code_key_parameter(name) && state.tags.contains_key(key)
        })
        .map(|(_, key)| key.clone())
        .collect()
}

async fn deploy_default(cloud: &FakeCloud, assets: &Assets) -> String {
    let stage: StageName = "dev".parse().unwrap();
    let (result, output) = with_deployer(cloud, Approval::Yes, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &StageSettings::default(), assets).await
    })
    .await;
    result.unwrap();
    output
}

#[tokio::test(start_paused = true)]
async fn a_revert_or_a_deploy_after_destroy_leaves_no_zip_in_use_marked_for_removal() {
    let dir = scratch_dir("deploy_fake_revert");
    let assets = prebuilt(&dir);
    let updatable = || {
        existing(
            "UPDATE_COMPLETE",
            &["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        )
    };
    let cloud = cloud_with(updatable(), changes())
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    let changed = &FUNCTIONS[0];
    let zip = dir.join(changed.name).join("bootstrap.zip");
    write_zips(&dir, "A");
    deploy_default(&cloud, &assets).await;
    let key_a = cloud.state.borrow().stacks[STACK].parameters.clone();

    std::fs::write(&zip, "B").unwrap();
    deploy_default(&cloud, &assets).await;
    assert_eq!(cloud.state.borrow().tags.len(), 1, "A's zip is superseded");

    // Back to A: its zip is in the bucket, tagged; deploy uploads it again.
    write_zips(&dir, "A");
    let output = deploy_default(&cloud, &assets).await;
    assert!(
        output.contains("(1 again: they were marked for removal)"),
        "{output}"
    );
    assert_eq!(cloud.state.borrow().stacks[STACK].parameters, key_a);
    assert_eq!(marked_keys_in_use(&cloud), Vec::<String>::new());
    assert_eq!(cloud.state.borrow().tags.len(), 1, "B's zip is superseded");

    // Destroy marks every zip; the same build deployed again renews them.
    let stage: StageName = "dev".parse().unwrap();
    let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        destroy_stage(d, &stage).await
    })
    .await;
    result.unwrap();
    let every_stage_zip = FUNCTIONS.iter().filter(|f| f.in_every_stage()).count();
    assert_eq!(cloud.state.borrow().tags.len(), every_stage_zip + 1);
    cloud.state.borrow_mut().stacks.insert(
        STACK.into(),
        absent(&["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]),
    );
    let output = deploy_default(&cloud, &assets).await;
    assert!(
        output.contains(&format!(
            "Uploaded {every_stage_zip} of {every_stage_zip} zips to s3://chatstack-bootstrap-assetsbucket-physical ({every_stage_zip} again"
        )),
        "{output}"
    );
    assert_eq!(cloud.state.borrow().stacks[STACK].parameters, key_a);
    assert_eq!(marked_keys_in_use(&cloud), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_template_over_the_inline_limit_goes_through_the_bucket() {
    use chatstack::deploy::{TEMPLATE_BODY_LIMIT, template_source};
    let dir = scratch_dir("deploy_fake_template_url");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    // Today's templates fit: deploy passes them inline.
    let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes())
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    deploy_default(&cloud, &assets).await;
    let inline = cloud
        .state
        .borrow()
        .requests
        .last()
        .unwrap()
        .template
        .clone();
    assert!(inline.body.len() <= TEMPLATE_BODY_LIMIT);
    assert_eq!(inline.url, None);

    // One byte over: uploaded under the stage's prefix, tagged to expire.
    let body = format!(
        "{}#{}\n",
        inline.body,
        "x".repeat(TEMPLATE_BODY_LIMIT - inline.body.len())
    );
    assert_eq!(body.len(), TEMPLATE_BODY_LIMIT + 2);
    let bucket = "chatstack-bootstrap-assetsbucket-physical";
    let (source, output) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        template_source(d, bucket, &stage, body.clone()).await
    })
    .await;
    let source = source.unwrap();
    let key = format!(
        "chatstack/dev/templates/{}.yaml",
        sha256_hex(body.as_bytes())
    );
    assert_eq!(source.body, body);
    assert_eq!(
        source.url.as_deref(),
        Some(format!("https://{bucket}.s3.fake-region.amazonaws.com/{key}").as_str())
    );
    {
        let state = cloud.state.borrow();
        assert_eq!(state.bodies[&key], body.as_bytes(), "uploaded as it is");
        assert_eq!(
            state.tags.get(&key),
            Some(&superseded()),
            "expires a day on"
        );
    }
    assert!(
        output.contains("over CloudFormation's 51200-byte inline limit"),
        "{output}"
    );

    // Before the bucket exists (diff ahead of the first deploy): says so.
    let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        template_source(
            d,
            chatstack::deploy::BUCKET_NOT_YET_CREATED,
            &stage,
            body.clone(),
        )
        .await
    })
    .await;
    let message = result.unwrap_err().to_string();
    assert!(message.contains("run deploy once"), "{message}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[tokio::test(start_paused = true)]
async fn deploy_warns_when_the_accounts_lambda_concurrency_is_small() {
    use chatstack::deploy::cloud::AccountConcurrency;
    let dir = scratch_dir("deploy_fake_concurrency");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let run = async |concurrency: Result<AccountConcurrency, CloudError>| {
        let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes())
            .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
        cloud.state.borrow_mut().concurrency = Some(concurrency);
        deploy_default(&cloud, &assets).await
    };
    // A new account's 10: ten workers and five other functions do not fit.
    let output = run(Ok(AccountConcurrency {
        total: 10,
        unreserved: 10,
    }))
    .await;
    assert!(
        output.contains("may run 10 Lambda invocations at once")
            && output.contains("up to 10 fanout workers beside its 5 other functions")
            && output.contains("[stages.dev.broadcast] workers"),
        "{output}"
    );
    assert!(
        output.contains("Deployed chatstack-dev."),
        "advice only: {output}"
    );
    // One to spare beside ten workers and five others is quiet; none is not.
    let quiet = run(Ok(AccountConcurrency {
        total: 1000,
        unreserved: 16,
    }))
    .await;
    assert!(!quiet.contains("warning"), "{quiet}");
    let tight = run(Ok(AccountConcurrency {
        total: 1000,
        unreserved: 15,
    }))
    .await;
    assert!(tight.contains("may run 15 Lambda invocations"), "{tight}");
    // Not allowed to ask: a note, and the deploy goes on.
    let denied = run(Err(CloudError::Other("AccessDeniedException: no".into()))).await;
    assert!(
        denied.contains("could not read the account's Lambda concurrency (lambda:GetAccountSettings: AccessDeniedException: no)")
            && denied.contains("Deployed chatstack-dev."),
        "{denied}"
    );
}

fn operated_settings(certificate_arn: &str, logging: bool) -> StageSettings {
    let logging = if logging {
        "[stages.dev.logging]\naccess = true\n"
    } else {
        ""
    };
    let text = format!(
        "[stages.dev.domain]\nname = \"chat.example.com\"\ncertificate_arn = \"{certificate_arn}\"\n{logging}"
    );
    chatstack::settings::Settings::parse(&text, std::path::Path::new("chatstack.toml"))
        .unwrap()
        .stage(&"dev".parse().unwrap())
}

/// A certificate ACM holds in another region or partition is refused
/// before anything is built, uploaded or changed.
#[tokio::test(start_paused = true)]
async fn a_certificate_of_another_region_or_partition_is_refused_before_anything_happens() {
    let dir = scratch_dir("deploy_fake_certificate");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    for (certificate, said) in [
        (
            "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "is in us-east-1 (aws), but the stage deploys to eu-west-1 (aws)",
        ),
        (
            "arn:aws-cn:acm:eu-west-1:123456789012:certificate/abc",
            "is in eu-west-1 (aws-cn), but the stage deploys to eu-west-1 (aws)",
        ),
    ] {
        let settings = operated_settings(certificate, false);
        let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes());
        let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
            deploy_stage(d, &stage, &settings, &assets).await
        })
        .await;
        let error = result.unwrap_err().to_string();
        assert!(error.contains(said), "{error}");
        assert!(
            error.contains("request or import one in eu-west-1"),
            "{error}"
        );
        assert_eq!(cloud.calls(), Vec::<String>::new(), "nothing was done");
    }
    // The region's own certificate deploys.
    let settings = operated_settings("arn:aws:acm:eu-west-1:123456789012:certificate/abc", false);
    let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes())
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &settings, &assets).await
    })
    .await;
    result.unwrap();
    assert!(executed(&cloud));
}

/// Logs need the account's API Gateway CloudWatch role: without one,
/// deploy (and diff) explain how to set it and change nothing; when the
/// role cannot be read, deploy says so and goes on.
#[tokio::test(start_paused = true)]
async fn logs_without_the_accounts_cloudwatch_role_are_explained_before_anything_happens() {
    let dir = scratch_dir("deploy_fake_logs_role");
    write_zips(&dir, "v1");
    let assets = prebuilt(&dir);
    let stage: StageName = "dev".parse().unwrap();
    let settings = operated_settings("arn:aws:acm:eu-west-1:123456789012:certificate/abc", true);
    let cloud = cloud_with(absent(&["CREATE_COMPLETE"]), changes());
    cloud.state.borrow_mut().logs_role = Some(Ok(None));
    for diff in [false, true] {
        let (result, _) = with_deployer(&cloud, Approval::Yes, Interrupts::none(), async |d| {
            if diff {
                diff_stage(d, &stage, &settings, &assets).await.map(|_| ())
            } else {
                deploy_stage(d, &stage, &settings, &assets)
                    .await
                    .map(|_| ())
            }
        })
        .await;
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("none is set in eu-west-1")
                && error.contains("AmazonAPIGatewayPushToCloudWatchLogs")
                && error.contains("aws apigateway update-account --region eu-west-1"),
            "{error}"
        );
        assert_eq!(cloud.calls(), Vec::<String>::new(), "nothing was done");
    }

    let denied = cloud_with(absent(&["CREATE_COMPLETE"]), changes())
        .with_stack("chatstack-bootstrap", bootstrap_as_deployed());
    denied.state.borrow_mut().logs_role = Some(Err(chatstack::aws::CloudError::Other(
        "AccessDeniedException: not authorized to perform apigateway:GET".to_owned(),
    )));
    let (result, output) = with_deployer(&denied, Approval::Yes, Interrupts::none(), async |d| {
        deploy_stage(d, &stage, &settings, &assets).await
    })
    .await;
    result.unwrap();
    assert!(
        output.contains("could not check API Gateway's CloudWatch role in eu-west-1")
            && output.contains("AccessDeniedException"),
        "{output}"
    );
    assert!(executed(&denied));
}
