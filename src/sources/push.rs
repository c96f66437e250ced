//! The push source: applications report their own datapoints over HTTP.
//!
//! `PUT /v1/namespaces/{namespace}/policysets/{name}/metrics/{metric}` with
//! `{"value": 42, "timestamp": "2026-01-05T10:00:00Z"}` (timestamp optional, default now) appends
//! a datapoint to the metric's feed. This module holds the body format and its checks; the HTTP
//! routing is in [`crate::http`].

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// How far in the future a pushed timestamp may be (clock skew), in seconds.
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 300;

/// The body of a push request.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// The metric value.
    pub value: f64,
    /// When it was observed (RFC 3339); now when absent.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
}

/// Parses and checks a push body; the error says what is wrong and what is expected.
pub fn parse_body(bytes: &[u8], now: DateTime<Utc>) -> Result<(DateTime<Utc>, f64), String> {
    let body: PushBody = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "invalid body: {e}; expected {{\"value\": <number>, \"timestamp\": \"<RFC 3339, optional>\"}}"
        )
    })?;
    if !body.value.is_finite() {
        return Err("`value` must be a finite number".to_owned());
    }
    let timestamp = body.timestamp.unwrap_or(now);
    if (timestamp - now).num_seconds() > MAX_FUTURE_SKEW_SECONDS {
        return Err(format!(
            "`timestamp` {} is more than {MAX_FUTURE_SKEW_SECONDS} s in the future",
            timestamp.to_rfc3339()
        ));
    }
    Ok((timestamp, body.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-01-05T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn push_body_timestamp_defaults_to_now() {
        assert_eq!(parse_body(br#"{"value": 3.5}"#, now()), Ok((now(), 3.5)));
    }

    #[test]
    fn push_body_accepts_rfc3339_timestamps() {
        let body = br#"{"value": 1, "timestamp": "2026-01-05T09:59:00+00:00"}"#;
        let (at, value) = parse_body(body, now()).unwrap();
        assert_eq!(at, "2026-01-05T09:59:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(value, 1.0);
    }

    #[test]
    fn push_body_errors_name_the_problem() {
        let cases: [(&[u8], &str); 5] = [
            (b"{}", "missing field `value`"),
            (br#"{"value": "x"}"#, "invalid type"),
            (br#"{"value": 1, "extra": 2}"#, "unknown field `extra`"),
            (
                br#"{"value": 1, "timestamp": "yesterday"}"#,
                "input contains invalid characters",
            ),
            (
                br#"{"value": 1, "timestamp": "2026-01-05T11:00:00Z"}"#,
                "in the future",
            ),
        ];
        for (body, expected) in cases {
            let error = parse_body(body, now()).unwrap_err();
            assert!(
                error.contains(expected),
                "{error} should contain {expected}"
            );
        }
    }
}
