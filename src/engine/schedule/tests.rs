use super::*;

use chrono::{Datelike, Timelike, Weekday};

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 instant")
}

fn zone(name: &str) -> Tz {
    name.parse().expect("an IANA time zone")
}

fn new_york() -> Tz {
    zone("America/New_York")
}

fn parse(expression: &str) -> Schedule {
    Schedule::parse(expression, Tz::UTC, None, None).unwrap_or_else(|e| panic!("{expression}: {e}"))
}

fn parse_in(expression: &str, tz: Tz) -> Schedule {
    Schedule::parse(expression, tz, None, None).unwrap_or_else(|e| panic!("{expression}: {e}"))
}

fn parse_error(expression: &str) -> String {
    match Schedule::parse(expression, Tz::UTC, None, None) {
        Ok(schedule) => panic!("{expression} parsed as {schedule:?}"),
        Err(message) => message,
    }
}

/// The first `count` runs strictly after `from`.
fn runs(schedule: &Schedule, from: &str, count: usize) -> Vec<DateTime<Utc>> {
    let mut found = Vec::with_capacity(count);
    let mut at = utc(from);
    while found.len() < count {
        match schedule.next_after(at) {
            Some(next) => {
                assert!(next > at, "next_after({at}) returned {next}");
                found.push(next);
                at = next;
            }
            None => break,
        }
    }
    found
}

fn instants(texts: &[&str]) -> Vec<DateTime<Utc>> {
    texts.iter().map(|t| utc(t)).collect()
}

// ---------------------------------------------------------------------------------------------
// Expression syntax
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_expression_is_rejected_with_the_three_forms() {
    for expression in [
        "",
        "daily",
        "every(5 minutes)",
        "cron 0 8 * * ? *",
        "rate(5 minutes",
    ] {
        let message = parse_error(expression);
        assert!(
            message.contains("is not a schedule"),
            "{expression}: {message}"
        );
        assert!(message.contains("at(yyyy-mm-ddThh:mm:ss)"), "{message}");
        assert!(message.contains("rate("), "{message}");
        assert!(message.contains("cron("), "{message}");
    }
}

#[test]
fn surrounding_and_inner_whitespace_is_allowed() {
    assert!(matches!(
        parse("  rate( 5 minutes )  ").recurrence(),
        Recurrence::Rate {
            every_seconds: 300,
            ..
        }
    ));
    assert!(matches!(
        parse("cron (0 8 * * ? *)").recurrence(),
        Recurrence::Cron { .. }
    ));
}

// ---------------------------------------------------------------------------------------------
// at(..)
// ---------------------------------------------------------------------------------------------

#[test]
fn at_is_read_in_utc_by_default() {
    let schedule = parse("at(2025-06-01T08:00:00)");
    let Recurrence::At(when) = schedule.recurrence() else {
        panic!("an at() recurrence");
    };
    assert_eq!(*when, utc("2025-06-01T08:00:00Z"));
}

#[test]
fn at_is_read_in_the_action_time_zone() {
    let summer = parse_in("at(2025-06-01T08:00:00)", new_york());
    assert_eq!(
        summer.next_after(utc("2025-01-01T00:00:00Z")),
        Some(utc("2025-06-01T12:00:00Z")),
        "EDT is UTC-4"
    );
    let winter = parse_in("at(2025-12-01T08:00:00)", new_york());
    assert_eq!(
        winter.next_after(utc("2025-01-01T00:00:00Z")),
        Some(utc("2025-12-01T13:00:00Z")),
        "EST is UTC-5"
    );
    let tokyo = parse_in("at(2025-06-01T08:00:00)", zone("Asia/Tokyo"));
    assert_eq!(
        tokyo.next_after(utc("2025-01-01T00:00:00Z")),
        Some(utc("2025-05-31T23:00:00Z"))
    );
}

#[test]
fn at_requires_a_local_date_and_time_with_seconds() {
    for body in [
        "2025-06-01T08:00",
        "2025-06-01 08:00:00",
        "2025-06-01",
        "2025-06-01T08:00:00Z",
        "2025-06-01T08:00:00+02:00",
        "2025-13-01T08:00:00",
        "2025-02-30T08:00:00",
        "2025-06-01T24:00:00",
        "tomorrow",
    ] {
        let message = parse_error(&format!("at({body})"));
        assert!(message.contains("yyyy-mm-ddThh:mm:ss"), "{body}: {message}");
    }
}

