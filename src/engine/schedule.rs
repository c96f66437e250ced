//! Scheduled action recurrences: `at(..)`, `rate(..)` and `cron(..)` (spec B.5).
//!
//! AAS cron expressions have six fields, `minutes hours day-of-month month day-of-week year`,
//! Quartz-style week days (1 = SUN .. 7 = SAT, or names) and require `?` in exactly one of the
//! two day fields. They are evaluated in the action's IANA time zone, so a `cron(0 8 ? * MON-FRI *)`
//! in `America/New_York` follows daylight saving time. The parsing and matching of the cron fields
//! is done by the `croner` crate configured for that dialect.
//!
//! Choices where AWS is silent (documented in the README and tested):
//! - `at(..)` and a *fixed-time* `cron` (a single minute and a single hour, e.g.
//!   `cron(30 2 * * ? *)`): a local time that does not exist (spring forward) runs at the first
//!   instant after the gap (02:30 in New York on 2025-03-09 runs at 03:00 EDT = 07:00Z); a local
//!   time that happens twice (fall back) runs once, at its first occurrence (01:30 on 2025-11-02
//!   runs at 01:30 EDT = 05:30Z only).
//! - Any other `cron` (a wildcard, a list, a range or a step in the minute or hour field) follows
//!   `croner`'s rule for interval jobs: local times inside the gap are skipped
//!   (`cron(0,30 2 * * ? *)` does not run on 2025-03-09 in New York), and local times that happen
//!   twice run twice, once on each side of the change (`cron(30 1-2 * * ? *)` runs at 05:30Z,
//!   06:30Z and 07:30Z on 2025-11-02).
//! - `rate(..)` is anchored at the action's `startTime`, or at the Unix epoch when it has none, so
//!   that every replica of the scaler computes the same instants.
//! - A `cron` with a `startTime` first runs at its first match at or after `startTime`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// When a scheduled action recurs.
#[derive(Clone)]
pub enum Recurrence {
    /// Once, at this instant.
    At(DateTime<Utc>),
    /// Every `every_seconds`, counted from `anchor`.
    Rate {
        /// Interval between runs.
        every_seconds: i64,
        /// An instant at which the action runs.
        anchor: DateTime<Utc>,
    },
    /// On every match of a cron pattern in a time zone.
    Cron {
        /// The parsed pattern, shared by the schedules with the same pattern.
        cron: Arc<Cron>,
        /// The zone the pattern is read in.
        zone: Tz,
    },
}

impl fmt::Debug for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recurrence::At(at) => write!(f, "At({at})"),
            Recurrence::Rate {
                every_seconds,
                anchor,
            } => {
                write!(f, "Rate({every_seconds}s from {anchor})")
            }
            Recurrence::Cron { cron, zone } => write!(f, "Cron({} in {zone})", cron.pattern),
        }
    }
}

/// A schedule: a recurrence bounded by an optional start and end time.
#[derive(Debug, Clone)]
pub struct Schedule {
    recurrence: Recurrence,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
}

impl Schedule {
    /// Parses an AAS schedule expression read in `zone`, bounded by `start` and `end`.
    ///
    /// The error says what is wrong and what is expected, for a validation message.
    pub fn parse(
        expression: &str,
        zone: Tz,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<Self, String> {
        let expression = expression.trim();
        let recurrence = if let Some(body) = strip_call(expression, "at") {
            Recurrence::At(parse_at(body, zone)?)
        } else if let Some(body) = strip_call(expression, "rate") {
            Recurrence::Rate {
                every_seconds: parse_rate(body)?,
                anchor: start.unwrap_or(DateTime::UNIX_EPOCH),
            }
        } else if let Some(body) = strip_call(expression, "cron") {
            Recurrence::Cron {
                cron: parse_cron(body)?,
                zone,
            }
        } else {
            return Err(format!(
                "`{expression}` is not a schedule: expected at(yyyy-mm-ddThh:mm:ss), \
                 rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year)"
            ));
        };
        Ok(Self {
            recurrence,
            start,
            end,
        })
    }

    /// The recurrence without its bounds.
    pub fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }

    /// Whether `other` runs at the same instants: the same recurrence (a cron pattern by its
    /// text and zone), start and end.
    pub fn same_as(&self, other: &Schedule) -> bool {
        let recurrence = match (&self.recurrence, &other.recurrence) {
            (Recurrence::At(a), Recurrence::At(b)) => a == b,
            (
                Recurrence::Rate {
                    every_seconds: a,
                    anchor: x,
                },
                Recurrence::Rate {
                    every_seconds: b,
                    anchor: y,
                },
            ) => a == b && x == y,
            (Recurrence::Cron { cron: a, zone: x }, Recurrence::Cron { cron: b, zone: y }) => {
                a.pattern.as_str() == b.pattern.as_str() && x == y
            }
            _ => false,
        };
        recurrence && self.start == other.start && self.end == other.end
    }

