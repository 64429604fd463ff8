//! The template document: parameters, resources, outputs and their logical ids.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::Expr;

/// The name of a parameter or resource inside one template.
///
/// Only [`Template`] creates these, when a parameter or resource is added,
/// so every `LogicalId` in hand names something that exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogicalId(String);

impl LogicalId {
    /// CloudFormation's rule: ASCII letters and digits, 1 to 255 characters.
    fn parse(name: &str) -> Result<Self, TemplateError> {
        let valid = !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(LogicalId(name.to_owned()))
        } else {
            Err(TemplateError::InvalidLogicalId(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error(
        "invalid logical id {0:?}: CloudFormation allows only ASCII letters and digits, 1 to 255 characters"
    )]
    InvalidLogicalId(String),
    #[error("logical id {0:?} is already used in this template")]
    DuplicateLogicalId(String),
    #[error("output {0:?} is already defined in this template")]
    DuplicateOutput(String),
    #[error("resource {id} could not be serialized: {reason}")]
    Serialization { id: String, reason: String },
    #[error("the template needs {0}, which is missing")]
    Missing(String),
    /// A construct asked for something CloudFormation or the service would
    /// refuse.
    #[error("{0}")]
    Invalid(String),
}

/// A typed resource's properties, named by its CloudFormation type.
pub trait ResourceProperties: Serialize {
    /// For example `AWS::DynamoDB::Table`.
    const TYPE: &'static str;
}

/// What CloudFormation does with a resource's physical data when the
/// resource is deleted or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RetentionPolicy {
    Delete,
    Retain,
    Snapshot,
    RetainExceptOnCreate,
}

/// A resource with its attributes (the keys beside `Properties`).
#[derive(Debug, Clone)]
pub struct Resource<P> {
    pub properties: P,
    pub depends_on: Vec<LogicalId>,
    pub deletion_policy: Option<RetentionPolicy>,
    pub update_replace_policy: Option<RetentionPolicy>,
    pub metadata: Option<Value>,
}

impl<P: ResourceProperties> Resource<P> {
    pub fn new(properties: P) -> Self {
        Resource {
            properties,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            metadata: None,
        }
    }

    pub fn depends_on(mut self, ids: impl IntoIterator<Item = LogicalId>) -> Self {
        self.depends_on.extend(ids);
        self
    }

    /// Sets both `DeletionPolicy` and `UpdateReplacePolicy`.
    pub fn retention(mut self, policy: RetentionPolicy) -> Self {
        self.deletion_policy = Some(policy);
        // A replacement is never the stack's first create, and
        // UpdateReplacePolicy has no RetainExceptOnCreate.
        self.update_replace_policy = Some(match policy {
            RetentionPolicy::RetainExceptOnCreate => RetentionPolicy::Retain,
            other => other,
        });
        self
    }

    /// Records in the resource's metadata why a checkov check does not
    /// apply, where checkov reads it (`Metadata.checkov.skip`).
    pub fn skip_checkov(mut self, check: &str, reason: &str) -> Self {
        let metadata = self
            .metadata
            .get_or_insert_with(|| Value::Object(Default::default()));
        let skips = &mut metadata["checkov"]["skip"];
        if !skips.is_array() {
            *skips = Value::Array(Vec::new());
        }
        if let Value::Array(list) = skips {
            list.push(serde_json::json!({"id": check, "comment": reason}));
        }
        self
    }
}

impl<P: ResourceProperties> From<P> for Resource<P> {
    fn from(properties: P) -> Self {
        Resource::new(properties)
    }
}

/// A resource as it appears in the template, its properties already serialized.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceEntry {
    #[serde(rename = "Type")]
    pub resource_type: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<LogicalId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<RetentionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<RetentionPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub properties: Value,
}

impl Serialize for LogicalId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A template parameter, supplied when the stack is created or updated.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub parameter_type: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl Parameter {
    /// A `String` parameter with a description and no constraints.
    pub fn string(description: &str) -> Self {
        Parameter {
            parameter_type: "String".to_owned(),
            description: description.to_owned(),
            allowed_pattern: None,
            constraint_description: None,
            min_length: None,
            max_length: None,
        }
    }
}

/// A stack output.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub description: String,
    pub value: Expr,
}

