use super::*;
use crate::policy::compiled::AlarmOrigin;
use crate::policy::document::Statistic;

/// Period of the test metric, seconds.
const PERIOD: i64 = 60;
/// Evaluation time: 30 s into a period (2025-01-01T00:00:30Z).
const NOW: i64 = 1_735_689_630;

/// A breaching datapoint for [`threshold_50`] alarms with a `GreaterThan*` operator.
const X: Option<f64> = Some(80.0);
/// A datapoint within the threshold.
const O: Option<f64> = Some(20.0);
/// A missing period.
const M: Option<f64> = None;

/// An alarm over metric 0, `value > 50` breaching unless `operator` says otherwise.
fn threshold_50(
    operator: ComparisonOperator,
    n: u32,
    m: u32,
    treatment: TreatMissingData,
) -> AlarmDef {
    AlarmDef {
        name: "test".to_owned(),
        origin: AlarmOrigin::Declared,
        metric: 0,
        statistic: Statistic::Average,
        operator,
        threshold: 50.0,
        evaluation_periods: n,
        evaluation_range: n + 2,
        datapoints_to_alarm: m,
        treat_missing_data: treatment,
        per_task: false,
        trusted: None,
    }
}

/// A `GreaterThanThreshold` 50 alarm, M of N, with `treatment`.
fn m_of_n(n: u32, m: u32, treatment: TreatMissingData) -> AlarmDef {
    threshold_50(ComparisonOperator::GreaterThanThreshold, n, m, treatment)
}

/// A history whose complete periods before [`NOW`] hold `values`, oldest first (the last value
/// is the newest complete period), recorded with capacity 1.
fn history(values: &[Option<f64>]) -> MetricHistory {
    let mut history = MetricHistory::new(PERIOD as u32, values.len() + 4);
    let newest = history.last_complete_period(NOW);
    for (k, value) in values.iter().rev().enumerate() {
        if let Some(value) = value {
            assert!(history.record(newest - k as i64 * PERIOD + 5, *value, 1));
        }
    }
    history
}

/// The state of `alarm` over `values` at [`NOW`], from `previous`.
fn state(alarm: &AlarmDef, values: &[Option<f64>], previous: AlarmState) -> AlarmState {
    evaluate(alarm, &history(values), NOW, previous)
}

#[test]
fn operators_compare_with_the_threshold() {
    use ComparisonOperator::*;
    // (operator, value below, equal, above)
    let cases = [
        (GreaterThanOrEqualToThreshold, false, true, true),
        (GreaterThanThreshold, false, false, true),
        (LessThanThreshold, true, false, false),
        (LessThanOrEqualToThreshold, true, true, false),
    ];
    for (operator, below, equal, above) in cases {
        assert_eq!(breaches(operator, 49.9, 50.0), below, "{operator:?} below");
        assert_eq!(breaches(operator, 50.0, 50.0), equal, "{operator:?} equal");
        assert_eq!(breaches(operator, 50.1, 50.0), above, "{operator:?} above");
    }
}

#[test]
fn alarm_m_of_n_not_necessarily_consecutive() {
    let alarm = m_of_n(5, 3, TreatMissingData::Missing);
    let cases = [
        ([X, O, X, O, X], AlarmState::Alarm), // three breaches, none adjacent
        ([X, X, O, O, X], AlarmState::Alarm),
        ([O, O, X, X, X], AlarmState::Alarm),
        ([X, O, O, O, X], AlarmState::Ok), // two of five
        ([O, O, O, O, O], AlarmState::Ok),
    ];
    for (values, expected) in cases {
        assert_eq!(
            state(&alarm, &values, AlarmState::Ok),
            expected,
            "{values:?}"
        );
    }
}

#[test]
fn alarm_m_equal_n_needs_every_period_breaching() {
    let alarm = m_of_n(3, 3, TreatMissingData::Missing);
    assert_eq!(state(&alarm, &[X, X, X], AlarmState::Ok), AlarmState::Alarm);
    assert_eq!(state(&alarm, &[X, O, X], AlarmState::Alarm), AlarmState::Ok);
}

