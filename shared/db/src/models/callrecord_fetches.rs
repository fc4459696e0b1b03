use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::callrecord_fetches;
use crate::{Conn, DbError, with_conn};

/// A call record the collector fetched, at the newest version it saw.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = callrecord_fetches, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CallRecordFetchRow {
    pub tenant_id: String,
    pub id: String,
    pub version: i64,
    pub start_at: Option<NaiveDateTime>,
    pub fetched_at: NaiveDateTime,
}

impl CallRecordFetchRow {
    pub fn find(conn: &mut Conn<'_>, tenant_id: &str, id: &str) -> Result<Option<CallRecordFetchRow>, DbError> {
        Ok(with_conn!(conn, |c| callrecord_fetches::table
            .find((tenant_id, id))
            .select(CallRecordFetchRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Records a fetch, keeping the highest version.
    pub fn record(conn: &mut Conn<'_>, row: &CallRecordFetchRow) -> Result<(), DbError> {
        use diesel::query_dsl::methods::FilterDsl;
        with_conn!(conn, |c| {
            let upsert = diesel::insert_into(callrecord_fetches::table)
                .values(row)
                .on_conflict((callrecord_fetches::tenant_id, callrecord_fetches::id))
                .do_update()
                .set((
                    callrecord_fetches::version.eq(excluded(callrecord_fetches::version)),
                    callrecord_fetches::start_at.eq(excluded(callrecord_fetches::start_at)),
                    callrecord_fetches::fetched_at.eq(excluded(callrecord_fetches::fetched_at)),
                ));
            FilterDsl::filter(upsert, callrecord_fetches::version.le(excluded(callrecord_fetches::version))).execute(c)
        })?;
        Ok(())
    }

    /// The versions collected of those of `ids` that were fetched.
    pub fn versions(
        conn: &mut Conn<'_>,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>, DbError> {
        let found: Vec<(String, i64)> = with_conn!(conn, |c| callrecord_fetches::table
            .filter(callrecord_fetches::tenant_id.eq(tenant_id))
            .filter(callrecord_fetches::id.eq_any(ids))
            .select((callrecord_fetches::id, callrecord_fetches::version))
            .load(c))?;
        Ok(found.into_iter().collect())
    }

    /// Which of `ids` were already fetched.
    pub fn known(conn: &mut Conn<'_>, tenant_id: &str, ids: &[String]) -> Result<HashSet<String>, DbError> {
        let found: Vec<String> = with_conn!(conn, |c| callrecord_fetches::table
            .filter(callrecord_fetches::tenant_id.eq(tenant_id))
            .filter(callrecord_fetches::id.eq_any(ids))
            .select(callrecord_fetches::id)
            .load(c))?;
        Ok(found.into_iter().collect())
    }

    /// Records fetched for a tenant since `since`.
    pub fn count_since(conn: &mut Conn<'_>, tenant_id: &str, since: NaiveDateTime) -> Result<i64, DbError> {
        Ok(with_conn!(conn, |c| callrecord_fetches::table
            .filter(callrecord_fetches::tenant_id.eq(tenant_id))
            .filter(callrecord_fetches::fetched_at.ge(since))
            .count()
            .get_result(c))?)
    }
}
