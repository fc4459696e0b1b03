use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::schema::{
    call_participants, call_records, call_segments, call_sessions, call_streams, call_user_facts, rollup_marks,
};
use crate::{Conn, DbError, with_conn};

/// The columns a newer version of a record replaces (`ON CONFLICT … DO UPDATE SET`).
macro_rules! newest_columns {
    () => {
        (
            (
                call_records::version.eq(excluded(call_records::version)),
                call_records::call_type.eq(excluded(call_records::call_type)),
                call_records::start_at.eq(excluded(call_records::start_at)),
                call_records::end_at.eq(excluded(call_records::end_at)),
                call_records::modalities.eq(excluded(call_records::modalities)),
                call_records::organizer_id.eq(excluded(call_records::organizer_id)),
                call_records::raw.eq(excluded(call_records::raw)),
                call_records::received_at.eq(excluded(call_records::received_at)),
            ),
            (
                call_records::day.eq(excluded(call_records::day)),
                call_records::duration_seconds.eq(excluded(call_records::duration_seconds)),
                call_records::participants.eq(excluded(call_records::participants)),
                call_records::pstn.eq(excluded(call_records::pstn)),
                call_records::streams.eq(excluded(call_records::streams)),
                call_records::poor_streams.eq(excluded(call_records::poor_streams)),
            ),
        )
    };
}