    /// The latest run at or before `at`, within the start and end times.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = match self.end {
            Some(end) if end < at => end,
            _ => at,
        };
        let found = match &self.recurrence {
            Recurrence::At(when) => (*when <= at).then_some(*when),
            Recurrence::Rate {
                every_seconds,
                anchor,
            } => {
                let elapsed = (at - *anchor).num_seconds();
                if elapsed >= 0 {
                    after_seconds(*anchor, elapsed / every_seconds * every_seconds)
                } else {
                    None
                }
            }
            Recurrence::Cron { cron, zone } => cron
                .find_previous_occurrence(&at.with_timezone(zone), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }?;
        self.within_bounds(found).then_some(found)
    }

    /// The first run strictly after `after`, within the start and end times.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Runs before the start time do not happen: search from just before it.
        let from = match self.start {
            Some(start) if start > after => after_seconds(start, -1).unwrap_or(start),
            _ => after,
        };
        let found = match &self.recurrence {
            Recurrence::At(when) => (*when > from).then_some(*when),
            Recurrence::Rate {
                every_seconds,
                anchor,
            } => {
                let elapsed = (from - *anchor).num_seconds();
                let runs = if elapsed < 0 {
                    0
                } else {
                    elapsed / every_seconds + 1
                };
                runs.checked_mul(*every_seconds)
                    .and_then(|seconds| after_seconds(*anchor, seconds))
            }
            Recurrence::Cron { cron, zone } => cron
                .find_next_occurrence(&from.with_timezone(zone), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }?;
        self.within_bounds(found).then_some(found)
    }

    fn within_bounds(&self, at: DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| at >= start) && self.end.is_none_or(|end| at <= end)
    }
}

/// `at` plus `seconds`, or `None` past the range of dates.
fn after_seconds(at: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
    at.checked_add_signed(chrono::TimeDelta::try_seconds(seconds)?)
}

fn strip_call<'a>(expression: &'a str, name: &str) -> Option<&'a str> {
    expression
        .strip_prefix(name)?
        .trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

fn parse_at(body: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let local = NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S").map_err(|_| {
        format!("at({body}): expected a local date and time as yyyy-mm-ddThh:mm:ss")
    })?;
    Ok(resolve_local(zone, local))
}

/// Maps a local time to an instant: the earlier of a repeated time, the end of a skipped one.
fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Inside a daylight saving gap the first minute that exists runs the action; gaps last at
    // most a few hours, a day bounds the search whatever the zone data says.
    (0..=24 * 60)
        .filter_map(|minutes| local.checked_add_signed(chrono::Duration::minutes(minutes)))
        .find_map(|probe| zone.from_local_datetime(&probe).earliest())
        .map_or_else(|| local.and_utc(), |found| found.with_timezone(&Utc))
}

fn parse_rate(body: &str) -> Result<i64, String> {
    let expected = "expected rate(N minute|minutes|hour|hours|day|days) with N a positive integer";
    let mut words = body.split_whitespace();
    let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("rate({body}): {expected}"));
    };
    let count: i64 = count
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("rate({body}): {expected}"))?;
    let unit_seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return Err(format!("rate({body}): unknown unit `{unit}`, {expected}")),
    };
    // A hundred years bounds the interval far from any date arithmetic overflow.
    const MAX_RATE_SECONDS: i64 = 100 * 366 * 86_400;
    count
        .checked_mul(unit_seconds)
        .filter(|seconds| *seconds <= MAX_RATE_SECONDS)
        .ok_or_else(|| format!("rate({body}): the interval must be at most 100 years"))
}

/// Parses an AWS cron body, or returns the parsed pattern another schedule shares (see
/// [`CRONS`]).
fn parse_cron(body: &str) -> Result<Arc<Cron>, String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "cron({body}): expected 6 fields (minutes hours day-of-month month day-of-week year), found {}",
            fields.len()
        ));
    }
    // croner reads an empty list item as no value: `cron(, * * * ? *)` would never run, and
    // each search for its next run would take seconds.
    if let Some(field) = fields.iter().find(|f| f.split(',').any(str::is_empty)) {
        return Err(format!(
            "cron({body}): `{field}` has an empty list item; separate values with single commas"
        ));
    }
    let (day_of_month, day_of_week) = (fields[2], fields[4]);
    if (day_of_month == "?") == (day_of_week == "?") {
        return Err(format!(
            "cron({body}): exactly one of day-of-month and day-of-week must be `?`"
        ));
    }
    // AWS reads a lone `L` in day-of-week as the last day of the week, Saturday; croner would
    // match no day at all.
    let mut fields = fields;
    if day_of_week == "L" {
        fields[4] = "SAT";
    }
    // croner accepts a year field only together with a seconds field: AWS cron runs at second 0.
    let pattern = format!("0 {}", fields.join(" "));
    let mut crons = CRONS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cron) = crons.get(&pattern).and_then(Weak::upgrade) {
        return Ok(cron);
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&pattern)
        .map(Arc::new)
        .map_err(|error| format!("cron({body}): {error}"))?;
    // Forget patterns no schedule uses any more, at every doubling: amortized constant time.
    if crons.len().is_power_of_two() {
        crons.retain(|_, cron| cron.strong_count() > 0);
    }
    crons.insert(pattern, Arc::downgrade(&cron));
    Ok(cron)
}

/// Parsed cron patterns by their text. A parsed pattern costs about 5 KiB (croner keeps a byte
/// per possible value of each field, years included), and a fleet of services repeats a
/// handful of patterns: schedules with the same pattern share one.
static CRONS: LazyLock<Mutex<HashMap<String, Weak<Cron>>>> = LazyLock::new(Default::default);

#[cfg(test)]
mod tests;
