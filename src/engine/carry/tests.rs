//! Edits keep state: a new version of a policy set keeps the state of everything whose
//! definition did not change, matched by name (see the module documentation).

use crate::engine::alarm::AlarmState;
use crate::engine::reason::Outcome;
use crate::engine::tests::harness::{
    CPU, CPU_MEM, Harness, MINUTE, T0, any_breach_above, any_breach_below, policies, step, target,
    tracking,
};

/// `spec.scheduledActions` made of `(name, at, bounds)`: one `at(..)` action each.
fn actions(actions: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("scheduledActions:\n");
    for (name, at, bounds) in actions {
        text.push_str(&format!(
            "- scheduledActionName: {name}\n  schedule: at({at})\n  \
             scalableTargetAction: {{{bounds}}}\n"
        ));
    }
    text
}

/// A step policy `name` on `alarm` adding `up`, with `cooldown`.
fn out(name: &str, alarm: &str, up: i32, cooldown: u32) -> String {
    step(
        name,
        alarm,
        "ChangeInCapacity",
        cooldown,
        &any_breach_above(up),
        "",
    )
}

/// A step policy `name` on `alarm` removing `down`, with `cooldown`.
fn r#in(name: &str, alarm: &str, down: i32, cooldown: u32) -> String {
    step(
        name,
        alarm,
        "ChangeInCapacity",
        cooldown,
        &any_breach_below(-down),
        "",
    )
}

#[test]
fn adding_a_scheduled_action_leaves_a_policy_in_cooldown_in_cooldown() {
    let policy = policies(&[out("out", "high", 2, 300)]);
    let mut h = Harness::new(&[&target(1, 100), CPU, &policy], 10);
    assert_eq!(h.tick("cpu", 55.0), 12); // the cooldown runs until T0 + 6 min, C0 = 10
    h.edit(&[
        &target(1, 100),
        CPU,
        &policy,
        &actions(&[("night", "2025-01-01T22:00:00", "maxCapacity: 20")]),
    ]);
    // Still in the cooldown: +2 from C0 = 10 is no more than 12 (a fresh clock would give 14).
    assert_eq!(h.tick("cpu", 55.0), 12);
    assert!(
        matches!(h.outcome(0), Outcome::ScaleOutCooldown { .. }),
        "{:?}",
        h.outcome(0)
    );
    assert_eq!(h.ticks("cpu", 55.0, 4), [12, 12, 12, 14]);
}

#[test]
fn an_edit_of_one_policy_leaves_another_policys_alarm_in_alarm_and_reinvoked_on_time() {
    let behavior = "behavior: {reinvocationIntervalSeconds: 180}";
    let set = |mem_up: i32| {
        policies(&[
            out("cpu_out", "high", 2, 0),
            out("mem_out", "mem_high", mem_up, 0),
        ])
    };
    let mut h = Harness::new(&[&target(1, 100), CPU_MEM, &set(1), behavior], 10);
    assert_eq!(h.tick("cpu", 55.0), 12); // invoked at T0 + 1 min: again at T0 + 4 min
    assert_eq!(h.tick("cpu", 55.0), 12);
    h.edit(&[&target(1, 100), CPU_MEM, &set(3), behavior]);
    assert_eq!(
        h.alarm("high"),
        AlarmState::Alarm,
        "kept before any evaluation"
    );
    assert_eq!(h.tick("cpu", 55.0), 12, "not invoked early");
    assert_eq!(
        h.outcome(0),
        Outcome::WaitingForReinvocation {
            next_at: T0 + 4 * MINUTE
        }
    );
    assert_eq!(h.tick("cpu", 55.0), 14, "invoked on time");
}

#[test]
fn a_changed_alarm_threshold_restarts_only_that_alarm() {
    let set = |high: u32| {
        format!(
            "metrics:\n  cpu: {{push: {{period: 60}}}}\nalarms:\n  \
             high: {{metric: cpu, comparisonOperator: GreaterThanOrEqualToThreshold, \
             threshold: {high}, evaluationPeriods: 1}}\n  \
             low: {{metric: cpu, comparisonOperator: LessThanOrEqualToThreshold, \
             threshold: 30, evaluationPeriods: 1}}\n"
        )
    };
    let policy = policies(&[out("out", "high", 2, 0), r#in("in", "low", 1, 0)]);
    let mut h = Harness::new(&[&target(1, 100), &set(50), &policy], 10);
    assert_eq!(h.tick("cpu", 20.0), 9);
    assert_eq!(
        (h.alarm("high"), h.alarm("low")),
        (AlarmState::Ok, AlarmState::Alarm)
    );
    h.edit(&[&target(1, 100), &set(60), &policy]);
    assert_eq!(h.alarm("high"), AlarmState::InsufficientData, "restarted");
    assert_eq!(h.alarm("low"), AlarmState::Alarm, "kept");
    // `in` is unchanged: invoked at T0 + 1 min, it waits for its re-invocation.
    h.advance(30);
    assert_eq!(h.evaluate(), 9);
    assert_eq!(
        h.outcome(1),
        Outcome::WaitingForReinvocation {
            next_at: T0 + 2 * MINUTE
        }
    );
}

#[test]
fn a_renamed_policy_starts_fresh() {
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &policies(&[out("out", "high", 2, 300)]),
        ],
        10,
    );
    assert_eq!(h.tick("cpu", 55.0), 12);
    h.edit(&[
        &target(1, 100),
        CPU,
        &policies(&[out("up", "high", 2, 300)]),
    ]);
    // The cooldown `out` started went with it: `up` scales out from 12 at once.
    assert_eq!(h.tick("cpu", 55.0), 14);
}