#[test]
fn alarm_looks_only_at_the_newest_n_periods() {
    let alarm = m_of_n(3, 3, TreatMissingData::Missing);
    // Breaches older than the window do not count.
    assert_eq!(
        state(&alarm, &[X, X, X, O, O, O], AlarmState::Alarm),
        AlarmState::Ok
    );
    assert_eq!(
        state(&alarm, &[O, O, O, X, X, X], AlarmState::Ok),
        AlarmState::Alarm
    );
}

#[test]
fn alarm_evaluates_only_complete_periods() {
    let alarm = m_of_n(1, 1, TreatMissingData::Missing);
    let mut history = MetricHistory::new(PERIOD as u32, 4);
    // A breaching sample in the period that contains NOW is not evaluated yet.
    assert!(history.record(NOW - 10, 90.0, 1));
    assert_eq!(
        evaluate(&alarm, &history, NOW, AlarmState::Ok),
        AlarmState::InsufficientData
    );
    // Once that period has ended, it is.
    let next_period = history.period_start(NOW) + PERIOD;
    assert_eq!(
        evaluate(&alarm, &history, next_period, AlarmState::Ok),
        AlarmState::Alarm
    );
    // A fine complete period decides while the filling one breaches.
    assert!(history.record(next_period + 1, 10.0, 1));
    let later = next_period + PERIOD;
    assert!(history.record(later + 1, 90.0, 1));
    assert_eq!(
        evaluate(&alarm, &history, later + 30, AlarmState::Alarm),
        AlarmState::Ok
    );
}

#[test]
fn treat_missing_missing_with_no_datapoint_is_insufficient_data() {
    let alarm = m_of_n(3, 2, TreatMissingData::Missing);
    for previous in [
        AlarmState::Ok,
        AlarmState::Alarm,
        AlarmState::InsufficientData,
    ] {
        assert_eq!(
            state(&alarm, &[M, M, M], previous),
            AlarmState::InsufficientData
        );
    }
}

/// With fewer than N real datapoints in the range and `missing`: M real breaches give ALARM, a
/// real fine datapoint gives OK, breaches alone short of M give INSUFFICIENT_DATA (the guide's
/// rows `- - - - X`, `- - - - 0`, `0 - X - -`).
#[test]
fn treat_missing_missing_with_fewer_than_n_real_datapoints() {
    let alarm = m_of_n(3, 2, TreatMissingData::Missing);
    let cases = [
        ([X, M, X], AlarmState::Alarm),
        ([O, M, O], AlarmState::Ok),
        ([M, M, X], AlarmState::InsufficientData),
        ([M, O, X], AlarmState::Ok),
    ];
    for (values, expected) in cases {
        assert_eq!(
            state(&alarm, &values, AlarmState::Alarm),
            expected,
            "{values:?}"
        );
    }
}

#[test]
fn treat_missing_breaching_fills_gaps_only_when_fewer_than_n() {
    let alarm = m_of_n(3, 3, TreatMissingData::Breaching);
    // N real datapoints: the treatment plays no part.
    assert_eq!(state(&alarm, &[O, O, O], AlarmState::Ok), AlarmState::Ok);
    assert_eq!(state(&alarm, &[X, O, X], AlarmState::Ok), AlarmState::Ok);
    // Fewer than N: the gaps count as breaching.
    assert_eq!(state(&alarm, &[X, M, X], AlarmState::Ok), AlarmState::Alarm);
    assert_eq!(state(&alarm, &[M, M, M], AlarmState::Ok), AlarmState::Alarm);
    assert_eq!(state(&alarm, &[O, M, X], AlarmState::Ok), AlarmState::Ok);
}

#[test]
fn treat_missing_not_breaching_fills_gaps_as_fine() {
    let alarm = m_of_n(3, 2, TreatMissingData::NotBreaching);
    assert_eq!(state(&alarm, &[X, X, X], AlarmState::Ok), AlarmState::Alarm);
    assert_eq!(state(&alarm, &[X, M, X], AlarmState::Ok), AlarmState::Alarm);
    assert_eq!(state(&alarm, &[M, M, X], AlarmState::Alarm), AlarmState::Ok);
    assert_eq!(state(&alarm, &[M, M, M], AlarmState::Alarm), AlarmState::Ok);
}