/// A call record at the newest version sua has seen.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_records, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
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
    /// The UTC day the call started (the day its rollups count it on).
    pub day: Option<NaiveDate>,
    pub duration_seconds: i64,
    pub participants: i32,
    /// Whether a phone number took part (PSTN or Direct Routing).
    pub pstn: bool,
    pub streams: i32,
    pub poor_streams: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_participants, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct CallParticipantRow {
    pub tenant_id: String,
    pub call_id: String,
    pub participant_key: String,
    /// `user`, `phone`, `guest`, `application` or `unknown`.
    pub kind: String,
    pub user_id: Option<String>,
    pub phone: Option<String>,
    pub display_name: Option<String>,
    pub organizer: bool,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_sessions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct CallSessionRow {
    pub tenant_id: String,
    pub call_id: String,
    pub session_id: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub modalities: String,
    pub caller_kind: String,
    pub caller_id: Option<String>,
    pub callee_kind: String,
    pub callee_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_segments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct CallSegmentRow {
    pub tenant_id: String,
    pub call_id: String,
    pub session_id: String,
    pub segment_id: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub caller_kind: String,
    pub caller_id: Option<String>,
    pub callee_kind: String,
    pub callee_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_streams, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct CallStreamRow {
    pub tenant_id: String,
    pub call_id: String,
    pub session_id: String,
    pub segment_id: String,
    pub ordinal: i32,
    pub media_label: String,
    pub direction: String,
    pub audio: bool,
    pub avg_packet_loss: Option<f64>,
    pub avg_jitter_ms: Option<f64>,
    pub avg_round_trip_ms: Option<f64>,
    pub packet_utilization: Option<i64>,
    /// `None` when the stream is not classified (not audio, or too few packets).
    pub poor: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = call_user_facts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct CallUserFactRow {
    pub tenant_id: String,
    pub call_id: String,
    pub user_id: String,
    pub day: NaiveDate,
    pub group_call: i32,
    pub video: i32,
    pub pstn: i32,
    pub seconds: i64,
    pub streams: i32,
    pub poor_streams: i32,
}

/// A call record and everything normalised from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NormalisedCall {
    pub participants: Vec<CallParticipantRow>,
    pub sessions: Vec<CallSessionRow>,
    pub segments: Vec<CallSegmentRow>,
    pub streams: Vec<CallStreamRow>,
    pub user_facts: Vec<CallUserFactRow>,
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
                .set(newest_columns!());
            // ON CONFLICT … DO UPDATE … WHERE stored.version < new.version
            FilterDsl::filter(upsert, call_records::version.lt(excluded(call_records::version))).execute(c)
        })?;
        Ok(written > 0)
    }

    /// Stores a record with its normalised children, replacing an older version's (and the days it counted on
    /// are marked for a rollup recompute, in the same transaction). Returns false, changing nothing, when a
    /// version at least as new is stored. `previous_day` is read before the write so a record whose start moved
    /// to another day recomputes both days.
    pub fn store(conn: &mut Conn<'_>, row: &CallRecordRow, children: &NormalisedCall) -> Result<bool, DbError> {
        let previous_day: Option<Option<NaiveDate>> = with_conn!(&mut *conn, |c| call_records::table
            .find((&row.tenant_id, &row.id))
            .select(call_records::day)
            .first(c)
            .optional())?;
        if !Self::upsert_newest(conn, row)? {
            return Ok(false);
        }
        let (tenant, call) = (row.tenant_id.as_str(), row.id.as_str());
        if previous_day.is_some() {
            delete_children(conn, tenant, &[call])?;
        }
        crate::insert_new!(conn, call_participants::table, children.participants, 8);
        crate::insert_new!(conn, call_sessions::table, children.sessions, 10);
        crate::insert_new!(conn, call_segments::table, children.segments, 10);
        crate::insert_new!(conn, call_streams::table, children.streams, 13);
        crate::insert_new!(conn, call_user_facts::table, children.user_facts, 10);
        let mut days: Vec<NaiveDate> = row.day.into_iter().chain(previous_day.flatten()).collect();
        days.dedup();
        for day in days {
            mark_rollup(conn, tenant, day)?;
        }
        Ok(true)
    }

    /// [`store`](Self::store) for many records in one go (call inside a transaction); one result per item, in
    /// order. On PostgreSQL the whole batch takes a fixed number of statements (one lookup, one upsert with
    /// RETURNING, one delete and one multi-row insert per child table, one insert of marks) instead of about eight
    /// per record. Of the same record twice in a batch only the newest version can be written.
    pub fn store_many(conn: &mut Conn<'_>, items: &[(CallRecordRow, NormalisedCall)]) -> Result<Vec<bool>, DbError> {
        // The newest item of each record (the first of equals).
        let mut newest: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (i, (row, _)) in items.iter().enumerate() {
            let key = (row.tenant_id.as_str(), row.id.as_str());
            match newest.get(&key) {
                Some(&j) if items[j].0.version >= row.version => {}
                _ => {
                    newest.insert(key, i);
                }
            }
        }
        let mut results = vec![false; items.len()];
        let Conn::Pg(pg) = conn else {
            for &i in newest.values() {
                results[i] = Self::store(conn, &items[i].0, &items[i].1)?;
            }
            return Ok(results);
        };
        let pg: &mut diesel::pg::PgConnection = pg;
        let tenants: BTreeSet<&str> = newest.keys().map(|(t, _)| *t).collect();
        for tenant in tenants {
            let chosen: Vec<usize> = newest.iter().filter(|((t, _), _)| *t == tenant).map(|(_, &i)| i).collect();
            let ids: Vec<&str> = chosen.iter().map(|&i| items[i].0.id.as_str()).collect();
            let previous: BTreeMap<String, Option<NaiveDate>> = call_records::table
                .filter(call_records::tenant_id.eq(tenant))
                .filter(call_records::id.eq_any(&ids))
                .select((call_records::id, call_records::day))
                .load::<(String, Option<NaiveDate>)>(pg)?
                .into_iter()
                .collect();
            let rows: Vec<&CallRecordRow> = chosen.iter().map(|&i| &items[i].0).collect();
            let written: HashSet<String> = {
                use diesel::query_dsl::methods::FilterDsl;
                let upsert = diesel::insert_into(call_records::table)
                    .values(rows)
                    .on_conflict((call_records::tenant_id, call_records::id))
                    .do_update()
                    .set(newest_columns!());
                FilterDsl::filter(upsert, call_records::version.lt(excluded(call_records::version)))
                    .returning(call_records::id)
                    .get_results::<String>(pg)?
                    .into_iter()
                    .collect()
            };
            let replaced: Vec<&str> =
                ids.iter().copied().filter(|id| written.contains(*id) && previous.contains_key(*id)).collect();
            if !replaced.is_empty() {
                delete_children(&mut Conn::Pg(&mut *pg), tenant, &replaced)?;
            }
            let mut all = NormalisedCall::default();
            let mut days: BTreeSet<NaiveDate> = BTreeSet::new();
            for &i in &chosen {
                let (row, children) = &items[i];
                if !written.contains(&row.id) {
                    continue;
                }
                results[i] = true;
                all.participants.extend(children.participants.iter().cloned());
                all.sessions.extend(children.sessions.iter().cloned());
                all.segments.extend(children.segments.iter().cloned());
                all.streams.extend(children.streams.iter().cloned());
                all.user_facts.extend(children.user_facts.iter().cloned());
                days.extend(row.day);
                days.extend(previous.get(&row.id).copied().flatten());
            }
            let mut conn = Conn::Pg(&mut *pg);
            let conn = &mut conn;
            crate::insert_new!(conn, call_participants::table, all.participants, 8);
            crate::insert_new!(conn, call_sessions::table, all.sessions, 10);
            crate::insert_new!(conn, call_segments::table, all.segments, 10);
            crate::insert_new!(conn, call_streams::table, all.streams, 13);
            crate::insert_new!(conn, call_user_facts::table, all.user_facts, 10);
            let marks: Vec<_> =
                days.into_iter().map(|day| (rollup_marks::tenant_id.eq(tenant), rollup_marks::day.eq(day))).collect();
            if !marks.is_empty() {
                diesel::insert_into(rollup_marks::table).values(marks).execute(&mut *pg)?;
            }
        }
        Ok(results)
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

    /// Every record of the tenant, by id.
    pub fn for_tenant(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<CallRecordRow>, DbError> {
        Ok(with_conn!(conn, |c| call_records::table
            .filter(call_records::tenant_id.eq(tenant_id))
            .order(call_records::id)
            .select(CallRecordRow::as_select())
            .load(c))?)
    }

    /// Each record's users (those with a user id among its participants), by record id.
    pub fn users_by_call(conn: &mut Conn<'_>, tenant_id: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(with_conn!(conn, |c| call_user_facts::table
            .filter(call_user_facts::tenant_id.eq(tenant_id))
            .order((call_user_facts::call_id, call_user_facts::user_id))
            .select((call_user_facts::call_id, call_user_facts::user_id))
            .load(c))?)
    }

    /// The record's normalised children, in key order.
    pub fn children(conn: &mut Conn<'_>, tenant_id: &str, id: &str) -> Result<NormalisedCall, DbError> {
        Ok(NormalisedCall {
            participants: with_conn!(&mut *conn, |c| call_participants::table
                .filter(call_participants::tenant_id.eq(tenant_id))
                .filter(call_participants::call_id.eq(id))
                .order(call_participants::participant_key)
                .select(CallParticipantRow::as_select())
                .load(c))?,
            sessions: with_conn!(&mut *conn, |c| call_sessions::table
                .filter(call_sessions::tenant_id.eq(tenant_id))
                .filter(call_sessions::call_id.eq(id))
                .order(call_sessions::session_id)
                .select(CallSessionRow::as_select())
                .load(c))?,
            segments: with_conn!(&mut *conn, |c| call_segments::table
                .filter(call_segments::tenant_id.eq(tenant_id))
                .filter(call_segments::call_id.eq(id))
                .order((call_segments::session_id, call_segments::segment_id))
                .select(CallSegmentRow::as_select())
                .load(c))?,
            streams: with_conn!(&mut *conn, |c| call_streams::table
                .filter(call_streams::tenant_id.eq(tenant_id))
                .filter(call_streams::call_id.eq(id))
                .order((call_streams::session_id, call_streams::segment_id, call_streams::ordinal))
                .select(CallStreamRow::as_select())
                .load(c))?,
            user_facts: with_conn!(&mut *conn, |c| call_user_facts::table
                .filter(call_user_facts::tenant_id.eq(tenant_id))
                .filter(call_user_facts::call_id.eq(id))
                .order(call_user_facts::user_id)
                .select(CallUserFactRow::as_select())
                .load(c))?,
        })
    }
}

