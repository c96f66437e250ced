//! KEDA's `externalscaler.ExternalScaler` service over the registry.
//!
//! Every handler resolves the trigger's policy set and reads its latest verdict: no handler
//! waits on a source, holds a lock across an await, or allocates beyond its response.
//! - `GetMetricSpec`: one metric per policy set, target 1 (`targetSizeFloat` and `targetSize`).
//! - `GetMetrics`: the desired capacity D (`metricValueFloat` and `metricValue`); with
//!   `metricType: AverageValue` the HPA computes `ceil(D / 1) = D` replicas.
//! - `IsActive`: D > 0.
//! - `StreamIsActive`: the activity now, then every change of it.
//! - `StreamMetricSpec`: the spec at once; the stream stays open until shutdown.
//!
//! Errors: unknown policy set `NOT_FOUND`; bad metadata or inline policy `INVALID_ARGUMENT`;
//! no decision possible (capacity unknown, stale data, not evaluated yet) `UNAVAILABLE`, so
//! KEDA's `fallback` applies; a limit reached (policy sets, open streams) `RESOURCE_EXHAUSTED`.
//! An error never becomes D = 0.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};

use crate::controller::Verdict;
use crate::registry::{PolicySetHandle, Registry, ResolveError};
use crate::telemetry::GrpcLabels;

/// Code generated from `proto/externalscaler.proto`.
#[allow(missing_docs, clippy::all)] // generated
pub mod proto {
    tonic::include_proto!("externalscaler");
}

use proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};

/// A stream of responses to KEDA.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How many streams (`StreamIsActive`, `StreamMetricSpec`) are open at once at most, unless
/// told otherwise.
pub const DEFAULT_MAX_STREAMS: usize = 10_000;

/// The external scaler service.
#[derive(Clone)]
pub struct ScalerService {
    registry: Arc<Registry>,
    shutdown: watch::Receiver<bool>,
    /// One permit per open stream.
    streams: Arc<Semaphore>,
    max_streams: usize,
}

impl ScalerService {
    /// A service over `registry`; open streams end when `shutdown` becomes true.
    pub fn new(registry: Arc<Registry>, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            registry,
            shutdown,
            streams: Arc::new(Semaphore::new(DEFAULT_MAX_STREAMS)),
            max_streams: DEFAULT_MAX_STREAMS,
        }
    }

    /// Refuses a stream with `RESOURCE_EXHAUSTED` while `limit` streams are open.
    pub fn with_max_streams(mut self, limit: usize) -> Self {
        self.streams = Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS)));
        self.max_streams = limit;
        self
    }

    /// A permit for one more open stream, held by the stream until it ends.
    fn stream_permit(&self, method: &'static str) -> Result<OwnedSemaphorePermit, Status> {
        self.streams.clone().try_acquire_owned().map_err(|_| {
            let status = Status::resource_exhausted(format!(
                "the limit of {} open streams (--max-stream-subscribers) is reached",
                self.max_streams
            ));
            self.count(method, status.code());
            status
        })
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> ExternalScalerServer<Self> {
        ExternalScalerServer::new(self)
    }

    fn resolve(
        &self,
        method: &'static str,
        scaled_object: Option<&ScaledObjectRef>,
    ) -> Result<PolicySetHandle, Status> {
        let result = match scaled_object {
            None => Err(Status::invalid_argument("scaledObjectRef is required")),
            Some(r) => self
                .registry
                .resolve(&r.namespace, &r.name, &r.scaler_metadata)
                .map_err(status_of),
        };
        if let Err(status) = &result {
            self.count(method, status.code());
        }
        result
    }

    fn count(&self, method: &'static str, code: tonic::Code) {
        self.registry
            .metrics()
            .grpc_requests
            .get_or_create(&GrpcLabels {
                method,
                code: code_label(code),
            })
            .inc();
    }

    fn answer<T>(
        &self,
        method: &'static str,
        result: Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.count(method, code);
        result.map(Response::new)
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut shutdown = self.shutdown.clone();
        async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        }
    }
}

