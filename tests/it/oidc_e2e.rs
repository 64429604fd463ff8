//! Identity providers' tokens through `chatstack local`, as a user meets
//! them: an issuer of the tests' own on loopback (`tests/oidc_issuer.py`,
//! tokens minted by PyJWT) runs the real authorizer against its discovery
//! document and keys; a stage with `cognito = true` has its user pool in
//! moto, managed with `chatstack users --local` and signed in to with
//! `chatstack token --local`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;
use crate::common::chat::ChatProcess;
use crate::common::local::Local;
use crate::common::oidc::Issuer;
use crate::common::ws::{Client, connect_offering, frame, send};

const AUDIENCE: &str = "chat-e2e";

fn settings_file(name: &str, text: &str) -> String {
    let path = common::scratch_dir(name).join("chatstack.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn in_header(token: &str) -> String {
    format!("chatstack.v1, chatstack.token.{token}")
}

/// Joins `general` and returns the answer's user name.
async fn joined_as(client: &mut Client) -> Value {
    send(client, json!({"action": "join", "room": "general"})).await;
    let answer = frame(client).await;
    assert_eq!(answer["type"], "joined", "{answer}");
    answer["user"].clone()
}

/// The reasons the authorizer logged for refusals, in order.
fn refusals(local: &Local) -> Vec<String> {
    local
        .authorizer_log()
        .iter()
        .filter(|fields| fields["message"] == "connection refused")
        .filter_map(|fields| fields["reason"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the authorizer has logged `count` refusals.
async fn await_refusals(local: &Local, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reasons = refusals(local);
        if reasons.len() >= count {
            return reasons;
        }
        assert!(Instant::now() < deadline, "refusals logged: {reasons:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issuers_tokens_connect_with_their_user_and_bad_ones_are_refused_with_the_reason() {
    let issuer = Issuer::start();
    let config = settings_file(
        "oidc_e2e_tokens",
        &issuer.settings(AUDIENCE, "user_claim = \"preferred_username\""),
    );
    let local = Local::start_with(&["--config", &config]);
    assert!(
        local
            .lines()
            .iter()
            .any(|l| l.starts_with("Connect with:") && l.contains(&issuer.url())),
        "the banner names the issuer: {:?}",
        local.lines()
    );

    // RS256 in the header, as browsers send it: the user is the claim's.
    let alice_token = issuer.token_for("alice", AUDIENCE);
    let (mut alice, selected) = connect_offering(&local.url, &in_header(&alice_token))
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("chatstack.v1"));
    assert_eq!(joined_as(&mut alice).await, "alice");
    // ES256 in the query, as the guide's wscat clients send it; messages
    // carry the name.
    let bob_token = issuer.mint(&issuer.claims("bob", AUDIENCE), "ec-1", "ec-1", None);
    let (mut bob, _) =
        connect_offering(&format!("{}?token={bob_token}", local.url), "chatstack.v1")
            .await
            .unwrap();
    assert_eq!(joined_as(&mut bob).await, "bob");
    send(&mut bob, json!({"action": "sendmessage", "data": "hi"})).await;
    let message = loop {
        let frame = frame(&mut alice).await;
        if frame["type"] == "message" {
            break frame;
        }
    };
    assert_eq!(
        (&message["from"], &message["text"]),
        (&json!("bob"), &json!("hi"))
    );
    // chatstack chat --token sends it in the header, and never prints it.
    let carol_token = issuer.token_for("carol", AUDIENCE);
    let mut carol = ChatProcess::start(&[&local.url, "--token", &carol_token]);
    carol
        .wait_for_line("* You are in #general; your lines go there. (your rooms: #general)")
        .await;
    carol.type_line("hello from the terminal");
    let message = loop {
        let frame = frame(&mut alice).await;
        if frame["type"] == "message" {
            break frame;
        }
    };
    assert_eq!(message["from"], "carol", "{message}");
    assert!(!carol.lines().iter().any(|l| l.contains(&carol_token)));
    carol.finish();

    let good = issuer.claims("mallory", AUDIENCE);
    let with = |changes: Value| {
        let mut claims = good.clone();
        for (key, value) in changes.as_object().unwrap() {
            claims[key] = value.clone();
        }
        claims
    };
    let now = good["iat"].as_u64().unwrap();
    let signed = |claims: &Value| issuer.mint(claims, "rsa-1", "rsa-1", None);
    let valid = signed(&good);
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        use base64::Engine;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(with(json!({"preferred_username": "alice"})).to_string());
        format!("{}.{claims}.{}", parts[0], parts[2])
    };
    let cases = [
        (
            "expired",
            signed(&with(json!({"exp": now - 600}))),
            "the token expired",
        ),
        (
            "not yet valid",
            signed(&with(json!({"nbf": now + 600}))),
            "not valid yet",
        ),
        (
            "wrong audience",
            signed(&with(json!({"aud": "another-app"}))),
            "not for this app",
        ),
        (
            "wrong issuer",
            signed(&with(json!({"iss": "http://127.0.0.1:1"}))),
            "from issuer \"http://127.0.0.1:1\"",
        ),
        (
            "unknown key",
            issuer.mint(&good, "unpublished", "unpublished", None),
            "no key of the issuer has the token's key id \"unpublished\"",
        ),
        (
            "alg none",
            issuer.mint(&good, "rsa-1", "rsa-1", Some("none")),
            "algorithm \"none\" is not accepted",
        ),
        (
            "HMAC with the public key",
            issuer.mint(&good, "rsa-1", "rsa-1", Some("HS256")),
            "algorithm \"HS256\" is not accepted",
        ),
        ("tampered", tampered, "signature does not match"),
    ];
    for (n, (what, token, _)) in cases.iter().enumerate() {
        let refused = connect_offering(&local.url, &in_header(token)).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("403")),
            "{what}: {:?}",
            refused.map(|(_, selected)| selected)
        );
        let reasons = await_refusals(&local, n + 1).await;
        let (_, _, reason) = cases[n];
        assert!(
            reasons[n].contains(reason),
            "{what}: logged {:?}, expected {reason:?}",
            reasons[n]
        );
    }
    // No token at all: the authorizer runs (no identity source) and denies.
    let bare = connect_offering(&local.url, "chatstack.v1").await;
    assert!(bare.is_err_and(|e| e.contains("403")));
    assert!(await_refusals(&local, cases.len() + 1).await[cases.len()].contains("no token"));

    // Only alice and bob are connected; the log names reasons, never tokens.
    local.await_ids(2).await;
    let log = local.authorizer_log_text();
    for token in
        cases
            .iter()
            .map(|(_, token, _)| token)
            .chain([&alice_token, &bob_token, &carol_token])
    {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            signature.len() < 8 || !log.contains(signature),
            "the authorizer logged a token"
        );
        assert!(
            !log.contains(token.as_str()),
            "the authorizer logged a token"
        );
    }
    let transports: Vec<Value> = local
        .authorizer_log()
        .iter()
        .filter(|fields| fields["message"] == "connection authorized")
        .map(|fields| json!([fields["user"], fields["transport"]]))
        .collect();
    assert_eq!(
        transports,
        [
            json!(["alice", "header"]),
            json!(["bob", "query"]),
            json!(["carol", "header"])
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_key_is_picked_up_without_a_restart_and_made_up_keys_cannot_hammer_the_issuer() {
    let issuer = Issuer::start();
    let config = settings_file("oidc_e2e_rotation", &issuer.settings(AUDIENCE, ""));
    let local = Local::start_with(&["--config", &config]);
    let (mut first, _) = connect_offering(&local.url, &in_header(&issuer.token_for("a", AUDIENCE)))
        .await
        .unwrap();
    assert_eq!(
        joined_as(&mut first).await,
        "id-of-a",
        "sub names the user by default"
    );
    let reads = issuer.key_reads();
    assert!(reads >= 1);

    // Twenty tokens naming made-up keys, one after another: each refused,
    // and the keys read again at most once (once per 10 s and environment).
    let started = Instant::now();
    for n in 0..20 {
        let token = issuer.mint(
            &issuer.claims("eve", AUDIENCE),
            "unpublished",
            &format!("made-up-{n}"),
            None,
        );
        let refused = connect_offering(&local.url, &in_header(&token)).await;
        assert!(refused.is_err_and(|e| e.contains("403")), "made-up key {n}");
    }
    let flood_reads = issuer.key_reads() - reads;
    let windows = started.elapsed().as_secs() / 10 + 1;
    assert!(
        flood_reads <= windows,
        "{flood_reads} reads of the keys in {:?} for 20 unknown keys",
        started.elapsed()
    );

    // The issuer publishes a new key: its tokens are let in once the
    // authorizer reads the keys again, within its 10 s, without a restart.
    issuer.rotate("rsa-2");
    let rotated = issuer.mint(&issuer.claims("b", AUDIENCE), "rsa-2", "rsa-2", None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut second = loop {
        match connect_offering(&local.url, &in_header(&rotated)).await {
            Ok((client, _)) => break client,
            Err(refused) => {
                assert!(refused.contains("403"), "{refused}");
                assert!(
                    Instant::now() < deadline,
                    "the new key was not picked up within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    assert_eq!(joined_as(&mut second).await, "id-of-b");
    let pids_now: Vec<u32> = local.pids.clone();
    assert!(!pids_now.is_empty());
}

/// `chatstack ARGS...` with `input` on standard input (a password).
fn chatstack_with_input(args: &[&str], input: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatstack"));
    command.args(args);
    common::run_with_input(command, input)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_added_to_the_local_pool_signs_in_and_connects_with_their_id_token() {
    let config = settings_file(
        "oidc_e2e_cognito",
        "[stages.dev.authorization]\ncognito = true\n",
    );
    let local = Local::start_with(&["--config", &config]);
    let run = local.run_dir();
    let users_line = local
        .lines()
        .into_iter()
        .find(|l| l.contains("Users:"))
        .expect("the banner says how to add users");
    assert!(
        users_line.contains(&format!("chatstack users add --local {run}")),
        "{users_line}"
    );

    let password = "correct horse battery staple";
    let added = chatstack_with_input(
        &["users", "add", "alice", "--local", &run],
        &format!("{password}\n"),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert_eq!(String::from_utf8_lossy(&added.stdout), "Added alice.\n");
    let again = chatstack_with_input(
        &["users", "add", "alice", "--local", &run],
        &format!("{password}\n"),
    );
    assert!(!again.status.success());
    assert!(
        text(&again).contains("user alice already exists"),
        "{}",
        text(&again)
    );
    let short = chatstack_with_input(&["users", "add", "bob", "--local", &run], "short\n");
    assert!(!short.status.success());
    assert!(
        text(&short).contains("at least 12 characters"),
        "{}",
        text(&short)
    );
    let listed = chatstack_with_input(&["users", "list", "--local", &run], "");
    assert!(listed.status.success(), "{}", text(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.starts_with("alice\tCONFIRMED\tenabled\t"),
        "{listed}"
    );

    let wrong = chatstack_with_input(
        &["token", "--local", &run, "--user", "alice"],
        "not the password\n",
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("wrong user name or password"),
        "{}",
        text(&wrong)
    );
    assert!(!text(&wrong).contains("not the password"));
    let signed_in = chatstack_with_input(
        &["token", "--local", &run, "--user", "alice"],
        &format!("{password}\n"),
    );
    assert!(signed_in.status.success(), "{}", text(&signed_in));
    let id_token = String::from_utf8(signed_in.stdout)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(id_token.split('.').count(), 3, "a JWT: {id_token}");

    // moto signed it as the pool's issuer; the real authorizer checked it
    // against the pool's keys, which local serves from moto.
    let (mut alice, selected) = connect_offering(&local.url, &in_header(&id_token))
        .await
        .unwrap();
    assert_eq!(selected.as_deref(), Some("chatstack.v1"));
    assert_eq!(joined_as(&mut alice).await, "alice");
    // The banner's way to connect, with the user's name.
    let connect_line = local
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Connect with:"))
        .unwrap();
    assert!(
        connect_line.contains(&format!("chatstack token --local {run} --user NAME")),
        "{connect_line}"
    );

    let removed = chatstack_with_input(&["users", "remove", "alice", "--local", &run], "");
    assert!(removed.status.success(), "{}", text(&removed));
    let listed = chatstack_with_input(&["users", "list", "--local", &run], "");
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "");
    let gone = chatstack_with_input(&["users", "remove", "alice", "--local", &run], "");
    assert!(
        text(&gone).contains("there is no user alice"),
        "{}",
        text(&gone)
    );
}
