use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::invitations;
use crate::{Conn, DbError, with_conn};

/// A consent invitation sent to a customer admin.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct InvitationRow {
    pub id: String,
    pub customer_name: String,
    pub admin_email: String,
    /// Who created it (an operator's name or `cli`).
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub emailed_at: Option<NaiveDateTime>,
    pub email_error: Option<String>,
    pub tenant_id: Option<String>,
    pub consented_at: Option<NaiveDateTime>,
}

impl InvitationRow {
    pub fn insert(conn: &mut Conn<'_>, row: &InvitationRow) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::insert_into(invitations::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn find(conn: &mut Conn<'_>, id: &str) -> Result<Option<InvitationRow>, DbError> {
        Ok(with_conn!(conn, |c| invitations::table.find(id).select(InvitationRow::as_select()).first(c).optional())?)
    }

    /// Records the outcome of e-mailing the link.
    pub fn record_email(conn: &mut Conn<'_>, id: &str, at: NaiveDateTime, error: Option<&str>) -> Result<(), DbError> {
        let sent = if error.is_none() { Some(at) } else { None };
        with_conn!(conn, |c| diesel::update(invitations::table.find(id))
            .set((invitations::emailed_at.eq(sent), invitations::email_error.eq(error)))
            .execute(c))?;
        Ok(())
    }

    /// Records the tenant that consented through this invitation.
    pub fn record_consent(conn: &mut Conn<'_>, id: &str, tenant_id: &str, at: NaiveDateTime) -> Result<(), DbError> {
        with_conn!(conn, |c| diesel::update(invitations::table.find(id))
            .set((invitations::tenant_id.eq(tenant_id), invitations::consented_at.eq(at)))
            .execute(c))?;
        Ok(())
    }

    pub fn list(conn: &mut Conn<'_>) -> Result<Vec<InvitationRow>, DbError> {
        Ok(with_conn!(conn, |c| invitations::table
            .order(invitations::created_at.desc())
            .select(InvitationRow::as_select())
            .load(c))?)
    }
}
