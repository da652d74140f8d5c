//! The audit trail: one structured log line per security event — each sign-out, reuse
//! detection, session ended by the tenant's configuration, `apiPrivateKey`
//! regeneration and tenant-admin token issued. Every line has `target: pers::audit`
//! and `audit: true`, so that a log query (`filter audit = 1` in CloudWatch Logs
//! Insights) finds them all; it names the tenant, the user and session when there is
//! one, the action and, for a sign-out, its scope and how many sessions it ended. It
//! never holds a token or a key: the types below cannot carry one. Sign-outs and reuse
//! detections are also counted ([`crate::metrics`]).

use crate::domain::TenantId;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /auth/logout` ended sessions (or found them ended).
    SignOut,
    /// A refresh token that is no longer current was presented: its family is revoked.
    ReuseDetected,
    /// A refresh found that the tenant no longer allows how the session was opened.
    SessionDisallowed,
    /// `POST /tenants/api-private-key`: the old key is dead.
    PrivateKeyRegenerated,
    /// `POST /tenants` or `POST /tenants/{id}/admin-token` issued a tenant-admin token.
    AdminTokenIssued,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignOut => "sign-out",
            Self::ReuseDetected => "reuse-detected",
            Self::SessionDisallowed => "session-disallowed",
            Self::PrivateKeyRegenerated => "private-key-regenerated",
            Self::AdminTokenIssued => "admin-token-issued",
        }
    }
}

/// One audit event. `by` says who asked when it is not the session's own user
/// (`platform-operator`, `tenant-admin`).
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub action: Action,
    pub tenant: &'a TenantId,
    pub user: Option<&'a str>,
    pub session: Option<&'a str>,
    pub scope: Option<&'a str>,
    /// Sessions this event revoked.
    pub revoked: Option<usize>,
    pub by: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(action: Action, tenant: &'a TenantId) -> Self {
        Self {
            action,
            tenant,
            user: None,
            session: None,
            scope: None,
            revoked: None,
            by: None,
        }
    }

    pub fn session(self, user: &'a str, session: &'a str) -> Self {
        Self {
            user: Some(user),
            session: Some(session),
            ..self
        }
    }

    pub fn scope(self, scope: &'a str, revoked: usize) -> Self {
        Self {
            scope: Some(scope),
            revoked: Some(revoked),
            ..self
        }
    }

    pub fn by(self, by: &'a str) -> Self {
        Self {
            by: Some(by),
            ..self
        }
    }

    /// Writes the line. Reuse is a warning (someone holds a token they should not);
    /// everything else is information.
    pub fn record(self) {
        let tenant = self.tenant.as_str();
        let action = self.action.as_str();
        macro_rules! line {
            ($level:ident) => {
                tracing::$level!(
                    target: "pers::audit",
                    audit = true,
                    action,
                    tenant,
                    user = self.user,
                    session = self.session,
                    scope = self.scope,
                    revoked = self.revoked,
                    by = self.by,
                    "audit: {action}"
                )
            };
        }
        match self.action {
            Action::ReuseDetected => {
                line!(warn);
                crate::metrics::count(crate::metrics::Metric::ReuseDetections);
            }
            Action::SignOut => {
                line!(info);
                crate::metrics::count(crate::metrics::Metric::SignOuts);
            }
            _ => line!(info),
        }
    }
}
