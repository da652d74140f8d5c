//! `template.yaml` against the code: the `Issuer` parameter admits exactly the issuers
//! the service uses unchanged (so the `Issuer` output is the tokens' `iss`), and every
//! alarm watches a metric that is published under the name, namespace and dimensions it
//! names.
//!
//! The template is read by the project's `.venv` Python (PyYAML, which cfn-lint brings),
//! and the `AllowedPattern` is applied with Python's `re.fullmatch`: CloudFormation's
//! patterns are Java regexes, so the pattern must keep to what both read alike.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use pers::config::Settings;
use pers_tests::venv_python;
use serde_json::{Value, json};

/// Loads the template (CloudFormation's short tags as their long forms: `!Ref X` is
/// `{"Ref": "X"}`, `!Sub s` is `{"Fn::Sub": s}`) and matches each candidate against the
/// Issuer parameter's `AllowedPattern`.
const READ_TEMPLATE: &str = r#"
import json, re, sys
import yaml

class Loader(yaml.SafeLoader):
    pass

def intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}

Loader.add_multi_constructor("!", intrinsic)
request = json.load(sys.stdin)
with open(request["template"], encoding="utf-8") as f:
    template = yaml.load(f, Loader=Loader)
pattern = template["Parameters"]["Issuer"]["AllowedPattern"]
accepted = [re.fullmatch(pattern, c) is not None for c in request["candidates"]]
json.dump({"template": template, "accepted": accepted}, sys.stdout, default=str)
"#;

struct Template {
    doc: Value,
    /// Whether the Issuer `AllowedPattern` accepts each candidate, in order.
    accepted: Vec<bool>,
}

fn read_template(candidates: &[&str]) -> Template {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let mut child = Command::new(venv_python())
        .args(["-c", READ_TEMPLATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the venv python (scripts/setup installs it)");
    let request = json!({"template": path, "candidates": candidates});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reading template.yaml failed");
    let mut answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let accepted = answer["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    Template {
        doc: answer["template"].take(),
        accepted,
    }
}

/// Issuers a deployer may mean, each used by the service exactly as given.
const GOOD_ISSUERS: &[&str] = &[
    "https://auth.example.com",
    "https://auth.dev.example.com",
    "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
    "https://my-auth.example-1.com",
    "https://xn--bcher-kva.example",
    "https://1password.example.com",
];

/// What the pattern must refuse: anything after the host, other schemes, other cases,
/// hosts that are not dotted host names, ports, blanks.
const BAD_ISSUERS: &[&str] = &[
    "https://auth.example.com/",
    "https://auth.example.com/v1",
    "https://auth.example.com/v1/",
    "https://auth.example.com:8443/",
    // No port: API Gateway serves 443 only, and :443 would be a second iss of one origin.
    "https://auth.example.com:443",
    "https://auth.example.com:8443",
    "https://auth.example.com:1",
    // A dotted name: no single label.
    "https://localhost",
    "https://auth",
    "https://auth.example.com?x=1",
    "https://auth.example.com/?x=1",
    "https://auth.example.com#top",
    "http://auth.example.com",
    "HTTPS://auth.example.com",
    "https://Auth.Example.com",
    "ftp://auth.example.com",
    "auth.example.com",
    "//auth.example.com",
    "https://",
    "https://user@auth.example.com",
    "https://auth.example.com.",
    "https://.example.com",
    "https://auth..example.com",
    "https://-auth.example.com",
    "https://auth-.example.com",
    "https://auth_1.example.com",
    "https://127.0.0.1",
    "https://[::1]",
    "https://auth.example.123",
    "https://auth.example.com:",
    "https://auth.example.com:0",
    "https://auth.example.com:08443",
    "https://auth.example.com:65536",
    "https://auth.example.com:99999",
    "",
    " ",
    " https://auth.example.com",
    "https://auth.example.com ",
    "https://auth .example.com",
    "https://auth.example.com\n",
    "https://auth.example.com\t",
];

fn settings_for(issuer: &str) -> Result<Settings, pers::config::ConfigError> {
    let issuer = issuer.to_owned();
    Settings::from_lookup(
        move |k| (k == pers::config::ISSUER).then(|| issuer.clone()),
        None,
    )
}

#[test]
fn the_issuer_pattern_admits_exactly_issuers_the_service_uses_unchanged() {
    let candidates: Vec<&str> = GOOD_ISSUERS.iter().chain(BAD_ISSUERS).copied().collect();
    let template = read_template(&candidates);
    for (candidate, accepted) in candidates.iter().zip(&template.accepted) {
        let good = GOOD_ISSUERS.contains(candidate);
        assert_eq!(
            *accepted,
            good,
            "the Issuer pattern {} {candidate:?}",
            if good { "refuses" } else { "accepts" }
        );
        if good {
            let s = settings_for(candidate).unwrap_or_else(|e| panic!("{candidate:?}: {e}"));
            assert_eq!(s.issuer, *candidate, "the tokens' iss");
            assert_eq!(s.audience, *candidate, "the access tokens' aud");
        }
    }
    // Why a trailing slash must be refused: the service would trim it, and the Issuer
    // output (the raw parameter) would no longer be the tokens' iss.
    let s = settings_for("https://auth.example.com/").unwrap();
    assert_eq!(s.issuer, "https://auth.example.com");
}

#[test]
fn the_issuer_output_and_setting_are_the_raw_parameter() {
    let t = read_template(&[]).doc;
    assert_eq!(t["Outputs"]["Issuer"]["Value"], json!({"Ref": "Issuer"}));
    assert_eq!(
        t["Globals"]["Function"]["Environment"]["Variables"]["PERS_ISSUER"],
        json!({"Ref": "Issuer"})
    );
    let param = &t["Parameters"]["Issuer"];
    assert!(param.get("Default").is_none(), "Issuer is required");
    // The common subset of Java's and Python's regexes: anchors, groups, classes of
    // ASCII ranges, `?`, `*`, `{m,n}` and `|`; the one escape is `\.`. No `\d`, `\s` or
    // `\w` (Unicode classes in Python), no `(?` constructs, no possessive quantifiers.
    let pattern = param["AllowedPattern"].as_str().unwrap();
    assert!(
        pattern.starts_with('^') && pattern.ends_with('$'),
        "{pattern}"
    );
    assert!(
        pattern
            .replace(r"\.", "")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "^$()[]{}?*+|,-:/".contains(c)),
        "{pattern} steps outside the common subset"
    );
    assert!(!pattern.contains("(?") && !pattern.contains("*+") && !pattern.contains("?+"));
}

/// The service's own counters, as the functions emit them (EMF: namespace `PERS`, one
/// dimension set `[["Function"]]`, `Function` the Lambda function's name, unit `Count`),
/// and which functions emit each. A rename on the code's side must change this list, a
/// rename in the template fails below.
const PERS_METRICS: &[(&str, &[&str])] = &[
    ("Logins", &["auth"]),
    ("Refreshes", &["auth"]),
    ("SignOuts", &["auth"]),
    ("ReuseDetections", &["auth"]),
    ("ProviderJwksFailures", &["auth", "verify"]),
    ("ServerErrors", &["auth", "tenants", "verify"]),
];

/// The template's functions: logical id and name suffix.
const FUNCTIONS: &[(&str, &str)] = &[
    ("AuthFunction", "auth"),
    ("TenantsFunction", "tenants"),
    ("VerifyFunction", "verify"),
    ("RotateKeysFunction", "rotate-keys"),
];

/// The function a `{"Ref": <logical id>}` dimension value names.
fn function_of(value: &Value) -> &'static str {
    FUNCTIONS
        .iter()
        .find(|(id, _)| *value == json!({"Ref": id}))
        .map(|(_, name)| *name)
        .unwrap_or_else(|| panic!("{value} is not a Ref to one of the functions"))
}

