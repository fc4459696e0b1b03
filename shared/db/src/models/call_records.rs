use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::call_records;
use crate::{Conn, DbError, with_conn};

/// A call record at the newest version sua has seen.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_records, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CallRecordRow {
    pub tenant_id: String,
    pub id: String,
    pub version: i64,
    pub call_type: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub modalities: String,
    pub organizer_id: Option<String>,
    pub raw: String,
    pub received_at: NaiveDateTime,
}

impl CallRecordRow {
    /// Stores the record unless a version at least as new is already stored; returns whether it was written.
    /// Replays and duplicates therefore change nothing.
    pub fn upsert_newest(conn: &mut Conn<'_>, row: &CallRecordRow) -> Result<bool, DbError> {
        use diesel::query_dsl::methods::FilterDsl;
        let written = with_conn!(conn, |c| {
            let upsert = diesel::insert_into(call_records::table)
                .values(row)
                .on_conflict((call_records::tenant_id, call_records::id))
                .do_update()
                .set((
                    call_records::version.eq(excluded(call_records::version)),
                    call_records::call_type.eq(excluded(call_records::call_type)),
                    call_records::start_at.eq(excluded(call_records::start_at)),
                    call_records::end_at.eq(excluded(call_records::end_at)),
                    call_records::modalities.eq(excluded(call_records::modalities)),
                    call_records::organizer_id.eq(excluded(call_records::organizer_id)),
                    call_records::raw.eq(excluded(call_records::raw)),
                    call_records::received_at.eq(excluded(call_records::received_at)),
                ));
            // ON CONFLICT … DO UPDATE … WHERE stored.version < new.version
            FilterDsl::filter(upsert, call_records::version.lt(excluded(call_records::version))).execute(c)
        })?;
        Ok(written > 0)
    }

    pub fn find(conn: &mut Conn<'_>, tenant_id: &str, id: &str) -> Result<Option<CallRecordRow>, DbError> {
        Ok(with_conn!(conn, |c| call_records::table
            .find((tenant_id, id))
            .select(CallRecordRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn count_for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<i64, DbError> {
        Ok(with_conn!(conn, |c| call_records::table
            .filter(call_records::tenant_id.eq(tenant_id))
            .count()
            .get_result(c))?)
    }
}
