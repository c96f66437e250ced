//! CloudWatch metrics and metric math, as the `cloudwatch` sources of the policy set.
//!
//! Input: a metric (namespace, name, dimensions, statistic) or a list of metric math queries
//! (`MetricDataQuery`) of an alarm or of a target tracking policy's customized metric. Output:
//! the fields of a `cloudwatch` source (a single metric, or one expression over named inputs,
//! with intermediate expressions written out in parentheses), the statistic the policy or alarm
//! reads, and a description for the report. Errors (a `String` that becomes a report row):
//! not exactly one query returning data, a cross-account query, a query with neither an
//! expression nor a metric, an invalid id, expressions nested more than 10 deep or longer than
//! CloudWatch's 2,048 characters once written out.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::import::aws::{Dimension, MetricQuery, MetricStat};
use crate::policy::document::{CloudWatchSpec, Statistic};
use crate::sources::cloudwatch::{is_valid_id, scan_identifiers};

pub(super) fn dimensions_json(dimensions: &[Dimension]) -> Value {
    Value::Object(
        dimensions
            .iter()
            .map(|d| (d.name.clone(), Value::String(d.value.clone())))
            .collect(),
    )
}

pub(super) fn describe_dimensions(dimensions: &[Dimension]) -> String {
    if dimensions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = dimensions
        .iter()
        .map(|d| format!("{}={}", d.name, d.value))
        .collect();
    format!("{{{}}}", list.join(","))
}

/// The simple statistic `stat` names, for a policy's or an alarm's `statistic` (a CloudWatch
/// source delivers one value per period, so any statistic of it is that value).
pub(super) fn simple_statistic(stat: &str) -> Statistic {
    match stat {
        "Sum" => Statistic::Sum,
        "Minimum" => Statistic::Minimum,
        "Maximum" => Statistic::Maximum,
        "SampleCount" => Statistic::SampleCount,
        _ => Statistic::Average,
    }
}

/// A CloudWatch source from its JSON fields (defaults for the rest).
pub(super) fn cloudwatch_source(fields: Value) -> Result<CloudWatchSpec, String> {
    serde_json::from_value(fields).map_err(|e| format!("cannot build the CloudWatch source: {e}"))
}

/// The result of resolving a metric math query list.
#[derive(Debug)]
pub(super) struct Math {
    /// The expression, with intermediate expressions inlined; `None` for a single metric.
    pub(super) expression: Option<String>,
    /// The metrics it reads, by id (the single metric under its own id).
    pub(super) inputs: BTreeMap<String, MetricStat>,
    /// The period of the returned query or of its inputs.
    pub(super) period: Option<i64>,
}

pub(super) fn resolve_math(queries: &[MetricQuery]) -> Result<Math, String> {
    let results: Vec<&MetricQuery> = queries
        .iter()
        .filter(|q| q.return_data.unwrap_or(true))
        .collect();
    let [result] = results.as_slice() else {
        return Err(format!(
            "{} of its metric math queries return data; exactly one must",
            results.len()
        ));
    };
    if let Some(query) = queries.iter().find(|q| q.account_id.is_some()) {
        return Err(format!(
            "query `{}` reads account {}: cross-account metric math has no equivalent in the \
             cloudwatch source (give the metric a `roleArn` in that account instead)",
            query.id,
            query.account_id.as_deref().unwrap_or_default()
        ));
    }
    let by_id: BTreeMap<&str, &MetricQuery> = queries.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut inputs = BTreeMap::new();
    let expression = match (&result.expression, &result.metric_stat) {
        (Some(expression), _) => Some(inline(expression, &by_id, &mut inputs, 0)?),
        (None, Some(stat)) => {
            inputs.insert(result.id.clone(), stat.clone());
            None
        }
        (None, None) => {
            return Err(format!(
                "query `{}` has neither an Expression nor a MetricStat",
                result.id
            ));
        }
    };
    // `e1 = m1`: the metric itself.
    let expression = match expression {
        Some(text) if inputs.len() == 1 && inputs.contains_key(text.trim()) => None,
        other => other,
    };
    for id in inputs.keys() {
        if !is_valid_id(id) {
            return Err(format!("`{id}` is not a valid metric math id"));
        }
    }
    let period = result
        .period
        .or_else(|| inputs.values().find_map(|stat| stat.period));
    Ok(Math {
        expression,
        inputs,
        period,
    })
}

/// CloudWatch's longest metric math expression, in bytes.
const MAX_EXPRESSION_BYTES: usize = 2048;

/// `expression` with every reference to another expression replaced by that expression in
/// parentheses; the metrics it reads are added to `inputs`. An inlined expression longer than
/// CloudWatch takes is refused as soon as it grows past it: expressions that reference each
/// other many times over (`e1 = e2 + e2 + ...`, `e2 = e3 + e3 + ...`) would otherwise grow
/// exponentially with their depth.
pub(super) fn inline(
    expression: &str,
    by_id: &BTreeMap<&str, &MetricQuery>,
    inputs: &mut BTreeMap<String, MetricStat>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("its metric math expressions nest more than 10 deep".to_owned());
    }
    let too_long = || {
        format!(
            "its metric math, with the expressions it references written out, is longer than \
             CloudWatch's {MAX_EXPRESSION_BYTES} characters"
        )
    };
    let mut failure = None;
    let mut inlined = 0usize;
    let out = scan_identifiers(expression, |identifier, _| {
        if failure.is_some() {
            return None;
        }
        let query = by_id.get(identifier)?;
        match (&query.expression, &query.metric_stat) {
            (Some(inner), _) => match inline(inner, by_id, inputs, depth + 1) {
                Ok(inner) => {
                    let inner = if is_atomic(&inner) {
                        inner
                    } else {
                        format!("({inner})")
                    };
                    inlined += inner.len();
                    if inlined > MAX_EXPRESSION_BYTES {
                        failure = Some(too_long());
                        return None;
                    }
                    Some(inner)
                }
                Err(error) => {
                    failure = Some(error);
                    None
                }
            },
            (None, Some(stat)) => {
                inputs.insert(identifier.to_owned(), stat.clone());
                None
            }
            (None, None) => None,
        }
    });
    match failure {
        Some(error) => Err(error),
        None if out.len() > MAX_EXPRESSION_BYTES => Err(too_long()),
        None => Ok(out),
    }
}

