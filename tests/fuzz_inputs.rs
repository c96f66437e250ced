//! Hostile input, proptest-driven (cargo-fuzz needs a nightly toolchain): trigger metadata,
//! policy documents, the push body, schedule expressions and simulate traces. Every input is
//! refused with an error or accepted; none panics, and errors name what is at fault.
//!
//! `PROPTEST_CASES=N cargo test --release --test fuzz_inputs` runs more cases (default 256 per
//! property).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ecs_scaler::engine::schedule::Schedule;
use ecs_scaler::policy::PolicySetId;
use ecs_scaler::policy::compile;
use ecs_scaler::policy::inline::{
    INLINE_KEYS, KEDA_KEYS, REFERENCE_KEYS, TriggerPolicy, classify, inline_document,
};
use ecs_scaler::policy::load::load_str;
use ecs_scaler::sources::push::parse_body;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap()
}

/// Keys KEDA could send: every known one, near misses, and arbitrary text.
fn key() -> impl Strategy<Value = String> {
    let known: Vec<&'static str> = INLINE_KEYS
        .iter()
        .chain(KEDA_KEYS)
        .chain(REFERENCE_KEYS)
        .copied()
        .collect();
    prop_oneof![
        4 => proptest::sample::select(known).prop_map(str::to_owned),
        1 => "[a-zA-Z]{1,12}",
        1 => ".{0,8}",
    ]
}

/// Values: numbers of every shape, booleans, names, and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "",
            "0",
            "-1",
            "1",
            "1.5",
            "1e308",
            "1e309",
            "-0",
            "NaN",
            "inf",
            "-inf",
            "true",
            "false",
            "yes",
            "4294967296",
            "18446744073709551616",
            " 5 ",
            "0x10",
            "worker",
            "a/b",
            "-",
            "ß",
        ])
        .prop_map(str::to_owned),
        any::<f64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        ".{0,16}",
    ]
}

/// Documents: a valid policy set with a random slice replaced, or arbitrary text.
const DOCUMENT: &str = include_str!("../examples/policies/orders-api.yaml");
const JSON_DOCUMENT: &str = include_str!("../examples/policies/web-app.json");

fn document() -> impl Strategy<Value = String> {
    let mutated = (
        prop_oneof![Just(DOCUMENT), Just(JSON_DOCUMENT)],
        any::<prop::sample::Index>(),
        0usize..64,
        prop_oneof![
            proptest::sample::select(vec![
                "",
                "-",
                ":",
                "{",
                "}",
                "[",
                "]",
                "\"",
                "'",
                "\n",
                "  ",
                "null",
                "~",
                "-1",
                "1e999",
                "NaN",
                "&a",
                "*a",
                "!!binary",
                "? ",
                "|",
                ">",
                "#",
                "\t",
                "%YAML 1.2",
                "cron(",
                "rate(0 minutes)",
                "at(",
                "99999999999999999999",
            ])
            .prop_map(str::to_owned),
            ".{0,12}",
        ],
    )
        .prop_map(|(base, at, len, insert)| {
            let chars: Vec<char> = base.chars().collect();
            let start = at.index(chars.len());
            let end = (start + len).min(chars.len());
            let mut text: String = chars[..start].iter().collect();
            text.push_str(&insert);
            text.extend(&chars[end..]);
            text
        });
    prop_oneof![
        4 => mutated,
        1 => ".{0,200}",
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

fn schedule_expression() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        proptest::sample::select(vec![
            "*",
            "?",
            "0",
            "59",
            "60",
            "-1",
            "1-5",
            "5-1",
            "*/0",
            "*/7",
            "MON-FRI",
            "L",
            "W",
            "1W",
            "2#3",
            "LW",
            "JAN",
            "13",
            "32",
            "0/15",
            ",",
            "",
            "1,2,3",
            "99999999999",
        ])
        .prop_map(str::to_owned),
        "[0-9A-Z*?/,#L-]{0,6}",
    ];
    prop_oneof![
        proptest::collection::vec(field, 0..8).prop_map(|f| format!("cron({})", f.join(" "))),
        (
            any::<i64>(),
            proptest::sample::select(vec![
                "minute", "minutes", "hour", "hours", "day", "days", "weeks", ""
            ])
        )
            .prop_map(|(n, unit)| format!("rate({n} {unit})")),
        "at\\([0-9T:-]{0,24}\\)",
        ".{0,30}",
    ]
}

