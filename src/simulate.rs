//! `ecs-scaler simulate`: replay a metric trace through the engine, without servers.
//!
//! The trace is CSV with the header `time,metric,value`: `time` is seconds from the start or an
//! RFC 3339 instant, `metric` a name from the policy set's `metrics`. The engine evaluates every
//! `step` seconds from the start to the last datapoint; each datapoint is recorded once its time
//! has come, with the capacity of that moment; the capacity is the previous decision, applied at
//! once (the ECS reference behaviour). One row per evaluation: `time`, `desired`, `min`, `max`
//! and the reasons (JSON also gives every alarm's state, by name).

pub mod compare;
pub mod hpa;
pub mod plot;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::capacity::CapacityObservation;
use crate::controller::Runtime;
use crate::engine::alarm::AlarmState;
use crate::engine::reason::ReasonReport;
use crate::policy::CompiledPolicySet;

/// The start used when neither `--start` nor an RFC 3339 time in the trace gives one: a Monday.
pub const DEFAULT_START: &str = "2026-01-05T00:00:00Z";

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// An array of objects.
    Json,
    /// `time,desired,min,max,reasons`.
    Csv,
}

/// A bad trace, with the line and what is expected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TraceError(pub String);

/// One datapoint of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePoint {
    /// When it was observed.
    pub at: DateTime<Utc>,
    /// Index of the metric in the policy set.
    pub metric: usize,
    /// The value.
    pub value: f64,
}

/// The latest offset a trace may give, in seconds from the start: 100 years (a larger one
/// would overflow the instant it is added to).
pub const MAX_OFFSET_SECONDS: f64 = 3_155_760_000.0;

enum TraceTime {
    Offset(f64),
    Instant(DateTime<Utc>),
}

/// Parses a CSV trace against `set`'s metrics; times relative to `start` (or to the first
/// RFC 3339 time, or [`DEFAULT_START`]). Returns the points in time order and the start.
pub fn parse_trace(
    text: &str,
    set: &CompiledPolicySet,
    start: Option<DateTime<Utc>>,
) -> Result<(Vec<TracePoint>, DateTime<Utc>), TraceError> {
    parse_trace_with(text, set, &[], start)
}

/// The index of the trace metric `name`: a metric of `set`, else one of `extra` numbered after
/// them.
pub fn metric_index(set: &CompiledPolicySet, extra: &[&str], name: &str) -> Option<usize> {
    set.metrics.iter().position(|m| m.name == name).or_else(|| {
        extra
            .iter()
            .position(|e| *e == name)
            .map(|i| set.metrics.len() + i)
    })
}

/// [`parse_trace`], also accepting the metrics `extra` (those a ScaledObject's `cpu` and
/// `memory` triggers read), numbered by [`metric_index`].
pub fn parse_trace_with(
    text: &str,
    set: &CompiledPolicySet,
    extra: &[&str],
    start: Option<DateTime<Utc>>,
) -> Result<(Vec<TracePoint>, DateTime<Utc>), TraceError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| TraceError(format!("trace header: {e}")))?
        .clone();
    if headers.iter().collect::<Vec<_>>() != ["time", "metric", "value"] {
        return Err(TraceError(format!(
            "trace header: expected `time,metric,value`, found `{}`",
            headers.iter().collect::<Vec<_>>().join(",")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| TraceError(format!("trace: {e}")))?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |i: usize| record.get(i).unwrap_or("");
        let time = match field(0).parse::<f64>() {
            Ok(seconds) if (0.0..=MAX_OFFSET_SECONDS).contains(&seconds) => {
                TraceTime::Offset(seconds)
            }
            Ok(seconds) if seconds > MAX_OFFSET_SECONDS => {
                return Err(TraceError(format!(
                    "trace line {line}: time `{}`: at most {MAX_OFFSET_SECONDS} seconds (100 \
                     years) from the start",
                    field(0)
                )));
            }
            _ => TraceTime::Instant(field(0).parse().map_err(|_| {
                TraceError(format!(
                    "trace line {line}: time `{}`: expected seconds from the start (>= 0) or an RFC 3339 instant",
                    field(0)
                ))
            })?),
        };
        let metric = metric_index(set, extra, field(1)).ok_or_else(|| {
            let known: Vec<&str> = set
                .metrics
                .iter()
                .map(|m| m.name.as_str())
                .chain(extra.iter().copied())
                .collect();
            TraceError(format!(
                "trace line {line}: unknown metric `{}`; the policy set's metrics are {known:?}",
                field(1)
            ))
        })?;
        let value = field(2)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                TraceError(format!(
                    "trace line {line}: value `{}`: expected a finite number",
                    field(2)
                ))
            })?;
        rows.push((time, metric, value));
    }
    let start = start
        .or_else(|| {
            rows.iter().find_map(|(time, _, _)| match time {
                TraceTime::Instant(at) => Some(*at),
                TraceTime::Offset(_) => None,
            })
        })
        .unwrap_or_else(|| DEFAULT_START.parse().unwrap_or(DateTime::UNIX_EPOCH));
    let mut points: Vec<TracePoint> = rows
        .into_iter()
        .map(|(time, metric, value)| TracePoint {
            at: match time {
                TraceTime::Instant(at) => at,
                TraceTime::Offset(seconds) => {
                    start + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
                }
            },
            metric,
            value,
        })
        .collect();
    points.sort_by_key(|p| p.at);
    Ok((points, start))
}

