//! How deploy talks to the user: messages, confirmation, progress, Ctrl-C.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::cloud::{Change, StackEvent};

/// Asks a person a yes/no question.
pub type Ask = Box<dyn FnMut(&str) -> io::Result<bool>>;

/// Whether changes may go ahead.
pub enum Approval {
    /// `--yes`.
    Yes,
    /// Ask a person: the question in, their answer out.
    Ask(Ask),
    /// No terminal to ask on and no `--yes`.
    NoTerminal,
}

/// The user's side of a deploy.
pub struct Ui<'a> {
    pub out: &'a mut dyn Write,
    pub approval: Approval,
    /// An in-place view of every resource (a terminal), or one line per event.
    pub live: bool,
}

impl Approval {
    /// `--yes`, or ask on the terminal, or refuse when there is none.
    pub fn from_terminal(yes: bool) -> Self {
        if yes {
            Approval::Yes
        } else if io::stdin().is_terminal() {
            Approval::Ask(Box::new(ask_on_terminal))
        } else {
            Approval::NoTerminal
        }
    }
}

/// Asks `question` on stderr and reads the answer from stdin; only "y" or
/// "yes" approve.
fn ask_on_terminal(question: &str) -> io::Result<bool> {
    eprint!("{question} [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Ctrl-C presses the running operation should react to.
pub struct Interrupts(pub tokio::sync::mpsc::UnboundedReceiver<()>);

impl Interrupts {
    /// Forwards the process's first Ctrl-C to the operation; the second
    /// exits at once, leaving CloudFormation to finish on its own. Call it
    /// inside a tokio runtime.
    pub fn from_ctrl_c() -> Self {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            let _ = sender.send(());
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "Interrupted again: exiting; the stack operation goes on in CloudFormation."
                );
                std::process::exit(130);
            }
        });
        Interrupts(receiver)
    }

    /// Whether Ctrl-C was pressed since the last look; forgets those presses.
    pub fn pressed(&mut self) -> bool {
        let mut pressed = false;
        while self.0.try_recv().is_ok() {
            pressed = true;
        }
        pressed
    }

    /// Interrupts that never come.
    pub fn none() -> Self {
        let (_sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        Interrupts(receiver)
    }
}

/// Changes that touch who may do what deserve a second look.
fn is_security_change(resource_type: &str) -> bool {
    resource_type.starts_with("AWS::IAM::")
        || matches!(
            resource_type,
            "AWS::Lambda::Permission" | "AWS::S3::BucketPolicy"
        )
}

/// One row per change: action, logical id, type, replacement; IAM called out.
pub fn write_changes(out: &mut dyn Write, stack: &str, changes: &[Change]) -> io::Result<()> {
    writeln!(out, "Changes to {stack}:")?;
    if changes.is_empty() {
        return writeln!(
            out,
            "  no resource changes: only parameters or outputs differ"
        );
    }
    let id_width = changes
        .iter()
        .map(|c| c.logical_id.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let type_width = changes
        .iter()
        .map(|c| c.resource_type.len())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "  {:<8} {:<id_width$} {:<type_width$} replacement",
        "action", "logical id", "type"
    )?;
    let mut security = 0;
    for change in changes {
        let flag = if is_security_change(&change.resource_type) {
            security += 1;
            "  [IAM]"
        } else {
            ""
        };
        writeln!(
            out,
            "  {:<8} {:<id_width$} {:<type_width$} {}{flag}",
            change.action,
            change.logical_id,
            change.resource_type,
            change.replacement.as_deref().unwrap_or("-"),
        )?;
    }
    write!(out, "{} change(s)", changes.len())?;
    if security > 0 {
        write!(out, ", {security} to permissions (IAM): review them")?;
    }
    writeln!(out)
}

/// The stack's outputs, the wss:// URLs first: the custom domain's, then
/// the API's.
pub fn write_outputs(
    out: &mut dyn Write,
    stack: &str,
    outputs: &[(String, String)],
) -> io::Result<()> {
    if outputs.is_empty() {
        return Ok(());
    }
    let sorted = crate::chat::outputs_in_reading_order(outputs.iter().map(|(k, v)| (k, v)));
    let width = sorted.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    writeln!(out, "Outputs of {stack}:")?;
    for (key, value) in sorted {
        writeln!(out, "  {key:<width$}  {value}")?;
    }
    Ok(())
}

