//! A model of the Kubernetes HPA and of KEDA's activation, to replay decisions "on EKS".
//!
//! Rules, from the HPA documentation and the controller's `replica_calculator.go` /
//! `horizontal.go` (spec `ecs-semantics.md` C.1, C.2), each tested by a test of its name:
//! - Out of `[min, max]`, the HPA moves the replicas into range without reading metrics.
//! - An external `AverageValue` metric proposes `ceil(total / target)` replicas, a resource
//!   `Utilization` or an external `Value` metric `ceil(current * value / target)`, unless the
//!   usage ratio (`total / (target * current)`, `value / target`) is within the tolerance:
//!   then the replicas stay. The test depends on the Kubernetes version ([`ToleranceRule`]):
//!   up to 1.32 `|1 - ratio| <= tolerance`; from 1.33 (KEP-4951) `1 - down <= ratio <= 1 + up`.
//!   Both compare floats, so a ratio of exactly 1.1 (10 -> 11) scales on 1.32 (`1 - 11/10` is
//!   `-0.10000000000000009`) and is held on 1.33+ (`11/10 == 1.0 + 0.1`).
//! - The tolerance is the cluster's (`--horizontal-pod-autoscaler-tolerance`, 0.1) unless the
//!   HPA's `behavior.scaleUp.tolerance` / `scaleDown.tolerance` sets it: a Kubernetes quantity
//!   (an integer or a string such as `"0.05"` or `"50m"`), honoured only with the
//!   `HPAConfigurableTolerance` feature gate (from 1.33; on by default from 1.35): without it
//!   the API server drops the field ([`Cluster`]).
//! - Several metrics: the largest proposal wins. If a metric cannot be read, the HPA scales
//!   only up: when every metric fails, or the readable ones propose fewer replicas than the
//!   current, nothing changes and no recommendation is recorded.
//! - Stabilization: the recommendation is bounded by the smallest proposal of the scale-up
//!   window and the largest of the scale-down window (defaults 0 s and 300 s). The first sync
//!   of a new HPA records the current replicas as a recommendation (`recordInitialRecommendation`),
//!   so a scale-down window holds the replicas the HPA found for its length.
//! - Rate policies: the replicas at the start of a policy's period are the current replicas
//!   minus those added plus those removed within it: scale events of both directions count
//!   (kubernetes/kubernetes#109058). `Pods` allows `start + value` (`start - value`), `Percent`
//!   `ceil(start * (1 + value/100))` up and `floor(start * (1 - value/100))` down;
//!   `selectPolicy: Max` takes the policy allowing the biggest change, `Min` the smallest,
//!   `Disabled` none. Defaults: up max(100%, 4 pods) per 15 s, down 100% per 15 s.
//! - Order: stabilization, then rate policies, then clamping to `[min, max]`.
//! - KEDA: the HPA's minimum is `max(minReplicaCount, 1)`; from 0 KEDA scales to that minimum
//!   when a trigger is active (checked every `pollingInterval`), and back to 0 when no trigger
//!   has been active for `cooldownPeriod` (only with `minReplicaCount: 0`).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use crate::import::KubernetesVersion;

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
    pub tolerance: Option<Tolerance>,
}

/// A per-direction tolerance: a Kubernetes quantity (`resource.Quantity`), which the HPA API
/// and KEDA's CRD take as an integer or a string (`0`, `"0.05"`, `"50m"`, `"1e-2"`), never
/// negative.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance(f64);

impl Tolerance {
    /// The tolerance as a ratio (0.1 is 10%).
    pub fn value(self) -> f64 {
        self.0
    }
}

/// What a tolerance must look like, for error messages.
const TOLERANCE_FORM: &str = "expected a quantity >= 0 written as an integer or a string, \
     such as 0, \"0.05\" or \"50m\" (5%)";

impl FromStr for Tolerance {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_quantity(text)
            .filter(|value| *value >= 0.0 && value.is_finite())
            .map(Tolerance)
            .ok_or_else(|| format!("`{text}`: {TOLERANCE_FORM}"))
    }
}

