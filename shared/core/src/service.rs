//! The lifecycle every service shares: an HTTP server bound up front (port 0 in tests), background tasks that
//! watch a shutdown token, and an orderly stop: HTTP first (in-flight requests finish), then the tasks, each
//! within the grace period.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Binds a listener; `addr` with port 0 picks a free port. The error names the address and the setting that
/// chose it (a port already in use is the common case).
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).map_err(|error| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {error} (the `listen` setting, SUA_LISTEN, chooses the address; each service \
             has its own default port)"
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// A started service: its HTTP server and background tasks.
pub struct Running {
    pub service: &'static str,
    server: Server,
    port: u16,
    grace: Duration,
    stop: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    pub fn new(service: &'static str, server: Server, port: u16, grace: Duration) -> Self {
        Self { service, server, port, grace, stop: CancellationToken::new(), tasks: Vec::new() }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token background tasks watch; cancelled when the service stops.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Spawns a background task that must return soon after the stop token is cancelled.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let service = self.service;
        let handle = tokio::spawn(async move {
            if let Err(error) = task.await {
                tracing::error!(service, task = name, error = %format!("{error:#}"), "background task failed");
            }
        });
        self.tasks.push((name, handle));
    }

    /// Serves until `shutdown` is cancelled (or the server stops), then stops in order.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Running { service, server, port, grace, stop, tasks } = self;
        let handle = server.handle();
        let mut server_task = tokio::spawn(server);
        tracing::info!(service, port, "service started");
        let server_result = tokio::select! {
            () = shutdown.cancelled() => None,
            result = &mut server_task => Some(result),
        };
        tracing::info!(service, "stopping: no new requests, draining");
        handle.stop(true).await;
        stop.cancel();
        let drained = crate::shutdown::drain(service, grace, async {
            for (name, task) in tasks {
                if let Err(error) = task.await {
                    tracing::error!(service, task = name, %error, "background task panicked");
                }
            }
        })
        .await;
        if server_result.is_none() {
            let _ = tokio::time::timeout(grace, server_task).await;
        }
        tracing::info!(service, drained, "service stopped");
        match server_result {
            Some(Ok(Err(error))) => Err(error.into()),
            Some(Err(error)) => Err(error.into()),
            _ => Ok(()),
        }
    }
}
