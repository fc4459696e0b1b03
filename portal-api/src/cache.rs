//! A short-lived cache of per-tenant aggregates (dashboard, licences, the operators' summary).
//!
//! The data behind them changes when a sync completes or findings are recomputed, a few times a day, while a
//! portal asks for them on every page view. Each entry lives `portal.cache_ttl_secs`; one request recomputes an
//! expired entry while the others for the same key wait for it instead of running the same queries; a write
//! through portal-api (prices, thresholds) drops the tenant's entries at once.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<dyn Any + Send + Sync>)>>>;

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
            slots.retain(|_, slot| {
                slot.try_lock().map_or(true, |e| e.as_ref().is_some_and(|(at, _)| at.elapsed() < ttl))
            });
        }
        slots.entry((tenant.to_string(), kind.to_string())).or_default().clone()
    }

    /// The cached value of `(tenant, kind)`, or `compute`'s (stored when it succeeds).
    pub async fn get_or<T, E, F, Fut>(&self, tenant: &str, kind: &str, compute: F) -> Result<Arc<T>, E>
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
        if let Some((at, value)) = entry.as_ref()
            && at.elapsed() < self.ttl
            && let Ok(value) = value.clone().downcast::<T>()
        {
            return Ok(value);
        }
        let value = Arc::new(compute().await?);
        *entry = Some((Instant::now(), value.clone()));
        Ok(value)
    }

    /// Drops every entry of `tenant` (and the all-tenants ones, which include it).
    pub fn invalidate(&self, tenant: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.retain(|(t, _), _| t != tenant && t != ALL);
    }
}

/// The key of all-tenants entries.
pub const ALL: &str = "*";

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_fresh_entry_is_reused_and_invalidation_recomputes_it() {
        let cache = Cache::new(Duration::from_secs(60));
        let runs = AtomicUsize::new(0);
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(7u32)
        };
        assert_eq!(*cache.get_or("t", "k", compute).await.unwrap(), 7);
        assert_eq!(*cache.get_or("t", "k", compute).await.unwrap(), 7);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        cache.invalidate("t");
        cache.get_or("t", "k", compute).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A failure is not cached.
        assert!(cache.get_or::<u32, _, _, _>("u", "k", || async { Err(()) }).await.is_err());
        cache.get_or("u", "k", compute).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