fn status_of(error: ResolveError) -> Status {
    match error {
        ResolveError::NotFound { .. } => Status::not_found(error.to_string()),
        ResolveError::Metadata(_)
        | ResolveError::InlinePolicy(_)
        | ResolveError::InlineConflict(_)
        | ResolveError::InlineTriggerConflict { .. } => Status::invalid_argument(error.to_string()),
        ResolveError::TooManyPolicySets { .. } => Status::resource_exhausted(error.to_string()),
    }
}

fn code_label(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "Ok",
        tonic::Code::InvalidArgument => "InvalidArgument",
        tonic::Code::NotFound => "NotFound",
        tonic::Code::Unavailable => "Unavailable",
        tonic::Code::ResourceExhausted => "ResourceExhausted",
        _ => "Other",
    }
}

/// The desired capacity of a verdict, or the status KEDA should see instead.
fn desired(handle: &PolicySetHandle, verdict: &Verdict) -> Result<u32, Status> {
    match verdict {
        Verdict::Decided(decision) => Ok(decision.desired),
        Verdict::Pending => Err(Status::unavailable(format!(
            "policy set {} has not been evaluated yet",
            handle.set.id
        ))),
        Verdict::Unavailable { reason, .. } => Err(Status::unavailable(format!(
            "policy set {}: {reason}",
            handle.set.id
        ))),
    }
}

fn metric_spec(handle: &PolicySetHandle) -> GetMetricSpecResponse {
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec {
            metric_name: handle.metric_name.to_string(),
            #[allow(deprecated)] // older KEDA versions read only the integer field
            target_size: 1,
            target_size_float: 1.0,
        }],
    }
}

#[tonic::async_trait]
impl ExternalScaler for ScalerService {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let handle = self.resolve("IsActive", Some(request.get_ref()))?;
        let result =
            desired(&handle, &handle.verdict()).map(|d| IsActiveResponse { result: d > 0 });
        self.answer("IsActive", result)
    }

    type StreamIsActiveStream = ResponseStream<IsActiveResponse>;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let handle = self.resolve("StreamIsActive", Some(request.get_ref()))?;
        let permit = self.stream_permit("StreamIsActive")?;
        let mut last: Option<bool> = None;
        let changes = WatchStream::new(handle.subscribe())
            .filter_map(move |verdict| {
                // Only decisions carry an activity; while undecided KEDA keeps polling IsActive.
                let active = verdict.decision().map(|d| d.desired > 0);
                let changed = active.is_some() && active != last;
                if changed {
                    last = active;
                }
                std::future::ready(
                    active
                        .filter(|_| changed)
                        .map(|result| Ok(IsActiveResponse { result })),
                )
            })
            .take_until(self.shutdown())
            .map(move |item| {
                let _open = &permit; // released when the stream ends or the client leaves
                item
            });
        self.answer(
            "StreamIsActive",
            Ok(Box::pin(changes) as Self::StreamIsActiveStream),
        )
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let handle = self.resolve("GetMetricSpec", Some(request.get_ref()))?;
        self.answer("GetMetricSpec", Ok(metric_spec(&handle)))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let request = request.into_inner();
        let handle = self.resolve("GetMetrics", request.scaled_object_ref.as_ref())?;
        let result = desired(&handle, &handle.verdict()).map(|d| {
            let metric_name = if request.metric_name.is_empty() {
                handle.metric_name.to_string()
            } else {
                request.metric_name
            };
            GetMetricsResponse {
                metric_values: vec![MetricValue {
                    metric_name,
                    #[allow(deprecated)] // older KEDA versions read only the integer field
                    metric_value: i64::from(d),
                    metric_value_float: f64::from(d),
                }],
            }
        });
        self.answer("GetMetrics", result)
    }

    type StreamMetricSpecStream = ResponseStream<GetMetricSpecResponse>;

    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let handle = self.resolve("StreamMetricSpec", Some(request.get_ref()))?;
        let permit = self.stream_permit("StreamMetricSpec")?;
        // The target is always 1, so the spec never changes after the first message.
        let specs = futures_util::stream::once(std::future::ready(Ok(metric_spec(&handle))))
            .chain(futures_util::stream::pending())
            .take_until(self.shutdown())
            .map(move |item| {
                let _open = &permit; // released when the stream ends or the client leaves
                item
            });
        self.answer(
            "StreamMetricSpec",
            Ok(Box::pin(specs) as Self::StreamMetricSpecStream),
        )
    }
}
