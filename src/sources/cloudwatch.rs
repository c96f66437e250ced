//! CloudWatch metrics (KEDA's `aws-cloudwatch` scaler), fetched in batches.
//!
//! A `cloudwatch` metric is one `GetMetricData` query: a metric statistic (namespace, metric
//! name, dimensions, statistic, unit) or a metric math `expression` over named inputs
//! (`metrics: {id: {namespace, metricName, dimensions, stat}}`). Each distinct query is one
//! source with its own feed, shared by every policy set that names it.
//!
//! Queries are not polled one by one: every query that shares an AWS identity (region,
//! endpoint, role), a period and an end-time offset is fetched by one batcher task
//! ([`batcher`]), in `GetMetricData` calls of up to 500 queries, once per period, aligned to the
//! period. The values arrive as *period values*: CloudWatch already aggregated them, so each
//! replaces its period in the policy sets' histories instead of adding a sample to it. A metric's
//! alarms evaluate a period once CloudWatch's publishing delay (`endTimeOffsetSeconds`) and the
//! fetch have passed ([`CloudWatchSpec::delay_seconds`]).

pub mod alarms;
pub mod api;
pub mod batcher;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::aws::AwsIdentity;

/// Seconds after a period's end-time offset by which its fetch has normally completed: the
/// batcher's start splay plus the calls' latency. Alarms wait this long too.
pub const FETCH_GRACE_SECONDS: u32 = 20;

/// A CloudWatch metric query as a metric source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchSpec {
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
    /// Metric namespace, e.g. `AWS/SQS` (with `metricName`; not with `expression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Metric name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Dimensions, name to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// Statistic: `Average` (default), `Sum`, `Minimum`, `Maximum`, `SampleCount`, `IQM`, or an
    /// extended statistic such as `p99`, `tm90`, `TM(10%:90%)`, `PR(:300)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Unit filter, e.g. `Count` (default: any unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Metric math over `metrics` (instead of `namespace` and `metricName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The expression's inputs, by id (lower-case letter first, then letters, digits, `_`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, MetricStatSpec>,
    /// Period in seconds: 10, 20, 30 or a multiple of 60 (default 60).
    #[serde(default = "sixty")]
    pub period: u32,
    /// The newest period fetched ends this many seconds before now, rounded down to the period
    /// (default 60: CloudWatch's publishing delay).
    #[serde(default = "sixty")]
    pub end_time_offset_seconds: u32,
    /// Seconds without a successful fetch before the policy set is unavailable (default 3
    /// periods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after_seconds: Option<u32>,
}

/// One input of a metric math expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricStatSpec {
    /// Metric namespace.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions, name to value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// Statistic (default `Average`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Unit filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

fn sixty() -> u32 {
    60
}

/// The statistic when none is given.
pub const DEFAULT_STAT: &str = "Average";

