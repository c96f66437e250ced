//! Entries of `spec.alarms`: an alarm defined inline, or a CloudWatch alarm referenced by name.
//!
//! ```yaml
//! alarms:
//!   cpuHigh: {metric: cpu, comparisonOperator: GreaterThanThreshold, threshold: 70,
//!             evaluationPeriods: 3}                              # inline, evaluated by the scaler
//!   queueHigh:
//!     cloudwatchAlarm: {alarmName: orders-queue-high, awsRegion: eu-west-1,
//!                       mode: evaluate, refreshSeconds: 300}     # read with DescribeAlarms
//! ```
//!
//! The two forms are told apart by the `cloudwatchAlarm` key, so an error names the field it
//! is about (`spec.alarms.cpuHigh: missing field `threshold``, `spec.alarms.queueHigh:
//! `cloudwatchAlarm` replaces the inline definition: remove `threshold``).
//!
//! A document with references is *unresolved*: [`resolve`] turns it into a resolved one, in
//! which each reference carries the alarm as the scaler runs it (a generated `cloudwatch`
//! metric named [`metric_key`] and an alarm over it), from the definitions `DescribeAlarms`
//! returned. Only a resolved document compiles into a policy set that can be evaluated (see
//! [`super::compile`]).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::document::{
    AlarmSpec, CloudWatchSpec, ComparisonOperator, ScalingPolicySet, Statistic, TreatMissingData,
};
use super::validate::ValidationErrors;
use crate::sources::cloudwatch::alarms::{AlarmDefinition, CloudWatchAlarmRef};

/// One entry of `spec.alarms`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmEntry {
    /// Defined in the document and evaluated by the scaler.
    Inline(AlarmSpec),
    /// A CloudWatch alarm read by name (`cloudwatchAlarm: {...}`).
    CloudWatch(CloudWatchAlarm),
}

/// A CloudWatch alarm referenced by name, and what was read of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchAlarm {
    /// The reference, as written.
    pub reference: CloudWatchAlarmRef,
    /// The alarm as the scaler runs it, once its definition has been read (never serialized).
    pub resolved: Option<Box<ResolvedAlarm>>,
}

/// A referenced alarm translated from its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAlarm {
    /// Its metric (or metric math), fetched like a `cloudwatch` metric.
    pub metric: CloudWatchSpec,
    /// The alarm over that metric (named [`metric_key`]).
    pub alarm: AlarmSpec,
}

impl AlarmEntry {
    /// The inline definition, if it is one.
    pub fn inline(&self) -> Option<&AlarmSpec> {
        match self {
            AlarmEntry::Inline(alarm) => Some(alarm),
            AlarmEntry::CloudWatch(_) => None,
        }
    }

    /// The inline definition, if it is one, to change it.
    pub fn inline_mut(&mut self) -> Option<&mut AlarmSpec> {
        match self {
            AlarmEntry::Inline(alarm) => Some(alarm),
            AlarmEntry::CloudWatch(_) => None,
        }
    }

    /// The CloudWatch reference, if it is one.
    pub fn cloudwatch(&self) -> Option<&CloudWatchAlarm> {
        match self {
            AlarmEntry::Inline(_) => None,
            AlarmEntry::CloudWatch(alarm) => Some(alarm),
        }
    }
}

impl From<AlarmSpec> for AlarmEntry {
    fn from(alarm: AlarmSpec) -> Self {
        AlarmEntry::Inline(alarm)
    }
}

impl From<CloudWatchAlarmRef> for AlarmEntry {
    fn from(reference: CloudWatchAlarmRef) -> Self {
        AlarmEntry::CloudWatch(CloudWatchAlarm {
            reference,
            resolved: None,
        })
    }
}

/// The name of the generated metric of the referenced alarm `alarm` (a key of `spec.alarms`).
pub fn metric_key(alarm: &str) -> String {
    format!("alarm:{alarm}")
}

/// The CloudWatch alarms a document references, by their key in `spec.alarms`.
pub fn references(document: &ScalingPolicySet) -> impl Iterator<Item = (&str, &CloudWatchAlarm)> {
    document
        .spec
        .alarms
        .iter()
        .filter_map(|(key, entry)| entry.cloudwatch().map(|alarm| (key.as_str(), alarm)))
}

/// The references a document has not resolved yet.
pub fn unresolved(
    document: &ScalingPolicySet,
) -> impl Iterator<Item = (&str, &CloudWatchAlarmRef)> {
    references(document)
        .filter(|(_, alarm)| alarm.resolved.is_none())
        .map(|(key, alarm)| (key, &alarm.reference))
}

/// `document` with every CloudWatch alarm reference resolved from `definition` (which gives the
/// definition of the alarm under a key of `spec.alarms`). Each error names the alarm and why
/// it cannot be run, at `spec.alarms.<key>.cloudwatchAlarm`.
pub fn resolve<'d>(
    document: &ScalingPolicySet,
    definition: impl Fn(&str) -> Option<&'d AlarmDefinition>,
) -> Result<ScalingPolicySet, ValidationErrors> {
    let mut resolved = document.clone();
    let mut errors = ValidationErrors::default();
    for (key, entry) in &mut resolved.spec.alarms {
        let AlarmEntry::CloudWatch(alarm) = entry else {
            continue;
        };
        let path = format!("spec.alarms.{key}.cloudwatchAlarm");
        let name = &alarm.reference.alarm_name;
        let Some(definition) = definition(key) else {
            errors.push(
                path,
                format!("the definition of CloudWatch alarm `{name}` has not been read yet"),
            );
            continue;
        };
        match definition.translate(&alarm.reference, &metric_key(key)) {
            Ok((metric, spec)) => {
                alarm.resolved = Some(Box::new(ResolvedAlarm {
                    metric,
                    alarm: spec,
                }))
            }
            Err(message) => errors.push(path, format!("CloudWatch alarm `{name}`: {message}")),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

impl Serialize for AlarmEntry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AlarmEntry::Inline(alarm) => alarm.serialize(serializer),
            AlarmEntry::CloudWatch(alarm) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("cloudwatchAlarm", &alarm.reference)?;
                map.end()
            }
        }
    }
}