/// Reports stack events while an operation runs.
pub enum Progress {
    /// One line per event, for logs.
    Lines { started_ms: i64 },
    /// A line per resource, redrawn in place.
    Live {
        bars: MultiProgress,
        resources: BTreeMap<String, ProgressBar>,
    },
}

impl Progress {
    pub fn new(live: bool, started_ms: i64) -> Self {
        if live {
            Progress::Live {
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                resources: BTreeMap::new(),
            }
        } else {
            Progress::Lines { started_ms }
        }
    }

    pub fn event(&mut self, out: &mut dyn Write, event: &StackEvent) -> io::Result<()> {
        let reason = event
            .reason
            .as_deref()
            .map(|r| format!("  {r}"))
            .unwrap_or_default();
        match self {
            Progress::Lines { started_ms } => {
                let seconds = (event.timestamp_ms - *started_ms).max(0) / 1000;
                writeln!(
                    out,
                    "[{seconds:>4}s] {:<28} {} ({}){reason}",
                    event.status, event.logical_id, event.resource_type
                )
            }
            Progress::Live { bars, resources } => {
                let bar = resources
                    .entry(event.logical_id.clone())
                    .or_insert_with(|| {
                        let bar = bars.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {prefix:<32} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar.set_prefix(event.logical_id.clone());
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    });
                bar.set_message(format!("{}{reason}", event.status));
                if !event.status.ends_with("_IN_PROGRESS") {
                    bar.finish();
                }
                Ok(())
            }
        }
    }

    pub fn finish(self) {
        if let Progress::Live { resources, .. } = self {
            for bar in resources.values() {
                bar.finish();
            }
            // Leave the cursor below the view, not at the end of its last line.
            if !resources.is_empty() {
                eprintln!();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn outputs_put_the_websocket_url_first() {
        let outputs = vec![
            ("CallbackUrl".to_owned(), "https://x/dev".to_owned()),
            ("ConnectionsTableName".to_owned(), "t".to_owned()),
            ("WebSocketUrl".to_owned(), "wss://x/dev".to_owned()),
        ];
        let printed = text(|out| write_outputs(out, "chatstack-dev", &outputs));
        let lines: Vec<_> = printed.lines().collect();
        assert_eq!(lines[0], "Outputs of chatstack-dev:");
        assert!(
            lines[1].trim_start().starts_with("WebSocketUrl") && lines[1].ends_with("wss://x/dev")
        );
        assert!(lines[2].trim_start().starts_with("CallbackUrl"));
        assert_eq!(
            text(|out| write_outputs(out, "s", &[])),
            "",
            "nothing to show"
        );
    }

    #[test]
    fn changes_show_one_aligned_row_each_and_call_out_iam() {
        let changes = [
            Change {
                action: "Modify".into(),
                logical_id: "ConnectFunction".into(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: Some("True".into()),
            },
            Change {
                action: "Remove".into(),
                logical_id: "OldPermission".into(),
                resource_type: "AWS::Lambda::Permission".into(),
                replacement: None,
            },
        ];
        let printed = text(|out| write_changes(out, "chatstack-dev", &changes));
        let lines: Vec<_> = printed.lines().collect();
        assert_eq!(lines.len(), 5, "{printed}");
        assert!(
            lines[2].contains("Modify")
                && lines[2].contains("ConnectFunction")
                && lines[2].contains("True")
        );
        assert!(!lines[2].contains("[IAM]"));
        assert!(lines[3].contains("Remove") && lines[3].ends_with("[IAM]"));
        assert_eq!(
            lines[2].find("AWS::"),
            lines[3].find("AWS::"),
            "columns align"
        );
        assert_eq!(lines[4], "2 change(s), 1 to permissions (IAM): review them");
    }
}

#[cfg(test)]
mod output_tests {
    use super::*;

    #[test]
    fn the_domains_url_comes_first_then_the_apis() {
        let outputs: Vec<(String, String)> = [
            ("AlarmTopicArn", "arn:aws:sns:eu-west-1:1:t"),
            (
                "WebSocketUrl",
                "wss://abc.execute-api.eu-west-1.amazonaws.com/prod",
            ),
            ("DomainWebSocketUrl", "wss://chat.example.com"),
            (
                "CallbackUrl",
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        let mut out = Vec::new();
        write_outputs(&mut out, "chatstack-prod", &outputs).unwrap();
        let text = String::from_utf8(out).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "DomainWebSocketUrl",
                "WebSocketUrl",
                "AlarmTopicArn",
                "CallbackUrl"
            ]
        );
    }
}
