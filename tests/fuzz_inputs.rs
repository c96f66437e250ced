//! Hostile input, proptest-driven (cargo-fuzz needs a nightly toolchain): trigger metadata,
//! policy documents, the push body, schedule expressions, simulate traces and the AWS CLI JSON
//! `import --from-dir` reads. Every input is refused with an error or accepted; none panics,
//! and errors name what is at fault.
//!
//! `PROPTEST_CASES=N cargo test --release --test fuzz_inputs` runs more cases (default 256 per
//! property; a quarter of that for the importer's, whose cases write and read files).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use ecs_scaler::cli::{Cli, Command};
use ecs_scaler::engine::schedule::Schedule;
use ecs_scaler::import::aws::{
    ALARMS_FILE, SCALABLE_TARGETS_FILE, SCALING_POLICIES_FILE, SCHEDULED_ACTIONS_FILE, read_dir,
};
use ecs_scaler::import::{OutputFormat, POLICIES_DIR, render_document, translate};
use ecs_scaler::policy::PolicySetId;
use ecs_scaler::policy::compile;
use ecs_scaler::policy::inline::{
    INLINE_KEYS, KEDA_KEYS, REFERENCE_KEYS, TriggerPolicy, classify, inline_document,
};
use ecs_scaler::policy::load::{load_file, load_str};
use ecs_scaler::sources::push::parse_body;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

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
        4 => proptest::sample::select(known.clone()).prop_map(str::to_owned),
        1 => proptest::sample::select(known).prop_map(|key| format!("{key}FromEnv")),
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

/// Found by the `schedule` cargo-fuzz target (`fuzz/`): croner read `,` as an empty list, so
/// the schedule never ran and each `next_after` searched for seconds (7 s in release for an
/// empty minutes field). An empty list item is now refused, naming the field.
#[test]
fn a_cron_field_with_an_empty_list_item_is_refused() {
    let zone = chrono_tz::America::New_York;
    for (expression, field) in [
        ("cron(, 2 ? 2 MON-FRI *)", "`,`"), // the fuzzer's input
        ("cron(, * * * ? *)", "`,`"),
        ("cron(0 8 ? * MON,,FRI *)", "`MON,,FRI`"),
        ("cron(0 1, * * ? *)", "`1,`"),
    ] {
        let error = Schedule::parse(expression, zone, None, None).expect_err(expression);
        assert!(
            error.contains("empty list item") && error.contains(field),
            "{error}"
        );
    }
    assert!(Schedule::parse("cron(0 8 ? * MON,FRI *)", zone, None, None).is_ok());
}

/// Found by `simulate_traces_never_panic`: an offset of `1e30` seconds overflowed the instant it
/// was added to (a panic).
#[test]
fn a_trace_offset_beyond_100_years_is_refused_not_overflowed() {
    let set = Arc::new(load_str(DOCUMENT, "orders-api.yaml").unwrap());
    let parse = |text: &str| ecs_scaler::simulate::parse_trace(text, &set, None);
    let error = parse("time,metric,value\n1e30,backlog,0").expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("time `1e30`: at most 3155760000 seconds"),
        "{error}"
    );
    assert!(parse("time,metric,value\n3155760000,backlog,0").is_ok());
}

// The importer's input: what the AWS CLI prints, read by `import --from-dir`.

/// The files `import --from-dir` reads; `describe-alarms.json` may be absent.
const IMPORT_FILES: [&str; 4] = [
    SCALABLE_TARGETS_FILE,
    SCALING_POLICIES_FILE,
    SCHEDULED_ACTIONS_FILE,
    ALARMS_FILE,
];

/// A scenario of `tests/fixtures/import/`: its four files (`None` when absent) and the
/// arguments of its run.
struct ImportFixture {
    files: [Option<Value>; 4],
    args: Vec<String>,
}

fn import_fixtures() -> &'static [ImportFixture] {
    static FIXTURES: OnceLock<Vec<ImportFixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
        [
            "exact",
            "step-tt-scheduled",
            "sqs-backlog",
            "shop",
            "suspended",
            "predictive",
        ]
        .iter()
        .map(|scenario| ImportFixture {
            files: IMPORT_FILES.map(|file| {
                let text = std::fs::read_to_string(root.join(scenario).join(file)).ok()?;
                Some(serde_json::from_str(&text).unwrap())
            }),
            args: std::fs::read_to_string(root.join(scenario).join("args"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
        .collect()
    })
}

/// Every object key of the fixtures, for arbitrary JSON that looks like AWS's.
fn fixture_keys() -> Vec<String> {
    fn collect(value: &Value, keys: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    keys.insert(key.clone());
                    collect(value, keys);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, keys)),
            _ => {}
        }
    }
    let mut keys = BTreeSet::new();
    for fixture in import_fixtures() {
        fixture
            .files
            .iter()
            .flatten()
            .for_each(|v| collect(v, &mut keys));
    }
    keys.into_iter().collect()
}

