//! SQS queue depth (KEDA's `aws-sqs-queue` scaler, polled in the background).
//!
//! One `GetQueueAttributes` call per poll reads `ApproximateNumberOfMessages`, plus
//! `ApproximateNumberOfMessagesNotVisible` (in flight, `scaleOnInFlight`, default true) and
//! `ApproximateNumberOfMessagesDelayed` (`scaleOnDelayed`, default false). The sum is one sample.
//! Use it as a total (an alarm input) or per task (`perTask: true` on the target tracking policy:
//! backlog per task = total / current capacity, as AWS recommends for queue workers).
//! `queueURL` may be a URL or a bare queue name, resolved once with `GetQueueUrl`.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::aws::{AwsConfigs, AwsIdentity};
use super::poller::{Poll, PollFuture};
use super::{Observation, SourceError};
use crate::clock::Clock;
use crate::telemetry::{AwsCallLabels, Metrics};

/// An SQS queue as a metric source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqsSpec {
    /// Queue URL, or the queue's name in the account of the credentials.
    #[serde(rename = "queueURL")]
    pub queue_url: String,
    /// Region (default: the SDK's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Endpoint URL override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_endpoint: Option<String>,
    /// Role to assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External ID for the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Count messages in flight (received, not deleted) as backlog (default true).
    #[serde(default = "yes")]
    pub scale_on_in_flight: bool,
    /// Count delayed messages as backlog (default false).
    #[serde(default)]
    pub scale_on_delayed: bool,
    /// Period in seconds the samples are aggregated into (default 60).
    #[serde(default = "sixty")]
    pub period: u32,
    /// Seconds between two polls (default 15).
    #[serde(default = "fifteen")]
    pub poll_interval_seconds: u32,
    /// Seconds without a successful poll before the policy set is unavailable (default 3 polls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after_seconds: Option<u32>,
}

fn yes() -> bool {
    true
}

fn sixty() -> u32 {
    60
}

fn fifteen() -> u32 {
    15
}

impl SqsSpec {
    /// Who calls SQS.
    pub fn identity(&self) -> AwsIdentity {
        AwsIdentity {
            aws_region: self.aws_region.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// The key that makes identical queues share one poller.
    pub fn key(&self) -> SqsKey {
        SqsKey {
            queue: self.queue_url.clone(),
            identity: self.identity(),
            in_flight: self.scale_on_in_flight,
            delayed: self.scale_on_delayed,
            poll_interval_seconds: self.poll_interval_seconds,
        }
    }

    /// Problems with the spec, as `(field, message)` pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.queue_url.trim().is_empty() {
            problems.push(("queueURL", "must be a queue URL or name".to_owned()));
        }
        if self.poll_interval_seconds == 0 {
            problems.push(("pollIntervalSeconds", "must be at least 1".to_owned()));
        }
        problems
    }
}

/// What identifies one SQS poller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SqsKey {
    /// Queue URL or name.
    pub queue: String,
    /// Who calls.
    pub identity: AwsIdentity,
    /// In-flight messages counted.
    pub in_flight: bool,
    /// Delayed messages counted.
    pub delayed: bool,
    /// Poll interval.
    pub poll_interval_seconds: u32,
}

/// Polls one queue.
pub struct SqsPoller {
    key: SqsKey,
    configs: Arc<AwsConfigs>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    client: OnceCell<aws_sdk_sqs::Client>,
    queue_url: OnceCell<String>,
}

impl SqsPoller {
    /// A poller for `key`.
    pub fn new(
        key: SqsKey,
        configs: Arc<AwsConfigs>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            key,
            configs,
            clock,
            metrics,
            client: OnceCell::new(),
            queue_url: OnceCell::new(),
        }
    }

    fn count(&self, operation: &'static str) {
        self.metrics
            .aws_api_calls
            .get_or_create(&AwsCallLabels {
                service: "sqs",
                operation,
            })
            .inc();
    }

    async fn client(&self) -> &aws_sdk_sqs::Client {
        self.client
            .get_or_init(|| async {
                aws_sdk_sqs::Client::new(&self.configs.get(&self.key.identity).await)
            })
            .await
    }

    async fn queue_url(&self) -> Result<&str, SourceError> {
        let queue = &self.key.queue;
        if queue.starts_with("https://") || queue.starts_with("http://") {
            return Ok(queue);
        }
        let url = self
            .queue_url
            .get_or_try_init(|| async {
                self.count("GetQueueUrl");
                let response = self
                    .client()
                    .await
                    .get_queue_url()
                    .queue_name(queue)
                    .send()
                    .await
                    .map_err(source_error)?;
                response
                    .queue_url
                    .ok_or_else(|| SourceError::BadAnswer("GetQueueUrl returned no URL".to_owned()))
            })
            .await?;
        Ok(url)
    }

    async fn depth(&self) -> Result<Vec<Observation>, SourceError> {
        let url = self.queue_url().await?;
        let mut names = vec![QueueAttributeName::ApproximateNumberOfMessages];
        if self.key.in_flight {
            names.push(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        }
        if self.key.delayed {
            names.push(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
        }
        self.count("GetQueueAttributes");
        let response = self
            .client()
            .await
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.clone()))
            .send()
            .await
            .map_err(source_error)?;
        let attributes = response.attributes.unwrap_or_default();
        let mut total = 0.0;
        for name in &names {
            let raw = attributes.get(name).ok_or_else(|| {
                SourceError::BadAnswer(format!("attribute {} missing", name.as_str()))
            })?;
            total += raw.parse::<u64>().map_err(|_| {
                SourceError::BadAnswer(format!("attribute {} is `{raw}`", name.as_str()))
            })? as f64;
        }
        Ok(vec![Observation::sample(self.clock.now(), total)])
    }
}

impl Poll for SqsPoller {
    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.key.poll_interval_seconds.max(1)))
    }

    fn poll(&self) -> PollFuture<'_> {
        Box::pin(self.depth())
    }
}

/// Maps an SDK error to a source error: throttling is told apart, the rest keeps the SDK's
/// message (which carries no credential).
pub fn source_error<E, R>(error: aws_sdk_sqs::error::SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error.code().unwrap_or_default().to_owned();
    let message = super::aws::describe_error(&error);
    if code.contains("Throttl") || code == "RequestThrottled" || code == "OverLimit" {
        SourceError::Throttled(message)
    } else {
        SourceError::Failed(message)
    }
}
