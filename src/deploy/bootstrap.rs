//! The assets bucket: a small stack per account and region, created by the
//! first deploy, that holds the functions' zips.

use std::collections::BTreeMap;

use crate::cfn::iam::{Effect, PolicyDocument, Principal, Statement};
use crate::cfn::s3::{
    AbortIncompleteMultipartUpload, Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration,
    LifecycleRule, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault, ServerSideEncryptionRule, TagFilter,
};
use crate::cfn::{
    Expr, LogicalId, Output, Resource, RetentionPolicy, SubPart, Template, TemplateError,
};

pub use crate::chat::BOOTSTRAP_STACK;
/// The bucket's logical id.
pub const BUCKET_RESOURCE: &str = "AssetsBucket";

/// The tag deploy and destroy put on a zip no stack uses any more: only
/// tagged zips expire, so a stack can always roll back to the code it runs,
/// however long ago it was uploaded.
pub const SUPERSEDED_TAG: (&str, &str) = ("chatstack:superseded", "true");

/// Days after upload a superseded zip is kept. Zips are usually older than
/// this when they are superseded and go at the next lifecycle run; a day's
/// grace covers a deploy that uploads, supersedes and redeploys quickly.
const SUPERSEDED_LIFETIME_DAYS: u32 = 1;

/// Only superseded zips expire (see [`SUPERSEDED_TAG`]); incomplete
/// uploads are aborted after a day.
fn lifecycle() -> LifecycleConfiguration {
    LifecycleConfiguration {
        rules: vec![
            LifecycleRule {
                id: "expire-superseded-assets".to_owned(),
                status: "Enabled".to_owned(),
                expiration_in_days: Some(SUPERSEDED_LIFETIME_DAYS),
                abort_incomplete_multipart_upload: None,
                tag_filters: vec![TagFilter {
                    key: SUPERSEDED_TAG.0.to_owned(),
                    value: SUPERSEDED_TAG.1.to_owned(),
                }],
            },
            // Tag filters cannot select uploads, which have no tags yet.
            LifecycleRule {
                id: "abort-incomplete-uploads".to_owned(),
                status: "Enabled".to_owned(),
                expiration_in_days: None,
                abort_incomplete_multipart_upload: Some(AbortIncompleteMultipartUpload {
                    days_after_initiation: 1,
                }),
                tag_filters: Vec::new(),
            },
        ],
    }
}

/// Refuses every request to the bucket and its objects not made over TLS.
fn tls_only(bucket: &LogicalId) -> BucketPolicy {
    let objects_arn = Expr::sub([
        SubPart::GetAtt(bucket.clone(), "Arn".to_owned()),
        "/*".into(),
    ]);
    BucketPolicy {
        bucket: bucket.into(),
        policy_document: PolicyDocument::new(vec![Statement {
            sid: Some("TlsOnly".to_owned()),
            effect: Effect::Deny,
            principal: Some(Principal::Everyone),
            action: vec!["s3:*".to_owned()],
            resource: vec![Expr::arn_of(bucket), objects_arn],
            condition: BTreeMap::from([(
                "Bool".to_owned(),
                BTreeMap::from([("aws:SecureTransport".to_owned(), "false".into())]),
            )]),
        }]),
    }
}

pub fn template() -> Result<Template, TemplateError> {
    let mut template =
        Template::new("chatstack: bucket for the chat functions' deployment packages");
    let bucket = template.add(
        BUCKET_RESOURCE,
        // Shared by every stage in the account and region: destroying a stage
        // must not take it, and an emptied bucket is cheap to keep.
        Resource::new(Bucket {
            bucket_encryption: Some(BucketEncryption {
                server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                    server_side_encryption_by_default: ServerSideEncryptionByDefault {
                        sse_algorithm: "AES256".to_owned(),
                    },
                }],
            }),
            public_access_block_configuration: Some(PublicAccessBlockConfiguration::block_all()),
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: "BucketOwnerEnforced".to_owned(),
                }],
            }),
            lifecycle_configuration: Some(lifecycle()),
        })
        // Kept when the stack goes, except when its first create fails:
        // then it holds nothing yet.
        .retention(RetentionPolicy::RetainExceptOnCreate)
        .skip_checkov(
            "CKV_AWS_18",
            "written only by chatstack deploy; CloudTrail records that, an access-log bucket would add nothing",
        )
        .skip_checkov(
            "CKV_AWS_21",
            "keys are content hashes, never overwritten: versions would add nothing",
        ),
    )?;
    template.add("AssetsBucketPolicy", tls_only(&bucket))?;
    template.add_output(
        "AssetsBucketName",
        Output {
            description: "S3 bucket holding the chat functions' zips".to_owned(),
            value: (&bucket).into(),
        },
    )?;
    Ok(template)
}
