//! ecs-scaler: a KEDA external scaler that reproduces Amazon ECS service auto scaling.

pub mod engine;
pub mod policy;