/// `ignore` keeps the current state exactly where `missing` is INSUFFICIENT_DATA ("Retain
/// current state" in the guide's tables).
#[test]
fn treat_missing_ignore_keeps_the_state_where_missing_is_insufficient_data() {
    let alarm = m_of_n(3, 2, TreatMissingData::Ignore);
    for previous in [
        AlarmState::Ok,
        AlarmState::Alarm,
        AlarmState::InsufficientData,
    ] {
        // Nothing decides: the state is kept.
        assert_eq!(state(&alarm, &[M, M, M], previous), previous);
        assert_eq!(state(&alarm, &[M, M, X], previous), previous);
        // The real datapoints decide.
        assert_eq!(state(&alarm, &[M, O, M], previous), AlarmState::Ok);
        assert_eq!(state(&alarm, &[X, M, X], previous), AlarmState::Alarm);
        assert_eq!(state(&alarm, &[O, M, O], previous), AlarmState::Ok);
        // A full window always decides.
        assert_eq!(state(&alarm, &[O, X, O], previous), AlarmState::Ok);
    }
}

#[test]
fn state_from_counts_table() {
    use AlarmState::*;
    use TreatMissingData::*;
    // (present, breaching, n, m, treatment, previous, expected)
    let cases = [
        (3, 2, 3, 2, Missing, Ok, Alarm),
        (3, 1, 3, 2, Breaching, Alarm, Ok),
        (2, 1, 3, 2, Breaching, Ok, Alarm),
        (2, 1, 3, 2, NotBreaching, Alarm, Ok),
        (2, 2, 3, 2, NotBreaching, Ok, Alarm),
        (0, 0, 3, 2, Missing, Alarm, InsufficientData),
        (0, 0, 3, 2, Breaching, Ok, Alarm),
        (0, 0, 3, 2, NotBreaching, Alarm, Ok),
        (0, 0, 3, 2, Ignore, Alarm, Alarm),
        (1, 0, 3, 3, Ignore, Alarm, Ok), // one fine period: 3 of 3 is out of reach
        (1, 1, 3, 3, Ignore, Ok, Ok),
        (1, 1, 1, 1, Missing, Ok, Alarm),
    ];
    for (present, breaching, n, m, treatment, previous, expected) in cases {
        assert_eq!(
            state_from_counts(
                WindowCounts { present, breaching },
                n,
                m,
                treatment,
                previous
            ),
            expected,
            "{breaching}/{present} present, {m} of {n}, {treatment:?}, from {previous:?}"
        );
    }
}

#[test]
fn window_counts_present_and_breaching_periods() {
    let alarm = m_of_n(4, 2, TreatMissingData::Missing);
    assert_eq!(
        window_counts(&alarm, &history(&[X, M, O, X]), NOW),
        WindowCounts {
            present: 3,
            breaching: 2
        }
    );
}

