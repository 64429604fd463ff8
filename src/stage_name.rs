//! Stage names, and the stack names derived from them.

use std::fmt;
use std::str::FromStr;

/// An API Gateway stage name: letters, digits, `-` and `_`, 1 to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageName(String);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StageNameError {
    #[error(
        "invalid stage name {0:?}: use 1 to 128 letters, digits, '-' or '_' (API Gateway's rule for stage names)"
    )]
    Invalid(String),
    #[error(
        "stage {stage:?} gives the stack name {stack:?}, which CloudFormation refuses: \
         stack names are at most 128 letters, digits and '-'; choose a stage without '_' and \
         at most {max} characters long",
        max = MAX_STACK_NAME - STACK_PREFIX.len()
    )]
    NoValidStackName { stage: String, stack: String },
    #[error(
        "stage {stage:?} is reserved: its stack would be {BOOTSTRAP_STACK}, chatstack's own stack \
         holding the functions' zips for every stage in the account and region; deploying or \
         destroying it would break them all. Choose another stage name"
    )]
    Reserved { stage: String },
}

const STACK_PREFIX: &str = "chatstack-";
/// chatstack's own stack: the assets bucket every stage's deploy uses. No
/// stage may have its name.
pub const BOOTSTRAP_STACK: &str = "chatstack-bootstrap";
const MAX_STACK_NAME: usize = 128;

impl StageName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The CloudFormation stack that holds this stage: `chatstack-<stage>`.
    ///
    /// Stack names allow neither `_` nor more than 128 characters, which stage
    /// names do; such stages can be synthesized but not deployed.
    pub fn stack_name(&self) -> Result<String, StageNameError> {
        let stack = format!("{STACK_PREFIX}{}", self.0);
        if stack.len() <= MAX_STACK_NAME && !stack.contains('_') {
            Ok(stack)
        } else {
            Err(StageNameError::NoValidStackName {
                stage: self.0.clone(),
                stack,
            })
        }
    }
}

impl FromStr for StageName {
    type Err = StageNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let valid = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(StageNameError::Invalid(name.to_owned()));
        }
        // Case-blind: a stage differing only in case is a trap, not a choice.
        if format!("{STACK_PREFIX}{name}").eq_ignore_ascii_case(BOOTSTRAP_STACK) {
            return Err(StageNameError::Reserved {
                stage: name.to_owned(),
            });
        }
        Ok(StageName(name.to_owned()))
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_api_gateway_stage_names() {
        for good in ["dev", "prod", "Feature_1-b", &"a".repeat(128)] {
            assert_eq!(good.parse::<StageName>().unwrap().as_str(), good);
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in ["", "bad stage!", "a/b", "é", "$default", &"a".repeat(129)] {
            assert_eq!(
                bad.parse::<StageName>(),
                Err(StageNameError::Invalid(bad.to_owned()))
            );
        }
    }

    #[test]
    fn the_stage_of_chatstacks_own_stack_is_refused() {
        for reserved in ["bootstrap", "Bootstrap"] {
            assert_eq!(
                reserved.parse::<StageName>(),
                Err(StageNameError::Reserved {
                    stage: reserved.to_owned()
                })
            );
        }
        let message = "bootstrap".parse::<StageName>().unwrap_err().to_string();
        assert!(message.contains(BOOTSTRAP_STACK), "{message}");
        assert!("bootstrap2".parse::<StageName>().is_ok());
    }

    #[test]
    fn stack_name_is_derived_from_the_stage() {
        let stage: StageName = "dev".parse().unwrap();
        assert_eq!(stage.stack_name().unwrap(), "chatstack-dev");
    }

    #[test]
    fn stages_without_a_valid_stack_name_are_refused_for_deploy() {
        for stage in ["my_stage", &"a".repeat(119)] {
            let stage: StageName = stage.parse().unwrap();
            assert!(matches!(
                stage.stack_name(),
                Err(StageNameError::NoValidStackName { .. })
            ));
        }
        let longest: StageName = "a".repeat(118).parse().unwrap();
        assert_eq!(longest.stack_name().unwrap().len(), 128);
    }
}
