//! What a stack's status means for the next step.

/// How deploy must treat an existing stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// No stack, or one that only holds an unexecuted change set.
    Absent,
    /// A first create failed and rolled back: delete it, then create again.
    RolledBackCreate,
    /// Stable: can be updated.
    Updatable,
    /// An operation is running.
    Busy,
    /// Stuck: needs the user's action first.
    Stuck,
}

pub fn classify(status: &str) -> Existing {
    match status {
        "REVIEW_IN_PROGRESS" | "DELETE_COMPLETE" => Existing::Absent,
        "ROLLBACK_COMPLETE" => Existing::RolledBackCreate,
        "UPDATE_ROLLBACK_FAILED"
        | "ROLLBACK_FAILED"
        | "DELETE_FAILED"
        | "CREATE_FAILED"
        | "IMPORT_ROLLBACK_FAILED" => Existing::Stuck,
        s if s.ends_with("_IN_PROGRESS") => Existing::Busy,
        _ => Existing::Updatable,
    }
}

/// An operation has finished (in any way) once nothing is in progress.
pub fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// The statuses that mean the requested operation worked.
pub fn is_success(status: &str) -> bool {
    matches!(
        status,
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE"
    )
}

/// What the user should do about a stuck stack.
pub fn remedy(stack: &str, status: &str) -> String {
    match status {
        "UPDATE_ROLLBACK_FAILED" => format!(
            "stack {stack} is UPDATE_ROLLBACK_FAILED: fix the cause in the first failed event, \
             then run `aws cloudformation continue-update-rollback --stack-name {stack}` \
             and deploy again"
        ),
        _ => format!(
            "stack {stack} is {status}: fix the cause in its events, delete it \
             (`chatstack destroy` or the console), then deploy again"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_family_of_status() {
        assert_eq!(classify("REVIEW_IN_PROGRESS"), Existing::Absent);
        assert_eq!(classify("ROLLBACK_COMPLETE"), Existing::RolledBackCreate);
        assert_eq!(classify("UPDATE_ROLLBACK_FAILED"), Existing::Stuck);
        assert_eq!(classify("DELETE_FAILED"), Existing::Stuck);
        assert_eq!(classify("UPDATE_IN_PROGRESS"), Existing::Busy);
        assert_eq!(
            classify("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"),
            Existing::Busy
        );
        assert_eq!(classify("CREATE_COMPLETE"), Existing::Updatable);
        assert_eq!(classify("UPDATE_ROLLBACK_COMPLETE"), Existing::Updatable);
    }

    #[test]
    fn remedy_for_a_failed_rollback_names_the_command() {
        let text = remedy("chatstack-dev", "UPDATE_ROLLBACK_FAILED");
        assert!(text.contains("continue-update-rollback --stack-name chatstack-dev"));
    }
}