/// Strings AWS uses as enums, names and expressions, their near misses, and broken ones.
fn aws_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "", " ", "ecs", "ECS", "dynamodb", "ecs:service:DesiredCount",
            "ecs:service:desiredcount", "service/prod/web-app", "service/prod/", "service//x",
            "service/a/b/c", "service/Prod/Web_App", "service/ä/ü", "StepScaling",
            "TargetTrackingScaling", "PredictiveScaling", "stepscaling", "ChangeInCapacity",
            "PercentChangeInCapacity", "ExactCapacity", "Average", "Minimum", "Maximum", "Sum",
            "SampleCount", "p99", "p100", "p-1", "tm90", "IQM", "TM(10%:90%)",
            "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
            "LessThanOrEqualToThreshold", "LessThanLowerOrGreaterThanUpperThreshold", "missing",
            "notBreaching", "breaching", "ignore", "evaluate", "ForecastOnly", "ForecastAndScale",
            "ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization",
            "ALBRequestCountPerTarget", "app/lb/1/targetgroup/tg/2", "targetgroup//",
            "cron(0 8 ? * MON-FRI *)", "cron(", "cron(* * * * * * * *)", "rate(1 minute)",
            "rate(0 minutes)", "rate(106751991167301 days)", "at(2026-01-01T00:00:00)",
            "at(9999-12-31T23:59:59)", "UTC", "America/New_York", "Mars/Olympus",
            "2026-01-05T08:00:00Z", "1607454792.331", "-1", "NaN", "1e999",
            "arn:aws:autoscaling:us-west-2:123456789012:scalingPolicy:x", "arn:::::", "arn",
            "m1 / m2", "(m1 + m2) / m3", "e1", "e1 + e1", "SUM(METRICS())", "m1 /",
            "((((((((((m1))))))))))", "'unterminated", "ECS/ContainerInsights",
            "RunningTaskCount", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
            "-AlarmHigh-", "TargetTracking-service/prod/web-app-AlarmLow-1",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,16}",
    ]
}

/// JSON scalars of every type, with AWS's strings and numbers at and beyond every limit.
fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        json_number(),
        aws_string().prop_map(Value::from),
    ]
}

/// JSON numbers at and beyond every limit of AWS's fields (integers, then floats).
fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec![
            0i64,
            -1,
            1,
            2,
            9,
            10,
            59,
            60,
            61,
            300,
            86_400,
            86_401,
            100_000,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ])
        .prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        proptest::sample::select(vec![
            0.5,
            -0.5,
            -0.0,
            1e-300,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
        ])
        .prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
    ]
}

/// Arbitrary JSON, keyed mostly like AWS's.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => proptest::sample::select(fixture_keys()),
        1 => "[A-Za-z]{1,12}",
    ];
    json_scalar().prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// One change to a JSON node.
#[derive(Debug, Clone)]
enum Edit {
    /// The field or element goes (the whole file, at the root).
    Remove,
    /// Another value, of any type.
    Replace(Value),
    /// Raw text in place of the value, JSON or not (`NaN`, `1e999`, a cut-off value).
    Raw(&'static str),
    /// The value wrapped in this many arrays (beyond serde_json's recursion limit of 128 too).
    Nest(usize),
    /// An array element twice (a policy, a step, an alarm...).
    Duplicate,
    /// Another value of the same JSON type: a string for a string (an enum's near miss, a
    /// broken expression, a name), a number for a number (beyond every limit), the other
    /// boolean; other nodes are kept.
    Like { text: String, number: Value },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => Just(Edit::Remove),
        4 => json_scalar().prop_map(Edit::Replace),
        1 => json_value().prop_map(Edit::Replace),
        2 => proptest::sample::select(vec![
            "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999",
            "99999999999999999999999", "-9223372036854775809", "18446744073709551616", "0x10",
            "01", "1.", "+1", "'x'", "", "{", "[1,", "\"unterminated", "tru", "nul", "\"\\ud800\"",
        ])
        .prop_map(Edit::Raw),
        1 => proptest::sample::select(vec![1usize, 8, 200]).prop_map(Edit::Nest),
        1 => Just(Edit::Duplicate),
        8 => (aws_string(), json_number())
            .prop_map(|(text, number)| Edit::Like { text, number }),
    ]
}

/// An edit of file `file` at the node `at` picks among all of the file's nodes.
#[derive(Debug, Clone)]
struct Mutation {
    file: usize,
    at: prop::sample::Index,
    edit: Edit,
}

