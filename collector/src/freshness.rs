//! Fleet freshness for alerting, from the database every minute: is every consented tenant's licence data recent,
//! and does every call-record subscription outlive the next renewal sweep?
//!
//! Per-tenant series would grow with the customer base (one series per tenant and replica); operators page on
//! "some tenant is stale", then look the tenant up in `sua status`. So the gauges are fleet-wide: the oldest last
//! success, a count of stale tenants, and the earliest subscription expiry.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use prometheus::{IntGauge, Registry};
use sua_core::shutdown::CancellationToken;
use sua_db::Pool;
use sua_db::models::{SubscriptionRow, SyncRunRow};

/// A tenant without a successful licence sync for this long is stale (a daily sync plus two hours of retries).
pub const STALE_AFTER: chrono::Duration = chrono::Duration::hours(26);

#[derive(Clone)]
pub struct Freshness {
    pool: Pool,
    oldest_success: IntGauge,
    stale_tenants: IntGauge,
    earliest_expiry: IntGauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    sua_core::metrics::int_gauge_vec(registry, name, help, &[]).with_label_values(&[] as &[&str])
}

impl Freshness {
    pub fn new(pool: Pool, registry: &Registry) -> Self {
        Self {
            pool,
            oldest_success: gauge(
                registry,
                "sua_sync_oldest_last_success_timestamp_seconds",
                "Across consented tenants, the oldest time of a tenant's last successful licence sync (Unix time; a \
                 tenant never synced counts from its consent; 0 when there is no tenant).",
            ),
            stale_tenants: gauge(
                registry,
                "sua_sync_stale_tenants",
                "Consented tenants without a successful licence sync for 26 hours.",
            ),
            earliest_expiry: gauge(
                registry,
                "sua_subscription_earliest_expiry_timestamp_seconds",
                "The earliest expiry of an active call-record subscription (Unix time; 0 when there is none).",
            ),
        }
    }

    /// Reads the database once and sets the gauges.
    pub async fn refresh(&self) -> Result<(), sua_db::DbError> {
        let (tenants, subscriptions) = self
            .pool
            .run(|conn| {
                Ok::<_, sua_db::DbError>((
                    SyncRunRow::last_success_by_tenant(conn, crate::sync::KIND)?,
                    SubscriptionRow::all_active(conn)?,
                ))
            })
            .await?;
        let now = sua_core::clock::now();
        let at = |t: NaiveDateTime| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc);
        let since: Vec<DateTime<Utc>> =
            tenants.iter().map(|t| t.last_success.or(t.consented_at).map_or(now, at)).collect();
        self.oldest_success.set(since.iter().min().map_or(0, DateTime::timestamp));
        self.stale_tenants.set(since.iter().filter(|t| now - **t > STALE_AFTER).count() as i64);
        self.earliest_expiry.set(subscriptions.iter().map(|s| at(s.expires_at).timestamp()).min().unwrap_or(0));
        Ok(())
    }

    /// Refreshes every `every` until `stop` is cancelled.
    pub async fn run(self, every: Duration, stop: CancellationToken) -> anyhow::Result<()> {
        loop {
            // A database that does not answer must not hold up shutdown.
            let refreshed = tokio::select! {
                refreshed = self.refresh() => refreshed,
                () = stop.cancelled() => return Ok(()),
            };
            let wait = match refreshed {
                Ok(()) => every,
                Err(error) => {
                    tracing::debug!(%error, "freshness metrics not refreshed");
                    every.min(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
}
