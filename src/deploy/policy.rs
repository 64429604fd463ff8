//! The IAM policy a principal needs to run `deploy`, `diff` and `destroy`
//! of any chatstack stage in an account: chatstack's own calls (the
//! [`super::cloud::Cloud`] methods, see [`super::aws::iam_actions`]), and what
//! CloudFormation does with the caller's credentials to create, update and
//! delete each resource type of the templates.
//!
//! Every resource is named after its stack (`chatstack-<stage>...`), so the
//! statements are scoped to those names wherever the action has a
//! resource; API Gateway's and Cognito's ids are random and their ARNs name
//! no stack, and a few actions (creating an event source mapping or a user
//! pool, generating a password, reading the account's Lambda settings) have
//! no resource at all.
//! `tests/it/deployer_policy.rs` checks the policy against every call the code
//! makes and against the handler permissions of CloudFormation's resource
//! schemas, as cfn-lint ships them.

use serde_json::{Value, json};

/// One statement: what, on which resources.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub sid: &'static str,
    pub actions: &'static [&'static str],
    pub resources: &'static [&'static str],
    /// The services a role may be passed to, for `iam:PassRole`.
    pub passed_to: &'static [&'static str],
}

/// Stacks of every stage, and the assets bucket's.
const STACKS: &[&str] = &["arn:*:cloudformation:*:*:stack/chatstack-*/*"];
/// The assets bucket (`chatstack-bootstrap-assetsbucket-<random>`).
const BUCKET: &[&str] = &["arn:*:s3:::chatstack-bootstrap-assetsbucket-*"];
/// Its zips and large templates.
const BUCKET_OBJECTS: &[&str] = &["arn:*:s3:::chatstack-bootstrap-assetsbucket-*/chatstack/*"];
const FUNCTIONS: &[&str] = &["arn:*:lambda:*:*:function:chatstack-*"];
const ROLES: &[&str] = &["arn:*:iam::*:role/chatstack-*"];

/// What CloudFormation's handler does to a log group of the stack's, for the
/// functions' groups and the access log's alike.
const LOG_GROUP_ACTIONS: &[&str] = &[
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:DeleteRetentionPolicy",
    "logs:ListTagsForResource",
    "logs:TagResource",
    "logs:UntagResource",
    "logs:DescribeIndexPolicies",
    "logs:PutIndexPolicy",
    "logs:DeleteIndexPolicy",
    "logs:GetDataProtectionPolicy",
    "logs:PutDataProtectionPolicy",
    "logs:DeleteDataProtectionPolicy",
    "logs:PutLogGroupDeletionProtection",
];

