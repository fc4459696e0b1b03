use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::backfills;
use crate::states::BackfillStatus;
use crate::{Conn, DbError, with_conn};

/// A backfill of call records by LIST over a window.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = backfills, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct BackfillRow {
    pub id: String,
    pub tenant_id: String,
    pub window_from: NaiveDateTime,
    pub window_to: NaiveDateTime,
    /// `consent`, `gap`, `manual`
    pub reason: String,
    /// `queued`, `running`, `completed`, `failed`
    pub status: BackfillStatus,
    pub listed: i32,
    pub queued: i32,
    pub created_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub error: Option<String>,
}

impl BackfillRow {
    pub fn insert(conn: &mut Conn<'_>, row: &BackfillRow) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(backfills::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn find(conn: &mut Conn<'_>, id: &str) -> Result<Option<BackfillRow>, DbError> {
        Ok(with_conn!(conn, |c| backfills::table.find(id).select(BackfillRow::as_select()).first(c).optional())?)
    }

    /// Claims a queued backfill (or a running one whose worker stopped heartbeating); false if someone has it.
    pub fn claim(
        conn: &mut Conn<'_>,
        id: &str,
        now: NaiveDateTime,
        stale_before: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let claimable = backfills::status
            .eq(BackfillStatus::Queued)
            .or(backfills::status.eq(BackfillStatus::Running).and(backfills::heartbeat_at.lt(stale_before)));
        let updated = with_conn!(conn, |c| diesel::update(backfills::table.find(id).filter(claimable))
            .set((backfills::status.eq(BackfillStatus::Running), backfills::heartbeat_at.eq(now)))
            .execute(c))?;
        Ok(updated == 1)
    }

    pub fn progress(
        conn: &mut Conn<'_>,
        id: &str,
        listed: i32,
        queued: i32,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(backfills::table.find(id))
            .set((backfills::listed.eq(listed), backfills::queued.eq(queued), backfills::heartbeat_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    /// Backfills that should be running but are not (queued, or running with a stale heartbeat).
    pub fn orphaned(conn: &mut Conn<'_>, stale_before: NaiveDateTime) -> Result<Vec<BackfillRow>, DbError> {
        Ok(with_conn!(conn, |c| backfills::table
            .filter(backfills::status.eq(BackfillStatus::Queued).or(backfills::status.eq(BackfillStatus::Running)))
            .filter(backfills::heartbeat_at.lt(stale_before))
            .select(BackfillRow::as_select())
            .load(c))?)
    }

    pub fn finish(conn: &mut Conn<'_>, id: &str, error: Option<&str>, now: NaiveDateTime) -> Result<(), DbError> {
        let status = if error.is_some() { BackfillStatus::Failed } else { BackfillStatus::Completed };
        with_conn!(conn, |c| diesel::update(backfills::table.find(id))
            .set((backfills::status.eq(status), backfills::error.eq(error), backfills::finished_at.eq(now)))
            .execute(c))?;
        Ok(())
    }

    pub fn latest_for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Option<BackfillRow>, DbError> {
        Ok(with_conn!(conn, |c| backfills::table
            .filter(backfills::tenant_id.eq(tenant_id))
            .order(backfills::created_at.desc())
            .select(BackfillRow::as_select())
            .first(c)
            .optional())?)
    }
}