/// Every key of either form, so that an unknown key is named with all the expected ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum Field {
    Metric,
    AlarmName,
    Statistic,
    ComparisonOperator,
    Threshold,
    EvaluationPeriods,
    DatapointsToAlarm,
    TreatMissingData,
    PerTask,
    CloudwatchAlarm,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Metric => "metric",
            Field::AlarmName => "alarmName",
            Field::Statistic => "statistic",
            Field::ComparisonOperator => "comparisonOperator",
            Field::Threshold => "threshold",
            Field::EvaluationPeriods => "evaluationPeriods",
            Field::DatapointsToAlarm => "datapointsToAlarm",
            Field::TreatMissingData => "treatMissingData",
            Field::PerTask => "perTask",
            Field::CloudwatchAlarm => "cloudwatchAlarm",
        }
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = AlarmEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an alarm: `metric`, `comparisonOperator`, `threshold`, `evaluationPeriods`, ... or \
             `cloudwatchAlarm: {alarmName: ...}`",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AlarmEntry, A::Error> {
        let mut metric: Option<String> = None;
        let mut alarm_name: Option<String> = None;
        let mut statistic: Option<Statistic> = None;
        let mut operator: Option<ComparisonOperator> = None;
        let mut threshold: Option<f64> = None;
        let mut evaluation_periods: Option<u32> = None;
        let mut datapoints_to_alarm: Option<Option<u32>> = None;
        let mut treat_missing_data: Option<TreatMissingData> = None;
        let mut per_task: Option<bool> = None;
        let mut reference: Option<CloudWatchAlarmRef> = None;
        let mut inline_fields: Vec<&'static str> = Vec::new();

        fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            field: Field,
        ) -> Result<(), A::Error> {
            if slot.is_some() {
                return Err(de::Error::duplicate_field(field.name()));
            }
            *slot = Some(map.next_value()?);
            Ok(())
        }

        while let Some(field) = map.next_key::<Field>()? {
            if field != Field::CloudwatchAlarm {
                inline_fields.push(field.name());
            }
            match field {
                Field::Metric => set(&mut map, &mut metric, field)?,
                Field::AlarmName => set(&mut map, &mut alarm_name, field)?,
                Field::Statistic => set(&mut map, &mut statistic, field)?,
                Field::ComparisonOperator => set(&mut map, &mut operator, field)?,
                Field::Threshold => set(&mut map, &mut threshold, field)?,
                Field::EvaluationPeriods => set(&mut map, &mut evaluation_periods, field)?,
                Field::DatapointsToAlarm => set(&mut map, &mut datapoints_to_alarm, field)?,
                Field::TreatMissingData => set(&mut map, &mut treat_missing_data, field)?,
                Field::PerTask => set(&mut map, &mut per_task, field)?,
                Field::CloudwatchAlarm => set(&mut map, &mut reference, field)?,
            }
        }
        if let Some(reference) = reference {
            if !inline_fields.is_empty() {
                return Err(de::Error::custom(format!(
                    "`cloudwatchAlarm` replaces the inline definition: remove `{}` (the alarm's \
                     definition is read from CloudWatch)",
                    inline_fields.join("`, `")
                )));
            }
            return Ok(reference.into());
        }
        Ok(AlarmEntry::Inline(AlarmSpec {
            metric: metric.ok_or_else(|| de::Error::missing_field("metric"))?,
            alarm_name,
            statistic: statistic.unwrap_or_default(),
            comparison_operator: operator
                .ok_or_else(|| de::Error::missing_field("comparisonOperator"))?,
            threshold: threshold.ok_or_else(|| de::Error::missing_field("threshold"))?,
            evaluation_periods: evaluation_periods
                .ok_or_else(|| de::Error::missing_field("evaluationPeriods"))?,
            datapoints_to_alarm: datapoints_to_alarm.flatten(),
            treat_missing_data: treat_missing_data.unwrap_or_default(),
            per_task: per_task.unwrap_or_default(),
        }))
    }
}

/// One object with the properties of both forms (an inline alarm, or `cloudwatchAlarm` alone),
/// none required: a Kubernetes structural schema cannot say "one of two shapes", so the API server
/// checks the field types and [`super::compile`] the rest, with field paths.
impl schemars::JsonSchema for AlarmEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AlarmEntry".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = AlarmSpec::json_schema(generator);
        let reference = generator.subschema_for::<CloudWatchAlarmRef>();
        if let Some(object) = schema.as_object_mut() {
            object.remove("required");
            if let Some(serde_json::Value::Object(properties)) = object.get_mut("properties") {
                properties.insert("cloudwatchAlarm".to_owned(), reference.to_value());
            }
            object.insert(
                "description".to_owned(),
                "An alarm defined inline (metric, comparisonOperator, threshold, \
                 evaluationPeriods, ...) or a CloudWatch alarm read by name \
                 (`cloudwatchAlarm` alone)."
                    .into(),
            );
        }
        schema
    }
}

impl<'de> Deserialize<'de> for AlarmEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

#[cfg(test)]
mod tests;