pub const GRANTS: &[Grant] = &[
    Grant {
        sid: "Stacks",
        actions: &[
            "cloudformation:DescribeStacks",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DescribeStackResource",
            "cloudformation:GetTemplate",
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:CancelUpdateStack",
            "cloudformation:DeleteStack",
        ],
        resources: STACKS,
        passed_to: &[],
    },
    Grant {
        sid: "AssetsBucket",
        actions: &[
            "s3:CreateBucket",
            "s3:DeleteBucket",
            "s3:ListBucket",
            // Reads of the bucket's settings only, on this bucket only.
            "s3:GetBucket*",
            "s3:Get*Configuration",
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketTagging",
            "s3:ListTagsForResource",
            "s3:TagResource",
            "s3:UntagResource",
        ],
        resources: BUCKET,
        passed_to: &[],
    },
    Grant {
        // Zips and templates: uploaded, their tags read and set; read by
        // CloudFormation (TemplateURL) and Lambda (the code) as the caller.
        sid: "AssetsObjects",
        actions: &[
            "s3:PutObject",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectTagging",
            "s3:PutObjectTagging",
        ],
        resources: BUCKET_OBJECTS,
        passed_to: &[],
    },
    Grant {
        sid: "Functions",
        actions: &[
            "lambda:CreateFunction",
            "lambda:DeleteFunction",
            "lambda:GetFunction",
            "lambda:GetFunctionConfiguration",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:PublishVersion",
            "lambda:TagResource",
            "lambda:UntagResource",
            "lambda:ListTags",
            "lambda:PutFunctionConcurrency",
            "lambda:DeleteFunctionConcurrency",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:DeleteFunctionCodeSigningConfig",
            "lambda:GetRuntimeManagementConfig",
            "lambda:PutRuntimeManagementConfig",
            // The fanout worker's RecursiveLoop: Allow.
            "lambda:GetFunctionRecursionConfig",
            "lambda:PutFunctionRecursionConfig",
            "lambda:GetFunctionScalingConfig",
            "lambda:PutFunctionScalingConfig",
            "lambda:AddPermission",
            "lambda:RemovePermission",
            "lambda:GetPolicy",
            "lambda:GetFunctionEventInvokeConfig",
            "lambda:PutFunctionEventInvokeConfig",
            "lambda:UpdateFunctionEventInvokeConfig",
            "lambda:DeleteFunctionEventInvokeConfig",
        ],
        resources: FUNCTIONS,
        passed_to: &[],
    },
    Grant {
        // Mapping ids are random, and creating one has no resource.
        sid: "FanoutEventSource",
        actions: &[
            "lambda:CreateEventSourceMapping",
            "lambda:GetEventSourceMapping",
            "lambda:UpdateEventSourceMapping",
            "lambda:DeleteEventSourceMapping",
        ],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        // Read only: deploy's warning on a small account concurrency.
        sid: "AccountConcurrency",
        actions: &["lambda:GetAccountSettings"],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        sid: "Roles",
        actions: &[
            "iam:CreateRole",
            "iam:DeleteRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "iam:PutRolePolicy",
            "iam:GetRolePolicy",
            "iam:DeleteRolePolicy",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
            "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary",
        ],
        resources: ROLES,
        passed_to: &[],
    },
    Grant {
        // The functions' roles to Lambda, the push schedule's to Scheduler.
        sid: "PassStageRoles",
        actions: &["iam:PassRole"],
        resources: ROLES,
        passed_to: &["lambda.amazonaws.com", "scheduler.amazonaws.com"],
    },
    Grant {
        sid: "Tables",
        actions: &[
            "dynamodb:CreateTable",
            "dynamodb:DeleteTable",
            "dynamodb:DescribeTable",
            "dynamodb:UpdateTable",
            "dynamodb:DescribeTimeToLive",
            "dynamodb:UpdateTimeToLive",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:UpdateContinuousBackups",
            "dynamodb:DescribeContributorInsights",
            "dynamodb:UpdateContributorInsights",
            "dynamodb:DescribeKinesisStreamingDestination",
            "dynamodb:ListTagsOfResource",
            "dynamodb:TagResource",
            "dynamodb:UntagResource",
            "dynamodb:GetResourcePolicy",
            "dynamodb:PutResourcePolicy",
            "dynamodb:DeleteResourcePolicy",
        ],
        resources: &["arn:*:dynamodb:*:*:table/chatstack-*"],
        passed_to: &[],
    },
    Grant {
        sid: "Queues",
        actions: &[
            "sqs:CreateQueue",
            "sqs:DeleteQueue",
            "sqs:GetQueueAttributes",
            "sqs:SetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ListQueueTags",
            "sqs:TagQueue",
            "sqs:UntagQueue",
        ],
        resources: &["arn:*:sqs:*:*:chatstack-*"],
        passed_to: &[],
    },
    Grant {
        sid: "LogGroups",
        actions: LOG_GROUP_ACTIONS,
        resources: &["arn:*:logs:*:*:log-group:/aws/lambda/chatstack-*"],
        passed_to: &[],
    },
    Grant {
        // Describe calls name no group.
        sid: "DescribeLogGroups",
        actions: &["logs:DescribeLogGroups", "logs:DescribeResourcePolicies"],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        // API ids are random: the account's WebSocket and HTTP APIs.
        sid: "Apis",
        actions: &[
            "apigateway:GET",
            "apigateway:POST",
            "apigateway:PUT",
            "apigateway:PATCH",
            "apigateway:DELETE",
            "apigateway:TagResource",
            "apigateway:UntagResource",
        ],
        resources: &[
            "arn:*:apigateway:*::/apis",
            "arn:*:apigateway:*::/apis/*",
            "arn:*:apigateway:*::/tags/*",
        ],
        passed_to: &[],
    },
    Grant {
        sid: "TokenSecret",
        actions: &[
            "secretsmanager:CreateSecret",
            "secretsmanager:DeleteSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:UpdateSecret",
            "secretsmanager:GetSecretValue",
            "secretsmanager:TagResource",
            "secretsmanager:UntagResource",
        ],
        resources: &["arn:*:secretsmanager:*:*:secret:chatstack-*"],
        passed_to: &[],
    },
    Grant {
        // GenerateSecretString: no resource.
        sid: "GeneratePassword",
        actions: &["secretsmanager:GetRandomPassword"],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        // A stage's own user pool (cognito = true). Pool ids are random and
        // name no stack, as API ids do; the wildcards stand for Create,
        // Describe, Update and Delete (and Get/Set of the MFA settings).
        sid: "UserPools",
        actions: &[
            "cognito-idp:*UserPool",
            "cognito-idp:*UserPoolClient",
            "cognito-idp:*UserPoolMfaConfig",
            "cognito-idp:ListUserPoolClientSecrets",
            "cognito-idp:AddCustomAttributes",
            "cognito-idp:*TagResource",
            "cognito-idp:ListTagsForResource",
        ],
        resources: &["arn:*:cognito-idp:*:*:userpool/*"],
        passed_to: &[],
    },
    Grant {
        // Creating a pool has no resource.
        sid: "CreateUserPool",
        actions: &["cognito-idp:CreateUserPool"],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        sid: "PushSchedule",
        actions: &[
            "scheduler:CreateSchedule",
            "scheduler:GetSchedule",
            "scheduler:UpdateSchedule",
            "scheduler:DeleteSchedule",
        ],
        resources: &["arn:*:scheduler:*:*:schedule/*/chatstack-*"],
        passed_to: &[],
    },
];