#[test]
fn at_runs_once() {
    let schedule = parse("at(2025-06-01T08:00:00)");
    let when = utc("2025-06-01T08:00:00Z");
    assert_eq!(schedule.next_after(utc("2025-06-01T07:59:59Z")), Some(when));
    assert_eq!(schedule.next_after(when), None, "strictly after");
    assert_eq!(schedule.next_after(utc("2026-01-01T00:00:00Z")), None);
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-01T07:59:59Z")),
        None
    );
    assert_eq!(
        schedule.latest_at_or_before(when),
        Some(when),
        "at or before"
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2030-01-01T00:00:00Z")),
        Some(when)
    );
}

#[test]
fn at_in_the_spring_forward_gap_runs_at_the_first_instant_after_the_gap() {
    // 2025-03-09 in New York: 02:00 EST jumps to 03:00 EDT (07:00Z); 02:30 does not exist.
    let schedule = parse_in("at(2025-03-09T02:30:00)", new_york());
    assert_eq!(
        schedule.next_after(utc("2025-03-01T00:00:00Z")),
        Some(utc("2025-03-09T07:00:00Z"))
    );
}

#[test]
fn at_in_the_fall_back_overlap_runs_at_the_first_occurrence() {
    // 2025-11-02 in New York: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    let schedule = parse_in("at(2025-11-02T01:30:00)", new_york());
    assert_eq!(
        schedule.next_after(utc("2025-11-01T00:00:00Z")),
        Some(utc("2025-11-02T05:30:00Z"))
    );
}

#[test]
fn at_before_the_start_time_or_after_the_end_time_never_runs() {
    let before_start = Schedule::parse(
        "at(2025-06-01T08:00:00)",
        Tz::UTC,
        Some(utc("2025-07-01T00:00:00Z")),
        None,
    )
    .unwrap();
    assert_eq!(before_start.next_after(utc("2025-01-01T00:00:00Z")), None);
    assert_eq!(
        before_start.latest_at_or_before(utc("2026-01-01T00:00:00Z")),
        None
    );

    let after_end = Schedule::parse(
        "at(2025-06-01T08:00:00)",
        Tz::UTC,
        None,
        Some(utc("2025-05-01T00:00:00Z")),
    )
    .unwrap();
    assert_eq!(after_end.next_after(utc("2025-01-01T00:00:00Z")), None);
    assert_eq!(
        after_end.latest_at_or_before(utc("2026-01-01T00:00:00Z")),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// rate(..)
// ---------------------------------------------------------------------------------------------

#[test]
fn rate_accepts_minutes_hours_and_days_singular_and_plural() {
    for (expression, seconds) in [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3_600),
        ("rate(12 hours)", 43_200),
        ("rate(1 day)", 86_400),
        ("rate(7 days)", 604_800),
    ] {
        let Recurrence::Rate { every_seconds, .. } = parse(expression).recurrence().clone() else {
            panic!("{expression}: a rate recurrence");
        };
        assert_eq!(every_seconds, seconds, "{expression}");
    }
}

#[test]
fn rate_requires_a_positive_integer_and_a_known_unit() {
    for (body, needle) in [
        ("0 minutes", "N a positive integer"),
        ("-5 minutes", "N a positive integer"),
        ("1.5 hours", "N a positive integer"),
        ("five minutes", "N a positive integer"),
        ("5", "N a positive integer"),
        ("", "N a positive integer"),
        ("5 minutes please", "N a positive integer"),
        ("30 seconds", "unknown unit `seconds`"),
        ("2 weeks", "unknown unit `weeks`"),
        ("1 Minute", "unknown unit `Minute`"),
    ] {
        let message = parse_error(&format!("rate({body})"));
        assert!(message.contains(needle), "rate({body}): {message}");
    }
}

#[test]
fn rate_is_anchored_at_the_epoch_without_a_start_time() {
    let schedule = parse("rate(1 hour)");
    let Recurrence::Rate { anchor, .. } = schedule.recurrence() else {
        panic!("a rate recurrence");
    };
    assert_eq!(*anchor, DateTime::UNIX_EPOCH);
    // Runs on the hour, whatever instant it is asked from: every replica agrees.
    assert_eq!(
        runs(&schedule, "2025-06-01T08:17:42Z", 3),
        instants(&[
            "2025-06-01T09:00:00Z",
            "2025-06-01T10:00:00Z",
            "2025-06-01T11:00:00Z"
        ])
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-01T08:17:42Z")),
        Some(utc("2025-06-01T08:00:00Z"))
    );
    // rate(7 days) from the epoch (a Thursday) runs on Thursdays at 00:00 UTC.
    let weekly = parse("rate(7 days)");
    let next = weekly.next_after(utc("2025-06-01T00:00:00Z")).unwrap();
    assert_eq!(next, utc("2025-06-05T00:00:00Z"));
    assert_eq!(next.weekday(), Weekday::Thu);
}

#[test]
fn rate_is_anchored_at_the_start_time() {
    let start = utc("2025-06-01T08:17:00Z");
    let schedule = Schedule::parse("rate(30 minutes)", Tz::UTC, Some(start), None).unwrap();
    let Recurrence::Rate { anchor, .. } = schedule.recurrence() else {
        panic!("a rate recurrence");
    };
    assert_eq!(*anchor, start);
    // The first run is at the start time itself, then every 30 minutes from it.
    assert_eq!(
        runs(&schedule, "2025-01-01T00:00:00Z", 3),
        instants(&[
            "2025-06-01T08:17:00Z",
            "2025-06-01T08:47:00Z",
            "2025-06-01T09:17:00Z"
        ])
    );
    assert_eq!(
        runs(&schedule, "2025-06-02T00:00:00Z", 1),
        instants(&["2025-06-02T00:17:00Z"])
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-01T08:16:59Z")),
        None
    );
    assert_eq!(schedule.latest_at_or_before(start), Some(start));
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-01T09:16:59Z")),
        Some(utc("2025-06-01T08:47:00Z"))
    );
}

