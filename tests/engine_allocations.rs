//! Proves that one evaluation of a policy set allocates nothing on the heap.
//!
//! The crate forbids `unsafe_code`, and a `#[global_allocator]` needs an `unsafe impl
//! GlobalAlloc`; the counting allocator therefore comes from the `stats_alloc` crate, whose
//! instrumented system allocator is installed here with safe code only.
//!
//! The allocator counts every thread; this file holds a single test, so nothing else runs while
//! a region is measured.

use std::alloc::System;

use chrono::{DateTime, Utc};
use ecs_scaler::engine::alarm::AlarmState;
use ecs_scaler::engine::reason::Outcome;
use ecs_scaler::engine::{self, EngineState, Inputs};
use ecs_scaler::policy::load::load_str;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A target tracking policy, a step policy and a daily scheduled action.
const POLICY_SET: &str = include_str!("data/three-policies.yaml");

/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600;

/// `unix` seconds as a time.
fn time(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).expect("time in range")
}

#[test]
fn evaluate_allocates_nothing_in_steady_state() {
    // The counter sees allocations (the check below is not vacuous).
    let region = Region::new(GLOBAL);
    let probe = std::hint::black_box(vec![0u8; 16]);
    assert!(region.change().allocations >= 1);
    drop(probe);

    let set = load_str(POLICY_SET, "alloc").expect("valid policy set");
    let cpu = set.metrics.iter().position(|m| m.name == "cpu").unwrap();
    let queue = set.metrics.iter().position(|m| m.name == "queue").unwrap();
    let mut histories: Vec<_> = set.metrics.iter().map(engine::history_for).collect();
    let mut state = EngineState::new(&set, 10, time(T0));
    // The capacity stays at 10 (the workload does not follow), so both policies keep asking
    // for more: scale-outs, then scale-outs held by the cooldown, every minute.
    let capacity = 10;

    // Warm up until every alarm that drives a policy is in ALARM.
    let mut now = T0;
    for _ in 0..5 {
        histories[cpu].record(now, 90.0, capacity);
        histories[queue].record(now, 250.0, capacity);
        now += 60;
        let inputs = Inputs {
            capacity,
            scale_in_blocked: false,
            histories: &histories,
        };
        engine::evaluate(&set, &inputs, &mut state, time(now));
    }
    let queue_alarm = set
        .alarms
        .iter()
        .position(|a| a.name == "queue-high")
        .unwrap();
    assert_eq!(state.alarm_states()[queue_alarm], AlarmState::Alarm);
    assert!(state.alarm_states().contains(&AlarmState::Alarm));

    let mut evaluations = 0;
    let mut scale_outs = 0;
    for _ in 0..100 {
        histories[cpu].record(now, 90.0, capacity);
        histories[queue].record(now, 250.0, capacity);
        now += 60;
        let inputs = Inputs {
            capacity,
            scale_in_blocked: false,
            histories: &histories,
        };
        let region = Region::new(GLOBAL);
        let decision = engine::evaluate(&set, &inputs, &mut state, time(now));
        let change = region.change();
        assert_eq!(
            (
                change.allocations,
                change.reallocations,
                change.bytes_allocated
            ),
            (0, 0, 0),
            "evaluation at {now} allocated"
        );
        assert_eq!(decision.scheduled, None);
        assert!(decision.desired > capacity);
        // Both policies ran their whole path: invoked, computed, gated.
        for reason in &decision.reasons {
            assert!(
                matches!(
                    reason.outcome,
                    Outcome::ScaleOut { .. } | Outcome::ScaleOutCooldown { .. }
                ),
                "{:?}",
                reason.outcome
            );
            scale_outs += usize::from(matches!(reason.outcome, Outcome::ScaleOut { .. }));
        }
        evaluations += 1;
    }
    assert_eq!(evaluations, 100);
    assert!(scale_outs >= 100, "{scale_outs} scale-outs");
    assert!(
        state
            .next_scheduled_run()
            .is_some_and(|next| next > time(now))
    );
}
