//! collector: everything that talks to Microsoft Graph. It takes the admin-consent callback and Graph webhooks,
//! runs collection jobs (call-record fetch, daily licence sync, backfill, subscription renewal) and publishes
//! raw records to the broker. It never writes analytics data.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use actix_web::{App, HttpServer};
use sua_core::Config;
use sua_core::service::Running;
use sua_db::service::Dependencies;

pub const SERVICE: &str = "collector";
pub const DEFAULT_PORT: u16 = 8081;

/// Binds the collector's HTTP server and starts its workers.
pub async fn build(config: &Config, deps: Dependencies) -> anyhow::Result<Running> {
    let listener =
        sua_core::service::bind(config.listen.unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT))))?;
    let port = listener.local_addr()?.port();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let ops = deps.ops(SERVICE);
    let server = HttpServer::new(move || App::new().configure(ops.clone().configure()))
        .disable_signals()
        .shutdown_timeout(grace.as_secs())
        .listen(listener)?
        .run();
    Ok(Running::new(SERVICE, server, port, grace))
}