/// Every metric an alarm reads: (namespace, metric name, the one dimension's name and
/// value).
fn alarm_metrics(props: &Value) -> Vec<(String, String, String, Value)> {
    let one = |m: &Value| {
        let dims = m["Dimensions"].as_array().expect("Dimensions");
        assert_eq!(dims.len(), 1, "one dimension: {m}");
        (
            m["Namespace"].as_str().unwrap().to_owned(),
            m["MetricName"].as_str().unwrap().to_owned(),
            dims[0]["Name"].as_str().unwrap().to_owned(),
            dims[0]["Value"].clone(),
        )
    };
    match props.get("Metrics") {
        None => vec![one(props)],
        Some(queries) => queries
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|q| q.get("MetricStat").map(|s| one(&s["Metric"])))
            .collect(),
    }
}

#[test]
fn every_alarm_watches_a_metric_published_under_the_name_it_uses() {
    let t = read_template(&[]).doc;
    // The list above is the code's: namespace, dimension and every metric name.
    let names: BTreeSet<&str> = PERS_METRICS.iter().map(|(name, _)| *name).collect();
    let emitted: BTreeSet<&str> = pers::metrics::Metric::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    assert_eq!(names, emitted, "the metrics the functions emit");
    assert_eq!(pers::metrics::NAMESPACE, "PERS");
    assert_eq!(pers::metrics::DIMENSION, "Function");
    let resources = t["Resources"].as_object().unwrap();
    for (id, name) in FUNCTIONS {
        assert_eq!(
            resources[*id]["Properties"]["FunctionName"],
            json!({"Fn::Sub": format!("${{AWS::StackName}}-{name}")}),
            "{id}'s name, the Function dimension of its metrics"
        );
    }
    let notify =
        json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]});
    let mut watched = BTreeSet::new();
    let alarms: Vec<_> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(!alarms.is_empty());
    for (id, alarm) in alarms {
        let props = &alarm["Properties"];
        assert_eq!(props["AlarmActions"], notify, "{id}");
        assert_eq!(props["OKActions"], notify, "{id}");
        assert_eq!(props["TreatMissingData"], "notBreaching", "{id}");
        let description = props["AlarmDescription"].to_string();
        assert!(description.contains("README, Operations"), "{id}");
        for (namespace, metric, dimension, value) in alarm_metrics(props) {
            let source = match namespace.as_str() {
                "PERS" => {
                    assert_eq!(dimension, "Function", "{id}");
                    let function = function_of(&value);
                    let emitters = PERS_METRICS
                        .iter()
                        .find(|(name, _)| *name == metric)
                        .map(|(_, emitters)| *emitters)
                        .unwrap_or_else(|| panic!("{id}: no function emits PERS {metric}"));
                    assert!(
                        emitters.contains(&function),
                        "{id}: {function} does not emit {metric}"
                    );
                    function.to_owned()
                }
                "AWS/Lambda" => {
                    assert!(["Errors", "Throttles"].contains(&metric.as_str()), "{id}");
                    assert_eq!(dimension, "FunctionName", "{id}");
                    function_of(&value).to_owned()
                }
                "AWS/ApiGateway" => {
                    // The HTTP API's metric names (a REST API's are 5XXError and Count).
                    assert!(["5xx", "Count"].contains(&metric.as_str()), "{id}");
                    assert_eq!(dimension, "ApiId", "{id}");
                    assert_eq!(value, json!({"Ref": "HttpApi"}), "{id}");
                    "HttpApi".to_owned()
                }
                other => panic!("{id}: namespace {other}"),
            };
            watched.insert(format!("{namespace} {metric} {source}"));
        }
    }
    let mut expected: BTreeSet<String> = FUNCTIONS
        .iter()
        .flat_map(|(_, f)| ["Errors", "Throttles"].map(|m| format!("AWS/Lambda {m} {f}")))
        .collect();
    expected.extend([
        "AWS/ApiGateway 5xx HttpApi".into(),
        "AWS/ApiGateway Count HttpApi".into(),
    ]);
    expected.insert("PERS ReuseDetections auth".into());
    for (metric, functions) in PERS_METRICS {
        if ["ProviderJwksFailures", "ServerErrors"].contains(metric) {
            for f in *functions {
                expected.insert(format!("PERS {metric} {f}"));
            }
        }
    }
    assert_eq!(watched, expected);
}

