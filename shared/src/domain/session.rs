//! Users, provider identities and sessions (token families), and the one decision of
//! refresh rotation: what a failed conditional write means.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Network, TenantId};

/// The kind of session a caller asks for at `POST /auth/token`: `user` (an end user),
/// `business`, `tenant` (the tenant's admin), `system` (a server of the tenant; needs its
/// `apiPrivateKey` too) or `external`. Access tokens carry it as `authType` and as the
/// scope `pers:<authType>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(example = "user")]
pub enum AuthType {
    User,
    Business,
    Tenant,
    System,
    External,
}

impl AuthType {
    pub const ALL: [Self; 5] = [
        Self::User,
        Self::Business,
        Self::Tenant,
        Self::System,
        Self::External,
    ];

    /// The name clients send, as in `pers:<name>` scopes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Business => "business",
            Self::Tenant => "tenant",
            Self::System => "system",
            Self::External => "external",
        }
    }
}

/// A PERS user id (a UUID).
pub type UserId = String;

/// The link from a provider subject to a PERS user, one per (tenant, issuer, subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub tenant_id: TenantId,
    pub issuer: String,
    pub subject: String,
    pub user_id: UserId,
    pub created_at: i64,
}

impl Identity {
    /// The key that makes (tenant, issuer, subject) unique: a hash, since issuers and
    /// subjects are arbitrary strings.
    pub fn lookup_key(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.tenant_id.as_str(), &self.issuer, &self.subject] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A user created without a provider token (sandbox mode), holding its `rawLoginData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxUser {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub raw_login_data: serde_json::Value,
    pub created_at: i64,
    /// The end of the one session it was made for (it can never sign in again), so that
    /// the item expires with it (DynamoDB TTL `expiresAt`).
    pub expires_at: i64,
}

/// How a session was opened, which decides how long the tenant allows it: a sandbox
/// session while the tenant allows unauthenticated users, a provider session while the
/// tenant trusts that provider (by `issuer`, and for the built-in Firebase by the
/// Firebase tenant it vouched through) for the session's auth type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SessionOrigin {
    Sandbox,
    #[serde(rename_all = "camelCase")]
    Provider {
        issuer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        firebase_tenant: Option<String>,
    },
}

/// One token family. `generation` is the generation of the current refresh token;
/// `rotated_at` is when it became current (for the parent's grace interval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub auth_type: AuthType,
    pub network: Network,
    pub generation: u64,
    pub rotated_at: i64,
    pub revoked: bool,
    pub created_at: i64,
    /// Absolute end of the session (never extended); also the storage TTL.
    pub expires_at: i64,
}

impl Session {
    /// A new session (generation 0) of `user` in `tenant`, opened at `now` and ending at
    /// `expires_at`.
    pub fn open(
        tenant_id: TenantId,
        user_id: UserId,
        auth_type: AuthType,
        network: Network,
        now: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id,
            user_id,
            auth_type,
            network,
            generation: 0,
            rotated_at: now,
            revoked: false,
            created_at: now,
            expires_at,
        }
    }

    /// Where it is stored.
    pub fn key(&self) -> SessionKey {
        SessionKey::new(&self.tenant_id, &self.user_id, &self.session_id)
    }

    /// Neither revoked nor past its end at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }

    /// Whether generation `presented` still speaks for this session at `now`: it is the
    /// current one, or its immediate parent within `grace_seconds` of the rotation.
    /// (Revoked or expired or not: that is [`Session::is_live`]'s question.)
    pub fn accepts(&self, presented: u64, now: i64, grace_seconds: i64) -> bool {
        self.generation == presented || self.is_parent_in_grace(presented, now, grace_seconds)
    }

    fn is_parent_in_grace(&self, presented: u64, now: i64, grace_seconds: i64) -> bool {
        self.generation == presented.saturating_add(1) && now - self.rotated_at <= grace_seconds
    }
}

/// The key of a session: under its tenant and user, so that one user's sessions are
/// listed by key (a query of one partition), never by a scan. A token names all three
/// (`tenantId`, `sub`, `sid`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub session_id: String,
}

impl SessionKey {
    pub fn new(tenant_id: &TenantId, user_id: &str, session_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.clone(),
            user_id: user_id.to_owned(),
            session_id: session_id.to_owned(),
        }
    }
}

/// Where a presented refresh token stands, judged from its session as stored (a
/// sign-out's question: the token has already verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The current generation, or the parent within the grace interval: the token speaks
    /// for the session, whether or not the session has ended.
    Current,
    /// The session is gone, revoked or expired, and the token is not current: nothing to do.
    Ended,
    /// The session is live and the token is not current: reuse.
    Stale,
}

/// Judges generation `presented` against `stored` at `now`.
pub fn standing(
    stored: Option<&Session>,
    presented: u64,
    now: i64,
    grace_seconds: i64,
) -> Standing {
    match stored {
        Some(s) if s.accepts(presented, now, grace_seconds) => Standing::Current,
        Some(s) if s.is_live(now) => Standing::Stale,
        _ => Standing::Ended,
    }
}

/// What a refresh that lost its conditional write should do, judged from the session
/// as it was when the write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The immediate parent, within the grace interval: answer with the family's
    /// current generation, do not rotate again.
    Grace(Session),
    /// A token that is no longer current and not in grace: revoke the family.
    Reuse,
    /// Unknown, revoked, expired or another tenant's session: refuse, change nothing.
    Refuse,
}

/// Judges a failed rotation of generation `presented` of a session of `tenant`.
pub fn judge_failed_rotation(
    stored: Option<&Session>,
    tenant: &TenantId,
    presented: u64,
    now: i64,
    grace_seconds: i64,
) -> Verdict {
    let Some(s) = stored else {
        return Verdict::Refuse;
    };
    if !s.is_live(now) || &s.tenant_id != tenant {
        return Verdict::Refuse;
    }
    if s.is_parent_in_grace(presented, now, grace_seconds) {
        Verdict::Grace(s.clone())
    } else if s.generation == presented {
        // The write failed although the generation matched: nothing to judge as reuse.
        Verdict::Refuse
    } else {
        Verdict::Reuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(generation: u64, rotated_at: i64) -> Session {
        Session {
            session_id: "s".into(),
            tenant_id: TenantId::parse("8f14e45f-ceea-467f-a0e6-7c2e1d0b0a5e").unwrap(),
            user_id: "u".into(),
            auth_type: AuthType::User,
            network: Network::Mainnet,
            generation,
            rotated_at,
            revoked: false,
            created_at: 0,
            expires_at: 10_000,
        }
    }

    #[test]
    fn the_parent_within_grace_gets_the_current_generation() {
        let s = session(5, 1000);
        let t = s.tenant_id.clone();
        assert_eq!(
            judge_failed_rotation(Some(&s), &t, 4, 1010, 10),
            Verdict::Grace(s.clone())
        );
        assert_eq!(
            judge_failed_rotation(Some(&s), &t, 4, 1011, 10),
            Verdict::Reuse
        );
        assert_eq!(
            judge_failed_rotation(Some(&s), &t, 3, 1001, 10),
            Verdict::Reuse
        );
    }

    #[test]
    fn dead_or_foreign_sessions_are_refused_without_revoking() {
        let s = session(1, 0);
        let other = TenantId::generate();
        assert_eq!(
            judge_failed_rotation(None, &s.tenant_id, 0, 1, 10),
            Verdict::Refuse
        );
        assert_eq!(
            judge_failed_rotation(Some(&s), &other, 0, 1, 10),
            Verdict::Refuse
        );
        let revoked = Session {
            revoked: true,
            ..s.clone()
        };
        assert_eq!(
            judge_failed_rotation(Some(&revoked), &s.tenant_id, 0, 1, 10),
            Verdict::Refuse
        );
        assert_eq!(
            judge_failed_rotation(Some(&s), &s.tenant_id, 0, 10_000, 10),
            Verdict::Refuse
        );
    }

    #[test]
    fn a_sign_out_judges_the_token_by_its_session() {
        let s = session(5, 1000);
        assert_eq!(standing(Some(&s), 5, 2000, 10), Standing::Current);
        assert_eq!(standing(Some(&s), 4, 1010, 10), Standing::Current);
        assert_eq!(standing(Some(&s), 4, 1011, 10), Standing::Stale);
        assert_eq!(standing(Some(&s), 3, 1001, 10), Standing::Stale);
        assert_eq!(standing(Some(&s), 6, 1001, 10), Standing::Stale);
        assert_eq!(standing(None, 5, 1001, 10), Standing::Ended);
        // An ended session: its current token still speaks for it; older ones do not.
        let revoked = Session {
            revoked: true,
            ..s.clone()
        };
        assert_eq!(standing(Some(&revoked), 5, 2000, 10), Standing::Current);
        assert_eq!(standing(Some(&revoked), 3, 2000, 10), Standing::Ended);
        assert_eq!(standing(Some(&s), 3, 10_000, 10), Standing::Ended);
    }

    #[test]
    fn identity_keys_separate_tenants_issuers_and_subjects() {
        let id = |t: &str, i: &str, s: &str| Identity {
            tenant_id: TenantId::parse(t).unwrap(),
            issuer: i.into(),
            subject: s.into(),
            user_id: "u".into(),
            created_at: 0,
        };
        let (a, b) = (
            "8f14e45f-ceea-467f-a0e6-7c2e1d0b0a5e",
            "1679091c-5a88-4faf-afb5-e6087eb1b2dc",
        );
        let base = id(a, "https://i", "sub").lookup_key();
        assert_eq!(base, id(a, "https://i", "sub").lookup_key());
        assert_ne!(base, id(b, "https://i", "sub").lookup_key());
        assert_ne!(base, id(a, "https://j", "sub").lookup_key());
        assert_ne!(id(a, "ab", "c").lookup_key(), id(a, "a", "bc").lookup_key());
    }
}
