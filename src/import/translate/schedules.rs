//! Scheduled actions (spec B.5).
//!
//! Input: a `ScheduledAction` of `describe-scheduled-actions` (`at`, `rate` or `cron`, time
//! zone, start and end times, the bounds it sets, its creation time). Output: a
//! `spec.scheduledActions` entry run by the scaler, and its report row; a `rate` without
//! `StartTime` gets its `CreationTime` as `startTime` (approximate, see `rate_start`). Errors
//! become a `decide` row and nothing is written: a capacity out of range, an unknown time zone,
//! a schedule the scaler cannot parse.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::ServiceBuilder;
use crate::engine::schedule::Recurrence;
use crate::import::aws::{ScheduledAction, Timestamp};
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
        let schedule = match checked {
            Ok(schedule) => schedule,
            Err(why) => {
                self.report.push(
                    setting,
                    "not translated",
                    Status::Decide(format!("the scaler cannot run this schedule: {why}")),
                );
                return;
            }
        };
        let is_rate = matches!(schedule.recurrence(), Recurrence::Rate { .. });
        let (start_time, start_text, status) = match (action.start_time, is_rate) {
            (None, true) => rate_start(action.creation_time),
            (start, _) => (start.map(|t| t.0), String::new(), Status::Exact),
        };
        self.scheduled_actions.push(ScheduledActionSpec {
            scheduled_action_name: action.scheduled_action_name.clone(),
            schedule: action.schedule.clone(),
            timezone: action.timezone.clone(),
            start_time,
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
                 the bounds in force){start_text}",
                action.scheduled_action_name
            ),
            status,
        );
    }
}

/// Where a `rate(..)` without `StartTime` is counted from: its `startTime`, a text for the
/// report row, and the row's status.
///
/// A recurring action's `StartTime` and `EndTime` bound when it recurs (API reference,
/// PutScheduledAction, <https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html>),
/// and with a start time the action first runs at it (user guide, "Schedule recurring scaling
/// actions using cron expressions",
/// <https://docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html>).
/// Neither says where a rate without a start time is counted from. The scaler counts a rate
/// from its `startTime`, else from the Unix epoch; the closest documented instant is the
/// action's `CreationTime` (`ScheduledAction` in the API reference, printed by
/// `describe-scheduled-actions`), so it becomes the `startTime`, and the row says that this is
/// a guess (spec B.5, UNCONFIRMED).
fn rate_start(created: Option<Timestamp>) -> (Option<DateTime<Utc>>, String, Status) {
    const UNDOCUMENTED: &str =
        "AWS does not document where a rate without StartTime is counted from";
    match created {
        Some(created) => (
            Some(created.0),
            format!("; startTime {created}, its CreationTime"),
            Status::Approximate(format!(
                "{UNDOCUMENTED}: the scaler counts it from the action's CreationTime"
            )),
        ),
        None => (
            None,
            String::new(),
            Status::Approximate(format!(
                "{UNDOCUMENTED}, and this one has no CreationTime: the scaler counts it from the \
                 Unix epoch; set startTime to when the action was created"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_without_start_time_is_counted_from_its_creation_time() {
        let created = Timestamp::parse("2025-06-21T08:05:37.204Z").unwrap();
        let (start, text, status) = rate_start(Some(created));
        assert_eq!(start, Some(created.0));
        assert!(text.contains("its CreationTime"), "{text}");
        assert!(matches!(status, Status::Approximate(why) if why.contains("CreationTime")));
    }

    #[test]
    fn a_rate_without_start_or_creation_time_is_counted_from_the_epoch() {
        let (start, text, status) = rate_start(None);
        assert_eq!(start, None, "the scaler's default: the Unix epoch");
        assert!(text.is_empty());
        assert!(
            matches!(&status, Status::Approximate(why) if why.contains("Unix epoch")),
            "{status:?}"
        );
    }
}
