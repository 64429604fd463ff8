//! [`Cloud`] over the AWS SDK: CloudFormation, S3 and Lambda as deploy
//! uses them.

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, TemplateStage};
use aws_sdk_s3::types::{Tag, Tagging};

use super::cloud::{
    AccountConcurrency, Change, ChangeSet, ChangeSetKind, ChangeSetRequest, Cloud, CloudError,
    Stack, StackEvent, StackReader,
};
use crate::aws::{cloud_error, endpoint_of};

/// The IAM actions each [`Cloud`] method needs, for the deployer's policy
/// (`chatstack deployer-policy`; `tests/it/deployer_policy.rs` checks that
/// every method is here and every action is granted).
pub const CLOUD_CALLS: &[(&str, &[&str])] = &[
    ("describe_stack", &["cloudformation:DescribeStacks"]),
    // CloudFormation reads a TemplateURL with the caller's credentials.
    (
        "create_change_set",
        &["cloudformation:CreateChangeSet", "s3:GetObject"],
    ),
    ("describe_change_set", &["cloudformation:DescribeChangeSet"]),
    ("execute_change_set", &["cloudformation:ExecuteChangeSet"]),
    ("delete_change_set", &["cloudformation:DeleteChangeSet"]),
    ("delete_stack", &["cloudformation:DeleteStack"]),
    ("cancel_update", &["cloudformation:CancelUpdateStack"]),
    ("physical_id", &["cloudformation:DescribeStackResource"]),
    ("stack_events", &["cloudformation:DescribeStackEvents"]),
    ("object_tags", &["s3:GetObjectTagging"]),
    ("put_object", &["s3:PutObject"]),
    ("template_body", &["cloudformation:GetTemplate"]),
    ("account_concurrency", &["lambda:GetAccountSettings"]),
    ("region", &[]),
    ("api_gateway_logs_role", &["apigateway:GET"]),
    ("object_url", &[]),
    ("tag_object", &["s3:PutObjectTagging"]),
];

/// CloudFormation, S3 and Lambda clients for one account and region.
#[derive(Debug, Clone)]
pub struct AwsCloud {
    cloudformation: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    lambda: aws_sdk_lambda::Client,
    /// Where each client sends its requests, for errors that reach nothing.
    cloudformation_endpoint: String,
    s3_endpoint: String,
    lambda_endpoint: String,
    /// The region's S3 host suffix, for object URLs.
    s3_host: String,
    region: String,
    /// API Gateway's control plane (`apigateway.<region>...`, or the
    /// endpoint the configuration names).
    apigateway_endpoint: String,
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

impl AwsCloud {
    pub fn new(config: &SdkConfig) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            // Emulators on 127.0.0.1 have no per-bucket host names.
            .force_path_style(config.endpoint_url().is_some())
            .build();
        AwsCloud {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            lambda: aws_sdk_lambda::Client::new(config),
            cloudformation_endpoint: endpoint_of(config, "cloudformation"),
            s3_endpoint: endpoint_of(config, "s3"),
            lambda_endpoint: endpoint_of(config, "lambda"),
            s3_host: s3_host(config),
            region: config.region().map_or_else(String::new, |r| r.to_string()),
            apigateway_endpoint: apigateway_endpoint(config),
            credentials: config.credentials_provider(),
        }
    }
}

/// `https://apigateway.<region>.<the partition's domain>`, or the endpoint
/// the configuration names (`AWS_ENDPOINT_URL`).
fn apigateway_endpoint(config: &SdkConfig) -> String {
    if let Some(url) = config.endpoint_url() {
        return url.trim_end_matches('/').to_owned();
    }
    let region = config.region().map_or("us-east-1", |r| r.as_ref());
    format!(
        "https://apigateway.{region}.{}",
        crate::aws::dns_suffix(region)
    )
}