impl CloudWatchSpec {
    /// Who calls CloudWatch.
    pub fn identity(&self) -> AwsIdentity {
        AwsIdentity {
            aws_region: self.aws_region.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// The query, as fetched.
    pub fn query(&self) -> Query {
        match &self.expression {
            Some(expression) => Query::Expression {
                expression: expression.clone(),
                inputs: self
                    .metrics
                    .iter()
                    .map(|(id, input)| (id.clone(), input.stat_query()))
                    .collect(),
            },
            None => Query::Stat(StatQuery {
                namespace: self.namespace.clone().unwrap_or_default(),
                metric_name: self.metric_name.clone().unwrap_or_default(),
                dimensions: self.dimensions.clone(),
                stat: self.stat.clone().unwrap_or_else(|| DEFAULT_STAT.to_owned()),
                unit: self.unit.clone(),
            }),
        }
    }

    /// The key that makes identical queries share one feed.
    pub fn key(&self) -> CloudWatchKey {
        CloudWatchKey {
            batch: BatchKey {
                identity: self.identity(),
                period: self.period,
                end_time_offset_seconds: self.end_time_offset_seconds,
            },
            query: self.query(),
        }
    }

    /// How long after a period ends its value is normally delivered: the end-time offset and
    /// the fetch.
    pub fn delay_seconds(&self) -> u32 {
        self.end_time_offset_seconds
            .saturating_add(FETCH_GRACE_SECONDS)
    }

    /// Seconds without a successful fetch before the policy set is unavailable.
    pub fn stale_after_seconds(&self) -> u32 {
        self.stale_after_seconds
            .unwrap_or(self.period.saturating_mul(3))
    }

    /// Problems with the spec, as `(field, message)` pairs (the period is checked by the
    /// caller, as for every metric).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| problems.push((field.to_owned(), message));
        if self.end_time_offset_seconds > MAX_END_TIME_OFFSET_SECONDS {
            problem(
                "endTimeOffsetSeconds",
                format!(
                    "{} is more than {MAX_END_TIME_OFFSET_SECONDS} (an hour); CloudWatch publishes \
                     within minutes",
                    self.end_time_offset_seconds
                ),
            );
        }
        match &self.expression {
            None => {
                if !self.metrics.is_empty() {
                    problem(
                        "metrics",
                        "inputs need an `expression` that uses them".to_owned(),
                    );
                }
                check_stat_fields(
                    self.namespace.as_deref(),
                    self.metric_name.as_deref(),
                    &self.dimensions,
                    self.stat.as_deref(),
                    self.unit.as_deref(),
                    "",
                    &mut problem,
                );
            }
            Some(expression) => {
                for (field, set) in [
                    ("namespace", self.namespace.is_some()),
                    ("metricName", self.metric_name.is_some()),
                    ("dimensions", !self.dimensions.is_empty()),
                    ("stat", self.stat.is_some()),
                    ("unit", self.unit.is_some()),
                ] {
                    if set {
                        problem(
                            field,
                            "not with `expression`: set it on the inputs under `metrics`"
                                .to_owned(),
                        );
                    }
                }
                if expression.trim().is_empty() {
                    problem("expression", "must not be empty".to_owned());
                } else if expression.len() > 2048 {
                    problem(
                        "expression",
                        "is longer than CloudWatch's 2048 characters".to_owned(),
                    );
                }
                if self.metrics.len() > MAX_INPUTS {
                    problem(
                        "metrics",
                        format!("at most {MAX_INPUTS} inputs fit in one GetMetricData call"),
                    );
                }
                for (id, input) in &self.metrics {
                    if !is_valid_id(id) {
                        problem(
                            &format!("metrics.{id}"),
                            format!(
                                "`{id}` is not a valid id: start with a lower-case letter, then \
                                 letters, digits or `_`"
                            ),
                        );
                    }
                    check_stat_fields(
                        Some(&input.namespace),
                        Some(&input.metric_name),
                        &input.dimensions,
                        input.stat.as_deref(),
                        input.unit.as_deref(),
                        &format!("metrics.{id}."),
                        &mut problem,
                    );
                }
            }
        }
        problems
    }
}

impl MetricStatSpec {
    fn stat_query(&self) -> StatQuery {
        StatQuery {
            namespace: self.namespace.clone(),
            metric_name: self.metric_name.clone(),
            dimensions: self.dimensions.clone(),
            stat: self.stat.clone().unwrap_or_else(|| DEFAULT_STAT.to_owned()),
            unit: self.unit.clone(),
        }
    }
}

/// The longest end-time offset accepted (its periods are kept in every history meanwhile).
pub const MAX_END_TIME_OFFSET_SECONDS: u32 = 3600;
/// CloudWatch's limit on queries per `GetMetricData` call (an expression's inputs count).
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// The most inputs an expression may have (it and its inputs must fit in one call).
pub const MAX_INPUTS: usize = MAX_QUERIES_PER_CALL - 1;
/// CloudWatch's limit on dimensions per metric.
pub const MAX_DIMENSIONS: usize = 30;

fn check_stat_fields(
    namespace: Option<&str>,
    metric_name: Option<&str>,
    dimensions: &BTreeMap<String, String>,
    stat: Option<&str>,
    unit: Option<&str>,
    prefix: &str,
    problem: &mut impl FnMut(&str, String),
) {
    if namespace.is_none_or(|n| n.trim().is_empty()) {
        problem(
            &format!("{prefix}namespace"),
            "required (or an `expression`), e.g. `AWS/SQS`".to_owned(),
        );
    }
    if metric_name.is_none_or(|n| n.trim().is_empty()) {
        problem(
            &format!("{prefix}metricName"),
            "required (or an `expression`)".to_owned(),
        );
    }
    if dimensions.len() > MAX_DIMENSIONS {
        problem(
            &format!("{prefix}dimensions"),
            format!("at most {MAX_DIMENSIONS} dimensions"),
        );
    }
    for (name, value) in dimensions {
        if name.trim().is_empty() || value.is_empty() {
            problem(
                &format!("{prefix}dimensions"),
                format!("`{name}`: names and values must not be empty"),
            );
        }
    }
    if let Some(stat) = stat
        && !is_valid_stat(stat)
    {
        problem(
            &format!("{prefix}stat"),
            format!(
                "`{stat}` is not a CloudWatch statistic: use Average, Sum, Minimum, Maximum, \
                 SampleCount, IQM, pNN, tmNN, wmNN, tcNN, tsNN or a range such as TM(10%:90%)"
            ),
        );
    }
    if let Some(unit) = unit
        && !aws_sdk_cloudwatch::types::StandardUnit::values().contains(&unit)
    {
        problem(
            &format!("{prefix}unit"),
            format!("`{unit}` is not a CloudWatch unit (e.g. Count, Percent, Bytes/Second)"),
        );
    }
}

/// Whether CloudWatch accepts `id` as a query id: a lower-case letter, then letters, digits
/// and `_`, at most 255 characters.
pub fn is_valid_id(id: &str) -> bool {
    id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether CloudWatch accepts `stat`: a simple statistic, a percentile-like statistic with a
/// value (`p99`, `p99.9`, `tm90`, `wm80`, `tc95`, `ts90`), or a range (`TM(10%:90%)`,
/// `PR(:300)`, `TC(0.005:0.030)`).
pub fn is_valid_stat(stat: &str) -> bool {
    const SIMPLE: [&str; 6] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount", "IQM"];
    if SIMPLE.contains(&stat) {
        return true;
    }
    let lower = stat.to_ascii_lowercase();
    // Longest prefixes first, so that `p` does not take `pr`.
    for prefix in ["tm", "wm", "tc", "ts", "pr", "p"] {
        let Some(rest) = lower.strip_prefix(prefix) else {
            continue;
        };
        if let Some(range) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            return prefix != "p" && is_valid_range(range);
        }
        return prefix != "pr" && is_percentage(rest);
    }
    false
}

fn is_percentage(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    !whole.is_empty()
        && whole.len() <= 3
        && digits(whole)
        && !fraction.is_empty()
        && digits(fraction)
        && fraction.len() <= 10
        && text
            .parse::<f64>()
            .is_ok_and(|v| (0.0..=100.0).contains(&v))
}

fn is_valid_range(range: &str) -> bool {
    let Some((low, high)) = range.split_once(':') else {
        return false;
    };
    let bound = |s: &str| {
        s.is_empty()
            || match s.strip_suffix('%') {
                Some(p) => is_percentage(p),
                None => s.parse::<f64>().is_ok_and(f64::is_finite),
            }
    };
    !(low.is_empty() && high.is_empty()) && bound(low) && bound(high)
}

/// What batches queries: the same caller, period and window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchKey {
    /// Who calls.
    pub identity: AwsIdentity,
    /// Period in seconds.
    pub period: u32,
    /// End-time offset in seconds.
    pub end_time_offset_seconds: u32,
}

