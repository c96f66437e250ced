//! A scheduled action's expression (`at(...)`, `rate(...)`, `cron(...)`), through
//! `Schedule::parse`, then `next_after` and `latest_at_or_before` at a few instants, as the
//! engine asks them.
//!
//! Input: byte 0 picks the time zone and whether the schedule has a start and an end time;
//! bytes 1..5 are an offset in seconds (a signed 32-bit integer, about +-68 years) from
//! 2026-01-05T12:00:00Z, one of the instants asked; the rest is the expression (UTF-8, others
//! are skipped).
//!
//! Checked: no panic; `next_after(t)` is after `t` and `latest_at_or_before(t)` at or before
//! it, both within the start and end times.

#![no_main]

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use ecs_scaler::engine::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

/// UTC, a DST zone of each hemisphere, Lord Howe's 30-minute DST, a zone with no DST and a
/// quarter-hour offset, and Chatham's +12:45/+13:45.
const ZONES: [Tz; 6] = [
    Tz::UTC,
    Tz::America__New_York,
    Tz::Australia__Sydney,
    Tz::Australia__Lord_Howe,
    Tz::Asia__Kathmandu,
    Tz::Pacific__Chatham,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((offset, expression)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let Ok(expression) = std::str::from_utf8(expression) else {
        return;
    };
    let zone = ZONES[usize::from(selector) % ZONES.len()];
    let base = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
    let start = (selector & 0x40 != 0).then(|| base - TimeDelta::days(400));
    let end = (selector & 0x80 != 0).then(|| base + TimeDelta::days(400));
    let Ok(schedule) = Schedule::parse(expression, zone, start, end) else {
        return;
    };
    let instants: [DateTime<Utc>; 6] = [
        base,
        base + TimeDelta::seconds(i64::from(i32::from_le_bytes(*offset))),
        // New York's spring-forward and Sydney's fall-back (both 2026), in UTC.
        Utc.with_ymd_and_hms(2026, 3, 8, 6, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2026, 4, 4, 15, 30, 0).unwrap(),
        DateTime::UNIX_EPOCH,
        Utc.with_ymd_and_hms(2099, 12, 31, 23, 59, 59).unwrap(),
    ];
    let within = |at: DateTime<Utc>| start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e);
    for at in instants {
        if let Some(next) = schedule.next_after(at) {
            assert!(next > at, "next_after({at}) = {next} for {schedule:?}");
            assert!(within(next), "next_after({at}) = {next} for {schedule:?}");
        }
        if let Some(latest) = schedule.latest_at_or_before(at) {
            assert!(
                latest <= at,
                "latest_at_or_before({at}) = {latest} for {schedule:?}"
            );
            assert!(
                within(latest),
                "latest_at_or_before({at}) = {latest} for {schedule:?}"
            );
        }
    }
});