/// `s3.<region>.<the partition's domain>`: China's regions have their own.
fn s3_host(config: &SdkConfig) -> String {
    let region = config.region().map_or("us-east-1", |r| r.as_ref());
    format!("s3.{region}.{}", crate::aws::dns_suffix(region))
}

fn epoch_ms(time: Option<&aws_sdk_cloudformation::primitives::DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or(0)
}

impl StackReader for AwsCloud {
    async fn describe_stack(&self, stack: &str) -> Result<Option<Stack>, CloudError> {
        crate::aws::describe_stack(&self.cloudformation, &self.cloudformation_endpoint, stack).await
    }
}

impl Cloud for AwsCloud {
    async fn create_change_set(&self, request: &ChangeSetRequest) -> Result<String, CloudError> {
        let parameters = request
            .parameters
            .iter()
            .map(|(key, value)| {
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build()
            })
            .collect();
        let output = self
            .cloudformation
            .create_change_set()
            .stack_name(&request.stack)
            .change_set_name(&request.name)
            .change_set_type(match request.kind {
                ChangeSetKind::Create => ChangeSetType::Create,
                ChangeSetKind::Update => ChangeSetType::Update,
            })
            .set_template_body(match &request.template.url {
                None => Some(request.template.body.clone()),
                Some(_) => None,
            })
            .set_template_url(request.template.url.clone())
            .set_parameters(Some(parameters))
            // The chat stack creates roles (without fixed names).
            .capabilities(Capability::CapabilityIam)
            .description("chatstack deploy")
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        output
            .id()
            .map(str::to_owned)
            .ok_or_else(|| CloudError::Other("CreateChangeSet returned no id".to_owned()))
    }

    async fn describe_change_set(&self, id: &str) -> Result<ChangeSet, CloudError> {
        let mut changes = Vec::new();
        let mut next_token = None;
        loop {
            let output = self
                .cloudformation
                .describe_change_set()
                .change_set_name(id)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
            changes.extend(output.changes().iter().filter_map(|c| {
                let r = c.resource_change()?;
                Some(Change {
                    action: r
                        .action()
                        .map(|a| a.as_str().to_owned())
                        .unwrap_or_default(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    replacement: r.replacement().map(|x| x.as_str().to_owned()),
                })
            }));
            next_token = output.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(ChangeSet {
                    status: output
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_reason: output.status_reason().map(str::to_owned),
                    changes,
                });
            }
        }
    }

    async fn execute_change_set(&self, id: &str) -> Result<(), CloudError> {
        self.cloudformation
            .execute_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(())
    }

    async fn delete_change_set(&self, id: &str) -> Result<(), CloudError> {
        self.cloudformation
            .delete_change_set()
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(())
    }

    async fn delete_stack(&self, stack: &str) -> Result<(), CloudError> {
        self.cloudformation
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(())
    }

    async fn cancel_update(&self, stack: &str) -> Result<(), CloudError> {
        self.cloudformation
            .cancel_update_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(())
    }

    async fn physical_id(
        &self,
        stack: &str,
        logical_id: &str,
    ) -> Result<Option<String>, CloudError> {
        let output = self
            .cloudformation
            .describe_stack_resource()
            .stack_name(stack)
            .logical_resource_id(logical_id)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(output
            .stack_resource_detail()
            .and_then(|d| d.physical_resource_id())
            .map(str::to_owned))
    }