/// A Kubernetes quantity: a signed decimal number and an optional suffix, binary (`Ki` ..
/// `Ei`), decimal (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or an exponent (`e3`, `E-2`).
fn parse_quantity(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let negative = text.starts_with('-');
    let split = unsigned
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(split);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return None;
    }
    let binary = |power: i32| Some((0, 2f64.powi(power)));
    let (exponent, factor) = match suffix {
        "" => (0, 1.0),
        "n" => (-9, 1.0),
        "u" => (-6, 1.0),
        "m" => (-3, 1.0),
        "k" => (3, 1.0),
        "M" => (6, 1.0),
        "G" => (9, 1.0),
        "T" => (12, 1.0),
        "P" => (15, 1.0),
        "E" => (18, 1.0),
        "Ki" => binary(10)?,
        "Mi" => binary(20)?,
        "Gi" => binary(30)?,
        "Ti" => binary(40)?,
        "Pi" => binary(50)?,
        "Ei" => binary(60)?,
        other => {
            let exponent = other.strip_prefix(['e', 'E'])?;
            let magnitude = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if magnitude.is_empty() || !magnitude.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (exponent.parse::<i32>().ok()?, 1.0)
        }
    };
    // Through the decimal text, so the value is the correctly rounded one.
    let value = format!("{number}e{exponent}").parse::<f64>().ok()? * factor;
    Some(if negative { -value } else { value })
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Tolerance;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(TOLERANCE_FORM)
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Tolerance, E> {
                Ok(Tolerance(value as f64))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Tolerance, E> {
                if value < 0 {
                    return Err(E::custom(format!("`{value}`: {TOLERANCE_FORM}")));
                }
                Ok(Tolerance(value as f64))
            }

            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Tolerance, E> {
                Err(E::custom(format!(
                    "`{value}`: the HPA and KEDA take a fractional tolerance only as a string: \
                     write \"{value}\""
                )))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Tolerance, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// How the HPA controller decides that a usage ratio is close enough to 1 to keep the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToleranceRule {
    /// Kubernetes <= 1.32 (`replica_calculator.go`): `|1 - ratio| <= tolerance`, in floats.
    Distance,
    /// Kubernetes >= 1.33 (KEP-4951, `Tolerances.isWithin`): `1 - down <= ratio <= 1 + up`.
    Band,
}

impl ToleranceRule {
    /// The rule of a Kubernetes version.
    pub fn of(version: KubernetesVersion) -> Self {
        if version >= FIRST_BAND_VERSION {
            Self::Band
        } else {
            Self::Distance
        }
    }

    /// Whether `ratio` is within the tolerances `up` and `down`.
    pub fn holds(self, ratio: f64, up: f64, down: f64) -> bool {
        match self {
            Self::Distance => {
                let tolerance = if ratio > 1.0 { up } else { down };
                (1.0 - ratio).abs() <= tolerance
            }
            Self::Band => (1.0 - down) <= ratio && ratio <= (1.0 + up),
        }
    }
}

/// Kubernetes 1.33: the per-direction test and the `tolerance` field (KEP-4951, alpha).
pub const FIRST_BAND_VERSION: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 33,
};

/// Kubernetes 1.35: `HPAConfigurableTolerance` on by default (beta).
pub const TOLERANCE_ON_BY_DEFAULT: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 35,
};

/// What the cluster's HPA controller does with tolerances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cluster {
    /// The Kubernetes version.
    pub version: KubernetesVersion,
    /// Whether `behavior.*.tolerance` is kept (the `HPAConfigurableTolerance` feature gate:
    /// off by default on 1.33 and 1.34, on from 1.35; the field does not exist before 1.33).
    pub configurable_tolerance: bool,
    /// The cluster-wide tolerance (`--horizontal-pod-autoscaler-tolerance`).
    pub default_tolerance: f64,
}

