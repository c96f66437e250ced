//! One status writer at a time: a `coordination.k8s.io/v1` Lease.
//!
//! Each replica of the scaler tries, before writing statuses, to hold the Lease: it creates it
//! when absent, renews it when it holds it, and takes it over when the holder has not renewed it
//! for `leaseDurationSeconds`. Every write carries the `resourceVersion` read, so two replicas
//! racing for it cannot both win (the loser gets 409 Conflict). Only the holder writes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

/// The name of the Lease.
pub const LEASE_NAME: &str = "ecs-scaler-status";

/// A Lease this replica competes for.
#[derive(Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    identity: String,
    duration: Duration,
}

fn micro(at: DateTime<Utc>) -> MicroTime {
    MicroTime(
        k8s_openapi::jiff::Timestamp::from_microsecond(at.timestamp_micros())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

impl LeaseLock {
    /// The Lease [`LEASE_NAME`] in `namespace`, competed for as `identity` (the pod name).
    pub fn new(client: Client, namespace: &str, identity: &str, duration: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            identity: identity.to_owned(),
            duration,
        }
    }

    /// Acquires or renews the Lease at `now`; whether this replica holds it.
    pub async fn try_hold(&self, now: DateTime<Utc>) -> kube::Result<bool> {
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = super::bounded(self.api.get_opt(LEASE_NAME)).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(LEASE_NAME.to_owned()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    acquire_time: Some(micro(now)),
                    renew_time: Some(micro(now)),
                    lease_duration_seconds: Some(seconds),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return conflict_is_false(
                super::bounded(self.api.create(&PostParams::default(), &lease)).await,
            );
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(seconds));
            renewed.0.as_second() + duration < now.timestamp()
        });
        if !mine && !expired && spec.holder_identity.is_some() {
            return Ok(false);
        }
        if !mine {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(micro(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.renew_time = Some(micro(now));
        spec.lease_duration_seconds = Some(seconds);
        let result =
            super::bounded(self.api.replace(LEASE_NAME, &PostParams::default(), &lease)).await;
        conflict_is_false(result)
    }
}

fn conflict_is_false(result: kube::Result<Lease>) -> kube::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests;