fn trace() -> impl Strategy<Value = String> {
    let time = prop_oneof![
        (0i64..7_200).prop_map(|s| s.to_string()),
        proptest::sample::select(vec![
            "2026-01-05T12:00:00Z",
            "2026-01-05T12:03:00+02:00",
            "9999-12-31T23:59:59Z",
            "-1",
            "1e30",
            "NaN",
            "",
            "x",
        ])
        .prop_map(str::to_owned),
    ];
    let metric = prop_oneof![
        proptest::sample::select(vec!["backlog", "cpu", "nope", ""]).prop_map(str::to_owned),
        "[a-z]{0,6}",
    ];
    let row = (time, metric, value()).prop_map(|(t, m, v)| format!("{t},{m},{v}"));
    (
        prop_oneof![
            Just("time,metric,value"),
            Just("metric,time,value"),
            Just("time,value"),
            Just("")
        ],
        proptest::collection::vec(prop_oneof![4 => row, 1 => ".{0,20}"], 0..20),
    )
        .prop_map(|(header, rows)| {
            let mut text = header.to_owned();
            for row in rows {
                text.push('\n');
                text.push_str(&row);
            }
            text
        })
}

proptest! {
    #[test]
    fn trigger_metadata_never_panics_and_errors_name_a_key(
        metadata in proptest::collection::hash_map(key(), value(), 0..8),
        namespace in prop_oneof![Just(String::new()), Just("shop".to_owned()), ".{0,10}"],
    ) {
        let metadata: HashMap<String, String> = metadata;
        match classify(&metadata, &namespace) {
            Err(error) => {
                prop_assert!(
                    metadata.contains_key(&error.key) || error.key == "policy",
                    "{error} names no key of {metadata:?}"
                );
                let quoted = format!("`{}`", error.key);
                prop_assert!(error.to_string().contains(&quoted), "{error}");
            }
            Ok(TriggerPolicy::Reference { .. }) => {}
            Ok(TriggerPolicy::Inline) => {
                let id = PolicySetId::new(if namespace.is_empty() { "default" } else { &namespace }, "so");
                match inline_document(&metadata, &id) {
                    Err(error) => {
                        prop_assert!(
                            metadata.contains_key(&error.key) || error.key == "targetValue",
                            "{error} names no key of {metadata:?}"
                        );
                    }
                    Ok(document) => {
                        // Compiles or is refused with field paths; never panics.
                        let _ = compile(&document);
                    }
                }
            }
        }
    }

    #[test]
    fn policy_documents_never_panic(text in document()) {
        match load_str(&text, "fuzz") {
            Ok(set) => prop_assert!(set.min_capacity <= set.max_capacity),
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn push_bodies_never_panic(
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (value(), prop_oneof![
                Just(String::new()),
                Just(r#", "timestamp": "2026-01-05T11:59:00Z""#.to_owned()),
                Just(r#", "timestamp": "9999-12-31T23:59:59Z""#.to_owned()),
                Just(r#", "timestamp": 5"#.to_owned()),
                Just(r#", "extra": 1"#.to_owned()),
                ", \"timestamp\": \".{0,25}\"",
            ])
                .prop_map(|(v, rest)| format!(r#"{{"value": {v}{rest}}}"#).into_bytes()),
        ],
    ) {
        if let Ok((at, value)) = parse_body(&body, now()) {
            prop_assert!(value.is_finite(), "{value}");
            prop_assert!(at <= now() + chrono::Duration::minutes(5));
        }
    }

    #[test]
    fn schedule_expressions_never_panic(
        expression in schedule_expression(),
        zone in proptest::sample::select(vec![
            chrono_tz::UTC, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kathmandu,
        ]),
        offset in -400_000_000i64..400_000_000,
    ) {
        if let Ok(schedule) = Schedule::parse(&expression, zone, None, None) {
            let at = now() + chrono::Duration::seconds(offset);
            if let Some(next) = schedule.next_after(at) {
                prop_assert!(next > at, "{expression}: {next} after {at}");
            }
            if let Some(latest) = schedule.latest_at_or_before(at) {
                prop_assert!(latest <= at, "{expression}: {latest} at or before {at}");
            }
        }
    }

    #[test]
    fn simulate_traces_never_panic(text in trace()) {
        let set = Arc::new(load_str(DOCUMENT, "orders-api.yaml").unwrap());
        if let Ok((points, start)) = ecs_scaler::simulate::parse_trace(&text, &set, None) {
            // Replay only short traces: a far-off timestamp would mean millions of steps.
            let span = points.last().map_or(0, |p| (p.at - start).num_seconds());
            if (0..=86_400).contains(&span) {
                let rows = ecs_scaler::simulate::run(set, &points, start, 60, None);
                prop_assert!(!rows.is_empty());
            }
        }
    }
}

/// Found by `schedule_expressions_never_panic`: the interval overflowed `i64`.
#[test]
fn a_rate_too_large_is_refused_not_overflowed() {
    let error = Schedule::parse("rate(106751991167301 day)", chrono_tz::UTC, None, None)
        .expect_err("refused");
    assert!(error.contains("at most 100 years"), "{error}");
    assert!(Schedule::parse("rate(36500 days)", chrono_tz::UTC, None, None).is_ok());
}