/// What stages with a custom domain, API Gateway logs or alarms add
/// (`[stages.X.domain]`, `logging`, `alarms`): a second managed policy, so
/// that each stays within IAM's 6,144 characters, and a deployer of stages
/// without them needs none of it.
pub const OPERATIONS_GRANTS: &[Grant] = &[
    Grant {
        // Domain names are the user's; a stage's mapping lives under its name.
        sid: "CustomDomains",
        actions: &[
            "apigateway:GET",
            "apigateway:POST",
            "apigateway:PATCH",
            "apigateway:DELETE",
            "apigateway:AddCertificateToDomain",
            "apigateway:RemoveCertificateFromDomain",
        ],
        resources: &[
            "arn:*:apigateway:*::/domainnames",
            "arn:*:apigateway:*::/domainnames/*",
        ],
        passed_to: &[],
    },
    Grant {
        // deploy's check that the account's API Gateway CloudWatch role is
        // set, before a stage with logs asks for it.
        sid: "ApiGatewayAccount",
        actions: &["apigateway:GET"],
        resources: &["arn:*:apigateway:*::/account"],
        passed_to: &[],
    },
    Grant {
        // The alias record, in the zone the settings name.
        sid: "DomainRecord",
        actions: &[
            "route53:ChangeResourceRecordSets",
            "route53:GetHostedZone",
            "route53:ListResourceRecordSets",
        ],
        resources: &["arn:*:route53:::hostedzone/*"],
        passed_to: &[],
    },
    Grant {
        sid: "DomainRecordChanges",
        actions: &["route53:GetChange", "route53:ListHostedZones"],
        resources: &["*"],
        passed_to: &[],
    },
    Grant {
        sid: "AccessLogGroup",
        actions: LOG_GROUP_ACTIONS,
        resources: &["arn:*:logs:*:*:log-group:/aws/apigateway/chatstack-*"],
        passed_to: &[],
    },
    Grant {
        sid: "Alarms",
        actions: &[
            "cloudwatch:PutMetricAlarm",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
            "cloudwatch:ListTagsForResource",
        ],
        resources: &["arn:*:cloudwatch:*:*:alarm:chatstack-*"],
        passed_to: &[],
    },
    Grant {
        sid: "Dashboard",
        actions: &[
            "cloudwatch:PutDashboard",
            "cloudwatch:GetDashboard",
            "cloudwatch:DeleteDashboards",
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
            "cloudwatch:ListTagsForResource",
        ],
        resources: &["arn:*:cloudwatch::*:dashboard/chatstack-*"],
        passed_to: &[],
    },
    Grant {
        // The topic is named after the stack; its subscriptions' ARNs
        // begin with its own.
        sid: "AlarmTopic",
        actions: &[
            "sns:CreateTopic",
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            "sns:Subscribe",
            "sns:Unsubscribe",
            "sns:ListSubscriptionsByTopic",
            "sns:GetSubscriptionAttributes",
            "sns:SetSubscriptionAttributes",
            "sns:GetDataProtectionPolicy",
            "sns:PutDataProtectionPolicy",
            "sns:TagResource",
            "sns:UntagResource",
            "sns:ListTagsForResource",
        ],
        resources: &["arn:*:sns:*:*:chatstack-*"],
        passed_to: &[],
    },
    Grant {
        // The topic's key: ids are random, as API ids are.
        sid: "AlarmKey",
        actions: &[
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:PutKeyPolicy",
            "kms:EnableKey",
            "kms:DisableKey",
            "kms:EnableKeyRotation",
            "kms:DisableKeyRotation",
            "kms:GetKeyRotationStatus",
            "kms:UpdateKeyDescription",
            "kms:ScheduleKeyDeletion",
            "kms:ListResourceTags",
            "kms:TagResource",
            "kms:UntagResource",
        ],
        resources: &["arn:*:kms:*:*:key/*"],
        passed_to: &[],
    },
    Grant {
        // Creating and listing keys have no resource.
        sid: "CreateAlarmKey",
        actions: &["kms:CreateKey", "kms:ListKeys"],
        resources: &["*"],
        passed_to: &[],
    },
];

