//! Each tenant's data version: a counter bumped in the transaction of every write that changes what the portal
//! shows (a snapshot made current, rollups, findings or call-quality rankings recomputed, a price or threshold
//! changed).
//!
//! portal-api keys its cached aggregates on it: a request reads the version (one primary-key lookup) before it
//! reads the data, so an answer cached before a commit is never served after it, on any replica, and nothing has
//! to tell the replicas. Call records and PSTN rows do not bump it when stored: the portal reads them only through
//! the rollups, whose recompute (marked in the same transaction as the rows) bumps it when it makes them visible;
//! bumping on every stored batch would also make concurrent writers of one tenant queue on this row.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::sql_for;
use crate::schema::data_versions;
use crate::{Conn, DbError, with_conn};

pub struct DataVersion;

impl DataVersion {
    /// Moves the tenant's version on; call in the transaction of the write.
    pub fn bump(conn: &mut Conn<'_>, tenant_id: &str) -> Result<(), DbError> {
        let sql = sql_for(
            conn,
            "INSERT INTO data_versions (tenant_id, version, changed_at) VALUES ($1, 1, $2) \
             ON CONFLICT (tenant_id) DO UPDATE SET version = data_versions.version + 1, changed_at = $2",
        );
        with_conn!(conn, |c| diesel::sql_query(&sql)
            .bind::<Text, _>(tenant_id)
            .bind::<Timestamp, _>(crate::now())
            .execute(c))?;
        Ok(())
    }

    /// The tenant's version (0 before its first data).
    pub fn of(conn: &mut Conn<'_>, tenant_id: &str) -> Result<i64, DbError> {
        let version: Option<i64> = with_conn!(conn, |c| data_versions::table
            .find(tenant_id)
            .select(data_versions::version)
            .first(c)
            .optional())?;
        Ok(version.unwrap_or(0))
    }

    /// Every tenant's version.
    pub fn all(conn: &mut Conn<'_>) -> Result<BTreeMap<String, i64>, DbError> {
        let rows: Vec<(String, i64)> = with_conn!(conn, |c| data_versions::table
            .select((data_versions::tenant_id, data_versions::version))
            .load(c))?;
        Ok(rows.into_iter().collect())
    }
}
