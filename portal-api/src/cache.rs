//! A per-tenant cache of aggregates (dashboard, licences, department usage, quality, the operators' summary),
//! keyed on the tenant's data version.
//!
//! The data behind them changes when analytics commits (a snapshot made current, rollups or findings
//! recomputed) or a price or threshold is written, while a portal asks for them on every page view. Every such
//! write bumps the tenant's data version in its own transaction (`sua_db::models::DataVersion`); a request reads
//! the version first, and an entry computed for an older version is never served. So an answer follows the data
//! as soon as it is committed, on every replica, without any message between replicas. Entries also expire after
//! `portal.cache_ttl_secs`, which bounds what no version counts (the calendar moving past midnight). One request
//! recomputes a missing or stale entry while the others for the same key wait for it instead of running the
//! same queries.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Entry {
    /// The data version the value reflects at least.
    version: i64,
    at: Instant,
    value: Arc<dyn Any + Send + Sync>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

pub struct Cache {
    ttl: Duration,
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slots: Mutex::default() }
    }

    fn slot(&self, tenant: &str, kind: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slots.len() > 10_000 {
            // Keys include date ranges; forget the expired ones rather than grow.
            let ttl = self.ttl;
            slots.retain(|_, slot| slot.try_lock().map_or(true, |e| e.as_ref().is_some_and(|e| e.at.elapsed() < ttl)));
        }
        slots.entry((tenant.to_string(), kind.to_string())).or_default().clone()
    }

    /// The cached value of `(tenant, kind)` when it reflects data `version` (read by the caller before this call)
    /// and has not expired; otherwise `compute`'s (stored when it succeeds).
    pub async fn get_or<T, E, F, Fut>(&self, tenant: &str, kind: &str, version: i64, compute: F) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.ttl.is_zero() {
            return compute().await.map(Arc::new);
        }
        let slot = self.slot(tenant, kind);
        let mut entry = slot.lock().await;
        if let Some(cached) = entry.as_ref()
            && cached.version >= version
            && cached.at.elapsed() < self.ttl
            && let Ok(value) = cached.value.clone().downcast::<T>()
        {
            return Ok(value);
        }
        let value = Arc::new(compute().await?);
        // A newer version stored meanwhile was read before this computation began: the value reflects it too.
        let version = entry.as_ref().map_or(version, |cached| cached.version.max(version));
        *entry = Some(Entry { version, at: Instant::now(), value: value.clone() });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn an_entry_is_reused_while_the_data_version_stands_and_recomputed_when_it_moves() {
        let cache = Cache::new(Duration::from_secs(3600));
        let runs = AtomicUsize::new(0);
        let compute = || async { Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst)) };
        assert_eq!(*cache.get_or("t", "k", 1, compute).await.unwrap(), 0);
        assert_eq!(*cache.get_or("t", "k", 1, compute).await.unwrap(), 0, "same version: reused");
        assert_eq!(*cache.get_or("t", "k", 0, compute).await.unwrap(), 0, "an older reader gets newer data");
        assert_eq!(*cache.get_or("t", "k", 2, compute).await.unwrap(), 1, "the version moved: recomputed");
        assert_eq!(*cache.get_or("u", "k", 2, compute).await.unwrap(), 2, "tenants are apart");
        // A failure is not cached.
        assert!(cache.get_or::<usize, _, _, _>("v", "k", 0, || async { Err(()) }).await.is_err());
        assert_eq!(*cache.get_or("v", "k", 0, compute).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn an_entry_expires_after_its_ttl_whatever_the_version() {
        let cache = Cache::new(Duration::from_millis(1));
        let runs = AtomicUsize::new(0);
        let compute = || async { Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst)) };
        cache.get_or("t", "k", 1, compute).await.unwrap();
        let stored = Instant::now();
        while stored.elapsed() <= Duration::from_millis(1) {
            tokio::task::yield_now().await;
        }
        assert_eq!(*cache.get_or("t", "k", 1, compute).await.unwrap(), 1);
    }
}
