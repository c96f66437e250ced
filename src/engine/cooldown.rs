//! Cooldown clocks (spec B.2, B.3).
//!
//! - Scale-out cooldown: while it runs, a policy adds capacity only if it asks for *more* than
//!   the scale-out that started the cooldown. The policy's new capacity is computed from `C0`,
//!   the capacity before that scale-out, and wins only if it exceeds the current capacity
//!   (`+2`, then `+3` during the cooldown, adds 1 more).
//! - Scale-in cooldown: no scale-in until it expires; a scale-out ends it at once.
//! - Only policy-driven activities start cooldowns; scheduled actions never wait for one.
//!
//! Whether clocks are kept per scalable target or per policy is a setting (default per target),
//! as is whether a scale-out cooldown also blocks scale-in (default: it does).

use serde::Serialize;

/// A running scale-out cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScaleOutCooldown {
    /// When it expires (Unix seconds).
    pub until: i64,
    /// The capacity before the scale-out that started it (`C0`).
    pub base: i64,
}

/// The scale-out and scale-in clocks of a target (or of one policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CooldownClock {
    scale_out: Option<ScaleOutCooldown>,
    scale_in_until: Option<i64>,
    /// When the running scale-out / scale-in cooldown was last (re)started.
    scale_out_started: Option<i64>,
    scale_in_started: Option<i64>,
    /// The policy (its index) whose activity last (re)started the scale-out / scale-in
    /// cooldown: a new version of the policy set keeps a clock only while that policy is
    /// unchanged ([`CooldownClock::carried`]).
    scale_out_policy: Option<u32>,
    scale_in_policy: Option<u32>,
}

impl CooldownClock {
    /// The running scale-out cooldown at `now`, if any.
    pub fn scale_out(&self, now: i64) -> Option<ScaleOutCooldown> {
        self.scale_out.filter(|c| now < c.until)
    }

    /// When the running scale-in cooldown expires, if one runs at `now`.
    pub fn scale_in_until(&self, now: i64) -> Option<i64> {
        self.scale_in_until.filter(|until| now < *until)
    }

    /// Records a scale-out from `base` at `now` with a cooldown of `seconds`.
    ///
    /// A scale-out during a running scale-out cooldown keeps the original `C0` and extends the
    /// clock; any scale-out ends a scale-in cooldown.
    pub fn record_scale_out(&mut self, now: i64, base: i64, seconds: u32) {
        let until = now + i64::from(seconds);
        self.scale_out = Some(match self.scale_out(now) {
            Some(running) => ScaleOutCooldown {
                until: running.until.max(until),
                base: running.base,
            },
            None => ScaleOutCooldown { until, base },
        });
        self.scale_out_started = Some(now);
        self.scale_in_until = None;
    }

    /// Ends a running scale-in cooldown (a scale-out that starts no cooldown of its own).
    pub fn end_scale_in_cooldown(&mut self) {
        self.scale_in_until = None;
    }

    /// Records a scale-in at `now` with a cooldown of `seconds`.
    pub fn record_scale_in(&mut self, now: i64, seconds: u32) {
        self.scale_in_until = Some(now + i64::from(seconds));
        self.scale_in_started = Some(now);
    }

    /// Records that policy `policy` started the cooldown of the activity just recorded
    /// (`scale_out`: a scale-out, else a scale-in).
    pub fn started_by(&mut self, policy: usize, scale_out: bool) {
        let policy = u32::try_from(policy).ok();
        if scale_out {
            self.scale_out_policy = policy;
        } else {
            self.scale_in_policy = policy;
        }
    }

    /// This clock in a new version of the policy set, where `policy` maps the index of each
    /// policy of the old version to its index in the new one if it is unchanged: each of the
    /// two cooldowns is kept while the policy that started it is unchanged (a cooldown with no
    /// known policy is dropped).
    pub fn carried(&self, policy: impl Fn(usize) -> Option<usize>) -> CooldownClock {
        let mut clock = CooldownClock::default();
        let map = |started: Option<u32>| started.and_then(|p| policy(p as usize));
        if let Some(new) = map(self.scale_out_policy) {
            clock.scale_out = self.scale_out;
            clock.scale_out_started = self.scale_out_started;
            clock.started_by(new, true);
        }
        if let Some(new) = map(self.scale_in_policy) {
            clock.scale_in_until = self.scale_in_until;
            clock.scale_in_started = self.scale_in_started;
            clock.started_by(new, false);
        }
        clock
    }

    /// The capacity change decided at `decided` was observed on the scale target at
    /// `observed`: the cooldowns started since `decided` run from `observed` instead, for
    /// their whole duration.
    pub fn restart_when_observed(&mut self, decided: i64, observed: i64) {
        if let (Some(started), Some(cooldown)) = (self.scale_out_started, &mut self.scale_out)
            && started >= decided
            && observed > started
        {
            cooldown.until += observed - started;
            self.scale_out_started = Some(observed);
        }
        if let (Some(started), Some(until)) = (self.scale_in_started, &mut self.scale_in_until)
            && started >= decided
            && observed > started
        {
            *until += observed - started;
            self.scale_in_started = Some(observed);
        }
    }
}

#[cfg(test)]
mod tests;
