//! A model of the Kubernetes HPA and of KEDA's activation, to replay decisions "on EKS".
//!
//! Rules, from the HPA documentation and `replica_calculator.go` / `horizontal.go`
//! (spec `ecs-semantics.md` C.1, C.2):
//! - Out of `[min, max]`, the HPA moves the replicas into range without reading metrics.
//! - An external `AverageValue` metric proposes `ceil(total / target)` replicas, unless
//!   `|total / (target * current) - 1| <= tolerance` (inclusive): then it keeps `current`.
//!   A `Utilization` or `Value` metric proposes `ceil(current * value / target)`, same tolerance.
//!   The tolerance is per direction (`behavior.scaleUp.tolerance` / `scaleDown.tolerance`),
//!   default 0.1. Several metrics: the largest proposal wins.
//! - Stabilization: the recommendation is bounded by the smallest proposal of the scale-up
//!   window and the largest of the scale-down window (defaults 0 s and 300 s).
//! - Rate policies: replicas added (removed) within each policy's period are counted back;
//!   `Pods` allows `start + value`, `Percent` allows `ceil(start * (1 + value/100))` up and
//!   `floor(start * (1 - value/100))` down; `selectPolicy: Max` takes the policy allowing the
//!   biggest change, `Min` the smallest, `Disabled` none. Defaults: up max(100%, 4 pods) per 15 s,
//!   down 100% per 15 s.
//! - Order: stabilization, then rate policies, then clamping to `[min, max]`.
//! - KEDA: the HPA's minimum is `max(minReplicaCount, 1)`; from 0 KEDA scales to that minimum
//!   when a trigger is active (checked every `pollingInterval`), and back to 0 when no trigger
//!   has been active for `cooldownPeriod` (only with `minReplicaCount: 0`).

use std::collections::VecDeque;

use serde::Deserialize;

/// A rate policy of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePolicy {
    /// `Pods` or `Percent`.
    #[serde(rename = "type")]
    pub kind: RatePolicyKind,
    /// Pods, or percent of the replicas at the start of the period.
    pub value: u32,
    /// Length of the period, in seconds.
    pub period_seconds: u32,
}

/// The two kinds of HPA rate policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RatePolicyKind {
    /// A number of pods.
    Pods,
    /// A percentage of the replicas.
    Percent,
}

/// How rate policies combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SelectPolicy {
    /// The policy that allows the biggest change.
    #[default]
    Max,
    /// The policy that allows the smallest change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// `behavior.scaleUp` or `behavior.scaleDown`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// Stabilization window, in seconds.
    pub stabilization_window_seconds: Option<u32>,
    /// How policies combine.
    #[serde(default)]
    pub select_policy: SelectPolicy,
    /// The rate policies.
    pub policies: Option<Vec<RatePolicy>>,
    /// Tolerance of this direction (KEP-4951).
    pub tolerance: Option<f64>,
}

/// `advanced.horizontalPodAutoscalerConfig.behavior`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Behavior {
    /// Scale-up rules.
    pub scale_up: Option<ScalingRules>,
    /// Scale-down rules.
    pub scale_down: Option<ScalingRules>,
}

/// The effective rules of one direction, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Stabilization window in seconds.
    pub stabilization_seconds: i64,
    /// How policies combine.
    pub select: SelectPolicy,
    /// Rate policies.
    pub policies: Vec<RatePolicy>,
    /// Tolerance.
    pub tolerance: f64,
}

/// The HPA's default tolerance (cluster flag `--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;

impl Rules {
    /// Scale-up rules from `rules`, with the HPA's defaults for what is absent.
    pub fn scale_up(rules: Option<&ScalingRules>, default_tolerance: f64) -> Self {
        Self::with_defaults(
            rules,
            0,
            vec![
                RatePolicy {
                    kind: RatePolicyKind::Percent,
                    value: 100,
                    period_seconds: 15,
                },
                RatePolicy {
                    kind: RatePolicyKind::Pods,
                    value: 4,
                    period_seconds: 15,
                },
            ],
            default_tolerance,
        )
    }

    /// Scale-down rules from `rules`, with the HPA's defaults for what is absent.
    pub fn scale_down(rules: Option<&ScalingRules>, default_tolerance: f64) -> Self {
        Self::with_defaults(
            rules,
            300,
            vec![RatePolicy {
                kind: RatePolicyKind::Percent,
                value: 100,
                period_seconds: 15,
            }],
            default_tolerance,
        )
    }

