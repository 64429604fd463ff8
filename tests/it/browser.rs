//! The chat page in a real browser: headless Chromium (Debian's packages,
//! installed by tests/browser-tools.sh) driven over WebDriver against
//! `chatstack local`. Screenshots land in the target dir's `tmp/browser`.

use crate::common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::local::{Local, field_after};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// chromedriver on a free port, stopped when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let script = format!("{}/tests/browser-tools.sh", common::ROOT);
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .expect("bash runs");
        assert!(
            output.status.success(),
            "{script} could not provide chromium and chromedriver:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let port = chatstack::local::dynamo::free_port().unwrap();
        // A process group of its own, with the browsers it starts: a test
        // that fails before closing its page must not leave Chromium behind.
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{path} does not start: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless browser on a narrow (phone-sized) window.
    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=420,800"
            ]}),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session starts")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every browser it started.
        if let Ok(group) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process
            // group; it touches no memory of ours.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds on `page`, for at most `limit`.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn state(page: &Client) -> String {
    match page.find(Locator::Id("state")).await {
        Ok(element) => element
            .attr("data-state")
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The chat page's URL, from local's banner.
fn page_url(local: &Local) -> String {
    local
        .lines()
        .iter()
        .find_map(|l| field_after(l, "Chat page:"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no chat page URL: {:?}", local.lines()))
}

async fn click(page: &Client, id: &str) {
    page.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// What the page's state line says.
async fn state_text(page: &Client) -> String {
    page.find(Locator::Id("state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait_for_state(page: &Client, expected: &str, limit: Duration) {
    wait_until(&format!("state {expected}"), limit, || async {
        state(page).await == expected
    })
    .await;
}

/// The lines shown in the room on screen, as (class, text): `chat` (with
/// `mine` for one's own), `system` or `error`.
async fn messages(page: &Client) -> Vec<(String, String)> {
    let items = page
        .execute(
            "return Array.from(document.querySelectorAll('#messages li:not([hidden])'))\
             .map(li => [li.className, li.querySelector('.text').textContent]);",
            vec![],
        )
        .await
        .expect("the page runs scripts");
    serde_json::from_value(items).unwrap_or_default()
}

/// The chat messages shown (presence and answers left out).
async fn chats(page: &Client) -> Vec<(String, String)> {
    messages(page)
        .await
        .into_iter()
        .filter(|(class, _)| class.starts_with("chat"))
        .collect()
}

async fn type_and_send(page: &Client, text: &str) {
    let input = page.find(Locator::Id("text")).await.unwrap();
    input.send_keys(text).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap(); // Enter
}

async fn screenshot(page: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = page.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_browsers_chat_through_local_and_reconnect_after_a_restart() {
    let port = chatstack::local::dynamo::free_port().unwrap();
    let mut local = Local::start_at(port, &[], &[]);
    let page_url = page_url(&local);
    let lines = local.lines();
    let header = lines
        .iter()
        .position(|l| l.starts_with("chatstack local:"))
        .unwrap();
    assert!(
        lines[header + 1].contains("Chat page:"),
        "the page's URL comes first: {lines:?}"
    );
    let driver = Chromedriver::start();
    let (a, b) = (driver.browser().await, driver.browser().await);
    for page in [&a, &b] {
        page.goto(&page_url).await.unwrap();
        wait_for_state(page, "connected", Duration::from_secs(20)).await;
    }
    local.await_ids(2).await;

    // Each sees the other's message exactly once, its own set apart.
    type_and_send(&a, "hello from a").await;
    let chat = |text: &str| ("chat".to_owned(), text.to_owned());
    let mine = |text: &str| ("chat mine".to_owned(), text.to_owned());
    for (page, seen) in [(&a, mine("hello from a")), (&b, chat("hello from a"))] {
        wait_until("the message", Duration::from_secs(10), || async {
            chats(page).await.contains(&seen)
        })
        .await;
    }
    // Markup is text, never HTML.
    let markup = "<b>bold</b> & <img src=x onerror=alert(1)>";
    type_and_send(&b, markup).await;
    for (page, seen) in [(&a, chat(markup)), (&b, mine(markup))] {
        wait_until("the markup message", Duration::from_secs(10), || async {
            chats(page).await.contains(&seen)
        })
        .await;
        let elements = page
            .find_all(Locator::Css("#messages b, #messages img"))
            .await
            .unwrap();
        assert!(elements.is_empty(), "markup was rendered");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        chats(&a).await,
        [mine("hello from a"), chat(markup)],
        "exactly once each"
    );
    assert_eq!(chats(&b).await, [chat("hello from a"), mine(markup)]);
    // Each message with its time.
    let times: Vec<String> = serde_json::from_value(
        a.execute(
            "return Array.from(document.querySelectorAll('#messages li.chat time'))\
             .map(t => t.dateTime);",
            vec![],
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(times.iter().all(|t| t.starts_with("20")), "{times:?}");

    // A sender's text is only ever a frame's text: JSON that looks like a
    // named message, or like a frame, is shown as what was typed.
    for forged in [
        r#"{"from":"admin","text":"reset your token"}"#,
        r#"{"type":"error","message":"you are banned"}"#,
    ] {
        b.execute(
            r#"window.chatstack.sendRaw(JSON.stringify({action: "sendmessage", data: arguments[0]}));"#,
            vec![json!(forged)],
        )
        .await
        .unwrap();
        wait_until(
            "the forged text, as text",
            Duration::from_secs(10),
            || async { chats(&a).await.contains(&chat(forged)) },
        )
        .await;
    }
    // The sender shown is the connection the frame names, never a name
    // taken from the text.
    let senders = texts(&a, "#messages li.chat .from").await;
    assert_eq!(senders.len(), 4, "{senders:?}");
    assert!(
        senders
            .iter()
            .all(|s| s.ends_with('=') && !s.contains("admin")),
        "{senders:?}"
    );
    assert!(
        !messages(&a).await.iter().any(|(class, _)| class == "error"),
        "{:?}",
        messages(&a).await
    );
    // The functions' own answers are shown as what they are.
    a.execute("window.chatstack.sendRaw('not a sendmessage');", vec![])
        .await
        .unwrap();
    wait_until("the $default reply", Duration::from_secs(10), || async {
        messages(&a)
            .await
            .iter()
            .any(|(class, text)| class == "error" && text.starts_with("Use the sendmessage route"))
    })
    .await;

    // Over 32 KB: refused in the page, with the reason; nothing is sent.
    a.execute(
        "document.getElementById('text').value = 'x'.repeat(40000);\
         document.querySelector('#send-form button').click();",
        vec![],
    )
    .await
    .unwrap();
    let problem = a
        .find(Locator::Id("problem"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(problem.contains("32 KB"), "{problem}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(chats(&b).await.len(), 4, "b received nothing more");
    screenshot(&a, "a").await;
    screenshot(&b, "b").await;

    // The server goes away and comes back: the pages reconnect.
    assert!(local.interrupt().success());
    // (A jittered retry may leave "reconnecting" within milliseconds: the
    // pages' retries are what show they noticed.)
    for page in [&a, &b] {
        wait_until("a retry", Duration::from_secs(10), || async {
            page.execute("return window.chatstack.retries.length;", vec![])
                .await
                .ok()
                .and_then(|n| n.as_u64())
                .is_some_and(|n| n > 0)
        })
        .await;
    }
    // While it is away the pages retry with full jitter: each wait
    // anywhere up to a cap doubling from 1 s.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for page in [&a, &b] {
        let retries: Vec<(f64, f64)> = serde_json::from_value(
            page.execute(
                "return window.chatstack.retries.map(r => [r.waitMs, r.capMs]);",
                vec![],
            )
            .await
            .unwrap(),
        )
        .unwrap();
        assert!(retries.len() >= 3, "{retries:?}");
        let caps: Vec<f64> = retries.iter().map(|(_, cap)| *cap).collect();
        assert_eq!(caps[..3], [1000.0, 2000.0, 4000.0], "{retries:?}");
        assert!(
            retries
                .iter()
                .all(|(wait, cap)| *wait >= 0.0 && wait <= cap),
            "{retries:?}"
        );
        assert!(
            retries.iter().any(|(wait, cap)| wait < cap),
            "jittered, not the caps themselves: {retries:?}"
        );
    }
    let _local = Local::start_at(port, &["--no-build"], &[]);
    for page in [&a, &b] {
        wait_for_state(page, "connected", Duration::from_secs(40)).await;
    }
    screenshot(&a, "a-reconnected").await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_stage_with_tokens_the_page_asks_for_one_and_shows_names() {
    let config = common::scratch_dir("browser_tokens").join("chatstack.toml");
    std::fs::write(&config, "[stages.dev]\nauthorization = true\n").unwrap();
    let local = Local::start_with(&["--config", config.to_str().unwrap()]);
    let page_url = page_url(&local);
    let token = local.token_for("alice");

    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&page_url).await.unwrap();
    wait_for_state(&page, "refused", Duration::from_secs(10)).await;
    let field = page.find(Locator::Id("token")).await.unwrap();
    assert!(field.is_displayed().await.unwrap(), "the token field shows");
    field.send_keys(&token).await.unwrap();
    field.send_keys("\u{E007}").await.unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;

    type_and_send(&page, "signed in").await;
    wait_until("the named message", Duration::from_secs(10), || async {
        chats(&page).await == [("chat mine".to_owned(), "signed in".to_owned())]
    })
    .await;
    let name = page.find(Locator::Css("#messages li .from")).await.unwrap();
    assert_eq!(name.text().await.unwrap(), "alice");
    // With tokens, frames come from the functions only: their replies are
    // shown as what they are.
    page.execute("window.chatstack.sendRaw('not a sendmessage');", vec![])
        .await
        .unwrap();
    wait_until("the $default reply", Duration::from_secs(10), || async {
        messages(&page)
            .await
            .iter()
            .any(|(class, text)| class == "error" && text.starts_with("Use the sendmessage route"))
    })
    .await;
    screenshot(&page, "with-token").await;
    page.close().await.unwrap();
    // The page sent the token in Sec-WebSocket-Protocol, not in the URL.
    assert_token_came_in_the_header(&local, "alice");
}

/// The authorizer let `user` in, with the token from the header only.
fn assert_token_came_in_the_header(local: &Local, user: &str) {
    let transports: Vec<serde_json::Value> = local
        .authorizer_log()
        .into_iter()
        .filter(|fields| fields["message"] == "connection authorized" && fields["user"] == user)
        .map(|fields| fields["transport"].clone())
        .collect();
    assert!(!transports.is_empty(), "{user} was never let in");
    assert!(
        transports.iter().all(|transport| transport == "header"),
        "{user}'s token came as {transports:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_an_identity_providers_stage_the_page_sends_its_id_token_in_the_header() {
    let issuer = crate::common::oidc::Issuer::start();
    let config = common::scratch_dir("browser_oidc").join("chatstack.toml");
    std::fs::write(
        &config,
        issuer.settings("chat-page", "user_claim = \"preferred_username\""),
    )
    .unwrap();
    let local = Local::start_with(&["--config", config.to_str().unwrap()]);
    let token = issuer.token_for("dana", "chat-page");

    let driver = Chromedriver::start();
    let page = driver.browser().await;
    // The token handed over in the link (as an app's sign-in redirect
    // would): read, taken out of the address bar, sent in the header.
    page.goto(&format!("{}?token={token}", page_url(&local)))
        .await
        .unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;
    let address = page.current_url().await.unwrap().to_string();
    assert!(!address.contains("token="), "{address}");
    type_and_send(&page, "signed in with my identity provider").await;
    wait_until("the named message", Duration::from_secs(10), || async {
        chats(&page).await
            == [(
                "chat mine".to_owned(),
                "signed in with my identity provider".to_owned(),
            )]
    })
    .await;
    let name = page.find(Locator::Css("#messages li .from")).await.unwrap();
    assert_eq!(name.text().await.unwrap(), "dana");
    screenshot(&page, "with-id-token").await;
    page.close().await.unwrap();
    assert_token_came_in_the_header(&local, "dana");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_pointing_the_page_at_another_host_needs_the_users_yes() {
    let local = Local::start();
    let page_url = page_url(&local);
    // Another host (here another port of loopback) that counts who connects.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = elsewhere.local_addr().unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let connected = || elsewhere.accept().is_ok();
    let link = format!(
        "{page_url}?url=ws%3A%2F%2F{}%3A{}%2Fdev&token=sekrit",
        other.ip(),
        other.port()
    );
    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&link).await.unwrap();
    wait_for_state(&page, "confirm", Duration::from_secs(10)).await;
    let question = page.find(Locator::Id("confirm-text")).await.unwrap();
    assert!(question.is_displayed().await.unwrap());
    let asked = question.text().await.unwrap();
    assert!(
        asked.contains(&other.to_string()) && asked.contains("token"),
        "{asked}"
    );
    // The token left the address bar at once.
    let address = page.current_url().await.unwrap().to_string();
    assert!(!address.contains("sekrit"), "{address}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!connected(), "the page connected before the user said yes");
    screenshot(&page, "confirm-other-host").await;

    click(&page, "confirm-yes").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connected() {
        assert!(
            Instant::now() < deadline,
            "no connection after the user's yes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // "Stay" connects where the server pointed the page.
    page.goto(&link).await.unwrap();
    wait_for_state(&page, "confirm", Duration::from_secs(10)).await;
    click(&page, "confirm-no").await;
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;

    // Unencrypted to another machine: not at all.
    page.goto(&format!("{page_url}?url=ws%3A%2F%2Fchat.example.com%2Fdev"))
        .await
        .unwrap();
    wait_for_state(&page, "refused", Duration::from_secs(10)).await;
    let said = state_text(&page).await;
    assert!(said.contains("unencrypted"), "{said}");
    page.close().await.unwrap();
}

/// The texts of an element list (`#room-list button`, `#members li`).
async fn texts(page: &Client, css: &str) -> Vec<String> {
    let found = page
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]))\
             .map(e => e.textContent);",
            vec![json!(css)],
        )
        .await
        .expect("the page runs scripts");
    serde_json::from_value(found).unwrap_or_default()
}

/// The room tab shown as selected.
async fn selected_room(page: &Client) -> String {
    texts(page, "#room-list button[aria-selected=\"true\"]")
        .await
        .concat()
}

async fn join_room(page: &Client, room: &str) {
    let input = page.find(Locator::Id("room-name")).await.unwrap();
    input.send_keys(room).await.unwrap();
    input.send_keys("\u{E007}").await.unwrap();
}

async fn click_room(page: &Client, room: &str) {
    page.find(Locator::Css(&format!(
        "#room-list button[data-room=\"{room}\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_switches_rooms_counts_unread_and_shows_who_is_there() {
    let local = Local::start();
    let page_url = page_url(&local);
    let driver = Chromedriver::start();
    let (a, b) = (driver.browser().await, driver.browser().await);
    a.goto(&page_url).await.unwrap();
    wait_until("a in general", Duration::from_secs(20), || async {
        selected_room(&a).await == "#general0"
    })
    .await;
    b.goto(&page_url).await.unwrap();
    wait_until("b in general", Duration::from_secs(20), || async {
        selected_room(&b).await == "#general0"
    })
    .await;
    // Who is there: a hears b arrive, and marks itself.
    wait_until("two in general", Duration::from_secs(10), || async {
        texts(&a, "#who-title").await == ["In #general (2)"]
    })
    .await;
    let present = texts(&a, "#members li").await;
    assert_eq!(present.len(), 2, "{present:?}");
    assert_eq!(
        present.iter().filter(|m| m.ends_with(" (you)")).count(),
        1,
        "{present:?}"
    );
    assert!(
        messages(&a)
            .await
            .iter()
            .any(|(class, text)| class == "system" && text.ends_with(" joined")),
        "{:?}",
        messages(&a).await
    );

    // a joins ops and talks there; b, not in it, hears nothing of it.
    join_room(&a, "ops").await;
    wait_until("a in ops", Duration::from_secs(10), || async {
        selected_room(&a).await == "#ops0"
    })
    .await;
    assert_eq!(texts(&a, "#room-list button").await, ["#general0", "#ops0"]);
    type_and_send(&a, "in ops").await;
    wait_until("a's ops message", Duration::from_secs(10), || async {
        chats(&a).await == [("chat mine".to_owned(), "in ops".to_owned())]
    })
    .await;

    // b talks in general: a, looking at ops, gets an unread count.
    type_and_send(&b, "in general").await;
    wait_until("one unread", Duration::from_secs(10), || async {
        texts(
            &a,
            "#room-list button[data-room=\"general\"] .unread:not([hidden])",
        )
        .await
            == ["1"]
    })
    .await;
    assert_eq!(
        chats(&a).await.len(),
        1,
        "general's message is not shown in ops"
    );
    click_room(&a, "general").await;
    wait_until("general shown", Duration::from_secs(10), || async {
        chats(&a).await == [("chat".to_owned(), "in general".to_owned())]
    })
    .await;
    assert!(
        texts(&a, "#room-list .unread:not([hidden])")
            .await
            .is_empty(),
        "read once shown"
    );
    assert_eq!(
        chats(&b).await,
        [("chat mine".to_owned(), "in general".to_owned())],
        "b never saw ops"
    );

    // A name that breaks the rule: the server's reason, as an error line.
    join_room(&a, "no way").await;
    wait_until("the refusal", Duration::from_secs(10), || async {
        messages(&a).await.iter().any(|(class, text)| {
            class == "error" && text.contains("a room name is 1 to 64 letters")
        })
    })
    .await;
    screenshot(&a, "rooms").await;

    // a leaves general: its tabs keep ops, b hears it go.
    click(&a, "leave").await;
    wait_until("a back in ops only", Duration::from_secs(10), || async {
        texts(&a, "#room-list button").await == ["#ops0"] && selected_room(&a).await == "#ops0"
    })
    .await;
    wait_until("b hears a leave", Duration::from_secs(10), || async {
        messages(&b)
            .await
            .iter()
            .any(|(class, text)| class == "system" && text.ends_with(" left"))
            && texts(&b, "#who-title").await == ["In #general (1)"]
    })
    .await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// A stage deployed before rooms: a WebSocket server that selects no
/// subprotocol and answers each message with what it received.
fn stage_before_rooms() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut socket) = tokio_tungstenite::tungstenite::accept(stream) else {
                    return;
                };
                while let Ok(message) = socket.read() {
                    if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                        let reply = format!("got {text}");
                        if socket.send(reply.into()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_talks_plainly_to_a_stage_that_predates_rooms() {
    let local = Local::start();
    let page_url = page_url(&local);
    let old = stage_before_rooms();
    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&format!(
        "{page_url}?url=ws%3A%2F%2F{}%3A{}%2Fdev",
        old.ip(),
        old.port()
    ))
    .await
    .unwrap();
    wait_for_state(&page, "confirm", Duration::from_secs(10)).await;
    click(&page, "confirm-yes").await;
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;
    let said = state_text(&page).await;
    assert!(said.contains("predates rooms"), "{said}");
    assert!(
        !page
            .find(Locator::Id("rooms"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap(),
        "no room bar for a stage without rooms"
    );
    type_and_send(&page, "hello").await;
    wait_until(
        "the old stage's answer",
        Duration::from_secs(10),
        || async {
            chats(&page).await
                == [(
                    "chat".to_owned(),
                    r#"got {"action":"sendmessage","data":"hello"}"#.to_owned(),
                )]
        },
    )
    .await;
    page.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_heartbeats_through_idle_periods() {
    // An idle timeout of 4 s: the page beats every 2 s.
    let local = Local::start_with(&["--idle-timeout", "4"]);
    let page_url = page_url(&local);
    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&page_url).await.unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;
    let connects = |local: &Local| {
        local
            .lines()
            .iter()
            .filter(|l| l.starts_with("$connect"))
            .count()
    };
    assert_eq!(connects(&local), 1);
    // Three idle timeouts: never closed, never reconnected.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(state(&page).await, "connected");
    }
    assert_eq!(connects(&local), 1, "{:?}", local.lines());
    let beats = local
        .lines()
        .iter()
        .filter(|l| l.starts_with(chat_contract::HEARTBEAT_ROUTE) && l.contains("MOCK"))
        .count();
    assert!(beats >= 5, "{:?}", local.lines());
    page.close().await.unwrap();
}

/// The numbers of the chat messages shown, in the order on screen.
async fn shown_numbers(page: &Client) -> Vec<u64> {
    let numbers = page
        .execute(
            "return Array.from(document.querySelectorAll('#messages li.chat:not([hidden])'))\
             .map(li => Number(li.dataset.seq));",
            vec![],
        )
        .await
        .expect("the page runs scripts");
    serde_json::from_value(numbers).unwrap_or_default()
}

/// Sends `text` and waits for it to come back (so it was taken).
async fn say_and_wait(writer: &mut crate::common::ws::Client, text: String) {
    use crate::common::ws::{frame, send};
    send(
        writer,
        serde_json::json!({"action": "sendmessage", "data": text}),
    )
    .await;
    while frame(writer).await["type"] != "message" {}
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_keeps_a_room_in_order_across_forced_lifetimes_and_idle_periods() {
    use crate::common::ws::connect_v1;
    let config = crate::common::scratch_dir("browser_history").join("chatstack.toml");
    std::fs::write(&config, "[stages.dev.history]\n").unwrap();
    let local = Local::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--max-lifetime",
        "5",
        "--idle-timeout",
        "2",
    ]);
    // Said before the page opens: it shows the recent ones.
    let mut writer = connect_v1(&local.url).await;
    for n in 1..=3 {
        say_and_wait(&mut writer, format!("early {n}")).await;
    }
    drop(writer);
    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&page_url(&local)).await.unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;
    wait_until("the recent messages", Duration::from_secs(10), || async {
        chats(&page).await.len() == 3
    })
    .await;

    // Four lifetimes of talk, a new writer connection every 3 s.
    let mut sent = 3;
    for _ in 0..6 {
        let mut writer = connect_v1(&local.url).await;
        for _ in 0..3 {
            sent += 1;
            say_and_wait(&mut writer, format!("note {sent}")).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        drop(writer);
        tokio::time::sleep(Duration::from_millis(2200)).await;
    }
    let wanted: Vec<u64> = (1..=sent).collect();
    wait_until("every message", Duration::from_secs(20), || async {
        shown_numbers(&page).await.len() >= wanted.len()
    })
    .await;
    assert_eq!(shown_numbers(&page).await, wanted, "once each, in order");
    let texts: Vec<String> = chats(&page).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts[..3], ["early 1", "early 2", "early 3"]);
    assert_eq!(texts[sent as usize - 1], format!("note {sent}"));
    let planned: u64 = serde_json::from_value(
        page.execute("return window.chatstack.plannedReconnects();", vec![])
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        planned >= 3,
        "reconnected ahead of each lifetime: {planned}"
    );
    let gaps = messages(&page)
        .await
        .into_iter()
        .filter(|(class, _)| class.contains("gap"))
        .count();
    assert_eq!(gaps, 0);
    screenshot(&page, "history").await;
    page.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_catches_up_after_being_away_and_shows_what_expired_as_a_gap() {
    use crate::common::ws::connect_v1;
    let config = crate::common::scratch_dir("browser_gap").join("chatstack.toml");
    std::fs::write(&config, "[stages.dev.history]\n").unwrap();
    let local = Local::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--history-retention",
        "3",
    ]);
    let driver = Chromedriver::start();
    let page = driver.browser().await;
    page.goto(&page_url(&local)).await.unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(20)).await;
    let mut writer = connect_v1(&local.url).await;
    say_and_wait(&mut writer, "before".to_owned()).await;
    wait_until("the first message", Duration::from_secs(10), || async {
        shown_numbers(&page).await == [1]
    })
    .await;

    // The page loses its connection (a message over 128 KB: local closes
    // it with 1009, as API Gateway does) and cannot open another while the
    // network is "down" (a WebSocket that fails at once).
    page.execute(
        "window.realWebSocket = window.WebSocket;\
         window.WebSocket = function () {\
           var down = { readyState: 3, send: function () {}, close: function () {} };\
           setTimeout(function () { if (down.onclose) { down.onclose({}); } }, 10);\
           return down;\
         };\
         window.chatstack.sendRaw('x'.repeat(140000));",
        vec![],
    )
    .await
    .unwrap();
    wait_until("the page to be away", Duration::from_secs(10), || async {
        state(&page).await != "connected"
    })
    .await;
    for n in 2..=4 {
        say_and_wait(&mut writer, format!("while away {n}")).await;
    }
    // Past the retention of 2 to 4; 5 and 6 are kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for n in 5..=6 {
        say_and_wait(&mut writer, format!("still kept {n}")).await;
    }
    // The network is back; the page tries again now (as a user's retry does).
    page.execute(
        "window.WebSocket = window.realWebSocket;\
         document.getElementById('token-form').requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    wait_for_state(&page, "connected", Duration::from_secs(40)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while shown_numbers(&page).await != [1, 5, 6] {
        assert!(
            Instant::now() < deadline,
            "the catch-up: {:?} {:?} {:?}",
            shown_numbers(&page).await,
            messages(&page).await,
            local.lines().iter().rev().take(15).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lines: Vec<String> = messages(&page).await.into_iter().map(|(_, t)| t).collect();
    let gap = lines
        .iter()
        .position(|l| l == "3 earlier messages are no longer kept")
        .unwrap_or_else(|| panic!("no gap line: {lines:?}"));
    let before = lines.iter().position(|l| l == "before").unwrap();
    let kept = lines.iter().position(|l| l == "still kept 5").unwrap();
    assert!(
        before < gap && gap < kept,
        "the gap in its place: {lines:?}"
    );
    screenshot(&page, "gap").await;
    page.close().await.unwrap();
}
