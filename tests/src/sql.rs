//! Plain SQL the test writes itself, to check what is stored without going through the product's own query
//! functions. Queries name tables as on PostgreSQL (`analytics.call_records`); on SQLite, where every table lives in
//! one schema, the schema prefix is dropped.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use sua_db::{Conn, Pool};

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs `sql`, which selects a text column `key` and a bigint column `n`, and returns the rows as a map.
pub async fn counts(pool: &Pool, sql: &str) -> BTreeMap<String, i64> {
    let sql = sql.to_string();
    let rows = pool
        .run(move |conn| {
            let rows: Result<Vec<KeyCount>, diesel::result::Error> = match conn {
                Conn::Pg(c) => diesel::sql_query(&sql).load(*c),
                Conn::Sqlite(c) => diesel::sql_query(sql.replace("analytics.", "").replace("collector.", "")).load(*c),
            };
            rows.map_err(sua_db::DbError::from)
        })
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}"));
    rows.into_iter().map(|r| (r.key, r.n)).collect()
}
