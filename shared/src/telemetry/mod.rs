//! Logging (DESIGN §8). Lambda functions log JSON lines in the shape Lambda's tools read
//! ([`json`]): top-level `timestamp`, `level`, `message`, `requestId` (the invocation's),
//! `functionName` and `coldStart`, then the line's own fields and its spans'. Their
//! counters are CloudWatch Embedded Metric Format lines ([`crate::metrics`]) on stdout.
//! `pers-local` logs human-readable lines. Logs go to stderr (stdout is for what
//! `pers-local` tells its user, and for metrics). Nothing logs tokens, keys or secrets.
//!
//! The level: `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls, the
//! function's `LoggingConfig.ApplicationLogLevel`) when it is set, as the Lambda
//! runtime's own subscriber reads it, for this crate (other crates at most `INFO`: see
//! [`filter`]); else `RUST_LOG`, target directives (`warn`,
//! `info,pers=debug`) read as `tracing_subscriber`'s `Targets`: no span or field filters,
//! and so no regex engine in every binary (docs/PERFORMANCE.md). A value that does not
//! parse means `info`. The request spans of this crate and of the Lambda runtime are
//! kept at every level, so that a warning still carries its request's ids.

pub mod json;

use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The variable Lambda sets from `LoggingConfig.ApplicationLogLevel`.
pub const LAMBDA_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";