/// Whether `expression` is one identifier or one function call, which need no parentheses.
fn is_atomic(expression: &str) -> bool {
    let name_end = expression
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expression.len());
    if name_end == 0 {
        return false;
    }
    let rest = &expression[name_end..];
    if rest.is_empty() {
        return true;
    }
    if !rest.starts_with('(') || !rest.ends_with(')') {
        return false;
    }
    // The call's parenthesis must close at the very end.
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == rest.len() - 1;
                }
            }
            '\'' | '"' => return false,
            _ => {}
        }
    }
    false
}

fn metric_stat_json(stat: &MetricStat) -> Value {
    let mut fields = json!({
        "namespace": stat.metric.namespace.clone().unwrap_or_default(),
        "metricName": stat.metric.metric_name.clone().unwrap_or_default(),
        "stat": stat.stat,
    });
    if !stat.metric.dimensions.is_empty() {
        fields["dimensions"] = dimensions_json(&stat.metric.dimensions);
    }
    if let Some(unit) = &stat.unit {
        fields["unit"] = json!(unit);
    }
    fields
}

pub(super) fn describe_stat(stat: &MetricStat) -> String {
    format!(
        "{} {}{} {}",
        stat.metric.namespace.as_deref().unwrap_or("?"),
        stat.metric.metric_name.as_deref().unwrap_or("?"),
        describe_dimensions(&stat.metric.dimensions),
        stat.stat
    )
}

/// `A / B` split at its last division outside parentheses and string literals.
pub(super) fn split_top_level_division(expression: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut quote = None;
    let mut last = None;
    for (i, c) in expression.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, '/') if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    let at = last?;
    Some((&expression[..at], &expression[at + 1..]))
}

/// The cloudwatch source fields of resolved metric math, its description and the statistic for
/// the policy or alarm.
pub(super) fn math_fields(math: &Math) -> (Value, String, Statistic) {
    match &math.expression {
        None => {
            let stat = math.inputs.values().next().cloned();
            match stat {
                Some(stat) => (
                    metric_stat_json(&stat),
                    describe_stat(&stat),
                    simple_statistic(&stat.stat),
                ),
                None => (json!({}), String::new(), Statistic::Average),
            }
        }
        Some(expression) => {
            let inputs: serde_json::Map<String, Value> = math
                .inputs
                .iter()
                .map(|(id, stat)| (id.clone(), metric_stat_json(stat)))
                .collect();
            let described: Vec<String> = math
                .inputs
                .iter()
                .map(|(id, stat)| format!("{id} = {}", describe_stat(stat)))
                .collect();
            (
                json!({"expression": expression, "metrics": Value::Object(inputs)}),
                format!("{expression} with {}", described.join(", ")),
                Statistic::Average,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metric_math_inlines_intermediate_expressions() {
        let queries: Vec<MetricQuery> = serde_json::from_value(json!([
            {"Id": "a", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "A"}, "Stat": "Sum", "Period": 60}, "ReturnData": false},
            {"Id": "b", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "B"}, "Stat": "Sum"}, "ReturnData": false},
            {"Id": "unused", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "C"}, "Stat": "Sum"}, "ReturnData": false},
            {"Id": "ratio", "Expression": "a / b", "ReturnData": false},
            {"Id": "clean", "Expression": "FILL(a, 0)", "ReturnData": false},
            {"Id": "e", "Expression": "ratio * 100 + clean + LABEL_ID('a')", "ReturnData": true}
        ]))
        .unwrap();
        let math = resolve_math(&queries).unwrap();
        assert_eq!(
            math.expression.as_deref(),
            Some("(a / b) * 100 + FILL(a, 0) + LABEL_ID('a')")
        );
        assert_eq!(math.inputs.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(math.period, Some(60));

        let two_results: Vec<MetricQuery> = serde_json::from_value(json!([
            {"Id": "a", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "A"}, "Stat": "Sum"}},
            {"Id": "e", "Expression": "a * 2"}
        ]))
        .unwrap();
        assert!(resolve_math(&two_results).unwrap_err().contains("2 of its"));
    }

    #[test]
    fn divisions_split_at_the_top_level_and_calls_need_no_parentheses() {
        assert_eq!(
            split_top_level_division("(m1 + m3) / m2"),
            Some(("(m1 + m3) ", " m2"))
        );
        assert_eq!(split_top_level_division("SUM(a / b)"), None);
        assert!(is_atomic("DIFF(dlq)") && is_atomic("m1"));
        assert!(!is_atomic("a / b") && !is_atomic("f(a) + g(b)"));
    }
}