impl Cluster {
    /// A cluster of `version` with its default feature gates and the default tolerance.
    pub fn new(version: KubernetesVersion) -> Self {
        Self {
            version,
            configurable_tolerance: version >= TOLERANCE_ON_BY_DEFAULT,
            default_tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// The tolerance test of this version.
    pub fn rule(&self) -> ToleranceRule {
        ToleranceRule::of(self.version)
    }

    /// Whether the HPA keeps a `tolerance` of its behavior.
    pub fn keeps_tolerance_field(&self) -> bool {
        self.version >= FIRST_BAND_VERSION && self.configurable_tolerance
    }

    /// The HPA this cluster runs for `behavior` (its tolerances dropped when the cluster does
    /// not keep them).
    pub fn hpa(&self, min: u32, max: u32, behavior: &Behavior) -> Hpa {
        let keep = |rules: &Option<ScalingRules>| {
            rules.clone().map(|mut rules| {
                if !self.keeps_tolerance_field() {
                    rules.tolerance = None;
                }
                rules
            })
        };
        Hpa::new(
            min,
            max,
            Rules::scale_up(keep(&behavior.scale_up).as_ref(), self.default_tolerance),
            Rules::scale_down(keep(&behavior.scale_down).as_ref(), self.default_tolerance),
            self.rule(),
        )
    }
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
            tolerance: rules
                .and_then(|r| r.tolerance)
                .map_or(tolerance, Tolerance::value),
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
    /// The metric could not be read (its source failed, or it has no value yet).
    Unavailable,
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
    rule: ToleranceRule,
    synced: bool,
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
    /// When a change was swallowed: the replicas the first such reading asked for.
    pub held_back: Option<u32>,
}

impl Hpa {
    /// An HPA with these bounds and behavior, testing tolerances by `rule` (that of the
    /// cluster's Kubernetes version: [`ToleranceRule::of`], or [`Cluster::hpa`]).
    pub fn new(min: u32, max: u32, up: Rules, down: Rules, rule: ToleranceRule) -> Self {
        Self {
            min,
            max,
            up,
            down,
            rule,
            synced: false,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The replicas `reading` proposes from `current`, and whether tolerance swallowed a change
    /// (an unavailable reading proposes `current`).
    pub fn propose(&self, current: u32, reading: MetricReading) -> (u32, bool) {
        match self.wanted(current, reading) {
            None => (current, false),
            Some((wanted, true)) => (current, wanted != current),
            Some((wanted, false)) => (wanted, false),
        }
    }

    /// The replicas `reading` asks for from `current` before the tolerance, and whether its
    /// usage ratio is within the tolerance; `None` for an unavailable or non-finite reading.
    fn wanted(&self, current: u32, reading: MetricReading) -> Option<(u32, bool)> {
        let current_f = f64::from(current.max(1));
        let (ratio, wanted) = match reading {
            MetricReading::AverageValue { total, target } => {
                (total / (target * current_f), total / target)
            }
            MetricReading::Ratio { value, target } => (value / target, current_f * value / target),
            MetricReading::Unavailable => return None,
        };
        if !ratio.is_finite() || !wanted.is_finite() {
            return None;
        }
        let wanted = crate::engine::target_tracking::ceil_tolerant(wanted).max(0);
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        let within = self
            .rule
            .holds(ratio, self.up.tolerance, self.down.tolerance);
        Some((wanted, within))
    }

    /// One sync at `now` (seconds) with `current` replicas and the metrics' readings; without
    /// readings the replicas stay.
    pub fn sync(&mut self, now: i64, current: u32, readings: &[MetricReading]) -> Sync {
        if !self.synced {
            // `recordInitialRecommendation`: the first sync, whatever follows, remembers the
            // replicas the HPA found.
            self.synced = true;
            self.recommendations.push_back((now, current));
        }
        if current == 0 {
            // Scaled to zero: the HPA is idle and KEDA's activation owns 0 -> 1.
            return Sync {
                replicas: 0,
                lost_to_tolerance: false,
                held_back: None,
            };
        }
        if current > self.max || current < self.min {
            let replicas = current.clamp(self.min, self.max);
            self.record_event(now, current, replicas);
            return Sync {
                replicas,
                lost_to_tolerance: false,
                held_back: None,
            };
        }
        let mut proposal: Option<u32> = None;
        let mut held_back = None;
        let mut failed = false;
        for reading in readings {
            if *reading == MetricReading::Unavailable {
                failed = true;
                continue;
            }
            let (replicas, swallowed) = self.propose(current, *reading);
            if swallowed && held_back.is_none() {
                held_back = self.wanted(current, *reading).map(|(wanted, _)| wanted);
            }
            proposal = Some(proposal.map_or(replicas, |p| p.max(replicas)));
        }
        // `computeReplicasForMetrics`: with a metric that fails, only a scale-up goes ahead.
        let Some(proposal) = proposal.filter(|p| !failed || *p >= current) else {
            return Sync {
                replicas: current,
                lost_to_tolerance: false,
                held_back: None,
            };
        };
        let stabilized = self.stabilize(now, current, proposal);
        let limited = self.limit_rate(now, current, stabilized);
        let replicas = limited.clamp(self.min, self.max);
        self.record_event(now, current, replicas);
        Sync {
            replicas,
            lost_to_tolerance: held_back.is_some() && replicas == current,
            held_back: held_back.filter(|_| replicas == current),
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
        // The replicas at the start of a period: scale-ups and scale-downs within it both count
        // (kubernetes/kubernetes#109058).
        let period_start = |period: u32| -> i64 {
            current_i
                - self
                    .events
                    .iter()
                    .filter(|(t, _)| now - t < i64::from(period))
                    .map(|(_, delta)| delta)
                    .sum::<i64>()
        };
        if desired > current {
            let limits = self.up.policies.iter().map(|policy| {
                let start = period_start(policy.period_seconds);
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
                let start = period_start(policy.period_seconds);
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