/// The filter `AWS_LAMBDA_LOG_LEVEL` or else `RUST_LOG` asks for, or `info`.
///
/// Lambda's level is this crate's; other crates log at most `INFO` whatever it says. At
/// `DEBUG` and `TRACE` the Lambda runtime logs whole invocation events and the AWS SDK
/// whole requests: headers with API keys and bearer tokens, bodies with refresh tokens,
/// a `PutSecretValue` with a private key. An operator turning Lambda's log level up to
/// look at a problem must not write those to CloudWatch. (`RUST_LOG` can still ask for
/// them in `pers-local`, on a developer's own machine.)
pub fn filter(lambda_log_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let lambda = lambda_log_level.map(str::trim).and_then(|v| {
        // Lambda's levels; FATAL has no tracing level of its own.
        match v.to_ascii_uppercase().as_str() {
            "FATAL" => Some(Level::ERROR),
            other => Level::from_str(other).ok(),
        }
    });
    if let Some(level) = lambda {
        let others = if level > Level::INFO {
            Level::INFO
        } else {
            level
        };
        return Targets::new()
            .with_default(others)
            .with_target("pers", level);
    }
    rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| Targets::from_str(v).ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

/// Whether `metadata` passes: the level filter for events, and always for the request
/// spans of this crate and the Lambda runtime (cheap: one per request).
fn enabled(targets: &Targets, metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    if metadata.is_span() && (target.starts_with("pers") || target.starts_with("lambda_runtime")) {
        return true;
    }
    // Metrics are not logs: no log level turns them off.
    target == crate::metrics::TARGET || targets.would_enable(target, metadata.level())
}

/// Whether Lambda, filtering at `level`, drops lines that have no level of their own
/// (it reads them as INFO): the EMF documents.
fn drops_metrics(level: &str) -> bool {
    matches!(
        level.trim().to_ascii_uppercase().as_str(),
        "WARN" | "ERROR" | "FATAL"
    )
}

/// The most verbose level `targets` or the always-kept spans and metrics (`INFO`) may
/// need: below it, `tracing`'s macros skip a callsite without asking the subscriber.
fn max_level(targets: &Targets) -> LevelFilter {
    let asked = <Targets as tracing_subscriber::layer::Filter<tracing_subscriber::Registry>>::max_level_hint(
        targets,
    )
    .unwrap_or(LevelFilter::TRACE);
    std::cmp::max(asked, LevelFilter::INFO)
}

/// The per-layer filter of the functions' JSON lines ([`enabled`] by `targets`).
pub fn lambda_filter(
    targets: Targets,
) -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    let hint = max_level(&targets);
    tracing_subscriber::filter::filter_fn(move |metadata| enabled(&targets, metadata))
        .with_max_level_hint(hint)
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Counts a request; whether it is the first of this process (a Lambda cold start).
pub fn begin_request() -> bool {
    REQUESTS.fetch_add(1, Ordering::Relaxed) == 0
}

/// Whether no request has begun yet (lines of init belong to the cold start).
pub fn before_first_request() -> bool {
    REQUESTS.load(Ordering::Relaxed) == 0
}

/// Installs the subscriber: JSON lines and metrics for a Lambda function (`json`), text
/// lines without metrics for `pers-local`.
pub fn init(json: bool) {
    let env = |k: &str| std::env::var(k).ok();
    let targets = filter(env(LAMBDA_LOG_LEVEL).as_deref(), env("RUST_LOG").as_deref());
    let registry = tracing_subscriber::registry();
    // `try_init` so that tests and repeated calls do not panic on a second subscriber.
    let _ = if json {
        let installed = registry
            .with(json::JsonLines::lambda().with_filter(lambda_filter(targets)))
            .try_init();
        if let Some(level) = env(LAMBDA_LOG_LEVEL).filter(|l| drops_metrics(l)) {
            tracing::warn!(
                "{LAMBDA_LOG_LEVEL}={level}: Lambda reads a line without a level as INFO and \
                 drops it, and so the metric documents: the alarms on them get no data \
                 (README, Operations)"
            );
        }
        installed
    } else {
        let hint = max_level(&targets);
        let filter = tracing_subscriber::filter::filter_fn(move |metadata| {
            metadata.target() != crate::metrics::TARGET && enabled(&targets, metadata)
        })
        .with_max_level_hint(hint);
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours for a terminal only, not in a file or a pipe.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter),
            )
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_sets_levels_per_target_and_falls_back_to_info() {
        let warn = filter(None, Some("warn"));
        assert!(warn.would_enable("pers::http", &Level::WARN));
        assert!(!warn.would_enable("pers::http", &Level::INFO));
        let mixed = filter(None, Some("warn,pers::audit=info"));
        assert!(mixed.would_enable("pers::audit", &Level::INFO));
        assert!(!mixed.would_enable("aws_smithy_runtime", &Level::INFO));
        for fallback in [None, Some(""), Some("  "), Some("pers=loud")] {
            let f = filter(None, fallback);
            assert_eq!(f.default_level(), Some(LevelFilter::INFO), "{fallback:?}");
        }
    }

    #[test]
    fn lambdas_log_level_wins_over_rust_log() {
        let debug = filter(Some("DEBUG"), Some("warn"));
        assert!(debug.would_enable("pers::http", &Level::DEBUG));
        assert!(debug.would_enable("aws_smithy_runtime", &Level::INFO));
        // Dependencies that log requests and events whole, secrets and all, at DEBUG and
        // TRACE stay at INFO whatever Lambda's level says.
        let trace = filter(Some("TRACE"), None);
        assert!(trace.would_enable("pers::keys", &Level::TRACE));
        for target in [
            "lambda_runtime::layers::api_response",
            "aws_smithy_runtime::client::orchestrator",
            "hyper",
        ] {
            assert!(!trace.would_enable(target, &Level::DEBUG), "{target}");
            assert!(trace.would_enable(target, &Level::INFO), "{target}");
        }
        let warn = filter(Some("WARN"), None);
        assert!(!warn.would_enable("aws_smithy_runtime", &Level::INFO));
        let fatal = filter(Some("FATAL"), Some("info"));
        assert!(fatal.would_enable("pers", &Level::ERROR));
        assert!(!fatal.would_enable("pers", &Level::WARN));
        assert!(super::drops_metrics("warn") && super::drops_metrics("FATAL"));
        assert!(!super::drops_metrics("INFO") && !super::drops_metrics("DEBUG"));
        // Not one of Lambda's levels: RUST_LOG decides.
        let unknown = filter(Some("LOUD"), Some("warn"));
        assert_eq!(unknown.default_level(), Some(LevelFilter::WARN));
    }
}
