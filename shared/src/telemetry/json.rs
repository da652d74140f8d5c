//! JSON log lines in the shape Lambda's tools read (its JSON log format, CloudWatch Logs
//! Insights), and Embedded Metric Format lines for [`crate::metrics`].
//!
//! A log line is one object: `timestamp` (RFC 3339, UTC, milliseconds), `level`
//! (`INFO`…, the names Lambda's `ApplicationLogLevel` filters on), `message`, `requestId`
//! (the Lambda invocation's, from the runtime's span), `functionName`, `coldStart`,
//! `target`; then the fields of the line and of its spans, innermost first, flat. A
//! field whose name is taken gets a trailing `_`. A metric event becomes an EMF
//! document instead (see [`crate::metrics`]), on the metrics writer.

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::metrics;

/// Members every log line has, in this order; fields by these names are renamed.
const RESERVED: [&str; 7] = [
    "timestamp",
    "level",
    "message",
    "requestId",
    "functionName",
    "coldStart",
    "target",
];

/// The layer: log lines to `logs`, metric documents to `metrics`.
pub struct JsonLines<L, M> {
    function_name: Option<String>,
    logs: L,
    metrics: M,
}

type Stream = fn() -> std::io::Stderr;

impl JsonLines<Stream, fn() -> std::io::Stdout> {
    /// Lines to stderr and metrics to stdout, named after `AWS_LAMBDA_FUNCTION_NAME`
    /// (Lambda sets it; else the executable's name).
    pub fn lambda() -> Self {
        let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            });
        Self::new(function_name, std::io::stderr, std::io::stdout)
    }
}

impl<L, M> JsonLines<L, M> {
    pub fn new(function_name: Option<String>, logs: L, metrics: M) -> Self {
        Self {
            function_name,
            logs,
            metrics,
        }
    }
}

/// A span's fields, kept in its extensions.
struct SpanFields(Map<String, Value>);

/// Records fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), crate::error_chain(value).into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

/// `2026-12-01T22:56:16.123Z`.
fn timestamp(now: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// Adds `fields` to `line` without replacing what is there: a taken name gets a `_`.
fn merge(line: &mut Vec<(String, Value)>, fields: Map<String, Value>) {
    for (name, value) in fields {
        let taken = |name: &str| line.iter().any(|(k, _)| k == name);
        if taken(&name) || RESERVED.contains(&name.as_str()) {
            let renamed = format!("{name}_");
            if !taken(&renamed) {
                line.push((renamed, value));
            }
        } else {
            line.push((name, value));
        }
    }
}

/// A line's members in the order they were added (a `Map` may sort them): Lambda's
/// members first, for whoever reads the raw log.
struct Ordered<'a>(&'a [(String, Value)]);

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

fn write_line(writer: impl std::io::Write, line: impl serde::Serialize) {
    let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
    bytes.push(b'\n');
    // One write per line, so that lines of concurrent tasks never interleave. A log
    // that cannot be written has nowhere to report that.
    let mut writer = writer;
    let _ = writer.write_all(&bytes);
}

