//! `chatstack cost` from a described month, as a user runs it, and the
//! mistakes it refuses before anything is read.

use crate::common::cli::run as chatstack;

#[test]
fn a_described_month_is_priced_line_by_line_with_its_prices_dated() {
    let output = chatstack(&[
        "cost",
        "--connections",
        "20000",
        "--messages",
        "1e6",
        "--room-size",
        "50",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let estimate: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let lines = estimate["lines"].as_array().unwrap();
    let messages = &lines[0];
    assert_eq!(messages["item"], "messages");
    // A million sent, each received by 50, and a heartbeat each 5 minutes
    // of 20,000 half hours.
    assert_eq!(messages["quantity"], 51_000_000.0 + 120_000.0);
    let sum: f64 = lines.iter().map(|line| line["usd"].as_f64().unwrap()).sum();
    assert!((estimate["totalUsd"].as_f64().unwrap() - sum).abs() < 1e-9);
    assert!(
        estimate["pricesAsOf"]
            .as_str()
            .unwrap()
            .starts_with("December 2026")
    );

    let text = chatstack(&["cost", "--connections", "20000", "--messages", "1e6"]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("A month of the workload described:\n"),
        "{text}"
    );
    assert!(text.contains("Not counted: free tiers"), "{text}");
}

#[test]
fn a_month_needs_a_stage_or_a_workload_and_numbers_that_can_be() {
    for (args, says) in [
        (&["cost"][..], "--stage <STAGE>|--connections <CONNECTIONS>"),
        (
            &["cost", "--connections", "10"][..],
            "--messages <MESSAGES>",
        ),
        (
            &["cost", "--connections", "10", "--messages", "-5"][..],
            "\"-5\" is not a number of 0 or more",
        ),
        (
            &[
                "cost",
                "--connections",
                "10",
                "--messages",
                "5",
                "--minutes-per-connection",
                "121",
            ][..],
            "at most 120",
        ),
        (
            &["cost", "--stage", "prod", "--history"][..],
            "'--stage <STAGE>' cannot be used with '--history'",
        ),
        (
            &[
                "cost",
                "--connections",
                "1",
                "--messages",
                "1",
                "--days",
                "3",
            ][..],
            "cannot be used with",
        ),
        (
            &["cost", "--stage", "prod", "--days", "64"][..],
            "64 is not in 1..=63",
        ),
    ] {
        let output = chatstack(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(says), "{args:?}: {text}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
