//! The `GetMetricData` call, behind a trait so that the batcher can be tested without AWS.
//!
//! [`SdkApi`] calls CloudWatch with `aws-sdk-cloudwatch` (one client per identity, the SDK's
//! own retries off: the batcher retries with jittered backoff and counts every call). Errors
//! are mapped to [`CallError`]s: throttling, timeouts and transport failures are told apart from
//! a *rejected* request (a bad query), which the batcher bisects to find the culprit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_cloudwatch::config::retry::RetryConfig;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{MetricDataQuery, ScanBy, StatusCode};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::sources::SourceError;
use crate::sources::aws::{AwsConfigs, AwsIdentity};

/// One `GetMetricData` request (one page of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The queries, with their call-local ids.
    pub queries: Vec<MetricDataQuery>,
    /// Start of the window (inclusive), aligned to the period.
    pub start: DateTime<Utc>,
    /// End of the window (exclusive), aligned to the period.
    pub end: DateTime<Utc>,
    /// The token of the page to read, after the first.
    pub next_token: Option<String>,
}

/// How CloudWatch finished one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// All the data.
    Complete,
    /// More data on the next page.
    PartialData,
    /// CloudWatch failed on this query.
    InternalError,
    /// The caller may not read this metric.
    Forbidden,
}

/// One time series of an answer page.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The query's call-local id.
    pub id: String,
    /// CloudWatch's label (tells apart the series of one SEARCH expression).
    pub label: Option<String>,
    /// How the query finished.
    pub status: Status,
    /// `(period start, value)`, in any order.
    pub points: Vec<(DateTime<Utc>, f64)>,
    /// CloudWatch's messages about the query.
    pub messages: Vec<String>,
}

/// One page of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The series on this page.
    pub series: Vec<Series>,
    /// Where the next page starts, if there is one.
    pub next_token: Option<String>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The error each query of the call reports.
    pub error: SourceError,
    /// CloudWatch refused the request as invalid: one of its queries is bad, the others may be
    /// fine.
    pub rejected: bool,
}

/// The future a call returns.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Page, CallError>> + Send + 'a>>;

/// Something that answers `GetMetricData`.
pub trait MetricDataApi: Send + Sync + 'static {
    /// Reads one page.
    fn get_metric_data<'a>(&'a self, request: &'a Request) -> CallFuture<'a>;
}

/// Makes the API of an identity (a real client, or a fake in tests).
pub type ApiFactory = Arc<dyn Fn(&AwsIdentity) -> Arc<dyn MetricDataApi> + Send + Sync>;

/// The factory of real clients, sharing `configs`.
pub fn sdk_factory(configs: Arc<AwsConfigs>) -> ApiFactory {
    Arc::new(move |identity: &AwsIdentity| {
        Arc::new(SdkApi {
            client: LazyClient::new(identity, &configs),
        }) as Arc<dyn MetricDataApi>
    })
}

/// A CloudWatch client built on first use from an identity's configuration, with the SDK's own
/// retries off: callers retry with jittered backoff and count every call.
pub struct LazyClient {
    identity: AwsIdentity,
    configs: Arc<AwsConfigs>,
    client: OnceCell<aws_sdk_cloudwatch::Client>,
}

impl LazyClient {
    /// The client of `identity`, built from `configs` when first used.
    pub fn new(identity: &AwsIdentity, configs: &Arc<AwsConfigs>) -> Self {
        Self {
            identity: identity.clone(),
            configs: configs.clone(),
            client: OnceCell::new(),
        }
    }

    /// A client configured elsewhere (an emulator with fixed credentials in tests).
    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> Self {
        Self {
            identity: AwsIdentity::default(),
            configs: Arc::new(AwsConfigs::new()),
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The client.
    pub async fn get(&self) -> &aws_sdk_cloudwatch::Client {
        self.client
            .get_or_init(|| async {
                let config = self.configs.get(&self.identity).await;
                let config = aws_sdk_cloudwatch::config::Builder::from(&config)
                    .retry_config(RetryConfig::disabled())
                    .build();
                aws_sdk_cloudwatch::Client::from_conf(config)
            })
            .await
    }
}

/// CloudWatch through `aws-sdk-cloudwatch`.
pub struct SdkApi {
    client: LazyClient,
}

impl SdkApi {
    /// CloudWatch through a client configured elsewhere (an emulator with fixed credentials in
    /// tests, a custom HTTP stack).
    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> Self {
        Self {
            client: LazyClient::from_client(client),
        }
    }

    async fn call(&self, request: &Request) -> Result<Page, CallError> {
        let output = self
            .client
            .get()
            .await
            .get_metric_data()
            .set_metric_data_queries(Some(request.queries.clone()))
            .start_time(AwsDateTime::from_secs(request.start.timestamp()))
            .end_time(AwsDateTime::from_secs(request.end.timestamp()))
            .scan_by(ScanBy::TimestampDescending)
            .set_next_token(request.next_token.clone())
            .send()
            .await
            .map_err(call_error)?;
        let series = output
            .metric_data_results()
            .iter()
            .map(|result| Series {
                id: result.id().unwrap_or_default().to_owned(),
                label: result.label().map(str::to_owned),
                status: match result.status_code() {
                    Some(StatusCode::PartialData) => Status::PartialData,
                    Some(StatusCode::InternalError) => Status::InternalError,
                    Some(StatusCode::Forbidden) => Status::Forbidden,
                    _ => Status::Complete,
                },
                points: result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .filter_map(|(at, value)| {
                        DateTime::from_timestamp(at.secs(), at.subsec_nanos()).map(|t| (t, *value))
                    })
                    .collect(),
                messages: result
                    .messages()
                    .iter()
                    .map(|m| {
                        format!(
                            "{}: {}",
                            m.code().unwrap_or_default(),
                            m.value().unwrap_or_default()
                        )
                    })
                    .collect(),
            })
            .collect();
        Ok(Page {
            series,
            next_token: output.next_token().map(str::to_owned),
        })
    }
}

impl MetricDataApi for SdkApi {
    fn get_metric_data<'a>(&'a self, request: &'a Request) -> CallFuture<'a> {
        Box::pin(self.call(request))
    }
}

/// Error codes of a request CloudWatch refused as invalid.
const REJECTED_CODES: [&str; 5] = [
    "InvalidParameterValue",
    "InvalidParameterCombination",
    "MissingParameter",
    "ValidationError",
    "InvalidParameterInput",
];

/// Maps an error code and message (which carries no credential) to a call error.
pub fn classify(code: Option<&str>, message: String) -> CallError {
    let code = code.unwrap_or_default();
    if code.contains("Throttl") || code == "RequestLimitExceeded" || code == "LimitExceeded" {
        CallError {
            error: SourceError::Throttled(message),
            rejected: false,
        }
    } else {
        CallError {
            error: SourceError::Failed(message),
            rejected: REJECTED_CODES.contains(&code),
        }
    }
}

/// Maps an SDK error to a call error.
pub fn call_error<E, R>(error: SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = crate::sources::aws::describe_error(&error);
    match &error {
        SdkError::TimeoutError(_) => CallError {
            error: SourceError::Failed(format!("timed out: {message}")),
            rejected: false,
        },
        SdkError::ServiceError(_) => classify(error.code(), message),
        _ => CallError {
            error: SourceError::Failed(message),
            rejected: false,
        },
    }
}