impl<S, L, M> tracing_subscriber::Layer<S> for JsonLines<L, M>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: for<'w> MakeWriter<'w> + 'static,
    M: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut Fields(&mut fields));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Fields(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut own = Map::new();
        event.record(&mut Fields(&mut own));
        // The spans' fields, innermost first, and the invocation's id and cold start.
        let mut spans = Map::new();
        let mut request_id = None;
        let mut cold_start = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(SpanFields(fields)) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (name, value) in fields {
                    match name.as_str() {
                        "requestId" => request_id = Some(value.clone()),
                        "coldStart" => {
                            cold_start.get_or_insert_with(|| value.clone());
                        }
                        _ => {
                            spans.entry(name.clone()).or_insert_with(|| value.clone());
                        }
                    }
                }
            }
        }
        let cold_start =
            cold_start.unwrap_or_else(|| Value::Bool(crate::telemetry::before_first_request()));
        let function_name = self.function_name.clone().map(Value::String);

        if metadata.target() == metrics::TARGET {
            let Some(document) = metrics::document(
                &own,
                function_name,
                time::OffsetDateTime::now_utc(),
                [
                    ("requestId", request_id),
                    ("xRequestId", spans.remove("xRequestId")),
                    ("tenantId", spans.remove("tenantId")),
                    ("coldStart", Some(cold_start)),
                ],
            ) else {
                return;
            };
            write_line(self.metrics.make_writer(), &document);
            return;
        }

        let mut line: Vec<(String, Value)> = Vec::with_capacity(8 + own.len() + spans.len());
        let mut member = |name: &str, value: Value| line.push((name.to_owned(), value));
        member(
            "timestamp",
            timestamp(time::OffsetDateTime::now_utc()).into(),
        );
        member("level", metadata.level().as_str().into());
        member(
            "message",
            own.remove("message").unwrap_or_else(|| "".into()),
        );
        if let Some(id) = request_id {
            member("requestId", id);
        }
        if let Some(name) = function_name {
            member("functionName", name);
        }
        member("coldStart", cold_start);
        member("target", metadata.target().into());
        merge(&mut line, own);
        merge(&mut line, spans);
        write_line(self.logs.make_writer(), Ordered(&line));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::JsonLines;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect()
        }
    }

    #[test]
    fn a_line_has_lambdas_members_at_the_top_and_its_spans_fields_flat() {
        let (logs, metrics) = (Buffer::default(), Buffer::default());
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(
            Some("stack-auth".into()),
            logs.clone(),
            metrics.clone(),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "lambda-1");
            let _invoke = invoke.enter();
            let request = tracing::info_span!(
                "request",
                xRequestId = "api-1",
                tenantId = tracing::field::Empty,
                coldStart = true
            );
            let _request = request.enter();
            request.record("tenantId", "t-1");
            tracing::warn!(status = 503u16, level = "shadowed", "dependency {}", "down");
            crate::metrics::count(crate::metrics::Metric::Logins);
        });
        let raw = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let mut at = 0;
        for member in super::RESERVED {
            let found = raw[at..].find(&format!("\"{member}\":"));
            at += found.unwrap_or_else(|| panic!("{member} not in order in {raw}"));
        }
        let lines = logs.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "dependency down");
        assert_eq!(line["requestId"], "lambda-1");
        assert_eq!(line["functionName"], "stack-auth");
        assert_eq!(line["coldStart"], true);
        assert_eq!(line["xRequestId"], "api-1");
        assert_eq!(line["tenantId"], "t-1");
        assert_eq!(line["status"], 503);
        assert_eq!(line["level_"], "shadowed");
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
                .is_ok()
                && timestamp.ends_with('Z')
                && timestamp.len() == "2026-12-01T00:00:00.000Z".len(),
            "{timestamp}"
        );

        let documents = metrics.lines();
        assert_eq!(documents.len(), 1, "{documents:?}");
        let emf = &documents[0];
        assert_eq!(emf["Logins"], 1);
        assert_eq!(emf["Function"], "stack-auth");
        assert_eq!(emf["requestId"], "lambda-1");
        assert_eq!(emf["tenantId"], "t-1");
        assert!(
            emf.get("level").is_none(),
            "no level: no log filter drops it"
        );
        let directive = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], crate::metrics::NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "Logins", "Unit": "Count"}])
        );
        assert!(emf["_aws"]["Timestamp"].is_u64());
    }

    #[test]
    fn outside_a_request_the_line_belongs_to_the_cold_start() {
        let logs = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(JsonLines::new(
            None,
            logs.clone(),
            Buffer::default(),
        ));
        tracing::subscriber::with_default(subscriber, || tracing::info!("init"));
        let line = &logs.lines()[0];
        assert_eq!(line["message"], "init");
        assert!(line.get("requestId").is_none());
        assert!(line.get("functionName").is_none());
        assert!(line["coldStart"].is_boolean());
    }
}
