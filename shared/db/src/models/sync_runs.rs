use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::sync_runs;
use crate::states::RunStatus;
use crate::{Conn, DbError, with_conn};

/// A consented tenant, when it consented and when its newest successful run of a kind finished (`None`: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantFreshness {
    pub tenant_id: String,
    pub consented_at: Option<NaiveDateTime>,
    pub last_success: Option<NaiveDateTime>,
}

/// One collection run of one tenant, kind and day. `id` is the run id carried by every message of the attempt;
/// a retry gets a new id, so parts of a failed attempt never mix with the retry's.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_runs, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SyncRunRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub day: NaiveDate,
    pub status: RunStatus,
    pub attempt: i32,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    pub counts: Option<String>,
}

/// What [`SyncRunRow::start`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    /// This caller owns the run now (first attempt or a retry).
    Started(SyncRunRow),
    /// The day's run already completed: nothing to do.
    AlreadyCompleted(SyncRunRow),
    /// Another worker is running it (its heartbeat is fresh).
    AlreadyRunning(SyncRunRow),
}

impl StartOutcome {
    /// The outcome as a metric label.
    pub fn label(&self) -> &'static str {
        match self {
            StartOutcome::Started(_) => "started",
            StartOutcome::AlreadyCompleted(_) => "already_completed",
            StartOutcome::AlreadyRunning(_) => "already_running",
        }
    }
}

impl SyncRunRow {
    /// Claims the run of `(tenant, kind, day)`. Atomic across replicas: exactly one concurrent caller gets
    /// `Started`. A failed run, or a running one whose heartbeat is older than `stale_before`, is taken over as
    /// a new attempt with a new run id.
    pub fn start(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        kind: &str,
        day: NaiveDate,
        new_id: &str,
        now: NaiveDateTime,
        stale_before: NaiveDateTime,
    ) -> Result<StartOutcome, DbError> {
        let fresh = SyncRunRow {
            id: new_id.to_string(),
            tenant_id: tenant_id.to_string(),
            kind: kind.to_string(),
            day,
            status: RunStatus::Running,
            attempt: 1,
            started_at: now,
            heartbeat_at: now,
            finished_at: None,
            error: None,
            counts: None,
        };
        let inserted = with_conn!(conn, |c| diesel::insert_into(sync_runs::table)
            .values(&fresh)
            .on_conflict((sync_runs::tenant_id, sync_runs::kind, sync_runs::day))
            .do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return Ok(StartOutcome::Started(fresh));
        }
        let key = sync_runs::tenant_id.eq(tenant_id).and(sync_runs::kind.eq(kind)).and(sync_runs::day.eq(day));
        let retryable = sync_runs::status
            .eq(RunStatus::Failed)
            .or(sync_runs::status.eq(RunStatus::RerunRequested))
            .or(sync_runs::status.eq(RunStatus::Running).and(sync_runs::heartbeat_at.lt(stale_before)));
        let taken = with_conn!(conn, |c| diesel::update(sync_runs::table.filter(key).filter(retryable))
            .set((
                sync_runs::id.eq(new_id),
                sync_runs::status.eq(RunStatus::Running),
                sync_runs::attempt.eq(sync_runs::attempt + 1),
                sync_runs::started_at.eq(now),
                sync_runs::heartbeat_at.eq(now),
                sync_runs::finished_at.eq(None::<NaiveDateTime>),
                sync_runs::error.eq(None::<String>),
                sync_runs::counts.eq(None::<String>),
            ))
            .execute(c))?;
        let row = with_conn!(conn, |c| sync_runs::table.filter(key).select(SyncRunRow::as_select()).first(c))?;
        Ok(match (taken, row.status) {
            (1, _) => StartOutcome::Started(row),
            (_, RunStatus::Completed) => StartOutcome::AlreadyCompleted(row),
            _ => StartOutcome::AlreadyRunning(row),
        })
    }

