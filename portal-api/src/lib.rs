//! portal-api: the portal frontend's REST API over the analytics tables (`/api/v1`), behind Entra ID tokens.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use actix_web::{App, HttpServer};
use sua_core::Config;
use sua_core::service::Running;
use sua_db::service::Dependencies;

pub const SERVICE: &str = "portal-api";
pub const DEFAULT_PORT: u16 = 8080;

/// Binds portal-api's HTTP server.
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
