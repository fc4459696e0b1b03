//! Graceful shutdown: one [`CancellationToken`] per process, cancelled on SIGTERM or SIGINT.
//!
//! Services take the token in `run_until_stopped`: they stop accepting work, drain what is in flight within
//! `shutdown_grace_secs`, and return. A second signal while draining exits at once.

use std::future::Future;
use std::time::Duration;

pub use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled when the process receives SIGTERM or SIGINT.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested, draining");
        child.cancel();
        wait_for_signal().await;
        tracing::warn!("second shutdown signal, exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Awaits `work`, giving up after `grace`; returns whether it finished in time.
pub async fn drain<F: Future<Output = ()>>(what: &str, grace: Duration, work: F) -> bool {
    match tokio::time::timeout(grace, work).await {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(what, grace_secs = grace.as_secs(), "drain deadline passed, abandoning in-flight work");
            false
        }
    }
}