/// One evaluation of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// When.
    pub time: DateTime<Utc>,
    /// The desired capacity.
    pub desired: u32,
    /// The minimum in force.
    pub min: u32,
    /// The maximum in force.
    pub max: u32,
    /// One reason per policy.
    pub reasons: Vec<ReasonReport>,
    /// The state of every alarm after the evaluation, by name (target tracking's implicit
    /// alarms as `TargetTracking-<metric>-AlarmHigh` / `-AlarmLow`).
    pub alarms: BTreeMap<String, AlarmState>,
}

/// Replays `trace` from `start` every `step_seconds` until the last datapoint.
pub fn run(
    set: Arc<CompiledPolicySet>,
    trace: &[TracePoint],
    start: DateTime<Utc>,
    step_seconds: u32,
    initial_capacity: Option<u32>,
) -> Vec<Row> {
    let step = chrono::Duration::seconds(i64::from(step_seconds.max(1)));
    let end = trace.last().map_or(start, |p| p.at.max(start));
    let mut capacity = initial_capacity.unwrap_or(set.min_capacity);
    let mut runtime = Runtime::new(set.clone(), capacity, start);
    let mut next_point = 0;
    let mut rows = Vec::new();
    let mut now = start;
    while now <= end {
        while let Some(point) = trace.get(next_point).filter(|p| p.at <= now) {
            runtime.record(point.metric, point.at, point.value, capacity);
            next_point += 1;
        }
        let observation = CapacityObservation {
            current: capacity,
            rollout_in_progress: false,
        };
        let decision = runtime.evaluate(observation, now);
        capacity = decision.desired;
        rows.push(Row {
            time: now,
            desired: decision.desired,
            min: decision.min,
            max: decision.max,
            reasons: decision.reasons.iter().map(|r| r.report(&set)).collect(),
            alarms: set
                .alarms
                .iter()
                .zip(runtime.state().alarm_states())
                .map(|(alarm, state)| (alarm.name.clone(), *state))
                .collect(),
        });
        now += step;
    }
    rows
}

fn joined_reasons(row: &Row, separator: &str) -> String {
    row.reasons
        .iter()
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

/// Renders rows in `format`.
pub fn render(rows: &[Row], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(rows).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let _ = writer.write_record(["time", "desired", "min", "max", "reasons"]);
            for row in rows {
                let _ = writer.write_record([
                    row.time.to_rfc3339(),
                    row.desired.to_string(),
                    row.min.to_string(),
                    row.max.to_string(),
                    joined_reasons(row, "; "),
                ]);
            }
            String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
        }
        Format::Table => {
            let mut text = format!(
                "{:<20}  {:>7}  {:>5}  {:>5}  reasons\n",
                "time", "desired", "min", "max"
            );
            for row in rows {
                let _ = writeln!(
                    text,
                    "{:<20}  {:>7}  {:>5}  {:>5}  {}",
                    row.time.format("%Y-%m-%dT%H:%M:%SZ"),
                    row.desired,
                    row.min,
                    row.max,
                    joined_reasons(row, " | ")
                );
            }
            text
        }
    }
}

#[cfg(test)]
mod tests;
