//! AWS configuration shared by the AWS sources: one `SdkConfig` per identity.
//!
//! Credentials come from the SDK's default chain (environment, profile, IRSA web identity token,
//! EKS Pod Identity, instance metadata), optionally through an assumed role with an external ID.
//! Sources with the same region, endpoint and role share one configuration, so one credential
//! cache. The SDK keeps credentials out of its `Debug` output; [`AwsIdentity`] keeps the external
//! ID out of ours. HTTPS uses rustls with ring.

use std::collections::HashMap;
use std::fmt;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// Who calls AWS, where: what makes two sources share a client.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsIdentity {
    /// Region (default: the SDK's, e.g. `AWS_REGION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Endpoint URL override (an emulator, a VPC endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_endpoint: Option<String>,
    /// Role to assume, e.g. for another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External ID the role's trust policy requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl fmt::Debug for AwsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsIdentity")
            .field("aws_region", &self.aws_region)
            .field("aws_endpoint", &self.aws_endpoint)
            .field("role_arn", &self.role_arn)
            .field(
                "external_id",
                &self.external_id.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `SdkConfig`s by identity, built on first use.
#[derive(Default)]
pub struct AwsConfigs {
    configs: Mutex<HashMap<AwsIdentity, SdkConfig>>,
}

impl AwsConfigs {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The configuration of `identity`, shared with every source of the same identity.
    pub async fn get(&self, identity: &AwsIdentity) -> SdkConfig {
        let mut configs = self.configs.lock().await;
        if let Some(config) = configs.get(identity) {
            return config.clone();
        }
        let config = load(identity).await;
        configs.insert(identity.clone(), config.clone());
        config
    }
}

async fn load(identity: &AwsIdentity) -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(region) = &identity.aws_region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &identity.aws_endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let base = loader.load().await;
    let Some(role_arn) = &identity.role_arn else {
        return base;
    };
    let mut role = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
        .session_name("ecs-scaler")
        .configure(&base);
    if let Some(external_id) = &identity.external_id {
        role = role.external_id(external_id.clone());
    }
    let provider = role.build().await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// The longest error text kept from an SDK error chain.
const MAX_ERROR_CHARS: usize = 300;

/// A short description of an SDK error for logs and `UNAVAILABLE` messages: AWS's error code
/// and message when the service answered, else the error chain cut to a few hundred characters
/// (a connection error's chain, not the raw HTTP response). Never contains a credential.
pub fn describe_error<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => crate::text::abbreviate(&DisplayErrorContext(error).to_string(), MAX_ERROR_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_debug_never_shows_the_external_id() {
        let identity = AwsIdentity {
            aws_region: Some("us-east-1".to_owned()),
            role_arn: Some("arn:aws:iam::123456789012:role/scaler".to_owned()),
            external_id: Some("s3cr3t-external-id".to_owned()),
            ..AwsIdentity::default()
        };
        let text = format!("{identity:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(
            text.contains("<redacted>") && text.contains("us-east-1"),
            "{text}"
        );
    }
}
