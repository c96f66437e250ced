//! The body of `PUT /v1/namespaces/{namespace}/policysets/{name}/metrics/{metric}`, through
//! `sources::push::parse_body`, the function the HTTP handler (`http::router`) parses it with.
//!
//! Input: the body's bytes, as received.
//!
//! Checked: no panic; an accepted datapoint has a finite value and a timestamp at most
//! `MAX_FUTURE_SKEW_SECONDS` after now.

#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use ecs_scaler::sources::push::{MAX_FUTURE_SKEW_SECONDS, parse_body};
use libfuzzer_sys::fuzz_target;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap()
}

fuzz_target!(|data: &[u8]| {
    if let Ok((timestamp, value)) = parse_body(data, now()) {
        assert!(value.is_finite(), "{value}");
        assert!(
            (timestamp - now()).num_seconds() <= MAX_FUTURE_SKEW_SECONDS,
            "{timestamp}"
        );
    }
});