#[test]
fn alarm_statistic_is_applied_per_period() {
    // One period with samples 10, 20, 90: average 40, sum 120, min 10, max 90, count 3.
    let mut history = MetricHistory::new(PERIOD as u32, 4);
    let start = history.last_complete_period(NOW);
    for value in [10.0, 20.0, 90.0] {
        assert!(history.record(start + 1, value, 2));
    }
    let cases = [
        (Statistic::Average, false), // 40
        (Statistic::Sum, true),      // 120
        (Statistic::Minimum, false), // 10
        (Statistic::Maximum, true),  // 90
        (Statistic::SampleCount, false),
    ];
    for (statistic, expected) in cases {
        let mut alarm = m_of_n(1, 1, TreatMissingData::Missing);
        alarm.statistic = statistic;
        let expected = if expected {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        assert_eq!(
            evaluate(&alarm, &history, NOW, AlarmState::Ok),
            expected,
            "{statistic:?}"
        );
    }
    let period = history.period(start).copied().expect("period");
    assert_eq!(period.statistic(Statistic::SampleCount), 3.0);
    assert_eq!(period.statistic(Statistic::Sum), 120.0);
}

#[test]
fn per_task_alarm_divides_by_the_capacity_of_the_period() {
    // Backlog 300 with 4 tasks is 75 per task (breaches 50); with 10 tasks, 30 (does not).
    let mut alarm = m_of_n(1, 1, TreatMissingData::Missing);
    alarm.per_task = true;
    for (capacity, expected) in [(4, AlarmState::Alarm), (10, AlarmState::Ok)] {
        let mut history = MetricHistory::new(PERIOD as u32, 4);
        assert!(history.record(history.last_complete_period(NOW) + 1, 300.0, capacity));
        assert_eq!(
            evaluate(&alarm, &history, NOW, AlarmState::Ok),
            expected,
            "capacity {capacity}"
        );
    }
}

#[test]
fn per_task_value_with_zero_capacity_is_infinite_demand_or_zero() {
    let mut history = MetricHistory::new(PERIOD as u32, 4);
    let start = history.last_complete_period(NOW);
    assert!(history.record(start + 1, 5.0, 0));
    assert!(history.record(start - PERIOD + 1, 0.0, 0));
    let busy = history.period(start).copied().expect("period");
    let idle = history.period(start - PERIOD).copied().expect("period");
    assert_eq!(busy.value(Statistic::Average, true), f64::INFINITY);
    assert_eq!(idle.value(Statistic::Average, true), 0.0);
}

#[test]
fn alarm_transitions_follow_the_data() {
    let alarm = m_of_n(2, 2, TreatMissingData::Missing);
    let mut history = MetricHistory::new(PERIOD as u32, 6);
    let mut now = NOW;
    let mut current = AlarmState::InsufficientData;
    let mut seen = Vec::new();
    for value in [80.0, 80.0, 80.0, 20.0, 80.0] {
        assert!(history.record(now, value, 1));
        now += PERIOD;
        current = evaluate(&alarm, &history, now, current);
        seen.push(current);
    }
    use AlarmState::{Alarm, InsufficientData, Ok};
    // One real breach of two and nothing else in the range: INSUFFICIENT_DATA (the guide's
    // `- - - - X` with `missing`); then ALARM; a fine period: OK again.
    assert_eq!(seen, [InsufficientData, Alarm, Alarm, Ok, Ok]);
}

// The CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data", section
// "How alarm state is evaluated when data is missing": its two tables of outcomes, cell by cell.
// Datapoints oldest to newest over the 5-datapoint evaluation range: `0` fine, `X` breaching,
// `-` missing. Test names: table (3 of 3, 2 of 3), row (o fine, x breaching, m missing), the
// `TreatMissingData` mode and the outcome; `missing_count` tests are the column "# of missing
// data points" (how many datapoints the treatment fills in).

/// A table cell's outcome.
#[derive(Debug, Clone, Copy)]
enum Expected {
    State(AlarmState),
    /// "Retain current state".
    RetainCurrentState,
}

/// Parses a row of the guide's tables (`0 - X - X`) into datapoints, oldest first.
fn guide_row(row: &str) -> Vec<Option<f64>> {
    row.split_whitespace()
        .map(|cell| match cell {
            "0" => O,
            "X" => X,
            "-" => M,
            other => panic!("not a cell of the guide's tables: {other}"),
        })
        .collect()
}

/// Checks one cell: `m` of 3, the guide's 5-datapoint range, from every previous state.
fn check_guide_cell(m: u32, row: &str, treatment: TreatMissingData, expected: Expected) {
    let alarm = m_of_n(3, m, treatment);
    assert_eq!(
        alarm.evaluation_range, 5,
        "the guide retrieves 5 datapoints"
    );
    let values = guide_row(row);
    for previous in [
        AlarmState::Ok,
        AlarmState::Alarm,
        AlarmState::InsufficientData,
    ] {
        let want = match expected {
            Expected::State(state) => state,
            Expected::RetainCurrentState => previous,
        };
        assert_eq!(
            state(&alarm, &values, previous),
            want,
            "{m} of 3, `{row}`, {treatment:?}, previously {previous:?}"
        );
    }
}

/// Checks the column "# of missing data points" of a row.
fn check_guide_missing_count(m: u32, row: &str, expected: u32) {
    let alarm = m_of_n(3, m, TreatMissingData::Missing);
    let counts = window_counts(&alarm, &history(&guide_row(row)), NOW);
    assert_eq!(filled(counts, 3), expected, "{m} of 3, `{row}`");
}

#[test]
fn cw_guide_three_of_three_o_m_x_m_x_missing_count_is_0() {
    check_guide_missing_count(3, "0 - X - X", 0);
}

#[test]
fn cw_guide_three_of_three_o_m_x_m_x_missing_ok() {
    check_guide_cell(
        3,
        "0 - X - X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_x_m_x_ignore_ok() {
    check_guide_cell(
        3,
        "0 - X - X",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_x_m_x_breaching_ok() {
    check_guide_cell(
        3,
        "0 - X - X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_x_m_x_not_breaching_ok() {
    check_guide_cell(
        3,
        "0 - X - X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_m_m_m_missing_count_is_2() {
    check_guide_missing_count(3, "0 - - - -", 2);
}

#[test]
fn cw_guide_three_of_three_o_m_m_m_m_missing_ok() {
    check_guide_cell(
        3,
        "0 - - - -",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_m_m_m_ignore_ok() {
    check_guide_cell(
        3,
        "0 - - - -",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_m_m_m_breaching_ok() {
    check_guide_cell(
        3,
        "0 - - - -",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_m_m_m_m_not_breaching_ok() {
    check_guide_cell(
        3,
        "0 - - - -",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_m_missing_count_is_3() {
    check_guide_missing_count(3, "- - - - -", 3);
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_m_missing_insufficient_data() {
    check_guide_cell(
        3,
        "- - - - -",
        TreatMissingData::Missing,
        Expected::State(AlarmState::InsufficientData),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_m_ignore_retains_current_state() {
    check_guide_cell(
        3,
        "- - - - -",
        TreatMissingData::Ignore,
        Expected::RetainCurrentState,
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_m_breaching_alarm() {
    check_guide_cell(
        3,
        "- - - - -",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_m_not_breaching_ok() {
    check_guide_cell(
        3,
        "- - - - -",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_three_of_three_o_x_x_m_x_missing_count_is_0() {
    check_guide_missing_count(3, "0 X X - X", 0);
}

#[test]
fn cw_guide_three_of_three_o_x_x_m_x_missing_alarm() {
    check_guide_cell(
        3,
        "0 X X - X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_o_x_x_m_x_ignore_alarm() {
    check_guide_cell(
        3,
        "0 X X - X",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_o_x_x_m_x_breaching_alarm() {
    check_guide_cell(
        3,
        "0 X X - X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_o_x_x_m_x_not_breaching_alarm() {
    check_guide_cell(
        3,
        "0 X X - X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_x_missing_count_is_2() {
    check_guide_missing_count(3, "- - - - X", 2);
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_x_missing_insufficient_data() {
    check_guide_cell(
        3,
        "- - - - X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::InsufficientData),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_x_ignore_retains_current_state() {
    check_guide_cell(
        3,
        "- - - - X",
        TreatMissingData::Ignore,
        Expected::RetainCurrentState,
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_x_breaching_alarm() {
    check_guide_cell(
        3,
        "- - - - X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_three_of_three_m_m_m_m_x_not_breaching_ok() {
    check_guide_cell(
        3,
        "- - - - X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_x_missing_count_is_0() {
    check_guide_missing_count(2, "0 - X - X", 0);
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_x_missing_alarm() {
    check_guide_cell(
        2,
        "0 - X - X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_x_ignore_alarm() {
    check_guide_cell(
        2,
        "0 - X - X",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_x_breaching_alarm() {
    check_guide_cell(
        2,
        "0 - X - X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_x_not_breaching_alarm() {
    check_guide_cell(
        2,
        "0 - X - X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_o_x_o_x_missing_count_is_0() {
    check_guide_missing_count(2, "0 0 X 0 X", 0);
}

#[test]
fn cw_guide_two_of_three_o_o_x_o_x_missing_alarm() {
    check_guide_cell(
        2,
        "0 0 X 0 X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_o_x_o_x_ignore_alarm() {
    check_guide_cell(
        2,
        "0 0 X 0 X",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_o_x_o_x_breaching_alarm() {
    check_guide_cell(
        2,
        "0 0 X 0 X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_o_x_o_x_not_breaching_alarm() {
    check_guide_cell(
        2,
        "0 0 X 0 X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_m_missing_count_is_1() {
    check_guide_missing_count(2, "0 - X - -", 1);
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_m_missing_ok() {
    check_guide_cell(
        2,
        "0 - X - -",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_m_ignore_ok() {
    check_guide_cell(
        2,
        "0 - X - -",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_m_breaching_alarm() {
    check_guide_cell(
        2,
        "0 - X - -",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_o_m_x_m_m_not_breaching_ok() {
    check_guide_cell(
        2,
        "0 - X - -",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_o_missing_count_is_2() {
    check_guide_missing_count(2, "- - - - 0", 2);
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_o_missing_ok() {
    check_guide_cell(
        2,
        "- - - - 0",
        TreatMissingData::Missing,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_o_ignore_ok() {
    check_guide_cell(
        2,
        "- - - - 0",
        TreatMissingData::Ignore,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_o_breaching_alarm() {
    check_guide_cell(
        2,
        "- - - - 0",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_o_not_breaching_ok() {
    check_guide_cell(
        2,
        "- - - - 0",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_x_missing_count_is_2() {
    check_guide_missing_count(2, "- - - - X", 2);
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_x_missing_insufficient_data() {
    check_guide_cell(
        2,
        "- - - - X",
        TreatMissingData::Missing,
        Expected::State(AlarmState::InsufficientData),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_x_ignore_retains_current_state() {
    check_guide_cell(
        2,
        "- - - - X",
        TreatMissingData::Ignore,
        Expected::RetainCurrentState,
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_x_breaching_alarm() {
    check_guide_cell(
        2,
        "- - - - X",
        TreatMissingData::Breaching,
        Expected::State(AlarmState::Alarm),
    );
}

#[test]
fn cw_guide_two_of_three_m_m_m_m_x_not_breaching_ok() {
    check_guide_cell(
        2,
        "- - - - X",
        TreatMissingData::NotBreaching,
        Expected::State(AlarmState::Ok),
    );
}

/// The guide, after its first table: "The next time this alarm is evaluated, if the data is
/// still missing it will go to ALARM, as that non-breaching data point will no longer be among
/// the 5 most recent data points retrieved."
#[test]
fn cw_guide_a_fine_datapoint_leaving_the_range_turns_breaching_missing_data_into_alarm() {
    let alarm = m_of_n(3, 3, TreatMissingData::Breaching);
    assert_eq!(
        state(&alarm, &guide_row("0 - - - -"), AlarmState::Ok),
        AlarmState::Ok
    );
    assert_eq!(
        state(&alarm, &guide_row("0 - - - - -"), AlarmState::Ok),
        AlarmState::Alarm
    );
}

/// The guide's note: alarms "may repeatedly re-evaluate the last set of data points for a period
/// of time after the metric has stopped flowing": the real datapoints still in the range decide
/// until they leave it.
#[test]
fn cw_guide_after_a_metric_stops_its_last_datapoints_decide_while_in_the_range() {
    let alarm = m_of_n(3, 3, TreatMissingData::Missing);
    for row in ["X X X -", "X X X - -"] {
        assert_eq!(
            state(&alarm, &guide_row(row), AlarmState::Ok),
            AlarmState::Alarm,
            "{row}"
        );
    }
    assert_eq!(
        state(&alarm, &guide_row("X X X - - -"), AlarmState::Alarm),
        AlarmState::InsufficientData
    );
}

/// The datapoints a step policy aggregates are those its alarm evaluated: the newest real ones
/// in the range, at most N.
#[test]
fn evaluated_periods_are_the_newest_real_datapoints_in_the_range() {
    let alarm = m_of_n(3, 3, TreatMissingData::Missing);
    let values = [Some(1.0), Some(2.0), M, Some(3.0), M, Some(4.0)];
    let history = history(&values);
    let evaluated: Vec<f64> = evaluated_periods(&alarm, &history, NOW)
        .map(|p| p.statistic(Statistic::Average))
        .collect();
    assert_eq!(evaluated, [4.0, 3.0, 2.0]);
}
