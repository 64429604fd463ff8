//! Intrinsic functions: the values CloudFormation resolves at deploy time.
//!
//! Every property that may hold a reference is an [`Expr`]. References take a
//! [`LogicalId`], which only a [`Template`](super::Template) hands out when a
//! parameter or resource is added, so a reference cannot be made up from a
//! string or misspelled. It can still name an entry of another template:
//! cfn-lint, run on every synthesized template in the tests, catches that.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::LogicalId;

/// The pseudo parameters CloudFormation defines in every stack.
///
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pseudo {
    /// `aws`, `aws-cn`, `aws-us-gov`: keeps ARNs valid outside the commercial partition.
    Partition,
    Region,
    AccountId,
    StackName,
    /// The stack's ARN, which ends in a UUID unique to this stack.
    StackId,
    /// `amazonaws.com` (or `amazonaws.com.cn`): keeps endpoint URLs partition-safe.
    UrlSuffix,
}

impl Pseudo {
    /// The name as written in a template.
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }
}

/// One piece of an `Fn::Sub` string.
#[derive(Debug, Clone, PartialEq)]
pub enum SubPart {
    /// Literal text; a `${` inside it is escaped so CloudFormation keeps it as written.
    Text(String),
    /// `${Id}`: the resource's or parameter's `Ref` value.
    Ref(LogicalId),
    /// `${Id.Attribute}`.
    GetAtt(LogicalId, String),
    /// `${AWS::Region}` and friends.
    Pseudo(Pseudo),
    /// `${Name}`: a variable from the map of [`Expr::Sub`].
    Var(String),
}

impl SubPart {
    fn write_to(&self, out: &mut String) {
        match self {
            SubPart::Text(text) => out.push_str(&text.replace("${", "${!")),
            SubPart::Ref(id) => {
                out.push_str("${");
                out.push_str(id.as_str());
                out.push('}');
            }
            SubPart::GetAtt(id, attribute) => {
                out.push_str("${");
                out.push_str(id.as_str());
                out.push('.');
                out.push_str(attribute);
                out.push('}');
            }
            SubPart::Pseudo(pseudo) => {
                out.push_str("${");
                out.push_str(pseudo.name());
                out.push('}');
            }
            SubPart::Var(name) => {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
            }
        }
    }
}

impl From<&str> for SubPart {
    fn from(text: &str) -> Self {
        SubPart::Text(text.to_owned())
    }
}

impl From<Pseudo> for SubPart {
    fn from(pseudo: Pseudo) -> Self {
        SubPart::Pseudo(pseudo)
    }
}

impl From<&LogicalId> for SubPart {
    fn from(id: &LogicalId) -> Self {
        SubPart::Ref(id.clone())
    }
}

/// A value in a template: a literal string or an intrinsic function.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A plain string.
    ///
    /// ```
    /// # use chatstack::cfn::Expr;
    /// let json = serde_json::to_value(Expr::from("hello")).unwrap();
    /// assert_eq!(json, serde_json::json!("hello"));
    /// ```
    Literal(String),
    /// `Ref` to a parameter or resource of the template.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Template, Parameter};
    /// let mut template = Template::new("example");
    /// let bucket = template.add_parameter("Bucket", Parameter::string("assets")).unwrap();
    /// let json = serde_json::to_value(Expr::Ref(bucket)).unwrap();
    /// assert_eq!(json, serde_json::json!({"Ref": "Bucket"}));
    /// ```
    Ref(LogicalId),
    /// `Ref` to a pseudo parameter.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Pseudo};
    /// let json = serde_json::to_value(Expr::Pseudo(Pseudo::Partition)).unwrap();
    /// assert_eq!(json, serde_json::json!({"Ref": "AWS::Partition"}));
    /// ```
    Pseudo(Pseudo),
    /// `Fn::GetAtt` of a resource attribute.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Template, Parameter};
    /// # let mut template = Template::new("example");
    /// # let table = template.add_parameter("Table", Parameter::string("t")).unwrap();
    /// let json = serde_json::to_value(Expr::GetAtt(table, "Arn".into())).unwrap();
    /// assert_eq!(json, serde_json::json!({"Fn::GetAtt": ["Table", "Arn"]}));
    /// ```
    GetAtt(LogicalId, String),
    /// `Fn::Sub`, in its short form when `variables` is empty and with a
    /// variable map otherwise.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Pseudo, SubPart};
    /// # use std::collections::BTreeMap;
    /// let short = Expr::sub(["arn:".into(), Pseudo::Partition.into(), ":s3:::b".into()]);
    /// assert_eq!(
    ///     serde_json::to_value(short).unwrap(),
    ///     serde_json::json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"})
    /// );
    ///
    /// let with_map = Expr::Sub {
    ///     parts: vec!["s3://".into(), SubPart::Var("Name".into())],
    ///     variables: BTreeMap::from([("Name".into(), Expr::from("bucket"))]),
    /// };
    /// assert_eq!(
    ///     serde_json::to_value(with_map).unwrap(),
    ///     serde_json::json!({"Fn::Sub": ["s3://${Name}", {"Name": "bucket"}]})
    /// );
    /// ```
    Sub {
        parts: Vec<SubPart>,
        variables: BTreeMap<String, Expr>,
    },
    /// `Fn::Join` of values with a delimiter.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Pseudo};
    /// let joined = Expr::Join(",".into(), vec!["a".into(), Expr::Pseudo(Pseudo::Region)]);
    /// assert_eq!(
    ///     serde_json::to_value(joined).unwrap(),
    ///     serde_json::json!({"Fn::Join": [",", ["a", {"Ref": "AWS::Region"}]]})
    /// );
    /// ```
    Join(String, Vec<Expr>),
    /// `Fn::Select` of the item at an index of a list value.
    ///
    /// ```
    /// # use chatstack::cfn::{Expr, Pseudo};
    /// let id = Expr::Split("/".into(), Box::new(Expr::Pseudo(Pseudo::StackId)));
    /// assert_eq!(
    ///     serde_json::to_value(Expr::Select(2, Box::new(id))).unwrap(),
    ///     serde_json::json!({"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]})
    /// );
    /// ```
    Select(u32, Box<Expr>),
    /// `Fn::Split` of a value at a delimiter, into a list.
    Split(String, Box<Expr>),
}