#[test]
fn rate_ignores_the_time_zone_and_daylight_saving_time() {
    // A rate counts elapsed time: 24 hours across the spring-forward night are 24 real hours.
    let start = utc("2025-03-08T12:00:00Z");
    let schedule = Schedule::parse("rate(1 day)", new_york(), Some(start), None).unwrap();
    assert_eq!(
        runs(&schedule, "2025-03-08T12:00:00Z", 2),
        instants(&["2025-03-09T12:00:00Z", "2025-03-10T12:00:00Z"])
    );
}

#[test]
fn rate_next_after_a_run_is_the_following_run() {
    let schedule = parse("rate(5 minutes)");
    let run = utc("2025-06-01T08:05:00Z");
    assert_eq!(schedule.next_after(run), Some(utc("2025-06-01T08:10:00Z")));
    assert_eq!(schedule.latest_at_or_before(run), Some(run));
}

// ---------------------------------------------------------------------------------------------
// cron(..): the AWS dialect
// ---------------------------------------------------------------------------------------------

#[test]
fn cron_has_exactly_six_fields() {
    for (body, found) in [
        ("0 8 * * ?", 5),
        ("0 0 8 * * ? *", 7),
        ("0 8 * * ? * *", 7),
        ("", 0),
        ("@daily", 1),
    ] {
        let message = parse_error(&format!("cron({body})"));
        assert!(
            message.contains("expected 6 fields"),
            "cron({body}): {message}"
        );
        assert!(
            message.contains(&format!("found {found}")),
            "cron({body}): {message}"
        );
    }
}

#[test]
fn cron_requires_question_mark_in_exactly_one_day_field() {
    for body in [
        "0 8 ? * ? *",
        "0 8 * * * *",
        "0 8 1 * MON *",
        "0 8 * * MON *",
        "0 8 1 * * *",
    ] {
        let message = parse_error(&format!("cron({body})"));
        assert!(
            message.contains("exactly one of day-of-month and day-of-week must be `?`"),
            "cron({body}): {message}"
        );
    }
    for body in ["0 8 ? * MON *", "0 8 * * ? *", "0 8 1 * ? *", "0 8 ? * * *"] {
        parse(&format!("cron({body})"));
    }
}

#[test]
fn cron_rejects_values_out_of_range() {
    for body in [
        "60 8 * * ? *",  // minute
        "0 24 * * ? *",  // hour
        "0 8 32 * ? *",  // day of month
        "0 8 0 * ? *",   // day of month starts at 1
        "0 8 * 13 ? *",  // month
        "0 8 * 0 ? *",   // month starts at 1
        "0 8 ? * 0 *",   // Quartz week days are 1..7
        "0 8 ? * 8 *",   // Quartz week days are 1..7
        "0 8 ? * FUN *", // not a day name
        "0 8 * FOO ? *", // not a month name
        "x 8 * * ? *",
        "0 8 * * ? 20x5",
    ] {
        let message = parse_error(&format!("cron({body})"));
        assert!(message.starts_with(&format!("cron({body}): ")), "{message}");
    }
}

#[test]
fn cron_question_mark_is_only_for_the_day_fields() {
    for body in ["? 8 * * ? *", "0 ? * * ? *", "0 8 * ? ? *", "0 8 ? * * ?"] {
        parse_error(&format!("cron({body})"));
    }
}

#[test]
fn cron_runs_at_second_zero_of_the_minute() {
    let schedule = parse("cron(15 10 * * ? *)");
    let next = schedule.next_after(utc("2025-06-01T10:15:00.5Z")).unwrap();
    assert_eq!(next, utc("2025-06-02T10:15:00Z"));
    assert_eq!((next.second(), next.nanosecond()), (0, 0));
    assert_eq!(
        schedule.next_after(utc("2025-06-01T10:14:59Z")),
        Some(utc("2025-06-01T10:15:00Z"))
    );
}