    fn with_defaults(
        rules: Option<&ScalingRules>,
        stabilization: u32,
        policies: Vec<RatePolicy>,
        tolerance: f64,
    ) -> Self {
        Self {
            stabilization_seconds: i64::from(
                rules
                    .and_then(|r| r.stabilization_window_seconds)
                    .unwrap_or(stabilization),
            ),
            select: rules.map(|r| r.select_policy).unwrap_or_default(),
            policies: rules.and_then(|r| r.policies.clone()).unwrap_or(policies),
            tolerance: rules.and_then(|r| r.tolerance).unwrap_or(tolerance),
        }
    }
}

/// What the HPA reads from one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricReading {
    /// An external metric with `AverageValue` target: the total over all pods.
    AverageValue {
        /// The metric's total.
        total: f64,
        /// The target per pod.
        target: f64,
    },
    /// A resource `Utilization` or an external `Value` target: the value to keep at `target`.
    Ratio {
        /// The metric.
        value: f64,
        /// The target.
        target: f64,
    },
}

/// The HPA of one workload.
#[derive(Debug, Clone)]
pub struct Hpa {
    /// Lowest replicas.
    pub min: u32,
    /// Highest replicas.
    pub max: u32,
    up: Rules,
    down: Rules,
    recommendations: VecDeque<(i64, u32)>,
    events: VecDeque<(i64, i64)>,
}

/// What one HPA sync concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sync {
    /// The new replica count.
    pub replicas: u32,
    /// The metrics proposed a change that the tolerance swallowed.
    pub lost_to_tolerance: bool,
}

