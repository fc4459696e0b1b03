//! The HTTP client sua uses to reach Microsoft (Graph, Entra ID's tokens and signing keys).

use std::time::Duration;

use crate::Config;

/// No automatic redirects (a report download must not receive the bearer token), bounded connects, the extra CA
/// when configured (a TLS-inspecting proxy, or the Graph simulator).
pub fn outbound_client(config: &Config) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(16)
        .user_agent(concat!("sua/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &config.extra_ca_file {
        let pem = std::fs::read(path)?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)?;
        anyhow::ensure!(!certificates.is_empty(), "{} holds no certificate", path.display());
        builder = builder.tls_certs_merge(certificates);
    }
    Ok(builder.build()?)
}
