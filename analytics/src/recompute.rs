//! The recompute worker: rebuilds marked rollups and findings, and call quality's worst-user windows. Any number
//! of replicas may run it; PostgreSQL advisory locks make two replicas queue on the same key instead of clashing.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus::{IntCounterVec, Registry};
use sua_db::models::{
    DepartmentCostDayRow, FindingRow, LicenceCostDayRow, PriceOverrideRow, PstnCallRow, RealisedSavingRow,
    SavingsDayRow, SnapshotRow, TenantDayRow, TenantSettingsRow, findings, quality_windows, rollups,
};
use sua_db::{Conn, DbError, Pool};
use tokio_util::sync::CancellationToken;

use crate::findings::{Inputs, Settings, compute};
use crate::history;
use sua_domain::prices::PriceBook;

/// Keys recomputed per pass before marks are looked up again.
const ROLLUP_BATCH: i64 = 200;
const FINDINGS_BATCH: i64 = 20;
const QUALITY_BATCH: i64 = 20;

#[derive(Clone)]
pub struct Metrics {
    recomputed: IntCounterVec,
}

impl Metrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            recomputed: sua_core::metrics::counter_vec(
                registry,
                "sua_analytics_recomputes_total",
                "Rollup days, findings and call-quality windows of tenants recomputed, by what (rollup, findings, \
                 quality) and outcome.",
                &["what", "outcome"],
            ),
        }
    }
}

/// Recomputes one tenant's findings from its current snapshot (none without one), records the savings realised
/// since its previous findings and replaces today's aggregates; inside a transaction.
pub fn recompute_findings(conn: &mut Conn<'_>, tenant_id: &str) -> Result<usize, DbError> {
    findings::take_marks(conn, tenant_id)?;
    let Some(snapshot) = SnapshotRow::current(conn, tenant_id)? else {
        FindingRow::replace(conn, tenant_id, &[])?;
        return Ok(0);
    };
    let data = SnapshotRow::load(conn, &snapshot.run_id)?;
    let last_pstn_call: BTreeMap<String, chrono::NaiveDateTime> =
        PstnCallRow::last_per_user(conn, tenant_id)?.into_iter().collect();
    let prices = PriceBook::for_tenant(&PriceOverrideRow::for_tenant(conn, tenant_id)?);
    let settings = Settings::from_row(TenantSettingsRow::find(conn, tenant_id)?.as_ref());
    let as_of = snapshot.completed_at.or(snapshot.current_at).unwrap_or(snapshot.created_at);
    let computed_at = sua_db::now();
    let rows = compute(&Inputs {
        tenant_id,
        run_id: &snapshot.run_id,
        as_of,
        snapshot: &data,
        sign_in_measured: snapshot.sign_in_activity,
        last_pstn_call: &last_pstn_call,
        prices: &prices,
        settings: &settings,
        computed_at,
    });
    let old = FindingRow::for_tenant(conn, tenant_id)?;
    let old_skus = match old.first() {
        Some(f) if f.run_id != snapshot.run_id => SnapshotRow::skus(conn, &f.run_id)?,
        _ => data.skus.clone(),
    };
    let realised = history::realised(&history::Change {
        tenant_id,
        day: snapshot.day,
        old: &old,
        old_skus: &old_skus,
        new: &rows,
        snapshot: &data,
        prices: &prices,
        recorded_at: computed_at,
    });
    RealisedSavingRow::record(conn, &realised)?;
    FindingRow::replace(conn, tenant_id, &rows)?;
    let today = sua_core::clock::today();
    let day = history::day(&history::DayInputs {
        tenant_id,
        day: today,
        run_id: &snapshot.run_id,
        as_of,
        snapshot: &data,
        sign_in_measured: snapshot.sign_in_activity,
        findings: &rows,
        prices: &prices,
        settings: &settings,
        computed_at,
    });
    TenantDayRow::replace(conn, &day.tenant)?;
    LicenceCostDayRow::replace(conn, tenant_id, today, &day.licences)?;
    SavingsDayRow::replace(conn, tenant_id, today, &day.savings)?;
    DepartmentCostDayRow::replace(conn, tenant_id, today, &day.departments)?;
    // This month's calls and charges (and any counted before the tenant had a snapshot) go to this snapshot's
    // departments.
    rollups::reassign_departments(conn, tenant_id, chrono::Datelike::with_day(&today, 1).unwrap_or(today))?;
    Ok(rows.len())
}

/// One pass over the marks, and over the call-quality windows due (ranked at most once per `rank_every` while a
/// tenant's data changes); returns how many keys it recomputed.
pub fn pass(conn: &mut Conn<'_>, rank_every: chrono::Duration, metrics: Option<&Metrics>) -> Result<usize, DbError> {
    let mut done = 0;
    for (tenant, day) in rollups::pending(conn, ROLLUP_BATCH)? {
        let result = conn.transaction(|tx| rollups::recompute(tx, &tenant, day));
        if let Some(m) = metrics {
            m.recomputed.with_label_values(&["rollup", if result.is_ok() { "ok" } else { "failed" }]).inc();
        }
        result?;
        done += 1;
    }
    for tenant in findings::pending(conn, FINDINGS_BATCH)? {
        let result = conn.transaction(|tx| recompute_findings(tx, &tenant));
        if let Some(m) = metrics {
            m.recomputed.with_label_values(&["findings", if result.is_ok() { "ok" } else { "failed" }]).inc();
        }
        let count = result?;
        tracing::info!(tenant = %tenant, findings = count, "findings recomputed");
        done += 1;
    }
    let today = sua_core::clock::today();
    for tenant in quality_windows::pending(conn, today, sua_db::now() - rank_every, QUALITY_BATCH)? {
        let result = conn.transaction(|tx| quality_windows::recompute(tx, &tenant, today));
        if let Some(m) = metrics {
            m.recomputed.with_label_values(&["quality", if result.is_ok() { "ok" } else { "failed" }]).inc();
        }
        result?;
        done += 1;
    }
    Ok(done)
}

/// Runs a pass every `interval` until `stop`. A day's rollups are rebuilt whole, so while records stream in, one rebuild per interval serves every record that arrived in it
/// (rebuilding after each record would redo the day's work over and over).
pub async fn run(
    pool: Pool,
    interval: Duration,
    rank_every: chrono::Duration,
    metrics: Metrics,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return Ok(()),
        }
        let m = metrics.clone();
        if let Err(error) = pool.run(move |conn| pass(conn, rank_every, Some(&m))).await {
            tracing::warn!(%error, "recompute pass failed; will retry");
        }
    }
}
