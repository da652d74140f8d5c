//! How long anything may wait on a dependency (DESIGN §7), in one place: the AWS SDK
//! clients of the functions, of `pers-local` with `TABLE_NAME`, and of the tests all
//! take their timeouts and retries from [`Deadlines`], and every route runs under its
//! request deadline.
//!
//! The arithmetic, for [`Deadlines::PRODUCTION`] (README, "When a dependency fails"):
//! an SDK call that cannot connect gives up after 3 attempts × 0.5 s (+ ≤ 0.3 s of
//! backoff); one whose dependency accepts and stays silent, after 0.9 s per attempt and
//! 2 s in all. A request that makes several calls, each slow but answered, is cut at
//! 2.5 s. So every request that depends on a broken dependency is answered `503` within
//! 2.5 s, far inside the functions' 10 s timeout. A cold start's reads run at once, each
//! bounded by 4 s (2 s when its dependency is silent), the whole init by 5 s, inside
//! Lambda's 10 s init limit.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// Timeouts and retries for every call to a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Opening a connection (TCP and TLS): a regional AWS endpoint takes milliseconds; a
    /// black-holed one never answers the SYN.
    pub connect: Duration,
    /// One attempt of an SDK call, from sending to the last byte of the answer.
    pub attempt: Duration,
    /// One SDK call, every attempt and backoff included.
    pub operation: Duration,
    /// Attempts per SDK call (the first and its retries): connection failures, timeouts,
    /// 5xx and throttling (`ProvisionedThroughputExceededException`,
    /// `ThrottlingException`, `RequestLimitExceeded`) are retried.
    pub max_attempts: u32,
    /// The first retry waits up to this long (with full jitter), doubling per attempt.
    pub initial_backoff: Duration,
    /// No retry waits longer than this.
    pub max_backoff: Duration,
    /// A whole request, every dependency call included: past it, the answer is `503`.
    pub request: Duration,
    /// Each read of a cold start (they run at once; the whole init gets a second more).
    pub init: Duration,
}

impl Deadlines {
    /// The deployed values (see the module's arithmetic).
    pub const PRODUCTION: Self = Self {
        connect: Duration::from_millis(500),
        attempt: Duration::from_millis(900),
        operation: Duration::from_secs(2),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(25),
        max_backoff: Duration::from_millis(250),
        request: Duration::from_millis(2500),
        init: Duration::from_secs(4),
    };

    /// The SDK's timeout settings.
    pub fn timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The SDK's retry settings: standard mode (with its retry token bucket, so a
    /// dependency that keeps failing is not hammered), bounded as above.
    pub fn retries(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// An AWS config loader (region, credentials and endpoint from the environment, as
    /// the SDK reads them) with these timeouts and retries.
    pub fn aws_config(&self) -> aws_config::ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(self.timeouts())
            .retry_config(self.retries())
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Self::PRODUCTION
    }
}

/// The `Retry-After` of every `503`, in seconds: long enough that a client's retry does
/// not pile onto a throttled or recovering dependency, short enough for a person
/// waiting on a sign-in.
pub const RETRY_AFTER_SECONDS: u32 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gives_up_well_before_the_function_timeout() {
        let d = Deadlines::PRODUCTION;
        // Refused or black-holed: every attempt's connect, plus the longest backoffs.
        let unreachable = d.connect * d.max_attempts + d.max_backoff * (d.max_attempts - 1);
        assert!(unreachable <= d.operation + d.max_backoff);
        assert!(d.attempt < d.operation && d.operation < d.request);
        // DESIGN §7: 3 s per request; the template's function timeout is 10 s, and
        // Lambda's init limit 10 s.
        assert!(d.request <= Duration::from_secs(3));
        assert!(d.init < Duration::from_secs(10));
        assert!(d.operation < d.init);
    }
}