#[test]
fn cron_weekday_numbers_are_quartz_1_is_sunday_7_is_saturday() {
    // Week of Sunday 2025-06-01 .. Saturday 2025-06-07.
    for (number, day) in [
        (1, "2025-06-01"),
        (2, "2025-06-02"),
        (3, "2025-06-03"),
        (4, "2025-06-04"),
        (5, "2025-06-05"),
        (6, "2025-06-06"),
        (7, "2025-06-07"),
    ] {
        let schedule = parse(&format!("cron(0 12 ? * {number} *)"));
        assert_eq!(
            schedule.next_after(utc("2025-05-31T13:00:00Z")),
            Some(utc(&format!("{day}T12:00:00Z"))),
            "week day {number}"
        );
    }
}

#[test]
fn cron_weekday_names_match_their_quartz_numbers() {
    for (name, number) in [
        ("SUN", 1),
        ("MON", 2),
        ("TUE", 3),
        ("WED", 4),
        ("THU", 5),
        ("FRI", 6),
        ("SAT", 7),
    ] {
        let by_name = parse(&format!("cron(0 12 ? * {name} *)"));
        let by_number = parse(&format!("cron(0 12 ? * {number} *)"));
        assert_eq!(
            runs(&by_name, "2025-06-01T00:00:00Z", 3),
            runs(&by_number, "2025-06-01T00:00:00Z", 3),
            "{name}"
        );
    }
}

#[test]
fn cron_month_names_and_numbers_are_the_same() {
    let by_name = parse("cron(0 0 1 JAN,JUL ? *)");
    let by_number = parse("cron(0 0 1 1,7 ? *)");
    let expected = instants(&[
        "2025-07-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-07-01T00:00:00Z",
    ]);
    assert_eq!(runs(&by_name, "2025-06-01T00:00:00Z", 3), expected);
    assert_eq!(runs(&by_number, "2025-06-01T00:00:00Z", 3), expected);
}

#[test]
fn cron_weekdays_mon_fri_fires_only_on_weekdays() {
    let schedule = parse_in("cron(0 8 ? * MON-FRI *)", new_york());
    let found = runs(&schedule, "2025-06-01T00:00:00Z", 20); // from Sunday, four weeks
    assert_eq!(found.len(), 20);
    for run in &found {
        let local = run.with_timezone(&new_york());
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "{local} is a week-end"
        );
        assert_eq!((local.hour(), local.minute(), local.second()), (8, 0, 0));
    }
    assert_eq!(found[0], utc("2025-06-02T12:00:00Z"), "Monday");
    assert_eq!(found[4], utc("2025-06-06T12:00:00Z"), "Friday");
    assert_eq!(found[5], utc("2025-06-09T12:00:00Z"), "then Monday again");
    // Asked on Saturday, the latest run is Friday's.
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-07T18:00:00Z")),
        Some(utc("2025-06-06T12:00:00Z"))
    );
}

#[test]
fn cron_weekday_numeric_ranges_and_name_lists() {
    // 2-6 (MON-FRI) as numbers matches the names.
    assert_eq!(
        runs(&parse("cron(0 8 ? * 2-6 *)"), "2025-06-01T00:00:00Z", 10),
        runs(
            &parse("cron(0 8 ? * MON-FRI *)"),
            "2025-06-01T00:00:00Z",
            10
        )
    );
    // SAT,SUN is the week-end.
    let weekend = runs(&parse("cron(0 8 ? * SAT,SUN *)"), "2025-06-02T00:00:00Z", 4);
    assert_eq!(
        weekend,
        instants(&[
            "2025-06-07T08:00:00Z",
            "2025-06-08T08:00:00Z",
            "2025-06-14T08:00:00Z",
            "2025-06-15T08:00:00Z",
        ])
    );
}

#[test]
fn cron_l_in_day_of_month_is_the_last_day_of_the_month() {
    let schedule = parse("cron(0 20 L * ? *)");
    assert_eq!(
        runs(&schedule, "2024-01-15T00:00:00Z", 4),
        instants(&[
            "2024-01-31T20:00:00Z",
            "2024-02-29T20:00:00Z", // leap year
            "2024-03-31T20:00:00Z",
            "2024-04-30T20:00:00Z",
        ])
    );
    assert_eq!(
        schedule.next_after(utc("2025-02-01T00:00:00Z")),
        Some(utc("2025-02-28T20:00:00Z"))
    );
}

