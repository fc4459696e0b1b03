//! A TCP proxy the test controls, between a service and PostgreSQL or RabbitMQ: it forwards until the test cuts
//! it (every open connection is closed and new ones are refused) or stalls it (bytes from the upstream are held
//! back, so e.g. RabbitMQ's publish confirms never arrive), and forwards again once restored. Outages are made
//! here, never by stopping the shared servers other tests use.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const FORWARD: u8 = 0;
const CUT: u8 = 1;
const STALL: u8 = 2;

pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    changed: watch::Sender<u8>,
    stop: CancellationToken,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("proxy addr: {e}"));
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let (changed, _) = watch::channel(FORWARD);
        let stop = CancellationToken::new();
        let (accept_mode, accept_changed, accept_stop) = (mode.clone(), changed.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = accept_stop.cancelled() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                if accept_mode.load(Ordering::SeqCst) == CUT {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream).await else { continue };
                tokio::spawn(pipe(client, server, accept_changed.subscribe(), accept_stop.clone()));
            }
        });
        Self { addr, mode, changed, stop }
    }

    /// `upstream_url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, upstream_url: &str) -> String {
        let mut url = url::Url::parse(upstream_url).unwrap_or_else(|e| panic!("url: {e}"));
        url.set_host(Some("127.0.0.1")).unwrap_or_else(|e| panic!("host: {e}"));
        url.set_port(Some(self.addr.port())).unwrap_or_else(|()| panic!("port"));
        url.to_string()
    }

    /// Closes every connection and refuses new ones until [`restore`](Self::restore).
    pub fn cut(&self) {
        self.set(CUT);
    }

    /// Keeps connections open but holds back everything the upstream sends.
    pub fn stall(&self) {
        self.set(STALL);
    }

    pub fn restore(&self) {
        self.set(FORWARD);
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.changed.send_replace(mode);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Forwards both ways until either side closes, the proxy is cut or dropped; while stalled, the upstream's bytes
/// wait (the client's still reach the upstream).
async fn pipe(mut client: TcpStream, mut server: TcpStream, mut mode: watch::Receiver<u8>, stop: CancellationToken) {
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        if current == CUT {
            return;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = mode.changed() => if changed.is_err() { return },
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server_write.write_all(&up[..n]).await.is_err() { return },
            },
            read = server_read.read(&mut down), if current != STALL => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if client_write.write_all(&down[..n]).await.is_err() { return },
            },
        }
    }
}