impl Expr {
    /// `Fn::Sub` without a variable map.
    pub fn sub(parts: impl IntoIterator<Item = SubPart>) -> Self {
        Expr::Sub {
            parts: parts.into_iter().collect(),
            variables: BTreeMap::new(),
        }
    }

    /// The `Fn::GetAtt` of a resource's `Arn` attribute, the most common one.
    pub fn arn_of(id: &LogicalId) -> Self {
        Expr::GetAtt(id.clone(), "Arn".to_owned())
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Self {
        Expr::Literal(text.to_owned())
    }
}

impl From<String> for Expr {
    fn from(text: String) -> Self {
        Expr::Literal(text)
    }
}

impl From<&LogicalId> for Expr {
    fn from(id: &LogicalId) -> Self {
        Expr::Ref(id.clone())
    }
}

/// Serializes `{"<name>": value}`, the shape of every intrinsic function.
fn single_key<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    name: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(name, value)?;
    map.end()
}

/// `[a, b]` for two values of different types.
struct Pair<'a, A: ?Sized, B: ?Sized>(&'a A, &'a B);

impl<A: Serialize + ?Sized, B: Serialize + ?Sized> Serialize for Pair<'_, A, B> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(self.0)?;
        seq.serialize_element(self.1)?;
        seq.end()
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expr::Literal(text) => serializer.serialize_str(text),
            Expr::Ref(id) => single_key(serializer, "Ref", id.as_str()),
            Expr::Pseudo(pseudo) => single_key(serializer, "Ref", pseudo.name()),
            Expr::GetAtt(id, attribute) => single_key(
                serializer,
                "Fn::GetAtt",
                &Pair(id.as_str(), attribute.as_str()),
            ),
            Expr::Sub { parts, variables } => {
                let mut text = String::new();
                for part in parts {
                    part.write_to(&mut text);
                }
                if variables.is_empty() {
                    single_key(serializer, "Fn::Sub", &text)
                } else {
                    single_key(serializer, "Fn::Sub", &Pair(&text, variables))
                }
            }
            Expr::Join(delimiter, values) => {
                single_key(serializer, "Fn::Join", &Pair(delimiter, values))
            }
            Expr::Select(index, list) => {
                single_key(serializer, "Fn::Select", &Pair(index, list.as_ref()))
            }
            Expr::Split(delimiter, value) => {
                single_key(serializer, "Fn::Split", &Pair(delimiter, value.as_ref()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sub_escapes_literal_placeholders() {
        let expr = Expr::sub(["cost: ${price}".into()]);
        assert_eq!(
            serde_json::to_value(expr).unwrap(),
            json!({"Fn::Sub": "cost: ${!price}"})
        );
    }

    #[test]
    fn every_pseudo_parameter_has_its_cloudformation_name() {
        let names: Vec<_> = [
            Pseudo::Partition,
            Pseudo::Region,
            Pseudo::AccountId,
            Pseudo::StackName,
            Pseudo::StackId,
            Pseudo::UrlSuffix,
        ]
        .into_iter()
        .map(Pseudo::name)
        .collect();
        assert_eq!(
            names,
            [
                "AWS::Partition",
                "AWS::Region",
                "AWS::AccountId",
                "AWS::StackName",
                "AWS::StackId",
                "AWS::URLSuffix"
            ]
        );
    }
}