/// A CloudFormation template.
///
/// Its serialized form is deterministic: sections and entries in a fixed
/// order, empty sections left out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    format_version: &'static str,
    description: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    parameters: BTreeMap<LogicalId, Parameter>,
    resources: BTreeMap<LogicalId, ResourceEntry>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    outputs: BTreeMap<String, Output>,
    /// Parameters and resources share one namespace: `Ref` reaches both.
    #[serde(skip)]
    taken: BTreeSet<String>,
}

impl Template {
    pub fn new(description: &str) -> Self {
        Template {
            format_version: "2010-09-09",
            description: description.to_owned(),
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            taken: BTreeSet::new(),
        }
    }

    fn claim(&mut self, name: &str) -> Result<LogicalId, TemplateError> {
        let id = LogicalId::parse(name)?;
        if !self.taken.insert(name.to_owned()) {
            return Err(TemplateError::DuplicateLogicalId(name.to_owned()));
        }
        Ok(id)
    }

    pub fn add_parameter(
        &mut self,
        name: &str,
        parameter: Parameter,
    ) -> Result<LogicalId, TemplateError> {
        let id = self.claim(name)?;
        self.parameters.insert(id.clone(), parameter);
        Ok(id)
    }

    /// Adds a resource under `name` and returns its logical id.
    pub fn add<P: ResourceProperties>(
        &mut self,
        name: &str,
        resource: impl Into<Resource<P>>,
    ) -> Result<LogicalId, TemplateError> {
        let resource = resource.into();
        let properties = serde_json::to_value(&resource.properties).map_err(|e| {
            TemplateError::Serialization {
                id: name.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let id = self.claim(name)?;
        let entry = ResourceEntry {
            resource_type: P::TYPE.to_owned(),
            depends_on: resource.depends_on,
            deletion_policy: resource.deletion_policy,
            update_replace_policy: resource.update_replace_policy,
            metadata: resource.metadata,
            properties,
        };
        self.resources.insert(id.clone(), entry);
        Ok(id)
    }

    pub fn add_output(&mut self, name: &str, output: Output) -> Result<(), TemplateError> {
        // Outputs have their own namespace but follow the same naming rule.
        let id = LogicalId::parse(name)?;
        if self.outputs.contains_key(id.as_str()) {
            return Err(TemplateError::DuplicateOutput(name.to_owned()));
        }
        self.outputs.insert(id.0, output);
        Ok(())
    }

    /// Whether the template has a parameter of that name.
    pub fn has_parameter(&self, name: &str) -> bool {
        self.parameters.keys().any(|id| id.as_str() == name)
    }

    pub fn resource(&self, id: &LogicalId) -> Option<&ResourceEntry> {
        self.resources.get(id)
    }

    pub fn resources(&self) -> impl Iterator<Item = (&LogicalId, &ResourceEntry)> {
        self.resources.iter()
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// YAML as CloudFormation reads it (serde_yaml always ends its output
    /// with a newline). serde_yaml writes YAML 1.2, where `OFF` is a
    /// string; CloudFormation reads YAML 1.1, where it is `false`. So the
    /// strings 1.1 reads as booleans are quoted.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        Ok(quote_yaml_1_1_booleans(&serde_yaml::to_string(self)?))
    }
}

/// The plain scalars YAML 1.1 reads as booleans, and 1.2 as strings.
/// <https://yaml.org/type/bool.html>
fn is_yaml_1_1_only_boolean(scalar: &str) -> bool {
    matches!(
        scalar,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Single-quotes every mapping value or sequence item of `yaml` (block
/// style, as serde_yaml writes it) that YAML 1.1 would read as a boolean,
/// leaving the contents of block scalars (`|`) alone.
fn quote_yaml_1_1_booleans(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    // The indentation a block scalar's content lines exceed.
    let mut block_scalar_parent: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        let indent = content.len() - content.trim_start().len();
        if let Some(parent) = block_scalar_parent {
            if content.trim().is_empty() || indent > parent {
                out.push_str(line);
                continue;
            }
            block_scalar_parent = None;
        }
        let value_at = content
            .rfind(": ")
            .map(|at| at + 2)
            .or_else(|| content.trim_start().starts_with("- ").then_some(indent + 2));
        match value_at {
            Some(at) if is_yaml_1_1_only_boolean(&content[at..]) => {
                out.push_str(&content[..at]);
                out.push('\'');
                out.push_str(&content[at..]);
                out.push('\'');
                out.push_str(&line[content.len()..]);
            }
            _ => {
                let value = value_at.map_or("", |at| &content[at..]);
                if value.starts_with('|') || value.starts_with('>') {
                    block_scalar_parent = Some(indent);
                }
                out.push_str(line);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_quotes_what_yaml_1_1_would_read_as_a_boolean() {
        let value = json!({
            "Mode": "OFF",
            "List": ["on", "keep", "No"],
            "Nested": {"Flag": "yes", "Real": true, "Text": "off the record"},
            "Block": "line one\noff\n",
        });
        let yaml = quote_yaml_1_1_booleans(&serde_yaml::to_string(&value).unwrap());
        assert!(yaml.contains("Mode: 'OFF'\n"), "{yaml}");
        assert!(
            yaml.contains("- 'on'\n") && yaml.contains("- 'No'\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("Flag: 'yes'\n") && yaml.contains("Real: true\n"),
            "{yaml}"
        );
        assert!(yaml.contains("Text: off the record\n"), "{yaml}");
        let back: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, value, "the same document, block scalar included");
    }

    #[derive(Serialize)]
    struct Dummy {
        #[serde(rename = "Name")]
        name: &'static str,
    }

    impl ResourceProperties for Dummy {
        const TYPE: &'static str = "Test::Dummy::Thing";
    }

    #[test]
    fn logical_ids_follow_cloudformations_rule() {
        for bad in ["", "has-dash", "has space", "ümlaut", &"A".repeat(256)] {
            assert!(
                matches!(
                    Template::new("t").add(bad, Dummy { name: "a" }),
                    Err(TemplateError::InvalidLogicalId(_))
                ),
                "{bad:?} must be refused"
            );
        }
        for good in ["A", "Abc123", &"A".repeat(255)] {
            assert!(Template::new("t").add(good, Dummy { name: "a" }).is_ok());
        }
    }

    #[test]
    fn checkov_skips_are_listed_in_metadata() {
        let mut template = Template::new("t");
        let id = template
            .add(
                "Thing",
                Resource::new(Dummy { name: "a" })
                    .skip_checkov("CKV_1", "first")
                    .skip_checkov("CKV_2", "second"),
            )
            .unwrap();
        assert_eq!(
            template.resource(&id).unwrap().metadata,
            Some(json!({"checkov": {"skip": [
                {"id": "CKV_1", "comment": "first"},
                {"id": "CKV_2", "comment": "second"}
            ]}}))
        );
    }

    #[test]
    fn duplicate_ids_are_errors_across_parameters_and_resources() {
        let mut template = Template::new("t");
        template.add("Thing", Dummy { name: "a" }).unwrap();
        assert_eq!(
            template.add("Thing", Dummy { name: "b" }),
            Err(TemplateError::DuplicateLogicalId("Thing".into()))
        );
        assert_eq!(
            template.add_parameter("Thing", Parameter::string("p")),
            Err(TemplateError::DuplicateLogicalId("Thing".into()))
        );
        let output = Output {
            description: "d".into(),
            value: "v".into(),
        };
        template.add_output("Out", output.clone()).unwrap();
        assert_eq!(
            template.add_output("Out", output),
            Err(TemplateError::DuplicateOutput("Out".into()))
        );
    }

    #[test]
    fn serializes_attributes_and_omits_empty_sections() {
        let mut template = Template::new("demo");
        let first = template.add("First", Dummy { name: "a" }).unwrap();
        template
            .add(
                "Second",
                Resource::new(Dummy { name: "b" })
                    .depends_on([first])
                    .retention(RetentionPolicy::Retain),
            )
            .unwrap();
        let json: Value = serde_json::from_str(&template.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Description": "demo",
                "Resources": {
                    "First": {"Type": "Test::Dummy::Thing", "Properties": {"Name": "a"}},
                    "Second": {
                        "Type": "Test::Dummy::Thing",
                        "DependsOn": ["First"],
                        "DeletionPolicy": "Retain",
                        "UpdateReplacePolicy": "Retain",
                        "Properties": {"Name": "b"}
                    }
                }
            })
        );
        assert!(template.to_json().unwrap().ends_with("}\n"));
        assert!(template.to_yaml().unwrap().ends_with('\n'));
    }
}
