//! Scheduled actions (spec B.5).
//!
//! Input: a `ScheduledAction` of `describe-scheduled-actions` (`at`, `rate` or `cron`, time
//! zone, start and end times, the bounds it sets). Output: a `spec.scheduledActions` entry run
//! by the scaler, and its report row. Errors become a `decide` row and nothing is written: a
//! capacity out of range, an unknown time zone, a schedule the scaler cannot parse.

use std::fmt::Write as _;

use super::ServiceBuilder;
use crate::import::aws::ScheduledAction;
use crate::import::report::Status;
use crate::policy::document::{ScalableTargetAction, ScheduledActionSpec};

impl<'a> ServiceBuilder<'a> {
    pub(super) fn scheduled_action(&mut self, action: &ScheduledAction) {
        let bounds = action.scalable_target_action.unwrap_or_default();
        let mut setting = format!(
            "scheduled action `{}` ({}",
            action.scheduled_action_name, action.schedule
        );
        if let Some(zone) = &action.timezone {
            let _ = write!(setting, " {zone}");
        }
        if let Some(min) = bounds.min_capacity {
            let _ = write!(setting, ", MinCapacity {min}");
        }
        if let Some(max) = bounds.max_capacity {
            let _ = write!(setting, ", MaxCapacity {max}");
        }
        if let Some(start) = action.start_time {
            let _ = write!(setting, ", from {start}");
        }
        if let Some(end) = action.end_time {
            let _ = write!(setting, ", until {end}");
        }
        setting.push(')');
        let convert = |v: Option<i64>| v.map(u32::try_from).transpose();
        let (Ok(min_capacity), Ok(max_capacity)) =
            (convert(bounds.min_capacity), convert(bounds.max_capacity))
        else {
            self.report.push(
                setting,
                "not translated",
                Status::Decide("a capacity is negative or above 4294967295".to_owned()),
            );
            return;
        };
        let zone = action.timezone.as_deref().unwrap_or("UTC");
        let checked = zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("`{zone}` is not an IANA time zone"))
            .and_then(|tz| {
                crate::engine::schedule::Schedule::parse(
                    &action.schedule,
                    tz,
                    action.start_time.map(|t| t.0),
                    action.end_time.map(|t| t.0),
                )
            });
        if let Err(why) = checked {
            self.report.push(
                setting,
                "not translated",
                Status::Decide(format!("the scaler cannot run this schedule: {why}")),
            );
            return;
        }
        self.scheduled_actions.push(ScheduledActionSpec {
            scheduled_action_name: action.scheduled_action_name.clone(),
            schedule: action.schedule.clone(),
            timezone: action.timezone.clone(),
            start_time: action.start_time.map(|t| t.0),
            end_time: action.end_time.map(|t| t.0),
            scalable_target_action: ScalableTargetAction {
                min_capacity,
                max_capacity,
            },
        });
        self.report.push(
            setting,
            format!(
                "spec.scheduledActions `{}` (run by the scaler, which clamps its decision to \
                 the bounds in force)",
                action.scheduled_action_name
            ),
            Status::Exact,
        );
    }
}