/// What identifies one CloudWatch source: the query and who fetches it, how.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloudWatchKey {
    /// The batcher that fetches it.
    pub batch: BatchKey,
    /// The query.
    pub query: Query,
}

/// A `GetMetricData` query, before ids are assigned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Query {
    /// One metric's statistic.
    Stat(StatQuery),
    /// Metric math over named inputs.
    Expression {
        /// The expression, with the user's input ids.
        expression: String,
        /// The inputs by id.
        inputs: BTreeMap<String, StatQuery>,
    },
}

/// One metric's statistic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatQuery {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions.
    pub dimensions: BTreeMap<String, String>,
    /// Statistic.
    pub stat: String,
    /// Unit filter.
    pub unit: Option<String>,
}

impl Query {
    /// How many `MetricDataQuery` entries it takes in a call.
    pub fn size(&self) -> usize {
        match self {
            Query::Stat(_) => 1,
            Query::Expression { inputs, .. } => 1 + inputs.len(),
        }
    }

    /// Whether it must be fetched alone: `METRICS()` reads every metric of the request.
    pub fn needs_own_call(&self) -> bool {
        match self {
            Query::Stat(_) => false,
            Query::Expression { expression, .. } => {
                let mut uses_metrics = false;
                scan_identifiers(expression, |identifier, next| {
                    uses_metrics |= identifier == "METRICS" && next == Some('(');
                    None
                });
                uses_metrics
            }
        }
    }
}

