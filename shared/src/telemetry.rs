//! Logging. Lambda functions log JSON (one object per line, for CloudWatch Logs Insights);
//! `pers-local` logs human-readable lines. Logs go to stderr (stdout is for what
//! `pers-local` tells its user). Nothing logs tokens, keys or secrets.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` so that tests and repeated calls do not panic on a second subscriber.
    let _ = if json {
        builder
            .json()
            .with_current_span(false)
            .without_time()
            .try_init()
    } else {
        builder.try_init()
    };
}
