//! Secrets of the installation that every process shares (made by `sua migrate`).

use diesel::prelude::*;

use crate::schema::installation;
use crate::{Conn, DbError, with_conn};

/// The key that signs consent links' `state`.
pub const STATE_SIGNING_KEY: &str = "state_signing_key";

/// The value stored under `name`, if the migrations made it.
pub fn get(conn: &mut Conn<'_>, name: &str) -> Result<Option<String>, DbError> {
    Ok(with_conn!(conn, |c| installation::table.find(name).select(installation::value).first(c).optional())?)
}
