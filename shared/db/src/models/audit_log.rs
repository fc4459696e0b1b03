//! The audit log: who changed a price or a threshold, when, and the values before and after (portal-api's own
//! table).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::audit_log;
use crate::{Conn, DbError, with_conn};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditRow {
    pub seq: i64,
    pub at: NaiveDateTime,
    pub tenant_id: Option<String>,
    pub actor_tenant: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = audit_log)]
#[diesel(treat_none_as_default_value = false)]
pub struct NewAudit {
    pub at: NaiveDateTime,
    pub tenant_id: Option<String>,
    pub actor_tenant: String,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditRow {
    /// Appends an entry; call in the transaction of the write it records.
    pub fn append(conn: &mut Conn<'_>, entry: &NewAudit) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(audit_log::table).values(entry).execute(c))?;
        Ok(())
    }

    /// The tenant's entries (every entry when `None`), newest first, before `before_seq`.
    pub fn for_tenant(
        conn: &mut Conn<'_>,
        tenant_id: Option<&str>,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DbError> {
        Ok(with_conn!(conn, |c| {
            let mut query = audit_log::table.into_boxed();
            if let Some(tenant_id) = tenant_id {
                query = query.filter(audit_log::tenant_id.eq(tenant_id.to_string()));
            }
            if let Some(seq) = before_seq {
                query = query.filter(audit_log::seq.lt(seq));
            }
            query.order(audit_log::seq.desc()).limit(limit).select(AuditRow::as_select()).load(c)
        })?)
    }
}
