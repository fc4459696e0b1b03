use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::collection_cursors;
use crate::{Conn, DbError, with_conn};

/// How far a tenant's log of one `source` is collected.
pub fn get(conn: &mut Conn<'_>, tenant_id: &str, source: &str) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(with_conn!(conn, |c| collection_cursors::table
        .find((tenant_id, source))
        .select(collection_cursors::collected_until)
        .first(c)
        .optional())?)
}

pub fn set(conn: &mut Conn<'_>, tenant_id: &str, source: &str, until: NaiveDateTime) -> Result<(), DbError> {
    with_conn!(conn, |c| diesel::insert_into(collection_cursors::table)
        .values((
            collection_cursors::tenant_id.eq(tenant_id),
            collection_cursors::source.eq(source),
            collection_cursors::collected_until.eq(until),
        ))
        .on_conflict((collection_cursors::tenant_id, collection_cursors::source))
        .do_update()
        .set(collection_cursors::collected_until.eq(until))
        .execute(c))?;
    Ok(())
}
