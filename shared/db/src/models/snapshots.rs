//! Directory snapshots: what one licence sync run saw (SKUs, service plans, users, assignments, Teams activity).
//!
//! Pages of a run arrive in any order, on any analytics replica, possibly more than once. Every page's
//! transaction first locks the run's snapshot row ([`SnapshotRow::lock`]), so the check "sync.completed arrived
//! and every page it counts is stored" runs after the previous page committed and cannot be missed by two
//! transactions each seeing the other's page uncommitted.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{assignments, sku_plans, skus, snapshot_parts, snapshots, teams_activity, users};
use crate::states::SnapshotState;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = snapshots, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct SnapshotRow {
    pub run_id: String,
    pub tenant_id: String,
    pub day: NaiveDate,
    pub state: SnapshotState,
    /// `{"skus": n, "users": n, "teams_activity": n}`: pages the run published, from `sync.completed`.
    pub expected: Option<String>,
    pub sign_in_activity: bool,
    pub concealed_names: Option<bool>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub current_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = snapshot_parts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SnapshotPartRow {
    pub run_id: String,
    pub part: String,
    pub page: i32,
    pub records: i32,
    pub received_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = skus, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SkuRow {
    pub run_id: String,
    pub tenant_id: String,
    pub sku_id: String,
    pub sku_part_number: String,
    pub capability_status: String,
    pub applies_to: String,
    pub enabled: i64,
    pub warning: i64,
    pub suspended: i64,
    pub locked_out: i64,
    pub consumed: i64,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sku_plans, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SkuPlanRow {
    pub run_id: String,
    pub sku_id: String,
    pub plan_id: String,
    pub plan_name: String,
    pub applies_to: String,
    pub provisioning_status: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct UserRow {
    pub run_id: String,
    pub tenant_id: String,
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub office_location: Option<String>,
    pub country: Option<String>,
    pub usage_location: Option<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<String>,
    pub created_at: Option<NaiveDateTime>,
    pub last_successful_sign_in: Option<NaiveDateTime>,
    pub last_sign_in: Option<NaiveDateTime>,
    pub licences: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AssignmentRow {
    pub run_id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub sku_id: String,
    /// Comma-separated service plan ids.
    pub disabled_plans: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = teams_activity, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct TeamsActivityRow {
    pub run_id: String,
    pub tenant_id: String,
    pub user_key: String,
    pub user_id: Option<String>,
    pub reported_name: String,
    pub period: String,
    pub report_refresh_date: Option<NaiveDate>,
    pub last_activity_date: Option<NaiveDate>,
    pub team_chat_messages: i64,
    pub private_chat_messages: i64,
    pub calls: i64,
    pub meetings: i64,
    pub meetings_organized: i64,
    pub audio_seconds: i64,
    pub video_seconds: i64,
    pub screen_share_seconds: i64,
    pub is_licensed: Option<bool>,
}

/// A snapshot with everything the findings read.
#[derive(Debug, Clone, Default)]
pub struct SnapshotData {
    pub skus: Vec<SkuRow>,
    pub plans: Vec<SkuPlanRow>,
    pub users: Vec<UserRow>,
    pub assignments: Vec<AssignmentRow>,
}

impl SnapshotRow {
    /// Creates the run's snapshot row if it does not exist, then locks it until the transaction ends
    /// (PostgreSQL `FOR UPDATE`; SQLite's write transaction already holds the database).
    pub fn lock(
        conn: &mut Conn<'_>,
        run_id: &str,
        tenant_id: &str,
        day: NaiveDate,
        now: NaiveDateTime,
    ) -> Result<SnapshotRow, DbError> {
        let fresh = SnapshotRow {
            run_id: run_id.to_string(),
            tenant_id: tenant_id.to_string(),
            day,
            state: SnapshotState::Assembling,
            expected: None,
            sign_in_activity: false,
            concealed_names: None,
            created_at: now,
            completed_at: None,
            current_at: None,
        };
        with_conn!(&mut *conn, |c| diesel::insert_into(snapshots::table)
            .values(&fresh)
            .on_conflict_do_nothing()
            .execute(c))?;
        let row = match conn {
            Conn::Pg(c) => {
                snapshots::table.find(run_id).select(SnapshotRow::as_select()).for_update().first(&mut **c)?
            }
            Conn::Sqlite(c) => snapshots::table.find(run_id).select(SnapshotRow::as_select()).first(&mut **c)?,
        };
        Ok(row)
    }

    /// Records that page `page` of `part` arrived; false when it had arrived before.
    pub fn record_part(conn: &mut Conn<'_>, part: &SnapshotPartRow) -> Result<bool, DbError> {
        let inserted = with_conn!(conn, |c| diesel::insert_into(snapshot_parts::table)
            .values(part)
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(inserted > 0)
    }

    /// Stores what `sync.completed` says; false when it was stored before.
    pub fn complete(
        conn: &mut Conn<'_>,
        run_id: &str,
        day: NaiveDate,
        expected: &str,
        sign_in_activity: bool,
        concealed_names: Option<bool>,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let updated = with_conn!(conn, |c| diesel::update(
            snapshots::table.filter(snapshots::run_id.eq(run_id)).filter(snapshots::completed_at.is_null())
        )
        .set((
            snapshots::day.eq(day),
            snapshots::expected.eq(expected),
            snapshots::sign_in_activity.eq(sign_in_activity),
            snapshots::concealed_names.eq(concealed_names),
            snapshots::completed_at.eq(now),
        ))
        .execute(c))?;
        Ok(updated > 0)
    }

    /// Pages stored per part.
    pub fn pages(conn: &mut Conn<'_>, run_id: &str) -> Result<BTreeMap<String, i64>, DbError> {
        let rows: Vec<(String, i64)> = with_conn!(conn, |c| snapshot_parts::table
            .filter(snapshot_parts::run_id.eq(run_id))
            .group_by(snapshot_parts::part)
            .select((snapshot_parts::part, diesel::dsl::count_star()))
            .load(c))?;
        Ok(rows.into_iter().collect())
    }

    /// Makes the run current if `sync.completed` arrived and every page it counts is stored (call with the
    /// snapshot locked). The tenant's previous current snapshot becomes superseded, unless it describes a later
    /// day, in which case this one is superseded at once. Queues a findings recompute and bumps the tenant's data
    /// version. Returns whether it became current.
    pub fn try_make_current(conn: &mut Conn<'_>, run_id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
        let row: SnapshotRow =
            with_conn!(&mut *conn, |c| snapshots::table.find(run_id).select(SnapshotRow::as_select()).first(c))?;
        if row.state != SnapshotState::Assembling {
            return Ok(false);
        }
        let Some(expected) = &row.expected else { return Ok(false) };
        let expected: BTreeMap<String, i64> = serde_json::from_str(expected)
            .map_err(|e| DbError::Query(diesel::result::Error::DeserializationError(Box::new(e))))?;
        let stored = Self::pages(conn, run_id)?;
        if expected.iter().any(|(part, pages)| stored.get(part).copied().unwrap_or(0) < *pages) {
            return Ok(false);
        }
        let newer: i64 = with_conn!(&mut *conn, |c| snapshots::table
            .filter(snapshots::tenant_id.eq(&row.tenant_id))
            .filter(snapshots::state.eq(SnapshotState::Current))
            .filter(snapshots::day.gt(row.day))
            .count()
            .get_result(c))?;
        if newer > 0 {
            with_conn!(&mut *conn, |c| diesel::update(snapshots::table.find(run_id))
                .set(snapshots::state.eq(SnapshotState::Superseded))
                .execute(c))?;
            return Ok(false);
        }
        with_conn!(&mut *conn, |c| diesel::update(
            snapshots::table
                .filter(snapshots::tenant_id.eq(&row.tenant_id))
                .filter(snapshots::state.eq(SnapshotState::Current))
        )
        .set(snapshots::state.eq(SnapshotState::Superseded))
        .execute(c))?;
        with_conn!(&mut *conn, |c| diesel::update(snapshots::table.find(run_id))
            .set((snapshots::state.eq(SnapshotState::Current), snapshots::current_at.eq(now)))
            .execute(c))?;
        super::findings::mark(conn, &row.tenant_id)?;
        super::DataVersion::bump(conn, &row.tenant_id)?;
        Ok(true)
    }

    /// The tenant's current snapshot.
    pub fn current(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Option<SnapshotRow>, DbError> {
        Ok(with_conn!(conn, |c| snapshots::table
            .filter(snapshots::tenant_id.eq(tenant_id))
            .filter(snapshots::state.eq(SnapshotState::Current))
            .select(SnapshotRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Every snapshot of the tenant, newest day first.
    pub fn history(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<SnapshotRow>, DbError> {
        Ok(with_conn!(conn, |c| snapshots::table
            .filter(snapshots::tenant_id.eq(tenant_id))
            .order((snapshots::day.desc(), snapshots::created_at.desc()))
            .select(SnapshotRow::as_select())
            .load(c))?)
    }

    /// The SKUs of a snapshot, by id.
    pub fn skus(conn: &mut Conn<'_>, run_id: &str) -> Result<Vec<SkuRow>, DbError> {
        Ok(with_conn!(conn, |c| skus::table
            .filter(skus::run_id.eq(run_id))
            .order(skus::sku_id)
            .select(SkuRow::as_select())
            .load(c))?)
    }

    /// Everything the findings read of a snapshot.
    pub fn load(conn: &mut Conn<'_>, run_id: &str) -> Result<SnapshotData, DbError> {
        Ok(SnapshotData {
            skus: Self::skus(conn, run_id)?,
            plans: with_conn!(&mut *conn, |c| sku_plans::table
                .filter(sku_plans::run_id.eq(run_id))
                .order((sku_plans::sku_id, sku_plans::plan_id))
                .select(SkuPlanRow::as_select())
                .load(c))?,
            users: with_conn!(&mut *conn, |c| users::table
                .filter(users::run_id.eq(run_id))
                .order(users::id)
                .select(UserRow::as_select())
                .load(c))?,
            assignments: with_conn!(&mut *conn, |c| assignments::table
                .filter(assignments::run_id.eq(run_id))
                .order((assignments::user_id, assignments::sku_id))
                .select(AssignmentRow::as_select())
                .load(c))?,
        })
    }

    pub fn insert_skus(conn: &mut Conn<'_>, rows: &[SkuRow], plans: &[SkuPlanRow]) -> Result<(), DbError> {
        crate::insert_new!(conn, skus::table, rows, 11);
        crate::insert_new!(conn, sku_plans::table, plans, 6);
        Ok(())
    }

    pub fn insert_users(conn: &mut Conn<'_>, rows: &[UserRow], licences: &[AssignmentRow]) -> Result<(), DbError> {
        crate::insert_new!(conn, users::table, rows, 17);
        crate::insert_new!(conn, assignments::table, licences, 5);
        Ok(())
    }

    pub fn insert_teams_activity(conn: &mut Conn<'_>, rows: &[TeamsActivityRow]) -> Result<(), DbError> {
        crate::insert_new!(conn, teams_activity::table, rows, 17);
        Ok(())
    }
}
