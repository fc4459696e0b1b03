//! The baseline of benchmark P3: the reads of a licence sync made by a client that does nothing else. One
//! reqwest client (connection reuse, HTTP keep-alive, the collector's own HTTP stack), a client-credentials token,
//! `subscribedSkus`, every users page with sign-in activity (500 a page, following `@odata.nextLink`), and the
//! Teams activity report (its redirect, then the CSV). Each body is read whole and parsed as JSON where the
//! collector parses it (to find the next link), nothing more. Prints the seconds the reads took.
//!
//!   sua-graph-paging --graph http://127.0.0.1:PORT --login https://127.0.0.1:TLS --tenant ID --ca CA.pem

use std::time::Instant;

use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// The simulator's Graph base URL.
    #[arg(long)]
    graph: String,
    /// The simulator's Entra ID base URL (HTTPS).
    #[arg(long)]
    login: String,
    #[arg(long)]
    tenant: String,
    /// CA certificate (PEM) the simulator's TLS listener uses.
    #[arg(long)]
    ca: std::path::PathBuf,
    #[arg(long, default_value = "5f0b7c2a-6e1d-4c38-9a3b-2d4e6f8a1b2c")]
    client_id: String,
    #[arg(long, default_value = "sim-client-secret")]
    client_secret: String,
}

const FIELDS: &str = "id,displayName,userPrincipalName,mail,department,jobTitle,officeLocation,city,country,\
usageLocation,accountEnabled,userType,createdDateTime,assignedLicenses,assignedPlans,signInActivity";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&args.ca)?)?;
    let http = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(16)
        .build()?;
    let token: Value = http
        .post(format!("{}/{}/oauth2/v2.0/token", args.login, args.tenant))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", args.client_id.as_str()),
            ("client_secret", args.client_secret.as_str()),
            ("scope", &format!("{}/.default", args.graph)),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["access_token"].as_str().unwrap_or_default().to_string();
    let started = Instant::now();
    let get = |url: String| {
        let (http, token) = (http.clone(), token.clone());
        async move { http.get(url).bearer_auth(token).send().await?.error_for_status() }
    };
    get(format!("{}/v1.0/subscribedSkus", args.graph)).await?.bytes().await?;
    let mut next = Some(format!("{}/v1.0/users?$select={FIELDS}&$top=500", args.graph));
    let mut users = 0usize;
    while let Some(url) = next {
        let page: Value = serde_json::from_slice(&get(url).await?.bytes().await?)?;
        users += page["value"].as_array().map_or(0, Vec::len);
        next = page["@odata.nextLink"].as_str().map(String::from);
    }
    let report = get(format!("{}/v1.0/reports/getTeamsUserActivityUserDetail(period='D30')", args.graph)).await?;
    let location = report
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow::anyhow!("the report answered without a redirect"))?
        .to_string();
    let csv = http.get(location).send().await?.error_for_status()?.bytes().await?;
    let rows = csv.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
    let seconds = started.elapsed().as_secs_f64();
    println!("{{\"seconds\": {seconds:.3}, \"users\": {users}, \"report_rows\": {rows}}}");
    Ok(())
}