#[test]
fn a_cooldown_per_target_is_kept_while_the_policy_that_started_it_is_unchanged() {
    let set = |in_cooldown: u32| {
        policies(&[
            out("out", "high", 2, 300),
            r#in("in", "low", 1, in_cooldown),
        ])
    };
    let mut h = Harness::new(&[&target(1, 100), CPU, &set(300)], 10);
    assert_eq!(h.tick("cpu", 55.0), 12);
    // Another policy's edit leaves the scale-out cooldown `out` started.
    h.edit(&[&target(1, 100), CPU, &set(600)]);
    assert_eq!(h.tick("cpu", 20.0), 12);
    assert!(
        matches!(
            h.outcome(1),
            Outcome::ScaleInBlockedByScaleOutCooldown { .. }
        ),
        "{:?}",
        h.outcome(1)
    );
}

#[test]
fn histories_of_an_unchanged_metric_survive() {
    // Target tracking scales out after 3 periods above its target.
    let mut h = Harness::new(
        &[
            &target(1, 100),
            "metrics:\n  cpu: {push: {period: 60}}\n",
            &policies(&[tracking("tt", "cpu", 50.0, "")]),
        ],
        10,
    );
    assert_eq!(h.ticks("cpu", 100.0, 2), [10, 10]);
    // An edit that adds a metric and a scheduled action: `cpu`'s two periods stay.
    h.edit(&[
        &target(1, 100),
        "metrics:\n  cpu: {push: {period: 60}}\n  mem: {push: {period: 60}}\n",
        &policies(&[tracking("tt", "cpu", 50.0, "")]),
        &actions(&[("night", "2025-01-01T22:00:00", "maxCapacity: 50")]),
    ]);
    assert_eq!(
        h.tick("cpu", 100.0),
        20,
        "the third period completes the alarm"
    );

    // A metric whose source changed (another period) starts empty.
    h.edit(&[
        &target(1, 100),
        "metrics:\n  cpu: {push: {period: 120}}\n",
        &policies(&[tracking("tt", "cpu", 50.0, "")]),
    ]);
    assert!(h.histories[0].is_empty());
}

#[test]
fn scheduled_actions_keep_the_bounds_in_force_and_new_ones_run_only_at_their_next_time() {
    let night = ("night", "2025-01-01T00:03:00", "minCapacity: 5");
    let mut h = Harness::new(
        &[
            &target(1, 100),
            CPU,
            &actions(&[("past", "2024-12-31T08:00:00", "minCapacity: 30"), night]),
        ],
        30,
    );
    assert_eq!(h.state.bounds(), (30, 100), "replayed at start");
    h.edit(&[
        &target(1, 100),
        CPU,
        &actions(&[
            night,
            ("new_past", "2024-12-31T09:00:00", "minCapacity: 40"),
            ("new", "2025-01-01T00:05:00", "maxCapacity: 90"),
        ]),
    ]);
    // `past`, removed, leaves its minimum; `new_past` is not replayed.
    assert_eq!(h.state.bounds(), (30, 100));
    h.advance(4 * MINUTE);
    h.evaluate();
    assert_eq!(h.state.bounds(), (5, 100), "`night` runs at its time");
    h.advance(2 * MINUTE);
    h.evaluate();
    assert_eq!(h.state.bounds(), (5, 90), "`new` runs at its time");

    // A new minimum of the scalable target applies, with a replay as at start.
    h.edit(&[
        &target(2, 100),
        CPU,
        &actions(&[("new_past", "2024-12-31T09:00:00", "minCapacity: 40")]),
    ]);
    assert_eq!(h.state.bounds(), (40, 100));
}

#[test]
fn a_cooldown_per_policy_is_kept_with_its_policy_and_restarts_with_an_edit_of_it() {
    let behavior = "behavior: {cooldownScope: PerPolicy}";
    let set = |cpu_cooldown: u32, mem_cooldown: u32| {
        policies(&[
            out("cpu_out", "high", 2, cpu_cooldown),
            out("mem_out", "mem_high", 1, mem_cooldown),
        ])
    };
    let mut h = Harness::new(&[&target(1, 100), CPU_MEM, &set(300, 300), behavior], 10);
    assert_eq!(h.tick("cpu", 55.0), 12); // `cpu_out`'s clock: C0 = 10
    // An edit of `mem_out` leaves `cpu_out` in its cooldown (+2 from C0 = 10 is not more).
    h.edit(&[&target(1, 100), CPU_MEM, &set(300, 600), behavior]);
    assert_eq!(h.tick("cpu", 55.0), 12);
    assert!(
        matches!(h.outcome(0), Outcome::ScaleOutCooldown { .. }),
        "{:?}",
        h.outcome(0)
    );
    // An edit of `cpu_out` itself starts it over: +2 from 12.
    h.edit(&[&target(1, 100), CPU_MEM, &set(400, 600), behavior]);
    assert_eq!(h.tick("cpu", 55.0), 14);
}