impl fmt::Display for StatQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.metric_name)?;
        if !self.dimensions.is_empty() {
            let dimensions: Vec<String> = self
                .dimensions
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            write!(f, "{{{}}}", dimensions.join(","))?;
        }
        write!(f, ":{}", self.stat)?;
        if let Some(unit) = &self.unit {
            write!(f, ":{unit}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CloudWatchKey {
    /// A short description for logs and metric labels (no credential).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.query {
            Query::Stat(stat) => write!(f, "{stat}")?,
            Query::Expression { expression, .. } => write!(f, "expr({expression})")?,
        }
        write!(f, "@{}s", self.batch.period)
    }
}

/// Calls `visit(identifier, next_char)` for every identifier outside string literals, and
/// returns the expression with each identifier replaced where `visit` returns a replacement.
/// String literals and numbers are copied as they are.
pub(crate) fn scan_identifiers(
    expression: &str,
    mut visit: impl FnMut(&str, Option<char>) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(expression.len());
    let mut chars = expression.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '\'' || c == '"' {
            // A string literal (SEARCH terms, labels): copied as is, escapes included.
            out.push(c);
            let mut escaped = false;
            for (_, inner) in chars.by_ref() {
                out.push(inner);
                if escaped {
                    escaped = false;
                } else if inner == '\\' {
                    escaped = true;
                } else if inner == c {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = start + c.len_utf8();
            while let Some(&(i, next)) = chars.peek() {
                if next.is_ascii_alphanumeric() || next == '_' {
                    end = i + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let identifier = &expression[start..end];
            let following = expression[end..].trim_start().chars().next();
            match visit(identifier, following) {
                Some(replacement) => out.push_str(&replacement),
                None => out.push_str(identifier),
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number (`1e3`, `0.5`): its letters are not identifiers.
            out.push(c);
            while let Some(&(_, next)) = chars.peek() {
                if next.is_ascii_alphanumeric() || next == '.' {
                    out.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The expression with every reference to an input id `x` renamed to `{prefix}x`, so that
/// the inputs of batched expressions never collide. Identifiers inside string literals and
/// names that are not inputs (functions, Metrics Insights columns) are left alone.
pub fn rename_inputs(
    expression: &str,
    inputs: &BTreeMap<String, StatQuery>,
    prefix: &str,
) -> String {
    scan_identifiers(expression, |identifier, _| {
        inputs
            .contains_key(identifier)
            .then(|| format!("{prefix}{identifier}"))
    })
}

#[cfg(test)]
mod tests;