/// Deletes the normalised children of the tenant's records `ids` (before a newer version's are stored).
fn delete_children(conn: &mut Conn<'_>, tenant: &str, ids: &[&str]) -> Result<(), DbError> {
    with_conn!(&mut *conn, |c| diesel::delete(
        call_participants::table
            .filter(call_participants::tenant_id.eq(tenant))
            .filter(call_participants::call_id.eq_any(ids))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_sessions::table.filter(call_sessions::tenant_id.eq(tenant)).filter(call_sessions::call_id.eq_any(ids))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_segments::table.filter(call_segments::tenant_id.eq(tenant)).filter(call_segments::call_id.eq_any(ids))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_streams::table.filter(call_streams::tenant_id.eq(tenant)).filter(call_streams::call_id.eq_any(ids))
    )
    .execute(c))?;
    with_conn!(&mut *conn, |c| diesel::delete(
        call_user_facts::table
            .filter(call_user_facts::tenant_id.eq(tenant))
            .filter(call_user_facts::call_id.eq_any(ids))
    )
    .execute(c))?;
    Ok(())
}

/// Queues a recompute of the tenant's rollups of `day` (append-only: writers never contend).
pub fn mark_rollup(conn: &mut Conn<'_>, tenant_id: &str, day: NaiveDate) -> Result<(), DbError> {
    with_conn!(conn, |c| diesel::insert_into(rollup_marks::table)
        .values((rollup_marks::tenant_id.eq(tenant_id), rollup_marks::day.eq(day)))
        .execute(c))?;
    Ok(())
}