/// Handler permissions of the resource schemas that serve features the
/// templates never use, by service or action prefix, with why: left out.
pub const NOT_USED: &[(&str, &str)] = &[
    ("ec2:", "no function runs in a VPC"),
    ("elasticfilesystem:", "no function mounts EFS"),
    ("s3files:", "no function mounts S3 Files"),
    // The alarm topic's key is the only customer managed one (granted in
    // the operations policy); these are for functions, tables, event
    // sources or pools encrypted with one, which none is.
    (
        "kms:CreateGrant",
        "no function, table or pool uses a customer managed key",
    ),
    ("kms:RevokeGrant", "no table uses a customer managed key"),
    (
        "kms:Encrypt",
        "no function, table or pool uses a customer managed key",
    ),
    (
        "kms:Decrypt",
        "no function, table, queue or pool uses a customer managed key",
    ),
    (
        "kms:GenerateDataKey",
        "no function, queue or pool uses a customer managed key",
    ),
    ("kms:ReEncrypt", "no pool uses a customer managed key"),
    ("kms:ListAliases", "no table uses a customer managed key"),
    ("kinesis:", "no table streams to Kinesis"),
    ("firehose:", "no log group delivers to Firehose"),
    ("s3tables:", "the bucket has no S3 Tables metadata"),
    ("iam:CreateServiceLinkedRole", "no table has replicas"),
    ("dynamodb:CreateTableReplica", "no table has replicas"),
    ("dynamodb:AssociateTableReplica", "no table has replicas"),
    ("dynamodb:ImportTable", "no table is imported from S3"),
    ("dynamodb:DescribeImport", "no table is imported from S3"),
    (
        "dynamodb:EnableKinesisStreamingDestination",
        "no table streams to Kinesis",
    ),
    (
        "dynamodb:DisableKinesisStreamingDestination",
        "no table streams to Kinesis",
    ),
    (
        "dynamodb:UpdateKinesisStreamingDestination",
        "no table streams to Kinesis",
    ),
    // Items are the functions' business, never CloudFormation's here.
    ("dynamodb:BatchWriteItem", "tables are not imported"),
    ("dynamodb:PutItem", "tables are not imported"),
    ("dynamodb:GetItem", "tables are not imported"),
    ("dynamodb:UpdateItem", "tables are not imported"),
    ("dynamodb:DeleteItem", "tables are not imported"),
    ("dynamodb:Query", "tables are not imported"),
    ("dynamodb:Scan", "tables are not imported"),
    (
        "logs:CreateLogStream",
        "tables write no contributor insights logs",
    ),
    (
        "logs:DescribeLogStreams",
        "tables write no contributor insights logs",
    ),
    (
        "logs:PutLogEvents",
        "tables write no contributor insights logs",
    ),
    ("logs:CreateLogDelivery", "no log delivery is configured"),
    (
        "logs:AssociateKmsKey",
        "nothing uses a customer managed KMS key",
    ),
    (
        "logs:DisassociateKmsKey",
        "nothing uses a customer managed KMS key",
    ),
    (
        "logs:PutResourcePolicy",
        "no log group has a resource policy",
    ),
    (
        "logs:DeleteResourcePolicy",
        "no log group has a resource policy",
    ),
    (
        "logs:PutBearerTokenAuthentication",
        "no log group takes bearer tokens",
    ),
    ("s3:REST.PUT.OBJECT", "not an IAM action"),
    ("s3:GetObjectMetadata", "tables are not imported from S3"),
    (
        "s3:DeleteObject",
        "the bucket is kept, and emptied by its lifecycle rule",
    ),
    ("s3:PutObjectAcl", "the bucket enforces owner-only objects"),
    ("s3:PutBucketAcl", "the bucket enforces owner-only objects"),
    ("s3:PutBucketAbac", "the bucket has no ABAC"),
    ("s3:PutBucketVersioning", "the bucket is not versioned"),
    ("s3:PutBucketLogging", "the bucket has no access log"),
    ("s3:PutBucketCORS", "the bucket has no CORS rules"),
    ("s3:DeleteBucketCors", "the bucket has no CORS rules"),
    ("s3:PutBucketWebsite", "the bucket is no website"),
    ("s3:DeleteBucketWebsite", "the bucket is no website"),
    (
        "s3:PutBucketNotification",
        "the bucket sends no notifications",
    ),
    (
        "s3:PutBucketObjectLockConfiguration",
        "the bucket has no object lock",
    ),
    (
        "s3:PutObjectLockConfiguration",
        "the bucket has no object lock",
    ),
    (
        "s3:PutAccelerateConfiguration",
        "the bucket has no acceleration",
    ),
    (
        "s3:PutAnalyticsConfiguration",
        "the bucket has no analytics",
    ),
    (
        "s3:DeleteBucketAnalyticsConfiguration",
        "the bucket has no analytics",
    ),
    (
        "s3:PutIntelligentTieringConfiguration",
        "the bucket has no tiering",
    ),
    (
        "s3:PutInventoryConfiguration",
        "the bucket has no inventory",
    ),
    ("s3:PutMetricsConfiguration", "the bucket has no metrics"),
    (
        "s3:DeleteBucketMetricsConfiguration",
        "the bucket has no metrics",
    ),
    (
        "s3:PutReplicationConfiguration",
        "the bucket is not replicated",
    ),
    ("s3:PutBucketReplication", "the bucket is not replicated"),
    ("s3:DeleteBucketReplication", "the bucket is not replicated"),
    (
        "s3:DeleteBucketEncryption",
        "the bucket is always encrypted",
    ),
    (
        "s3:DeleteBucketLifecycle",
        "the bucket always has its lifecycle rule",
    ),
    (
        "s3:CreateBucketMetadataTableConfiguration",
        "the bucket has no metadata table",
    ),
    (
        "s3:DeleteBucketMetadataTableConfiguration",
        "the bucket has no metadata table",
    ),
    (
        "s3:UpdateBucketMetadata",
        "the bucket has no metadata table",
    ),
    (
        "lambda:GetCodeSigningConfig",
        "no function has code signing",
    ),
    ("lambda:GetLayerVersion", "no function has layers"),
    (
        "lambda:PassCapacityProvider",
        "no function runs on managed instances",
    ),
    (
        "lambda:AssociateRuntimeAlias",
        "no function uses a runtime alias",
    ),
    (
        "secretsmanager:ReplicateSecretToRegions",
        "the secret is not replicated",
    ),
    (
        "secretsmanager:RemoveRegionsFromReplication",
        "the secret is not replicated",
    ),
];