    async fn stack_events(&self, stack: &str) -> Result<Vec<StackEvent>, CloudError> {
        let output = self
            .cloudformation
            .describe_stack_events()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(output
            .stack_events()
            .iter()
            .map(|e| StackEvent {
                event_id: e.event_id().unwrap_or_default().to_owned(),
                timestamp_ms: epoch_ms(e.timestamp()),
                logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: e.resource_type().unwrap_or_default().to_owned(),
                status: e
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: e.resource_status_reason().map(str::to_owned),
            })
            .collect())
    }

    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, CloudError> {
        match self
            .s3
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(
                output
                    .tag_set()
                    .iter()
                    .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                    .collect(),
            )),
            // 403 is what S3 answers for a missing key to a caller without
            // s3:ListBucket: the upload that follows decides.
            Err(error)
                if error
                    .raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 403 | 404)) =>
            {
                Ok(None)
            }
            Err(error) => Err(cloud_error(error, &self.s3_endpoint)),
        }
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), CloudError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.s3_endpoint))?;
        Ok(())
    }

    fn region(&self) -> String {
        self.region.clone()
    }

    /// `GET /account`, signed for `apigateway` with the aws-sigv4 crate:
    /// the one call deploy makes of API Gateway's control plane, not worth
    /// a whole SDK.
    async fn api_gateway_logs_role(&self) -> Result<Option<String>, CloudError> {
        use aws_credential_types::provider::ProvideCredentials;
        let endpoint = &self.apigateway_endpoint;
        let unreachable = |cause: String| CloudError::Unreachable {
            endpoint: endpoint.clone(),
            cause,
        };
        let credentials = self
            .credentials
            .as_ref()
            .ok_or(CloudError::NoCredentials)?
            .provide_credentials()
            .await
            .map_err(|_| CloudError::NoCredentials)?;
        let url = format!("{endpoint}/account");
        let headers = [("accept", "application/json")];
        let signature = crate::sigv4::sign_request_for(
            crate::sigv4::Request {
                method: "GET",
                uri: &url,
                headers: &headers,
                body: b"",
            },
            &credentials,
            &self.region,
            "apigateway",
            std::time::SystemTime::now(),
        )
        .map_err(|e| CloudError::Other(e.to_string()))?;
        let client = crate::sigv4::signed_request_client(std::time::Duration::from_secs(20))
            .map_err(unreachable)?;
        let request = client.get(&url).header(headers[0].0, headers[0].1);
        let response = crate::sigv4::with_signature(request, signature)
            .send()
            .await
            .map_err(|e| unreachable(crate::aws::error_chain(&e)))?;
        let status = response.status();
        let body: serde_json::Value = response
            .bytes()
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        if !status.is_success() {
            let message = body["message"]
                .as_str()
                .or_else(|| body["Message"].as_str())
                .unwrap_or_default();
            return Err(match status.as_u16() {
                429 => CloudError::Throttled(message.to_owned()),
                code => CloudError::Other(format!("API Gateway answered {code}: {message}")),
            });
        }
        Ok(body["cloudwatchRoleArn"]
            .as_str()
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned))
    }

    async fn account_concurrency(&self) -> Result<AccountConcurrency, CloudError> {
        let output = self
            .lambda
            .get_account_settings()
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.lambda_endpoint))?;
        let limit = output.account_limit().ok_or_else(|| {
            CloudError::Other("GetAccountSettings returned no AccountLimit".to_owned())
        })?;
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(AccountConcurrency {
            total: count(limit.concurrent_executions()),
            unreserved: limit.unreserved_concurrent_executions().map_or(0, count),
        })
    }

    async fn template_body(&self, stack: &str) -> Result<Option<String>, CloudError> {
        let output = self
            .cloudformation
            .get_template()
            .stack_name(stack)
            .template_stage(TemplateStage::Original)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.cloudformation_endpoint))?;
        Ok(output.template_body().map(str::to_owned))
    }

    fn object_url(&self, bucket: &str, key: &str) -> String {
        format!("https://{bucket}.{}/{key}", self.s3_host)
    }

    async fn tag_object(
        &self,
        bucket: &str,
        key: &str,
        (tag_key, tag_value): (&str, &str),
    ) -> Result<(), CloudError> {
        let tag = Tag::builder()
            .key(tag_key)
            .value(tag_value)
            .build()
            .map_err(|e| CloudError::Other(e.to_string()))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(|e| CloudError::Other(e.to_string()))?;
        self.s3
            .put_object_tagging()
            .bucket(bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| cloud_error(e, &self.s3_endpoint))?;
        Ok(())
    }
}