#[test]
fn cron_nl_in_day_of_week_is_the_last_such_weekday_of_the_month() {
    // 6L: the last Friday.
    let schedule = parse("cron(0 12 ? * 6L *)");
    assert_eq!(
        runs(&schedule, "2025-01-01T00:00:00Z", 3),
        instants(&[
            "2025-01-31T12:00:00Z",
            "2025-02-28T12:00:00Z",
            "2025-03-28T12:00:00Z"
        ])
    );
}

#[test]
fn cron_w_is_the_nearest_weekday() {
    let schedule = parse("cron(0 12 15W * ? *)");
    assert_eq!(
        runs(&schedule, "2025-02-01T00:00:00Z", 5),
        instants(&[
            "2025-02-14T12:00:00Z", // the 15th is a Saturday: Friday
            "2025-03-14T12:00:00Z", // the 15th is a Saturday: Friday
            "2025-04-15T12:00:00Z", // a Tuesday
            "2025-05-15T12:00:00Z", // a Thursday
            "2025-06-16T12:00:00Z", // the 15th is a Sunday: Monday
        ])
    );
}

#[test]
fn cron_hash_is_the_nth_weekday_of_the_month() {
    // 2#1: the first Monday.
    assert_eq!(
        runs(&parse("cron(0 12 ? * 2#1 *)"), "2025-01-01T00:00:00Z", 3),
        instants(&[
            "2025-01-06T12:00:00Z",
            "2025-02-03T12:00:00Z",
            "2025-03-03T12:00:00Z"
        ])
    );
    // 6#3: the third Friday.
    assert_eq!(
        runs(&parse("cron(0 12 ? * 6#3 *)"), "2025-01-01T00:00:00Z", 2),
        instants(&["2025-01-17T12:00:00Z", "2025-02-21T12:00:00Z"])
    );
}

#[test]
fn cron_steps_ranges_and_lists() {
    // 0/15: every 15 minutes from minute 0.
    assert_eq!(
        runs(&parse("cron(0/15 * * * ? *)"), "2025-06-01T10:07:00Z", 4),
        instants(&[
            "2025-06-01T10:15:00Z",
            "2025-06-01T10:30:00Z",
            "2025-06-01T10:45:00Z",
            "2025-06-01T11:00:00Z",
        ])
    );
    // 5/20: minutes 5, 25, 45.
    assert_eq!(
        runs(&parse("cron(5/20 10 * * ? *)"), "2025-06-01T00:00:00Z", 4),
        instants(&[
            "2025-06-01T10:05:00Z",
            "2025-06-01T10:25:00Z",
            "2025-06-01T10:45:00Z",
            "2025-06-02T10:05:00Z",
        ])
    );
    // */30 and a range of hours with a step.
    assert_eq!(
        runs(
            &parse("cron(*/30 9-17/4 * * ? *)"),
            "2025-06-01T00:00:00Z",
            6
        ),
        instants(&[
            "2025-06-01T09:00:00Z",
            "2025-06-01T09:30:00Z",
            "2025-06-01T13:00:00Z",
            "2025-06-01T13:30:00Z",
            "2025-06-01T17:00:00Z",
            "2025-06-01T17:30:00Z",
        ])
    );
    // A list of days and a list of hours.
    assert_eq!(
        runs(&parse("cron(0 6,18 1,15 * ? *)"), "2025-06-01T00:00:00Z", 4),
        instants(&[
            "2025-06-01T06:00:00Z",
            "2025-06-01T18:00:00Z",
            "2025-06-15T06:00:00Z",
            "2025-06-15T18:00:00Z",
        ])
    );
}

#[test]
fn cron_year_field_limits_the_years() {
    let schedule = parse("cron(0 12 1 1 ? 2027-2028)");
    assert_eq!(
        runs(&schedule, "2025-06-01T00:00:00Z", 3),
        instants(&["2027-01-01T12:00:00Z", "2028-01-01T12:00:00Z"])
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2026-06-01T00:00:00Z")),
        None
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2030-06-01T00:00:00Z")),
        Some(utc("2028-01-01T12:00:00Z"))
    );
    let past = parse("cron(0 12 * * ? 2020)");
    assert_eq!(past.next_after(utc("2025-06-01T00:00:00Z")), None);
}

#[test]
fn cron_that_never_matches_has_no_run() {
    // February 31st does not exist.
    let schedule = parse("cron(0 12 31 2 ? *)");
    assert_eq!(schedule.next_after(utc("2025-06-01T00:00:00Z")), None);
}

// ---------------------------------------------------------------------------------------------
// cron(..) in IANA time zones, with daylight saving time
// ---------------------------------------------------------------------------------------------