/// The entry of [`NOT_USED`] that leaves `action` out (its prefix and
/// why), if one does.
pub fn not_used(action: &str) -> Option<&'static (&'static str, &'static str)> {
    let action = action.to_ascii_lowercase();
    NOT_USED
        .iter()
        .find(|(prefix, _)| action.starts_with(&prefix.to_ascii_lowercase()))
}

/// Whether the policy allows `action`, as IAM matches it: ignoring case,
/// `*` standing for any characters.
pub fn allows(action: &str) -> bool {
    GRANTS
        .iter()
        .chain(OPERATIONS_GRANTS)
        .flat_map(|grant| grant.actions)
        .any(|granted| matches(&granted.to_ascii_lowercase(), &action.to_ascii_lowercase()))
}

/// `pattern` (with `*` wildcards) against `text`.
fn matches(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => text.strip_prefix(head).is_some_and(|tail| {
            (0..=tail.len()).any(|n| tail.is_char_boundary(n) && matches(rest, &tail[n..]))
        }),
    }
}

/// The policy document, for `chatstack deployer-policy`.
pub fn deployer_policy() -> Value {
    policy_of(GRANTS)
}

/// The second document, for stages with a domain, logs or alarms
/// (`chatstack deployer-policy --operations`).
pub fn operations_policy() -> Value {
    policy_of(OPERATIONS_GRANTS)
}

fn policy_of(grants: &[Grant]) -> Value {
    let statements: Vec<Value> = grants
        .iter()
        .map(|grant| {
            let mut statement = json!({
                "Sid": grant.sid,
                "Effect": "Allow",
                "Action": grant.actions,
                "Resource": grant.resources,
            });
            if !grant.passed_to.is_empty() {
                statement["Condition"] =
                    json!({"StringEquals": {"iam:PassedToService": grant.passed_to}});
            }
            statement
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}