/// A step of a path into a JSON document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node's path, the root first.
fn node_paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                prefix.push(Step::Key(key.clone()));
                node_paths(value, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                node_paths(value, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(mut value: &'v mut Value, path: &[Step]) -> &'v mut Value {
    for step in path {
        value = match step {
            Step::Key(key) => &mut value[key.as_str()],
            Step::Index(i) => &mut value[*i],
        };
    }
    value
}

/// A fixture's files with `mutations` applied: the text of each file (`None` when absent),
/// and for each file the object keys on the path of every node changed (an empty list for the
/// root).
fn mutate(
    fixture: &ImportFixture,
    mutations: &[Mutation],
) -> ([Option<String>; 4], Vec<Vec<Vec<String>>>) {
    let mut files = fixture.files.clone();
    let mut touched = vec![Vec::new(); 4];
    let mut raw = Vec::new();
    for mutation in mutations {
        let Some(root) = files[mutation.file].as_mut() else {
            continue;
        };
        let mut paths = Vec::new();
        node_paths(root, &mut Vec::new(), &mut paths);
        let path = mutation.at.get(&paths).clone();
        touched[mutation.file].push(
            path.iter()
                .filter_map(|step| match step {
                    Step::Key(key) => Some(key.clone()),
                    Step::Index(_) => None,
                })
                .collect(),
        );
        match &mutation.edit {
            Edit::Remove => match path.split_last() {
                None => files[mutation.file] = None,
                Some((last, parent)) => match (node_mut(root, parent), last) {
                    (Value::Object(map), Step::Key(key)) => {
                        map.remove(key);
                    }
                    (Value::Array(items), Step::Index(i)) => {
                        items.remove(*i);
                    }
                    _ => unreachable!("a path follows the document"),
                },
            },
            Edit::Replace(value) => *node_mut(root, &path) = value.clone(),
            Edit::Like { text, number } => {
                let node = node_mut(root, &path);
                match node {
                    Value::String(_) => *node = Value::from(text.clone()),
                    // An integer field gets an integer (saturated), a float field any number.
                    Value::Number(old) if old.is_f64() => *node = number.clone(),
                    Value::Number(_) => {
                        *node = match number.as_f64() {
                            Some(v) if number.is_f64() => Value::from(v as i64),
                            _ => number.clone(),
                        }
                    }
                    Value::Bool(flag) => *flag = !*flag,
                    _ => {}
                }
            }
            Edit::Raw(text) => {
                *node_mut(root, &path) = Value::from(format!("@@raw{}@@", raw.len()));
                raw.push(*text);
            }
            Edit::Nest(depth) => {
                let node = node_mut(root, &path);
                for _ in 0..*depth {
                    *node = Value::Array(vec![node.take()]);
                }
            }
            Edit::Duplicate => match path.split_last() {
                Some((Step::Index(i), parent)) => {
                    if let Value::Array(items) = node_mut(root, parent) {
                        let copy = items[*i].clone();
                        items.insert(*i, copy);
                    }
                }
                _ => {
                    if let Value::Array(items) = node_mut(root, &path)
                        && let Some(first) = items.first().cloned()
                    {
                        items.push(first);
                    }
                }
            },
        }
    }
    let texts = files.map(|file| {
        let mut text = serde_json::to_string_pretty(&file?).unwrap();
        for (i, raw) in raw.iter().enumerate() {
            text = text.replace(&format!("\"@@raw{i}@@\""), raw);
        }
        Some(text)
    });
    (texts, touched)
}

/// Writes `files` into `dir` (an absent one is not written).
fn write_import_dir(dir: &Path, files: &[Option<String>; 4]) {
    for (name, text) in IMPORT_FILES.iter().zip(files) {
        if let Some(text) = text {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
}

/// What an import did.
#[derive(Debug, PartialEq)]
enum Imported {
    /// The files were refused (`read_dir`'s error).
    Refused(String),
    /// An option does not apply to what the files hold (`translate`'s error).
    Inapplicable(String),
    /// This many policy sets were written (none when no ECS service was found).
    Written(usize),
}

/// Imports `dir` as `ecs-scaler import --from-dir DIR --output OUT ARGS...` does, through the
/// CLI function, and checks what it did against the library's steps on the same input: bad
/// input is exit 2 with nothing written; otherwise every policy set is written, and either
/// compiles and reads back from its file as `validate` reads it, or the report names each field
/// `compile` rejects; the exit code is 0 only when everything is exact.
fn import_dir(dir: &Path, args: &[String]) -> Result<Imported, TestCaseError> {
    let out = dir.join("out");
    let mut command = vec![
        "ecs-scaler".to_owned(),
        "import".to_owned(),
        "--from-dir".to_owned(),
        dir.display().to_string(),
        "--output".to_owned(),
        out.display().to_string(),
    ];
    command.extend(args.iter().cloned());
    let Command::Import(args) = Cli::try_parse_from(command).unwrap().command else {
        unreachable!("an import command");
    };
    let code = ecs_scaler::import::run(&args);
    let bad_input = |outcome: Imported| -> Result<Imported, TestCaseError> {
        prop_assert_eq!(code, ExitCode::from(2), "{:?}", outcome);
        prop_assert!(!out.exists(), "written despite {:?}", outcome);
        Ok(outcome)
    };
    let input = match read_dir(dir) {
        Ok(input) => input,
        Err(message) => return bad_input(Imported::Refused(message)),
    };
    let translation = match translate(&input, &args.options()) {
        Ok(translation) => translation,
        Err(message) => return bad_input(Imported::Inapplicable(message)),
    };
    if translation.services.is_empty() {
        return bad_input(Imported::Written(0));
    }
    let exact = translation.services.iter().all(|s| s.report.is_exact());
    prop_assert_eq!(code, ExitCode::from(if exact { 0 } else { 1 }));
    let written = std::fs::read_dir(out.join(POLICIES_DIR)).unwrap().count();
    prop_assert_eq!(
        written,
        translation.services.len(),
        "one file per service: {:?}",
        translation
            .services
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>()
    );
    for service in &translation.services {
        let path = out
            .join(POLICIES_DIR)
            .join(format!("{}.yaml", service.name));
        let text = std::fs::read_to_string(&path).unwrap();
        prop_assert_eq!(
            &text,
            &render_document(&service.policy_set, OutputFormat::Yaml).unwrap(),
            "{} holds another service's policy set",
            path.display()
        );
        let flagged: Vec<&str> = service
            .report
            .rows
            .iter()
            .filter_map(|row| row.setting.strip_prefix("policy set check: "))
            .collect();
        match compile(&service.policy_set) {
            Ok(_) => {
                prop_assert!(flagged.is_empty(), "{:?}", flagged);
                if let Err(error) = load_file(&path) {
                    return Err(TestCaseError::fail(format!(
                        "{} compiles but does not read back: {error}\n{text}",
                        service.name
                    )));
                }
                let json = render_document(&service.policy_set, OutputFormat::Json).unwrap();
                if let Err(error) = load_str(&json, "json") {
                    return Err(TestCaseError::fail(format!(
                        "{} compiles but its JSON does not read back: {error}\n{json}",
                        service.name
                    )));
                }
            }
            Err(errors) => {
                for error in &errors.0 {
                    prop_assert!(
                        flagged.contains(&error.path.as_str()),
                        "{}: `{}` is written without a word in the report: {:?}",
                        service.name,
                        error,
                        flagged
                    );
                }
                prop_assert!(!exact);
            }
        }
    }
    Ok(Imported::Written(translation.services.len()))
}

// Valid-looking input: what AWS accepts, generated.

/// A service's scaling as AWS would describe it.
#[derive(Debug, Clone)]
struct ServiceGen {
    cluster: &'static str,
    name: String,
    min: u32,
    span: u32,
    suspended: Option<(bool, bool, bool)>,
    policies: Vec<PolicyGen>,
    actions: Vec<ActionGen>,
}

#[derive(Debug, Clone)]
struct PolicyGen {
    name: String,
    kind: PolicyKind,
    cooldowns: (u32, u32),
    disable_scale_in: bool,
    implicit_alarms: bool,
}

#[derive(Debug, Clone)]
enum PolicyKind {
    Predefined {
        metric: &'static str,
        target: f64,
    },
    Customized {
        metric: MetricGen,
        target: f64,
    },
    Math {
        expression: &'static str,
        inputs: [MetricGen; 2],
        target: f64,
    },
    Step {
        scale_out: bool,
        adjustment_type: &'static str,
        gaps: Vec<u32>,
        adjustments: Vec<i32>,
        min_adjustment_magnitude: Option<u32>,
        aggregation: &'static str,
        alarm: AlarmGen,
        listed: bool,
    },
}

#[derive(Debug, Clone)]
struct MetricGen {
    namespace: &'static str,
    name: String,
    dimensions: Vec<(String, String)>,
    stat: &'static str,
    unit: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct AlarmGen {
    metric: MetricGen,
    operator: &'static str,
    threshold: f64,
    evaluation_periods: u32,
    datapoints: Option<u32>,
    period: u32,
    missing: Option<&'static str>,
}

#[derive(Debug, Clone)]
struct ActionGen {
    schedule: String,
    timezone: Option<&'static str>,
    bounds: (Option<u32>, Option<u32>),
    window: Option<(i64, i64, bool)>,
}

fn metric_gen() -> impl Strategy<Value = MetricGen> {
    (
        proptest::sample::select(vec!["WebApp", "Custom/Orders", "AWS/ApplicationELB"]),
        "[A-Z][A-Za-z0-9]{0,11}",
        proptest::collection::vec(("[A-Z][A-Za-z]{0,8}", "[a-z0-9-]{1,12}"), 0..3),
        proptest::sample::select(vec![
            "Average",
            "Sum",
            "Minimum",
            "Maximum",
            "SampleCount",
            "p99",
        ]),
        proptest::option::of(proptest::sample::select(vec![
            "Count", "Percent", "Seconds",
        ])),
    )
        .prop_map(|(namespace, name, dimensions, stat, unit)| MetricGen {
            namespace,
            name,
            dimensions,
            stat,
            unit,
        })
}

fn alarm_gen(scale_out: bool) -> impl Strategy<Value = AlarmGen> {
    let operators = if scale_out {
        vec!["GreaterThanThreshold", "GreaterThanOrEqualToThreshold"]
    } else {
        vec!["LessThanThreshold", "LessThanOrEqualToThreshold"]
    };
    (
        metric_gen(),
        proptest::sample::select(operators),
        -1000.0..1000.0f64,
        1u32..=5,
        proptest::option::of(1u32..=5),
        proptest::sample::select(vec![10u32, 20, 30, 60, 300]),
        proptest::option::of(proptest::sample::select(vec![
            "missing",
            "notBreaching",
            "breaching",
            "ignore",
        ])),
    )
        .prop_map(
            |(metric, operator, threshold, n, m, period, missing)| AlarmGen {
                metric,
                operator,
                threshold,
                evaluation_periods: n,
                datapoints: m.map(|m| m.min(n)),
                period,
                missing,
            },
        )
}

fn step_gen() -> impl Strategy<Value = PolicyKind> {
    (any::<bool>(), 1usize..=4).prop_flat_map(|(scale_out, steps)| {
        let adjustment = prop_oneof![
            Just(("ChangeInCapacity", 1i32..=10)),
            Just(("PercentChangeInCapacity", 5i32..=200)),
            Just(("ExactCapacity", 0i32..=60)),
        ]
        .prop_flat_map(move |(kind, range)| {
            (
                Just(kind),
                proptest::collection::vec(range, steps),
                proptest::option::of(1u32..=5),
            )
        });
        (
            adjustment,
            proptest::collection::vec(1u32..=50, steps - 1),
            proptest::sample::select(vec!["Average", "Minimum", "Maximum"]),
            alarm_gen(scale_out),
            any::<bool>(),
        )
            .prop_map(
                move |((kind, adjustments, magnitude), gaps, aggregation, alarm, listed)| {
                    let adjustments = adjustments
                        .into_iter()
                        .map(|a| {
                            if scale_out || kind == "ExactCapacity" {
                                a
                            } else {
                                -a.min(90)
                            }
                        })
                        .collect();
                    PolicyKind::Step {
                        scale_out,
                        adjustment_type: kind,
                        gaps,
                        adjustments,
                        min_adjustment_magnitude: magnitude
                            .filter(|_| kind == "PercentChangeInCapacity"),
                        aggregation,
                        alarm,
                        listed,
                    }
                },
            )
    })
}

fn policy_gen() -> impl Strategy<Value = PolicyGen> {
    let kind = prop_oneof![
        1 => (
            proptest::sample::select(vec![
                "ECSServiceAverageCPUUtilization",
                "ECSServiceAverageMemoryUtilization",
            ]),
            1.0..100.0f64,
        )
            .prop_map(|(metric, target)| PolicyKind::Predefined { metric, target }),
        1 => (metric_gen(), 0.01..1e6f64)
            .prop_map(|(metric, target)| PolicyKind::Customized { metric, target }),
        1 => (
            proptest::sample::select(vec![
                "m1 / m2",
                "m1 + m2",
                "(m1 + m2) / 2",
                "SUM([m1, m2])",
                "m1 * 100 / m2",
                "e2 / 2",
                "e2 * e2 / m1",
            ]),
            [metric_gen(), metric_gen()],
            0.01..1e4f64,
        )
            .prop_map(|(expression, inputs, target)| PolicyKind::Math {
                expression,
                inputs,
                target,
            }),
        2 => step_gen(),
    ];
    (
        "[a-z][a-z0-9-]{0,10}",
        kind,
        (0u32..=3600, 0u32..=3600),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(name, kind, cooldowns, disable_scale_in, implicit_alarms)| PolicyGen {
                name,
                kind,
                cooldowns,
                disable_scale_in,
                implicit_alarms,
            },
        )
}

fn action_gen() -> impl Strategy<Value = ActionGen> {
    let schedule = prop_oneof![
        (0u32..60, 0u32..24).prop_map(|(m, h)| format!("cron({m} {h} ? * MON-FRI *)")),
        (0u32..24, 1u32..=28).prop_map(|(h, d)| format!("cron(0 {h} {d} * ? *)")),
        (
            1u32..=90,
            proptest::sample::select(vec!["minute", "hour", "day"])
        )
            .prop_map(|(n, unit)| if n == 1 {
                format!("rate(1 {unit})")
            } else {
                format!("rate({n} {unit}s)")
            }),
        (1u32..=12, 1u32..=28, 0u32..24)
            .prop_map(|(mo, d, h)| format!("at(2026-{mo:02}-{d:02}T{h:02}:30:00)")),
    ];
    (
        schedule,
        proptest::option::of(proptest::sample::select(vec![
            "UTC",
            "America/New_York",
            "Europe/Paris",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
        ])),
        prop_oneof![
            (0u32..=300).prop_map(|m| (Some(m), None)),
            (0u32..=300).prop_map(|m| (None, Some(m))),
            (0u32..=300, 0u32..=300).prop_map(|(a, b)| (Some(a.min(b)), Some(a.max(b)))),
        ],
        proptest::option::of((
            1_700_000_000i64..1_800_000_000,
            60i64..10_000_000,
            any::<bool>(),
        )),
    )
        .prop_map(|(schedule, timezone, bounds, window)| ActionGen {
            schedule,
            timezone,
            bounds,
            window,
        })
}

fn service_gen() -> impl Strategy<Value = ServiceGen> {
    (
        proptest::sample::select(vec!["prod", "staging", "eu-prod"]),
        "[A-Za-z][A-Za-z0-9_-]{0,10}",
        0u32..=20,
        prop_oneof![3 => 0u32..=50, 1 => 0u32..=2000],
        proptest::option::of(any::<(bool, bool, bool)>()),
        proptest::collection::vec(policy_gen(), 0..4),
        proptest::collection::vec(action_gen(), 0..4),
    )
        .prop_map(
            |(cluster, name, min, span, suspended, policies, actions)| ServiceGen {
                cluster,
                name,
                min,
                span,
                suspended,
                policies,
                actions,
            },
        )
}

fn metric_json(metric: &MetricGen) -> Value {
    let dimensions: Vec<Value> = metric
        .dimensions
        .iter()
        .map(|(name, value)| json!({"Name": name, "Value": value}))
        .collect();
    let mut json = json!({
        "Namespace": metric.namespace,
        "MetricName": metric.name,
        "Dimensions": dimensions,
    });
    if let Some(unit) = metric.unit {
        json["Unit"] = json!(unit);
    }
    json
}

fn timestamp_json(epoch: i64, iso: bool) -> Value {
    if iso {
        json!(Utc.timestamp_opt(epoch, 0).unwrap().to_rfc3339())
    } else {
        json!(epoch as f64 + 0.25)
    }
}

/// The four files for `services`: what the AWS CLI prints for them.
fn aws_cli_json(services: &[ServiceGen]) -> [Option<String>; 4] {
    let (mut targets, mut policies, mut actions, mut alarms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, service) in services.iter().enumerate() {
        let resource = format!("service/{}/{}-{i}", service.cluster, service.name);
        let mut target = json!({
            "ServiceNamespace": "ecs",
            "ResourceId": resource,
            "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": service.min,
            "MaxCapacity": service.min + service.span,
            "CreationTime": 1_751_362_215.204,
        });
        if let Some((scale_in, scale_out, scheduled)) = service.suspended {
            target["SuspendedState"] = json!({
                "DynamicScalingInSuspended": scale_in,
                "DynamicScalingOutSuspended": scale_out,
                "ScheduledScalingSuspended": scheduled,
            });
        }
        targets.push(target);
        for (j, policy) in service.policies.iter().enumerate() {
            let name = format!("{}-{j}", policy.name);
            let arn = format!(
                "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0000{i}{j}:resource/ecs/\
                 {resource}:policyName/{name}"
            );
            let mut json = json!({
                "PolicyARN": arn,
                "PolicyName": name,
                "ServiceNamespace": "ecs",
                "ResourceId": resource,
                "ScalableDimension": "ecs:service:DesiredCount",
                "Alarms": [],
            });
            let tracking = |specification: (&str, Value), target: f64| {
                let mut config = json!({
                    "TargetValue": target,
                    "ScaleOutCooldown": policy.cooldowns.0,
                    "ScaleInCooldown": policy.cooldowns.1,
                    "DisableScaleIn": policy.disable_scale_in,
                });
                config[specification.0] = specification.1;
                config
            };
            let target_value = match &policy.kind {
                PolicyKind::Predefined { metric, target } => {
                    json["PolicyType"] = json!("TargetTrackingScaling");
                    json["TargetTrackingScalingPolicyConfiguration"] = tracking(
                        (
                            "PredefinedMetricSpecification",
                            json!({"PredefinedMetricType": metric}),
                        ),
                        *target,
                    );
                    Some(*target)
                }
                PolicyKind::Customized { metric, target } => {
                    let mut specification = metric_json(metric);
                    specification["Statistic"] = json!(metric.stat);
                    json["PolicyType"] = json!("TargetTrackingScaling");
                    json["TargetTrackingScalingPolicyConfiguration"] =
                        tracking(("CustomizedMetricSpecification", specification), *target);
                    Some(*target)
                }
                PolicyKind::Math {
                    expression,
                    inputs,
                    target,
                } => {
                    let mut queries: Vec<Value> = inputs
                        .iter()
                        .enumerate()
                        .map(|(k, metric)| {
                            json!({
                                "Id": format!("m{}", k + 1),
                                "MetricStat": {"Metric": metric_json(metric), "Stat": metric.stat},
                                "ReturnData": false,
                            })
                        })
                        .collect();
                    queries.push(json!({"Id": "e2", "Expression": "m1 + m2", "ReturnData": false}));
                    queries.push(json!({"Id": "e1", "Expression": expression, "ReturnData": true}));
                    json["PolicyType"] = json!("TargetTrackingScaling");
                    json["TargetTrackingScalingPolicyConfiguration"] = tracking(
                        ("CustomizedMetricSpecification", json!({"Metrics": queries})),
                        *target,
                    );
                    Some(*target)
                }
                PolicyKind::Step {
                    scale_out,
                    adjustment_type,
                    gaps,
                    adjustments,
                    min_adjustment_magnitude,
                    aggregation,
                    alarm,
                    listed,
                } => {
                    // Contiguous intervals from 0 outwards, the last one open.
                    let mut bounds = vec![0.0];
                    for gap in gaps {
                        bounds.push(bounds.last().unwrap() + f64::from(*gap));
                    }
                    let steps: Vec<Value> = adjustments
                        .iter()
                        .enumerate()
                        .map(|(k, adjustment)| {
                            let near = bounds[k];
                            let far = bounds.get(k + 1).copied();
                            let mut step = json!({"ScalingAdjustment": adjustment});
                            if *scale_out {
                                step["MetricIntervalLowerBound"] = json!(near);
                                if let Some(far) = far {
                                    step["MetricIntervalUpperBound"] = json!(far);
                                }
                            } else {
                                step["MetricIntervalUpperBound"] = json!(-near);
                                if let Some(far) = far {
                                    step["MetricIntervalLowerBound"] = json!(-far);
                                }
                            }
                            step
                        })
                        .collect();
                    let mut config = json!({
                        "AdjustmentType": adjustment_type,
                        "StepAdjustments": steps,
                        "Cooldown": policy.cooldowns.0,
                        "MetricAggregationType": aggregation,
                    });
                    if let Some(magnitude) = min_adjustment_magnitude {
                        config["MinAdjustmentMagnitude"] = json!(magnitude);
                    }
                    json["PolicyType"] = json!("StepScaling");
                    json["StepScalingPolicyConfiguration"] = config;
                    let alarm_name = format!("{resource}-{name}-alarm");
                    if *listed {
                        json["Alarms"] = json!([{"AlarmName": alarm_name}]);
                    }
                    let mut alarm_json = metric_json(&alarm.metric);
                    alarm_json["AlarmName"] = json!(alarm_name);
                    alarm_json["AlarmActions"] = json!([arn]);
                    alarm_json["ActionsEnabled"] = json!(true);
                    alarm_json["Statistic"] = json!(alarm.metric.stat);
                    if alarm.metric.stat == "p99" {
                        alarm_json.as_object_mut().unwrap().remove("Statistic");
                        alarm_json["ExtendedStatistic"] = json!("p99");
                    }
                    alarm_json["Period"] = json!(alarm.period);
                    alarm_json["EvaluationPeriods"] = json!(alarm.evaluation_periods);
                    if let Some(m) = alarm.datapoints {
                        alarm_json["DatapointsToAlarm"] = json!(m);
                    }
                    alarm_json["Threshold"] = json!(alarm.threshold);
                    alarm_json["ComparisonOperator"] = json!(alarm.operator);
                    if let Some(missing) = alarm.missing {
                        alarm_json["TreatMissingData"] = json!(missing);
                    }
                    alarms.push(alarm_json);
                    None
                }
            };
            // The alarms AAS creates for a target tracking policy, named in the policy.
            if let Some(target) = target_value.filter(|_| policy.implicit_alarms) {
                let mut listed = Vec::new();
                for (side, operator, ratio, n) in [
                    ("High", "GreaterThanThreshold", 1.0, 3),
                    ("Low", "LessThanThreshold", 0.9, 15),
                ] {
                    let alarm_name = format!("TargetTracking-{resource}-Alarm{side}-{i}{j}");
                    listed.push(json!({"AlarmName": alarm_name}));
                    alarms.push(json!({
                        "AlarmName": alarm_name,
                        "AlarmActions": [format!("{arn}:createdBy/0")],
                        "MetricName": "Tracked",
                        "Namespace": "WebApp",
                        "Statistic": "Average",
                        "Period": 60,
                        "EvaluationPeriods": n,
                        "DatapointsToAlarm": n,
                        "Threshold": target * ratio,
                        "ComparisonOperator": operator,
                    }));
                }
                json["Alarms"] = Value::Array(listed);
            }
            policies.push(json);
        }
        for (j, action) in service.actions.iter().enumerate() {
            let mut bounds = json!({});
            if let Some(min) = action.bounds.0 {
                bounds["MinCapacity"] = json!(min);
            }
            if let Some(max) = action.bounds.1 {
                bounds["MaxCapacity"] = json!(max);
            }
            let mut json = json!({
                "ScheduledActionName": format!("action-{j}"),
                "ServiceNamespace": "ecs",
                "Schedule": action.schedule,
                "ResourceId": resource,
                "ScalableDimension": "ecs:service:DesiredCount",
                "ScalableTargetAction": bounds,
            });
            if let Some(zone) = action.timezone {
                json["Timezone"] = json!(zone);
            }
            if let Some((start, length, iso)) = action.window {
                json["StartTime"] = timestamp_json(start, iso);
                json["EndTime"] = timestamp_json(start + length, iso);
            }
            actions.push(json);
        }
    }
    [
        json!({"ScalableTargets": targets}),
        json!({"ScalingPolicies": policies}),
        json!({"ScheduledActions": actions}),
        json!({"MetricAlarms": alarms, "CompositeAlarms": []}),
    ]
    .map(|file| Some(serde_json::to_string_pretty(&file).unwrap()))
}

proptest! {
    // Each case writes, imports and reads back a dozen files: a quarter of the cases (64 by
    // default); PROPTEST_CASES scales these with the others.
    #![proptest_config(ProptestConfig {
        cases: ProptestConfig::default().cases / 4,
        ..ProptestConfig::default()
    })]

    #[test]
    fn import_of_mutated_aws_cli_json_never_panics_and_bad_input_names_the_field(
        scenario in 0..import_fixtures().len(),
        mutations in proptest::collection::vec(
            (0..IMPORT_FILES.len(), any::<prop::sample::Index>(), edit())
                .prop_map(|(file, at, edit)| Mutation { file, at, edit }),
            1..4,
        ),
    ) {
        let fixture = &import_fixtures()[scenario];
        let (files, touched) = mutate(fixture, &mutations);
        let dir = tempfile::tempdir().unwrap();
        write_import_dir(dir.path(), &files);
        if let Imported::Refused(message) = import_dir(dir.path(), &fixture.args)? {
            // Bad input: the error names the file and, within it, a field that was changed, or
            // where the JSON breaks (line and column) when raw text broke it.
            let file = IMPORT_FILES.iter().position(|name| message.contains(name));
            prop_assert!(file.is_some(), "no file named: {}", message);
            let file = file.unwrap();
            let named = touched[file].iter().any(|keys| {
                keys.is_empty() || keys.iter().any(|key| message.contains(key.as_str()))
            });
            let broken = mutations
                .iter()
                .any(|m| m.file == file && matches!(m.edit, Edit::Raw(_)));
            prop_assert!(
                named || (broken && message.contains(" at line ")),
                "no changed field named: {} (changed: {:?})",
                message,
                touched
            );
        }
    }

    #[test]
    fn import_of_arbitrary_json_files_never_panics(
        files in [
            proptest::option::of(json_value()),
            proptest::option::of(json_value()),
            proptest::option::of(json_value()),
            proptest::option::of(json_value()),
        ],
        wrap in any::<[bool; 4]>(),
    ) {
        // Arbitrary JSON, alone or under the key each file's answer has.
        let keys = ["ScalableTargets", "ScalingPolicies", "ScheduledActions", "MetricAlarms"];
        let mut texts: [Option<String>; 4] = Default::default();
        for (i, file) in files.into_iter().enumerate() {
            texts[i] = file.map(|value| {
                let value = if wrap[i] { json!({keys[i]: value}) } else { value };
                serde_json::to_string(&value).unwrap()
            });
        }
        let dir = tempfile::tempdir().unwrap();
        write_import_dir(dir.path(), &texts);
        if let Imported::Refused(message) = import_dir(dir.path(), &[])? {
            prop_assert!(IMPORT_FILES.iter().any(|name| message.contains(name)), "{}", message);
        }
    }

    #[test]
    fn import_of_valid_looking_aws_cli_json_writes_policy_sets_that_compile(
        services in proptest::collection::vec(service_gen(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_import_dir(dir.path(), &aws_cli_json(&services));
        // `import_dir` checks each written policy set against `compile`; here none may fail it.
        let written = import_dir(dir.path(), &[])?;
        prop_assert_eq!(written, Imported::Written(services.len()));
        let out = dir.path().join("out").join(POLICIES_DIR);
        for entry in std::fs::read_dir(out).unwrap() {
            let path = entry.unwrap().path();
            if let Err(error) = load_file(&path) {
                return Err(TestCaseError::fail(format!(
                    "{}: {error}\n{}",
                    path.display(),
                    std::fs::read_to_string(&path).unwrap()
                )));
            }
        }
    }
}

/// Runs `work` on its own thread; fails when it takes longer than `limit` (the thread is left
/// behind: it is a test failure either way).
fn within<T: Send + 'static>(
    limit: std::time::Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work());
    });
    result
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// The `exact` fixture with `change` applied to its file `file`, imported with `args`: what
/// the import did and the report.
fn import_changed_fixture(
    file: usize,
    change: impl FnOnce(&mut Value),
    args: &[&str],
) -> (Imported, String) {
    let fixture = &import_fixtures()[0];
    let mut files = fixture.files.clone();
    change(files[file].as_mut().unwrap());
    let texts = files.map(|file| file.map(|value| serde_json::to_string_pretty(&value).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    write_import_dir(dir.path(), &texts);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let path = dir.path().to_owned();
    let imported = within(std::time::Duration::from_secs(60), move || {
        import_dir(&path, &args).map_err(|e| e.to_string())
    })
    .unwrap();
    let report =
        std::fs::read_to_string(dir.path().join("out").join("REPORT.md")).unwrap_or_default();
    (imported, report)
}

/// Found by `import_of_mutated_aws_cli_json_never_panics_and_bad_input_names_the_field`: the
/// HPA tolerance row checked every capacity up to MaxCapacity, so 4294967295 took hours.
#[test]
fn an_import_with_a_max_capacity_in_the_billions_finishes_and_says_where_it_stopped() {
    let (imported, report) = import_changed_fixture(
        0,
        |targets| targets["ScalableTargets"][0]["MaxCapacity"] = json!(u32::MAX),
        &["--kubernetes-version", "1.32"],
    );
    assert_eq!(imported, Imported::Written(1));
    assert!(
        report.contains("replicas (checked up to 10001 replicas)"),
        "{report}"
    );
}

/// Found by `import_of_mutated_aws_cli_json_never_panics_and_bad_input_names_the_field`: a
/// MinCapacity above the MaxCapacity made the HPA tolerance row clamp to an empty range (a
/// panic). The policy set is written as is, and the report names the field to fix.
#[test]
fn a_min_capacity_above_the_max_capacity_is_reported_not_a_panic() {
    let (imported, report) = import_changed_fixture(
        0,
        |targets| {
            targets["ScalableTargets"][0]["MinCapacity"] = json!(1);
            targets["ScalableTargets"][0]["MaxCapacity"] = json!(0);
        },
        &["--kubernetes-version", "1.32"],
    );
    assert_eq!(imported, Imported::Written(1));
    assert!(
        report.contains("policy set check: spec.scalableTarget"),
        "{report}"
    );
}

/// Metric math whose expressions reference each other many times over grew exponentially
/// when written out (200 references on each of 9 levels: 200^9 copies).
#[test]
fn metric_math_that_references_itself_many_times_over_is_refused_not_written_out() {
    let (imported, report) = import_changed_fixture(
        1,
        |policies| {
            let tracking = policies["ScalingPolicies"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|p| p["PolicyType"] == "TargetTrackingScaling")
                .unwrap();
            let mut queries = vec![json!({
                "Id": "m1",
                "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Load"}, "Stat": "Sum"},
                "ReturnData": false,
            })];
            for k in 1..10 {
                queries.push(json!({
                    "Id": format!("e{k}"),
                    "Expression": vec![format!("e{}", k + 1); 200].join(" + "),
                    "ReturnData": k == 1,
                }));
            }
            queries.push(json!({"Id": "e10", "Expression": "m1", "ReturnData": false}));
            tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"] =
                json!({"Metrics": queries});
        },
        &[],
    );
    assert_eq!(imported, Imported::Written(1));
    assert!(
        report.contains("is longer than CloudWatch's 2048 characters"),
        "{report}"
    );
}

/// Found by `import_of_mutated_aws_cli_json_never_panics_and_bad_input_names_the_field`: JSON
/// broken between two top-level fields was reported at the field path `?`.
#[test]
fn broken_json_between_top_level_fields_is_refused_with_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: [Option<String>; 4] = import_fixtures()[0]
        .files
        .clone()
        .map(|file| file.map(|value| serde_json::to_string_pretty(&value).unwrap()));
    files[3] = Some("{\"MetricAlarms\": [], \"CompositeAlarms\": 0x10}".to_owned());
    write_import_dir(dir.path(), &files);
    let message = read_dir(dir.path()).expect_err("refused");
    assert!(
        message.ends_with("describe-alarms.json: expected `,` or `}` at line 1 column 42"),
        "{message}"
    );
}

/// A timestamp of the wrong type was refused as matching no variant of an untagged enum.
#[test]
fn a_timestamp_of_the_wrong_type_is_refused_saying_what_is_expected() {
    let (imported, _) = import_changed_fixture(
        0,
        |targets| targets["ScalableTargets"][0]["CreationTime"] = json!(true),
        &[],
    );
    let Imported::Refused(message) = imported else {
        panic!("{imported:?}");
    };
    assert!(
        message.contains(
            "ScalableTargets[0].CreationTime: invalid type: boolean `true`, expected epoch \
             seconds or an ISO 8601 timestamp"
        ),
        "{message}"
    );
}