#[test]
fn daily_cron_follows_daylight_saving_time() {
    let schedule = parse_in("cron(0 8 * * ? *)", new_york());
    // Summer (EDT, UTC-4): 08:00 local is 12:00Z.
    assert_eq!(
        schedule.next_after(utc("2025-07-15T00:00:00Z")),
        Some(utc("2025-07-15T12:00:00Z"))
    );
    // Winter (EST, UTC-5): 08:00 local is 13:00Z.
    assert_eq!(
        schedule.next_after(utc("2025-01-15T00:00:00Z")),
        Some(utc("2025-01-15T13:00:00Z"))
    );
    // Across the spring-forward night (2025-03-09) the UTC hour moves from 13 to 12.
    assert_eq!(
        runs(&schedule, "2025-03-08T00:00:00Z", 3),
        instants(&[
            "2025-03-08T13:00:00Z",
            "2025-03-09T12:00:00Z",
            "2025-03-10T12:00:00Z"
        ])
    );
    // Across the fall-back night (2025-11-02) it moves back from 12 to 13.
    assert_eq!(
        runs(&schedule, "2025-11-01T00:00:00Z", 3),
        instants(&[
            "2025-11-01T12:00:00Z",
            "2025-11-02T13:00:00Z",
            "2025-11-03T13:00:00Z"
        ])
    );
}

#[test]
fn cron_in_utc_does_not_move() {
    let schedule = parse("cron(0 8 * * ? *)");
    assert_eq!(
        runs(&schedule, "2025-03-08T00:00:00Z", 3),
        instants(&[
            "2025-03-08T08:00:00Z",
            "2025-03-09T08:00:00Z",
            "2025-03-10T08:00:00Z"
        ])
    );
}

#[test]
fn cron_in_a_southern_hemisphere_zone_follows_its_own_daylight_saving_time() {
    // Sydney: AEDT (UTC+11) until 03:00 on 2025-04-06, then AEST (UTC+10).
    let schedule = parse_in("cron(0 9 * * ? *)", zone("Australia/Sydney"));
    assert_eq!(
        runs(&schedule, "2025-04-04T00:00:00Z", 3),
        instants(&[
            "2025-04-04T22:00:00Z", // 04-05 09:00 AEDT
            "2025-04-05T23:00:00Z", // 04-06 09:00 AEST
            "2025-04-06T23:00:00Z", // 04-07 09:00 AEST
        ])
    );
}

#[test]
fn cron_in_the_spring_forward_gap_runs_at_the_first_instant_after_the_gap() {
    // 2025-03-09, New York: 02:00 EST (07:00Z) becomes 03:00 EDT; 02:30 local does not exist.
    // croner runs a fixed-time job that falls in the gap at the first instant after it:
    // 03:00 EDT = 07:00Z (not skipped, not at 03:30).
    let schedule = parse_in("cron(30 2 * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-03-08T00:00:00Z", 3),
        instants(&[
            "2025-03-08T07:30:00Z", // 02:30 EST
            "2025-03-09T07:00:00Z", // 03:00 EDT: the first instant after the gap
            "2025-03-10T06:30:00Z", // 02:30 EDT
        ])
    );
    // Looking back from the gap day, the run after the gap is the latest one.
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-03-09T07:00:00Z")),
        Some(utc("2025-03-09T07:00:00Z"))
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-03-09T06:59:59Z")),
        Some(utc("2025-03-08T07:30:00Z"))
    );
    // 02:00 itself, the first skipped minute, runs at 03:00 EDT too.
    let at_two = parse_in("cron(0 2 * * ? *)", new_york());
    assert_eq!(
        at_two.next_after(utc("2025-03-09T06:00:00Z")),
        Some(utc("2025-03-09T07:00:00Z"))
    );
}

#[test]
fn interval_cron_skips_the_minutes_of_the_spring_forward_gap() {
    // `15 * ..` is not a fixed-time job: croner skips 02:15, which does not exist, and runs
    // at 03:15 EDT next.
    let schedule = parse_in("cron(15 * * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-03-09T06:00:00Z", 2),
        instants(&["2025-03-09T06:15:00Z", "2025-03-09T07:15:00Z"])
    );
}

#[test]
fn cron_in_the_fall_back_overlap_runs_once_at_the_first_occurrence() {
    // 2025-11-02, New York: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    let schedule = parse_in("cron(30 1 * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-11-01T00:00:00Z", 3),
        instants(&[
            "2025-11-01T05:30:00Z", // 01:30 EDT
            "2025-11-02T05:30:00Z", // 01:30 EDT, the first of the two
            "2025-11-03T06:30:00Z", // 01:30 EST: the repeated 01:30 (06:30Z on 11-02) is skipped
        ])
    );
    // From inside the repeated hour, the latest run is still the first 01:30.
    for at in [
        "2025-11-02T06:00:00Z",
        "2025-11-02T06:30:00Z",
        "2025-11-02T06:45:00Z",
    ] {
        assert_eq!(
            schedule.latest_at_or_before(utc(at)),
            Some(utc("2025-11-02T05:30:00Z")),
            "{at}"
        );
        assert_eq!(
            schedule.next_after(utc(at)),
            Some(utc("2025-11-03T06:30:00Z")),
            "{at}"
        );
    }
}

