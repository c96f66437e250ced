use super::*;

/// An arbitrary start time (Unix seconds).
const T0: i64 = 1_735_689_600;

#[test]
fn default_clock_has_no_cooldown() {
    let clock = CooldownClock::default();
    assert_eq!(clock.scale_out(T0), None);
    assert_eq!(clock.scale_in_until(T0), None);
}

#[test]
fn scale_out_cooldown_runs_until_it_expires() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 300);
    let running = Some(ScaleOutCooldown {
        until: T0 + 300,
        base: 10,
    });
    assert_eq!(clock.scale_out(T0), running);
    assert_eq!(clock.scale_out(T0 + 299), running);
    // The cooldown is over at its end instant.
    assert_eq!(clock.scale_out(T0 + 300), None);
}

#[test]
fn scale_out_during_scale_out_cooldown_keeps_c0_and_extends() {
    // +2 from 10 at T0, then a larger scale-out at T0 + 60: C0 stays 10, the clock restarts.
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 300);
    clock.record_scale_out(T0 + 60, 12, 300);
    assert_eq!(
        clock.scale_out(T0 + 60),
        Some(ScaleOutCooldown {
            until: T0 + 360,
            base: 10
        })
    );
    assert!(clock.scale_out(T0 + 359).is_some());
    assert_eq!(clock.scale_out(T0 + 360), None);
}

#[test]
fn scale_out_during_scale_out_cooldown_never_shortens_it() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 600);
    clock.record_scale_out(T0 + 60, 12, 60);
    assert_eq!(clock.scale_out(T0 + 120).map(|c| c.until), Some(T0 + 600));
}

#[test]
fn scale_out_after_expiry_takes_a_new_c0() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 300);
    clock.record_scale_out(T0 + 300, 12, 300);
    assert_eq!(clock.scale_out(T0 + 300).map(|c| c.base), Some(12));
}

#[test]
fn scale_in_cooldown_blocks_until_it_expires() {
    let mut clock = CooldownClock::default();
    clock.record_scale_in(T0, 300);
    assert_eq!(clock.scale_in_until(T0), Some(T0 + 300));
    assert_eq!(clock.scale_in_until(T0 + 299), Some(T0 + 300));
    assert_eq!(clock.scale_in_until(T0 + 300), None);
}

#[test]
fn scale_out_ends_a_scale_in_cooldown() {
    let mut clock = CooldownClock::default();
    clock.record_scale_in(T0, 300);
    clock.record_scale_out(T0 + 60, 8, 300);
    assert_eq!(clock.scale_in_until(T0 + 60), None);
    assert!(clock.scale_out(T0 + 60).is_some());
}

#[test]
fn scale_in_leaves_a_scale_out_cooldown_running() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 300);
    clock.record_scale_in(T0 + 60, 300);
    assert!(clock.scale_out(T0 + 60).is_some());
    assert_eq!(clock.scale_in_until(T0 + 60), Some(T0 + 360));
}

#[test]
fn zero_second_cooldowns_never_run() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 0);
    clock.record_scale_in(T0, 0);
    assert_eq!(clock.scale_out(T0), None);
    assert_eq!(clock.scale_in_until(T0), None);
}

#[test]
fn end_scale_in_cooldown_ends_only_the_scale_in_clock() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 10, 300);
    clock.record_scale_in(T0 + 60, 300);
    clock.end_scale_in_cooldown();
    assert_eq!(clock.scale_in_until(T0 + 60), None);
    assert!(clock.scale_out(T0 + 60).is_some());
}

#[test]
fn cooldowns_restart_when_the_decided_change_is_observed() {
    let mut clock = CooldownClock::default();
    clock.record_scale_out(T0, 2, 300);
    // Decided again at the next tick, still not applied: the clock was restarted then.
    clock.record_scale_out(T0 + 10, 2, 300);
    clock.restart_when_observed(T0, T0 + 70);
    assert_eq!(
        clock.scale_out(T0 + 369).map(|c| (c.until, c.base)),
        Some((T0 + 370, 2))
    );
    assert_eq!(clock.scale_out(T0 + 370), None);

    let mut clock = CooldownClock::default();
    clock.record_scale_in(T0, 300);
    clock.restart_when_observed(T0, T0 + 30);
    assert_eq!(clock.scale_in_until(T0 + 300), Some(T0 + 330));
}

#[test]
fn an_older_cooldown_is_not_moved_by_a_later_observation() {
    let mut clock = CooldownClock::default();
    clock.record_scale_in(T0, 300);
    clock.restart_when_observed(T0 + 100, T0 + 150);
    assert_eq!(clock.scale_in_until(T0), Some(T0 + 300));
}