#[test]
fn the_access_log_joins_api_gateway_and_lambda_request_ids() {
    let t = read_template(&[]).doc;
    let format = t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap();
    let line: Value = serde_json::from_str(format).expect("the access log format is JSON");
    assert_eq!(line["requestId"], "$context.requestId");
    assert_eq!(
        line["integrationRequestId"],
        "$context.integration.requestId"
    );
}

/// The functions log JSON, at a level that keeps the metric documents: Lambda reads a
/// line without a level as INFO and drops it above INFO, alarms and all.
#[test]
fn the_functions_log_json_at_a_level_that_keeps_the_metrics() {
    let t = read_template(&[]).doc;
    let logging = &t["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert!(
        ["TRACE", "DEBUG", "INFO"].contains(&logging["ApplicationLogLevel"].as_str().unwrap_or("")),
        "{logging}"
    );
    let resources = t["Resources"].as_object().unwrap();
    for (id, _) in FUNCTIONS {
        let own = &resources[*id]["Properties"]["LoggingConfig"];
        assert!(
            own.get("ApplicationLogLevel").is_none() && own.get("LogFormat").is_none(),
            "{id} keeps the global log format and level: {own}"
        );
    }
    assert!(
        t["Globals"]["Function"]["Environment"]["Variables"]
            .get("RUST_LOG")
            .is_none(),
        "AWS_LAMBDA_LOG_LEVEL decides; a RUST_LOG would be dead configuration"
    );
}

/// The service's counters publish a datapoint only when something is counted, and a
/// metric-math sum with a missing term has no value: every term of an expression over
/// them is `FILL(<id>, 0)`, so that one function's failures alone fire the alarm.
#[test]
fn sums_of_sparse_counters_fill_their_gaps() {
    let t = read_template(&[]).doc;
    let mut expressions = 0;
    for (id, alarm) in t["Resources"].as_object().unwrap() {
        let Some(metrics) = alarm["Properties"]["Metrics"].as_array() else {
            continue;
        };
        let sparse: Vec<&str> = metrics
            .iter()
            .filter(|m| {
                m["MetricStat"]["Metric"]["Namespace"] == "PERS"
                    || m["MetricStat"]["Metric"]["MetricName"] == "5xx"
            })
            .map(|m| m["Id"].as_str().unwrap())
            .collect();
        for m in metrics {
            let expression = match &m["Expression"] {
                Value::String(e) => e.clone(),
                Value::Object(sub) => sub["Fn::Sub"].as_str().unwrap_or_default().to_owned(),
                _ => continue,
            };
            expressions += 1;
            for term in &sparse {
                assert!(
                    expression.contains(&format!("FILL({term}, 0)")),
                    "{id}: {term} unfilled in {expression}"
                );
            }
        }
    }
    assert_eq!(
        expressions, 3,
        "the 5xx rate, server errors and JWKS failures"
    );
}
