//! `chatstack web`'s lookup of a deployed stage, against a scripted
//! CloudFormation: the page connects to the stage's WebSocketUrl and asks
//! for a token when the stage requires one.

use crate::common::fake_cloud::{FakeCloud, deployed_with_outputs};
use chatstack::chat::StageName;
use chatstack::web::{self, WebError};

#[tokio::test]
async fn the_page_points_at_the_stage_and_asks_for_a_token_only_when_needed() {
    let stage: StageName = "prod".parse().unwrap();
    let url = "wss://a1.execute-api.eu-west-1.amazonaws.com/prod";
    let open = FakeCloud::default().with_stack(
        "chatstack-prod",
        deployed_with_outputs(&[("WebSocketUrl", url)]),
    );
    let page = web::deployed_page(&open, &stage).await.unwrap();
    assert_eq!(page.url, url);
    assert!(!page.token_required);
    let html = web::page(&page);
    assert!(
        html.contains(&format!(r#""url":"{url}""#)),
        "the page is pointed at the stage"
    );

    let guarded = FakeCloud::default().with_stack(
        "chatstack-prod",
        deployed_with_outputs(&[
            ("WebSocketUrl", url),
            ("TokenSecretArn", "arn:aws:secretsmanager:x"),
        ]),
    );
    assert!(
        web::deployed_page(&guarded, &stage)
            .await
            .unwrap()
            .token_required
    );

    // An identity provider's stage asks for a token too, and a stage with a
    // custom domain is reached there.
    let named = FakeCloud::default().with_stack(
        "chatstack-prod",
        deployed_with_outputs(&[
            ("WebSocketUrl", url),
            ("DomainWebSocketUrl", "wss://chat.example.com"),
            ("OidcIssuer", "https://example.eu.auth0.com/"),
        ]),
    );
    let page = web::deployed_page(&named, &stage).await.unwrap();
    assert!(page.token_required);
    assert_eq!(page.url, "wss://chat.example.com");

    let missing = web::deployed_page(&FakeCloud::default(), &stage)
        .await
        .unwrap_err();
    assert!(matches!(missing, WebError::Outputs(_)));
    assert!(
        missing
            .to_string()
            .contains("chatstack deploy --stage prod")
    );
    let other = FakeCloud::default().with_stack("chatstack-prod", deployed_with_outputs(&[]));
    assert!(matches!(
        web::deployed_page(&other, &stage).await.unwrap_err(),
        WebError::NoUrl { .. }
    ));
}