#[test]
fn interval_cron_skips_every_listed_time_inside_the_spring_forward_gap() {
    // `0,30 2` lists two minutes: not a fixed-time job, so croner does not carry it past the
    // gap. On 2025-03-09 neither 02:00 nor 02:30 exists in New York, and nothing runs that day.
    let schedule = parse_in("cron(0,30 2 * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-03-09T05:00:00Z", 2),
        instants(&["2025-03-10T06:00:00Z", "2025-03-10T06:30:00Z"])
    );
    // With a range of hours, only the hour that exists runs.
    let schedule = parse_in("cron(30 1-2 * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-03-09T05:00:00Z", 2),
        instants(&["2025-03-09T06:30:00Z", "2025-03-10T05:30:00Z"])
    );
}

#[test]
fn interval_cron_runs_on_both_occurrences_of_a_repeated_local_time() {
    // 2025-11-02, New York: the hour 01:00-02:00 happens twice (EDT, then EST).
    let schedule = parse_in("cron(30 1-2 * * ? *)", new_york());
    assert_eq!(
        runs(&schedule, "2025-11-02T04:00:00Z", 4),
        instants(&[
            "2025-11-02T05:30:00Z", // 01:30 EDT
            "2025-11-02T06:30:00Z", // 01:30 EST
            "2025-11-02T07:30:00Z", // 02:30 EST
            "2025-11-03T06:30:00Z", // 01:30 EST
        ])
    );
    let hourly = parse_in("cron(30 * * * ? *)", new_york());
    assert_eq!(
        runs(&hourly, "2025-11-02T04:00:00Z", 4),
        instants(&[
            "2025-11-02T04:30:00Z", // 00:30 EDT
            "2025-11-02T05:30:00Z", // 01:30 EDT
            "2025-11-02T06:30:00Z", // 01:30 EST
            "2025-11-02T07:30:00Z", // 02:30 EST
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// startTime and endTime
// ---------------------------------------------------------------------------------------------

#[test]
fn cron_with_start_time_first_runs_at_its_first_match_at_or_after_the_start() {
    let start = utc("2025-06-03T12:00:00Z"); // a Tuesday at 08:00 New York time
    let schedule =
        Schedule::parse("cron(0 8 ? * MON-FRI *)", new_york(), Some(start), None).unwrap();
    assert_eq!(
        schedule.next_after(utc("2025-01-01T00:00:00Z")),
        Some(start),
        "at the start"
    );
    let later_start = utc("2025-06-03T12:00:01Z");
    let schedule = Schedule::parse(
        "cron(0 8 ? * MON-FRI *)",
        new_york(),
        Some(later_start),
        None,
    )
    .unwrap();
    assert_eq!(
        schedule.next_after(utc("2025-01-01T00:00:00Z")),
        Some(utc("2025-06-04T12:00:00Z")),
        "the first match after the start"
    );
}

#[test]
fn next_after_ignores_runs_before_the_start_time() {
    let start = utc("2025-06-10T00:00:00Z");
    let schedule = Schedule::parse("cron(0 8 * * ? *)", Tz::UTC, Some(start), None).unwrap();
    assert_eq!(
        schedule.next_after(utc("2025-06-01T00:00:00Z")),
        Some(utc("2025-06-10T08:00:00Z"))
    );
    // After the start, the recurrence continues normally.
    assert_eq!(
        schedule.next_after(utc("2025-06-10T08:00:00Z")),
        Some(utc("2025-06-11T08:00:00Z"))
    );
}

#[test]
fn latest_at_or_before_the_start_time_is_none() {
    let start = utc("2025-06-10T00:00:00Z");
    let schedule = Schedule::parse("cron(0 8 * * ? *)", Tz::UTC, Some(start), None).unwrap();
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-09T23:59:59Z")),
        None
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-10T07:59:59Z")),
        None
    );
    assert_eq!(
        schedule.latest_at_or_before(utc("2025-06-10T08:00:00Z")),
        Some(utc("2025-06-10T08:00:00Z"))
    );
}

#[test]
fn next_after_the_end_time_is_none() {
    let end = utc("2025-06-12T08:00:00Z");
    for expression in ["cron(0 8 * * ? *)", "rate(1 day)"] {
        let start = utc("2025-06-10T08:00:00Z");
        let schedule = Schedule::parse(expression, Tz::UTC, Some(start), Some(end)).unwrap();
        // A run exactly at the end time still happens; none after it.
        assert_eq!(
            runs(&schedule, "2025-06-01T00:00:00Z", 5),
            instants(&[
                "2025-06-10T08:00:00Z",
                "2025-06-11T08:00:00Z",
                "2025-06-12T08:00:00Z"
            ]),
            "{expression}"
        );
        assert_eq!(schedule.next_after(end), None, "{expression}");
        assert_eq!(
            schedule.next_after(utc("2026-01-01T00:00:00Z")),
            None,
            "{expression}"
        );
    }
}

#[test]
fn latest_at_or_before_after_the_end_time_is_the_last_run_before_the_end() {
    let end = utc("2025-06-12T10:00:00Z");
    for expression in ["cron(0 8 * * ? *)", "rate(1 day)"] {
        let start = utc("2025-06-10T08:00:00Z");
        let schedule = Schedule::parse(expression, Tz::UTC, Some(start), Some(end)).unwrap();
        assert_eq!(
            schedule.latest_at_or_before(utc("2025-07-01T00:00:00Z")),
            Some(utc("2025-06-12T08:00:00Z")),
            "{expression}"
        );
        assert_eq!(
            schedule.latest_at_or_before(utc("2025-06-11T09:00:00Z")),
            Some(utc("2025-06-11T08:00:00Z")),
            "{expression}"
        );
    }
}

#[test]
fn debug_shows_the_recurrence() {
    let text = format!("{:?}", parse_in("cron(0 8 ? * MON-FRI *)", new_york()));
    assert!(text.contains("Cron("), "{text}");
    assert!(text.contains("America/New_York"), "{text}");
    assert!(format!("{:?}", parse("rate(5 minutes)")).contains("Rate(300s"));
    assert!(
        format!("{:?}", parse("at(2025-06-01T08:00:00)")).contains("At(2025-06-01 08:00:00 UTC)")
    );
}

#[test]
fn schedules_at_the_edge_of_the_calendar_do_not_panic() {
    let far = DateTime::<Utc>::MAX_UTC - chrono::Duration::hours(1);
    let rate = Schedule::parse("rate(1 day)", Tz::UTC, Some(far), None).unwrap();
    assert_eq!(
        rate.next_after(far),
        None,
        "the next run is past the last representable date"
    );
    assert_eq!(rate.latest_at_or_before(far), Some(far));
    let early = Schedule::parse(
        "rate(1 minute)",
        Tz::UTC,
        Some(DateTime::<Utc>::MIN_UTC),
        None,
    )
    .unwrap();
    assert!(early.next_after(DateTime::<Utc>::MIN_UTC).is_some());
}

#[test]
fn schedules_with_the_same_cron_pattern_share_one_parsed_pattern() {
    let zone: Tz = "Europe/Paris".parse().unwrap();
    let cron_of = |schedule: &Schedule| match schedule.recurrence() {
        Recurrence::Cron { cron, .. } => cron.clone(),
        other => panic!("not a cron: {other:?}"),
    };
    let a = Schedule::parse("cron(17 9 ? * MON-FRI 2031)", zone, None, None).unwrap();
    // Spacing differs, the pattern does not; the zone is the schedule's, not the pattern's.
    let b = Schedule::parse("cron( 17  9 ? * MON-FRI 2031 )", Tz::UTC, None, None).unwrap();
    let c = Schedule::parse("cron(18 9 ? * MON-FRI 2031)", zone, None, None).unwrap();
    assert!(Arc::ptr_eq(&cron_of(&a), &cron_of(&b)));
    assert!(!Arc::ptr_eq(&cron_of(&a), &cron_of(&c)));
    let at = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
    assert_ne!(a.next_after(at), b.next_after(at), "each in its own zone");
    // Once no schedule uses a pattern, parsing it again builds a new one.
    let weak = Arc::downgrade(&cron_of(&c));
    drop(c);
    assert_eq!(weak.strong_count(), 0);
}

#[test]
fn a_lone_l_in_day_of_week_is_the_last_day_of_the_week_saturday() {
    let zone: Tz = "America/New_York".parse().unwrap();
    let schedule = Schedule::parse("cron(0 9 ? * L *)", zone, None, None).unwrap();
    // Wednesday 2026-12-02 -> Saturday 2026-12-05, 09:00 in New York (14:00 UTC).
    let after = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    let next = schedule.next_after(after).unwrap();
    assert_eq!(next, Utc.with_ymd_and_hms(2026, 12, 5, 14, 0, 0).unwrap());
    assert_eq!(next.with_timezone(&zone).weekday(), Weekday::Sat);
}
