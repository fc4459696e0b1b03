//! The real binaries as child processes: located next to the test executable (`target/<profile>/`), so
//! `cargo build --bins` must have run first (the test script does it).

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};

/// Path of a workspace binary built in the same profile as the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|deps| deps.parent()).map(PathBuf::from).unwrap_or_default();
    let path = dir.join(name);
    assert!(path.exists(), "{} not found; build the binaries first: cargo build --bins", path.display());
    path
}

/// A free TCP port on loopback (the tiny race with other processes is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A running service process.
pub struct ServiceProcess {
    child: Child,
    pub port: u16,
}

impl ServiceProcess {
    /// Starts `binary args…` with `env` (and `SUA_LISTEN` on a free loopback port).
    pub fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        Self::start_at(free_port(), name, args, env)
    }

    /// As [`ServiceProcess::start`], listening on `port` (chosen beforehand, e.g. to be named in another
    /// process's settings).
    pub fn start_at(port: u16, name: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary(name));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SUA_LISTEN", format!("127.0.0.1:{port}"))
            .env("SUA_LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Self { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let pid = self.child.id().map(|p| p.to_string()).unwrap_or_default();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "could not signal {pid}");
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => panic!("waiting for the service failed: {error}"),
            Err(_) => panic!("service did not exit within {timeout:?} of SIGTERM"),
        }
    }

    /// Kills the process (SIGKILL: no shutdown, no draining, as when a node dies) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Whether the process has exited on its own.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}
