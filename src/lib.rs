//! ecs-scaler: a KEDA external scaler that reproduces Amazon ECS service auto scaling.
//!
//! ECS scaling rules (target tracking, step scaling on CloudWatch alarms, scheduled actions,
//! cooldowns, suspension) cannot be expressed as HPA ratios. So the scaler computes the desired
//! capacity D itself, exactly as Application Auto Scaling would, and reports it to KEDA as one
//! metric with target 1: the HPA, configured to pass it through, sets the replicas to D.
//!
//! How the pieces fit, from data to answer (each uses only those below it; [`id`] and
//! [`alarm_model`] are the shared vocabulary at the bottom):
//! - [`sources`]: datapoints arrive (pushed over HTTP, polled from SQS and Prometheus, fetched in
//!   batches from CloudWatch) into shared feeds, one per distinct source ([`sources::hub`]).
//! - [`policy`]: `ScalingPolicySet` documents, validated with every error's field path, compiled
//!   into index-resolved form; inline trigger metadata compiles into the same model.
//! - [`engine`]: the hot path. Pure, synchronous, allocation-free: alarms (M of N, missing
//!   data), step and target tracking policies, cooldowns, schedules, combination.
//! - [`controller`]: one time-driven state machine per policy set: histories, ticks,
//!   [`capacity`] views, and its latest [`controller::Verdict`]; one driver task runs them all.
//! - [`registry`] and [`store`]: which policy sets are served (files, reloaded on change, or
//!   inline metadata) and how a trigger finds its own; CloudWatch alarms a document names are
//!   read with `DescribeAlarms` and resolved into it before it is served.
//! - [`grpc`]: KEDA's `ExternalScaler` API, reading verdicts only; [`http`]: push endpoint,
//!   decisions, `/healthz`, `/metrics` ([`telemetry`]); [`push_auth`]: who may push (a token
//!   file, or in a cluster TokenReview and SubjectAccessReview) and how often.
//! - [`kubernetes`]: in a cluster, `ScalingPolicySet` resources (the CRD is generated from
//!   [`policy::document`]) and ScaledObjects watched into the registry, scale targets watched
//!   for the current capacity ([`capacity::kube`]), status written back; [`doctor`] checks
//!   that the ScaledObjects let the HPA set the replicas to D (`Configured`, `ecs-scaler doctor`).
//! - [`simulate`]: replays a metric trace through the engine, without servers, and compares it
//!   with KEDA + HPA on EKS; [`import`] turns ECS scaling policies into policy sets and
//!   ScaledObjects; [`cli`] and [`serve`] wire the binary.

pub mod alarm_model;
pub mod capacity;
pub mod cli;
pub mod clock;
pub mod controller;
pub mod doctor;
pub mod engine;
pub mod grpc;
pub mod http;
pub mod id;
pub mod import;
pub mod kubernetes;
pub mod policy;
pub mod push_auth;
pub mod registry;
pub mod serve;
pub mod simulate;
pub mod sources;
pub mod store;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod text;
