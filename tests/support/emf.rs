//! A check of CloudWatch Embedded Metric Format documents, written from AWS's
//! "Specification: Embedded metric format" (CloudWatch User Guide): what CloudWatch Logs
//! needs to extract metrics from a log event, independent of the code that writes them.

use serde_json::Value;

/// The units a MetricDefinition may name.
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// What is wrong with `line` as an EMF log event; empty when CloudWatch would extract
/// its metrics.
pub fn emf_problems(line: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(p);
    // The log event is one JSON object, nothing before or after it.
    let root: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return vec![format!("not one JSON value: {e}")],
    };
    let Some(root) = root.as_object() else {
        return vec!["the root is not an object".into()];
    };
    if line.len() > 1024 * 1024 {
        problem("larger than a log event may be (1 MB)".into());
    }
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["no _aws metadata object".into()];
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        other => problem(format!(
            "_aws.Timestamp must be milliseconds since the epoch, got {other:?}"
        )),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("_aws.CloudWatchMetrics is not an array".into());
        return problems;
    };
    if directives.is_empty() {
        problem("_aws.CloudWatchMetrics is empty: no metric would be extracted".into());
    }
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        let Some(directive) = directive.as_object() else {
            problem(format!("{at} is not an object"));
            continue;
        };
        // "Objects defined by this specification MUST NOT contain additional members."
        for key in directive.keys() {
            if !matches!(key.as_str(), "Namespace" | "Dimensions" | "Metrics") {
                problem(format!("{at} has an unknown member {key}"));
            }
        }
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(ns) if (1..=255).contains(&ns.len()) => {}
            other => problem(format!(
                "{at}.Namespace must be 1-255 characters, got {other:?}"
            )),
        }
        let mut dimension_names = Vec::new();
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problem(format!("{at}.Dimensions is not an array")),
            Some(sets) => {
                for (j, set) in sets.iter().enumerate() {
                    let Some(set) = set.as_array() else {
                        problem(format!("{at}.Dimensions[{j}] is not an array"));
                        continue;
                    };
                    if set.len() > 30 {
                        problem(format!("{at}.Dimensions[{j}] has more than 30 dimensions"));
                    }
                    for name in set {
                        let Some(name) = name.as_str() else {
                            problem(format!("{at}.Dimensions[{j}] holds a non-string"));
                            continue;
                        };
                        // Each dimension refers to a root member holding a string value.
                        match root.get(name).and_then(Value::as_str) {
                            Some(v) if (1..=1024).contains(&v.len()) => {}
                            other => problem(format!(
                                "dimension {name} needs a string member of 1-1024 characters, got {other:?}"
                            )),
                        }
                        dimension_names.push(name.to_owned());
                    }
                }
            }
        }
        match directive.get("Metrics").and_then(Value::as_array) {
            None => problem(format!("{at}.Metrics is not an array")),
            Some(metrics) => {
                if metrics.len() > 100 {
                    problem(format!("{at}.Metrics has more than 100 metrics"));
                }
                for (j, metric) in metrics.iter().enumerate() {
                    let Some(metric) = metric.as_object() else {
                        problem(format!("{at}.Metrics[{j}] is not an object"));
                        continue;
                    };
                    for key in metric.keys() {
                        if !matches!(key.as_str(), "Name" | "Unit" | "StorageResolution") {
                            problem(format!("{at}.Metrics[{j}] has an unknown member {key}"));
                        }
                    }
                    let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                        problem(format!("{at}.Metrics[{j}].Name is not a string"));
                        continue;
                    };
                    if !(1..=1024).contains(&name.len()) {
                        problem(format!("metric name {name:?} must be 1-1024 characters"));
                    }
                    if dimension_names.iter().any(|d| d == name) {
                        problem(format!("{name} is both a dimension and a metric"));
                    }
                    if let Some(unit) = metric.get("Unit")
                        && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
                    {
                        problem(format!("{name}: unknown unit {unit}"));
                    }
                    if let Some(resolution) = metric.get("StorageResolution")
                        && !matches!(resolution.as_u64(), Some(1 | 60))
                    {
                        problem(format!("{name}: StorageResolution must be 1 or 60"));
                    }
                    // The value: a number, or an array of at most 100 numbers.
                    match root.get(name) {
                        Some(Value::Number(_)) => {}
                        Some(Value::Array(values))
                            if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                        other => problem(format!(
                            "metric {name} needs a number (or up to 100 numbers), got {other:?}"
                        )),
                    }
                }
            }
        }
    }
    problems
}