    /// Records progress so that other workers do not take the run over.
    pub fn heartbeat(conn: &mut Conn<'_>, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(sync_runs::table.find(id))
            .set(sync_runs::heartbeat_at.eq(now))
            .execute(c))?;
        Ok(())
    }

    /// Marks the attempt `id` completed with its counts; false when the attempt no longer owns the run.
    pub fn complete(conn: &mut Conn<'_>, id: &str, counts: &str, now: NaiveDateTime) -> Result<bool, DbError> {
        let updated = with_conn!(conn, |c| diesel::update(
            sync_runs::table.find(id).filter(sync_runs::status.eq(RunStatus::Running))
        )
        .set((
            sync_runs::status.eq(RunStatus::Completed),
            sync_runs::finished_at.eq(now),
            sync_runs::heartbeat_at.eq(now),
            sync_runs::counts.eq(counts),
            sync_runs::error.eq(None::<String>),
        ))
        .execute(c))?;
        Ok(updated == 1)
    }

    /// Lets the next start of a completed day's run take it over as a new attempt; false when it was not completed
    /// (running: it runs anyway; failed or never run: the next start runs it anyway).
    pub fn request_rerun(conn: &mut Conn<'_>, tenant_id: &str, kind: &str, day: NaiveDate) -> Result<bool, DbError> {
        let key = sync_runs::tenant_id.eq(tenant_id).and(sync_runs::kind.eq(kind)).and(sync_runs::day.eq(day));
        let updated = with_conn!(conn, |c| diesel::update(
            sync_runs::table.filter(key).filter(sync_runs::status.eq(RunStatus::Completed))
        )
        .set(sync_runs::status.eq(RunStatus::RerunRequested))
        .execute(c))?;
        Ok(updated == 1)
    }

    /// Marks the attempt `id` failed with the reason; the next start retries it.
    pub fn fail(conn: &mut Conn<'_>, id: &str, error: &str, now: NaiveDateTime) -> Result<bool, DbError> {
        let updated = with_conn!(conn, |c| diesel::update(
            sync_runs::table.find(id).filter(sync_runs::status.eq(RunStatus::Running))
        )
        .set((
            sync_runs::status.eq(RunStatus::Failed),
            sync_runs::finished_at.eq(now),
            sync_runs::heartbeat_at.eq(now),
            sync_runs::error.eq(error),
        ))
        .execute(c))?;
        Ok(updated == 1)
    }

    pub fn find(conn: &mut Conn<'_>, id: &str) -> Result<Option<SyncRunRow>, DbError> {
        Ok(with_conn!(conn, |c| sync_runs::table.find(id).select(SyncRunRow::as_select()).first(c).optional())?)
    }

    /// The newest run of a tenant and kind.
    pub fn latest(conn: &mut Conn<'_>, tenant_id: &str, kind: &str) -> Result<Option<SyncRunRow>, DbError> {
        Ok(with_conn!(conn, |c| sync_runs::table
            .filter(sync_runs::tenant_id.eq(tenant_id).and(sync_runs::kind.eq(kind)))
            .order(sync_runs::started_at.desc())
            .select(SyncRunRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Every consented tenant with when it consented and when its newest successful run of `kind` finished
    /// (`None`: never). Freshness metrics are computed from it.
    pub fn last_success_by_tenant(conn: &mut Conn<'_>, kind: &str) -> Result<Vec<TenantFreshness>, DbError> {
        use crate::schema::tenants;
        use diesel::dsl::max;
        let consented: Vec<(String, Option<NaiveDateTime>)> = with_conn!(conn, |c| tenants::table
            .filter(tenants::consent_state.eq("granted"))
            .select((tenants::id, tenants::consented_at))
            .load(c))?;
        let successes: Vec<(String, Option<NaiveDateTime>)> = with_conn!(conn, |c| sync_runs::table
            .filter(
                sync_runs::kind
                    .eq(kind)
                    .and(sync_runs::status.eq_any([RunStatus::Completed, RunStatus::RerunRequested]))
            )
            .group_by(sync_runs::tenant_id)
            .select((sync_runs::tenant_id, max(sync_runs::finished_at)))
            .load(c))?;
        let successes: std::collections::HashMap<String, Option<NaiveDateTime>> = successes.into_iter().collect();
        Ok(consented
            .into_iter()
            .map(|(tenant_id, consented_at)| {
                let last_success = successes.get(&tenant_id).copied().flatten();
                TenantFreshness { tenant_id, consented_at, last_success }
            })
            .collect())
    }
}
