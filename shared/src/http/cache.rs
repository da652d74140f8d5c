//! The warm-path cache of project key → tenant (DESIGN §6). Entries live at most
//! [`PROJECT_KEY_TTL`]; a tenant update through this process drops that tenant's entries
//! at once, so across functions a change shows within the TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::extract::ProjectContext;
use crate::domain::{KeyHash, TenantId};

pub const PROJECT_KEY_TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ProjectKeyCache {
    entries: Mutex<HashMap<KeyHash, (Instant, ProjectContext)>>,
    /// Counts invalidations, so that a lookup that read the store before one cannot put
    /// what it read (perhaps the tenant before the update) back into the cache.
    invalidations: AtomicU64,
}

/// Taken before reading the store; a [`ProjectKeyCache::put`] with a ticket older than
/// the latest invalidation is dropped.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl ProjectKeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyHash, (Instant, ProjectContext)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &KeyHash) -> Option<ProjectContext> {
        let entries = self.lock();
        let (at, ctx) = entries.get(key)?;
        (at.elapsed() < PROJECT_KEY_TTL).then(|| ctx.clone())
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.invalidations.load(Ordering::SeqCst))
    }

    pub fn put(&self, key: KeyHash, ctx: ProjectContext, ticket: Ticket) {
        let mut entries = self.lock();
        // Checked under the lock that `invalidate_tenant` bumps the count under.
        if self.invalidations.load(Ordering::SeqCst) != ticket.0 {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| at.elapsed() < PROJECT_KEY_TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), ctx));
    }

    pub fn invalidate_tenant(&self, tenant: &TenantId) {
        let mut entries = self.lock();
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, (_, ctx)| &ctx.tenant.id != tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Network;

    fn ctx() -> ProjectContext {
        ProjectContext {
            tenant: crate::domain::Tenant::sample(),
            network: Network::Mainnet,
        }
    }

    #[test]
    fn a_read_from_before_an_update_is_not_cached_after_it() {
        let cache = ProjectKeyCache::default();
        let key = KeyHash::of("pk_live_race");
        let stale = ctx();
        // A lookup reads the tenant, an update through this process invalidates it,
        // then the lookup tries to cache what it read.
        let ticket = cache.ticket();
        cache.invalidate_tenant(&stale.tenant.id);
        cache.put(key, stale.clone(), ticket);
        assert!(cache.get(&key).is_none(), "the stale tenant was cached");

        cache.put(key, stale, cache.ticket());
        assert!(
            cache.get(&key).is_some(),
            "a read after the update is cached"
        );
    }
}
