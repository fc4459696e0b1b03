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

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// `(tenant, kind, data version, value type)`: an entry is for one version of the tenant's data, so a write is
/// never served from before it; older versions' entries are simply no longer asked for and age out.
type Key = (String, String, i64, TypeId);

pub struct Cache {
    entries: Option<moka::future::Cache<Key, Arc<dyn Any + Send + Sync>>>,
}

/// Entries kept at most (a tenant has a handful of aggregates, and a few date ranges of each).
const CAPACITY: u64 = 20_000;

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        let entries =
            (!ttl.is_zero()).then(|| moka::future::Cache::builder().max_capacity(CAPACITY).time_to_live(ttl).build());
        Self { entries }
    }

    /// The cached value of `(tenant, kind)` for data `version` (read by the caller before this call) when it has
    /// not expired; otherwise `compute`'s, stored when it succeeds. Concurrent callers for one key share a single
    /// computation, and its error.
    pub async fn get_or<T, E, F, Fut>(
        &self,
        tenant: &str,
        kind: &str,
        version: i64,
        compute: F,
    ) -> Result<Arc<T>, Arc<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(entries) = &self.entries else { return compute().await.map(Arc::new).map_err(Arc::new) };
        let key = (tenant.to_string(), kind.to_string(), version, TypeId::of::<T>());
        let value = entries
            .try_get_with(key, async move { compute().await.map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>) })
            .await?;
        #[expect(clippy::expect_used, reason = "the key holds the value's type, so the entry is of that type")]
        Ok(value.downcast::<T>().expect("an entry of the keyed type"))
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
        assert_eq!(*cache.get_or("t", "k", 2, compute).await.unwrap(), 1, "the version moved: recomputed");
        assert_eq!(*cache.get_or("u", "k", 2, compute).await.unwrap(), 2, "tenants are apart");
        // A failure is not cached.
        assert!(cache.get_or::<usize, _, _, _>("v", "k", 0, || async { Err(()) }).await.is_err());
        assert_eq!(*cache.get_or("v", "k", 0, compute).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_computation() {
        let cache = Cache::new(Duration::from_secs(3600));
        let runs = AtomicUsize::new(0);
        let compute = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, ()>(7)
        };
        let answers = futures::future::join_all((0..8).map(|_| cache.get_or("t", "k", 1, compute))).await;
        assert!(answers.iter().all(|a| a.as_deref() == Ok(&7)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn with_no_ttl_nothing_is_kept() {
        let cache = Cache::new(Duration::ZERO);
        let runs = AtomicUsize::new(0);
        let compute = || async { Ok::<_, ()>(runs.fetch_add(1, Ordering::SeqCst)) };
        cache.get_or("t", "k", 1, compute).await.unwrap();
        assert_eq!(*cache.get_or("t", "k", 1, compute).await.unwrap(), 1);
    }
}
