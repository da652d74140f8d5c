//! Logging. Lambda functions log JSON (one object per line, for CloudWatch Logs Insights);
//! `pers-local` logs human-readable lines. Logs go to stderr (stdout is for what
//! `pers-local` tells its user). Nothing logs tokens, keys or secrets.
//!
//! `RUST_LOG` takes target directives (`warn`, `info,pers=debug`), read as
//! `tracing_subscriber`'s `Targets`: no span or field filters, and so no regex engine
//! in every binary (docs/PERFORMANCE.md). A value that does not parse means `info`.

use std::str::FromStr as _;

use tracing::Level;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter `RUST_LOG` asks for, or `info`.
pub fn filter(rust_log: Option<&str>) -> Targets {
    rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(|v| Targets::from_str(v).ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO))
}

pub fn init(json: bool) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry();
    // `try_init` so that tests and repeated calls do not panic on a second subscriber.
    let _ = if json {
        registry
            .with(
                layer
                    .json()
                    .with_current_span(false)
                    .without_time()
                    .with_filter(filter),
            )
            .try_init()
    } else {
        registry.with(layer.with_filter(filter)).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_sets_levels_per_target_and_falls_back_to_info() {
        let warn = filter(Some("warn"));
        assert!(warn.would_enable("pers::http", &Level::WARN));
        assert!(!warn.would_enable("pers::http", &Level::INFO));
        let mixed = filter(Some("warn,pers::audit=info"));
        assert!(mixed.would_enable("pers::audit", &Level::INFO));
        assert!(!mixed.would_enable("aws_smithy_runtime", &Level::INFO));
        for fallback in [None, Some(""), Some("  "), Some("pers=loud")] {
            let f = filter(fallback);
            assert_eq!(f.default_level(), Some(LevelFilter::INFO), "{fallback:?}");
        }
    }
}