impl Hpa {
    /// An HPA with these bounds and behavior.
    pub fn new(min: u32, max: u32, up: Rules, down: Rules) -> Self {
        Self {
            min,
            max,
            up,
            down,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The replicas `reading` proposes from `current`, and whether tolerance swallowed a change.
    pub fn propose(&self, current: u32, reading: MetricReading) -> (u32, bool) {
        let current_f = f64::from(current.max(1));
        let (ratio, wanted) = match reading {
            MetricReading::AverageValue { total, target } => {
                (total / (target * current_f), total / target)
            }
            MetricReading::Ratio { value, target } => (value / target, current_f * value / target),
        };
        if !ratio.is_finite() || !wanted.is_finite() {
            return (current, false);
        }
        let tolerance = if ratio > 1.0 {
            self.up.tolerance
        } else {
            self.down.tolerance
        };
        let wanted = crate::engine::target_tracking::ceil_tolerant(wanted).max(0);
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        if (1.0 - ratio).abs() <= tolerance {
            (current, wanted != current)
        } else {
            (wanted, false)
        }
    }

    /// One sync at `now` (seconds) with `current` replicas and the metrics' readings; without
    /// readings the replicas stay.
    pub fn sync(&mut self, now: i64, current: u32, readings: &[MetricReading]) -> Sync {
        if current == 0 {
            // Scaled to zero: the HPA is idle and KEDA's activation owns 0 -> 1.
            return Sync {
                replicas: 0,
                lost_to_tolerance: false,
            };
        }
        if current > self.max || current < self.min {
            let replicas = current.clamp(self.min, self.max);
            self.record_event(now, current, replicas);
            return Sync {
                replicas,
                lost_to_tolerance: false,
            };
        }
        let mut proposal: Option<u32> = None;
        let mut lost = false;
        for reading in readings {
            let (replicas, swallowed) = self.propose(current, *reading);
            lost |= swallowed;
            proposal = Some(proposal.map_or(replicas, |p| p.max(replicas)));
        }
        let Some(proposal) = proposal else {
            return Sync {
                replicas: current,
                lost_to_tolerance: false,
            };
        };
        let stabilized = self.stabilize(now, current, proposal);
        let limited = self.limit_rate(now, current, stabilized);
        let replicas = limited.clamp(self.min, self.max);
        self.record_event(now, current, replicas);
        Sync {
            replicas,
            lost_to_tolerance: lost && replicas == current,
        }
    }

    fn stabilize(&mut self, now: i64, current: u32, proposal: u32) -> u32 {
        let keep = self
            .up
            .stabilization_seconds
            .max(self.down.stabilization_seconds);
        self.recommendations.retain(|(t, _)| now - t <= keep);
        let mut up = proposal;
        let mut down = proposal;
        for (t, replicas) in &self.recommendations {
            if now - t < self.up.stabilization_seconds {
                up = up.min(*replicas);
            }
            if now - t < self.down.stabilization_seconds {
                down = down.max(*replicas);
            }
        }
        self.recommendations.push_back((now, proposal));
        current.max(up).min(down)
    }

    fn limit_rate(&mut self, now: i64, current: u32, desired: u32) -> u32 {
        let longest = self
            .up
            .policies
            .iter()
            .chain(&self.down.policies)
            .map(|p| i64::from(p.period_seconds))
            .max()
            .unwrap_or(0);
        self.events.retain(|(t, _)| now - t < longest);
        let current_i = i64::from(current);
        let changed_within = |period: u32, sign: i64| -> i64 {
            self.events
                .iter()
                .filter(|(t, delta)| now - t < i64::from(period) && delta.signum() == sign)
                .map(|(_, delta)| delta.abs())
                .sum()
        };
        if desired > current {
            let limits = self.up.policies.iter().map(|policy| {
                let start = current_i - changed_within(policy.period_seconds, 1);
                match policy.kind {
                    RatePolicyKind::Pods => start + i64::from(policy.value),
                    RatePolicyKind::Percent => {
                        (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
                    }
                }
            });
            let limit = match self.up.select {
                SelectPolicy::Max => limits.max(),
                SelectPolicy::Min => limits.min(),
                SelectPolicy::Disabled => Some(current_i),
            }
            .unwrap_or(current_i)
            .max(current_i);
            u32::try_from(i64::from(desired).min(limit)).unwrap_or(desired)
        } else if desired < current {
            let limits = self.down.policies.iter().map(|policy| {
                let start = current_i + changed_within(policy.period_seconds, -1);
                match policy.kind {
                    RatePolicyKind::Pods => start - i64::from(policy.value),
                    RatePolicyKind::Percent => {
                        (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64
                    }
                }
            });
            let limit = match self.down.select {
                SelectPolicy::Max => limits.min(),
                SelectPolicy::Min => limits.max(),
                SelectPolicy::Disabled => Some(current_i),
            }
            .unwrap_or(current_i)
            .min(current_i);
            u32::try_from(i64::from(desired).max(limit)).unwrap_or(desired)
        } else {
            desired
        }
    }

    fn record_event(&mut self, now: i64, from: u32, to: u32) {
        if from != to {
            self.events
                .push_back((now, i64::from(to) - i64::from(from)));
        }
    }
}

/// KEDA's activation around an HPA: 0 <-> min, driven by `IsActive`.
#[derive(Debug, Clone)]
pub struct Activation {
    /// `minReplicaCount`.
    pub min_replica_count: u32,
    /// `pollingInterval`, seconds.
    pub polling_interval: i64,
    /// `cooldownPeriod`, seconds.
    pub cooldown_period: i64,
    last_active: Option<i64>,
    next_poll: i64,
}

impl Activation {
    /// KEDA's activation with these settings, first polling at `start`.
    pub fn new(
        min_replica_count: u32,
        polling_interval: i64,
        cooldown_period: i64,
        start: i64,
    ) -> Self {
        Self {
            min_replica_count,
            polling_interval: polling_interval.max(1),
            cooldown_period,
            last_active: None,
            next_poll: start,
        }
    }

    /// The replicas after KEDA's check at `now` (only at polling instants), given whether a
    /// trigger is active and the current replicas.
    pub fn check(&mut self, now: i64, active: bool, replicas: u32, hpa_min: u32) -> u32 {
        if now < self.next_poll {
            return replicas;
        }
        self.next_poll = now + self.polling_interval;
        if active {
            self.last_active = Some(now);
            if replicas == 0 {
                return hpa_min.max(1);
            }
            return replicas;
        }
        let idle_long_enough = self
            .last_active
            .is_none_or(|t| now - t >= self.cooldown_period);
        if self.min_replica_count == 0 && replicas > 0 && idle_long_enough {
            return 0;
        }
        replicas
    }
}

#[cfg(test)]
mod tests;
