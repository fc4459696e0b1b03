//! App-only tokens per customer tenant through azure_identity: one credential per tenant (a credential is bound
//! to its tenant and caches its token, refreshing it five minutes before expiry). The authority comes from
//! `SUA_LOGIN_URL` (national clouds, the simulator) and outbound TLS trusts `SUA_EXTRA_CA_FILE` when set.
//! azure_identity refuses a non-HTTPS authority, so the simulator serves its login endpoint over TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{AsyncRawResponse, ClientMethodOptions, ClientOptions, HttpClient, Request, Transport};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions,
};
use base64::Engine;
use secrecy::ExposeSecret;
use sha2::Digest;
use sua_core::Config;

use super::GraphError;

/// Where Graph tokens come from (azure_identity in production; tests may stub it).
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    async fn token(&self, tenant_id: &str) -> Result<String, GraphError>;
}

enum ClientCredential {
    Secret(String),
    Certificate(Arc<CertificateAssertionKey>),
}

/// Tokens through azure_identity, one cached credential per tenant.
pub struct AzureTokenProvider {
    client_id: String,
    credential: ClientCredential,
    client_options: ClientOptions,
    authority: String,
    scope: String,
    credentials: Mutex<HashMap<String, Arc<dyn TokenCredential>>>,
    entra_errors: EntraErrors,
}

/// An error answer of Entra ID's token endpoint: `error`, the AADSTS codes and Microsoft's description.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct EntraError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_codes: Vec<i64>,
    #[serde(default)]
    pub error_description: String,
}

impl EntraError {
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body).ok().filter(|e| !e.error.is_empty() || !e.error_codes.is_empty())
    }

    /// `AADSTS700016: Application with identifier … was not found …`: the description's first line (the lines
    /// after it are Microsoft's trace and correlation ids and a timestamp), or the codes when there is none.
    pub fn summary(&self) -> String {
        let first = self.error_description.lines().next().unwrap_or_default().trim();
        if first.is_empty() {
            let codes: Vec<String> = self.error_codes.iter().map(|c| format!("AADSTS{c}")).collect();
            format!("{} ({})", self.error, codes.join(", "))
        } else {
            first.to_string()
        }
    }

    /// The app has no service principal in the tenant (no consent, or it was removed).
    pub fn consent_missing(&self) -> bool {
        self.error_codes.iter().any(|c| [700_016, 65_001].contains(c))
    }
}

/// Each tenant's last error answer from the token endpoint. azure_identity reads Entra ID's error body into
/// borrowed strings, which fails on the `\r\n` every real description carries ("expected a borrowed string"), and
/// the code and description are lost: the transport keeps them for [`AzureTokenProvider::token`] to report.
type EntraErrors = Arc<Mutex<HashMap<String, EntraError>>>;

#[derive(Debug)]
struct TokenTransport {
    http: reqwest::Client,
    errors: EntraErrors,
}

#[async_trait::async_trait]
impl HttpClient for TokenTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        // A CLIENT span per token request: the route template only (the body holds the client secret or
        // assertion, the answer the token).
        let template = super::url_template(request.url().as_str())
            .split('/')
            .enumerate()
            .map(|(i, segment)| if i == 1 { "{tenant}" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        let span = tracing::info_span!(
            "http client",
            otel.name = %format!("{} {template}", request.method()),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            "http.request.method" = %request.method(),
            "url.template" = %template,
            "server.address" = request.url().host_str().unwrap_or_default(),
            "http.response.status_code" = tracing::field::Empty,
        );
        let response = match tracing::Instrument::instrument(self.http.execute_request(request), span.clone()).await {
            Ok(response) => response,
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                return Err(error);
            }
        };
        span.record("http.response.status_code", u16::from(response.status()));
        if response.status().is_success() {
            return Ok(response);
        }
        span.record("otel.status_code", "ERROR");
        let tenant = request.url().path_segments().and_then(|mut s| s.next()).unwrap_or_default().to_string();
        let (status, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        if let Some(error) = EntraError::parse(&bytes) {
            self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(tenant, error);
        }
        Ok(AsyncRawResponse::from_bytes(status, headers, bytes))
    }
}

impl AzureTokenProvider {
    /// `http` is the client every token request goes through (it carries the extra CA, if any).
    pub fn new(config: &Config, http: reqwest::Client) -> anyhow::Result<Self> {
        let credential = match (&config.client_certificate_file, &config.client_secret) {
            (Some(file), _) => ClientCredential::Certificate(Arc::new(CertificateAssertionKey::load(file)?)),
            (None, Some(secret)) => ClientCredential::Secret(secret.expose_secret().to_string()),
            (None, None) => {
                anyhow::bail!("set SUA_CLIENT_SECRET or SUA_CLIENT_CERTIFICATE_FILE to reach Microsoft Graph")
            }
        };
        let authority = config.login_url.as_str().trim_end_matches('/').to_string();
        let mut custom = CustomConfiguration::default();
        custom.authority_host = authority.clone();
        let cloud: CloudConfiguration = custom.into();
        let entra_errors = EntraErrors::default();
        let transport = TokenTransport { http, errors: entra_errors.clone() };
        let client_options = ClientOptions {
            cloud: Some(Arc::new(cloud)),
            transport: Some(Transport::new(Arc::new(transport))),
            ..Default::default()
        };
        Ok(Self {
            client_id: config.client_id.clone(),
            credential,
            client_options,
            authority,
            scope: graph_scope(config.graph_url.as_str()),
            credentials: Mutex::new(HashMap::new()),
            entra_errors,
        })
    }

    fn credential(&self, tenant_id: &str) -> Result<Arc<dyn TokenCredential>, GraphError> {
        let mut map = self.credentials.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = map.get(tenant_id) {
            return Ok(existing.clone());
        }
        let failure = |e: azure_core::Error| GraphError::Token {
            tenant: tenant_id.to_string(),
            message: e.to_string(),
            consent_missing: false,
        };
        let credential: Arc<dyn TokenCredential> = match &self.credential {
            ClientCredential::Secret(secret) => ClientSecretCredential::new(
                tenant_id,
                self.client_id.clone(),
                Secret::new(secret.clone()),
                Some(ClientSecretCredentialOptions { client_options: self.client_options.clone() }),
            )
            .map_err(failure)?,
            ClientCredential::Certificate(key) => ClientAssertionCredential::new(
                tenant_id.to_string(),
                self.client_id.clone(),
                CertificateAssertion {
                    key: key.clone(),
                    client_id: self.client_id.clone(),
                    audience: format!("{}/{tenant_id}/oauth2/v2.0/token", self.authority),
                },
                Some(ClientAssertionCredentialOptions { client_options: self.client_options.clone() }),
            )
            .map_err(failure)?,
        };
        map.insert(tenant_id.to_string(), credential.clone());
        Ok(credential)
    }
}

#[async_trait::async_trait]
impl TokenProvider for AzureTokenProvider {
    async fn token(&self, tenant_id: &str) -> Result<String, GraphError> {
        let credential = self.credential(tenant_id)?;
        match credential.get_token(&[self.scope.as_str()], None).await {
            Ok(token) => Ok(token.token.secret().to_string()),
            Err(error) => {
                let entra =
                    self.entra_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(tenant_id);
                let (message, consent_missing) = match entra {
                    // AADSTS700016 / 65001: the app has no service principal in that directory (no consent, or
                    // revoked).
                    Some(entra) => (entra.summary(), entra.consent_missing()),
                    None => (format!("{error:#}"), false),
                };
                tracing::warn!(tenant = tenant_id, error = %message, "token request refused");
                Err(GraphError::Token { tenant: tenant_id.to_string(), message, consent_missing })
            }
        }
    }
}

/// Stands in when no client secret or certificate is configured: every token request fails with the fix.
pub struct MissingCredentials;

#[async_trait::async_trait]
impl TokenProvider for MissingCredentials {
    async fn token(&self, tenant_id: &str) -> Result<String, GraphError> {
        Err(GraphError::Token {
            tenant: tenant_id.to_string(),
            message: "no app credential configured: set SUA_CLIENT_SECRET or SUA_CLIENT_CERTIFICATE_FILE".into(),
            consent_missing: false,
        })
    }
}

pub use sua_domain::graph::graph_scope;

/// The app's certificate key: signs client assertions as Entra ID documents them (PS256, `x5t#S256`).
struct CertificateAssertionKey {
    key: jsonwebtoken::EncodingKey,
    thumbprint_s256: String,
}

impl CertificateAssertionKey {
    fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let block = |label: &str| -> Option<String> {
            let begin = format!("-----BEGIN {label}-----");
            let end = format!("-----END {label}-----");
            let start = text.find(&begin)?;
            let stop = text[start..].find(&end)? + start + end.len();
            Some(text[start..stop].to_string())
        };
        let certificate =
            block("CERTIFICATE").ok_or_else(|| anyhow::anyhow!("{}: no CERTIFICATE block", path.display()))?;
        let key = block("PRIVATE KEY")
            .or_else(|| block("RSA PRIVATE KEY"))
            .ok_or_else(|| anyhow::anyhow!("{}: no PRIVATE KEY block", path.display()))?;
        let body: String = certificate.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body)?;
        let thumbprint_s256 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
        Ok(Self { key: jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes())?, thumbprint_s256 })
    }
}

struct CertificateAssertion {
    key: Arc<CertificateAssertionKey>,
    client_id: String,
    audience: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _options: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.typ = Some("JWT".into());
        header.x5t_s256 = Some(self.key.thumbprint_s256.clone());
        let claims = serde_json::json!({
            "aud": self.audience, "iss": self.client_id, "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "iat": now, "exp": now + 600
        });
        jsonwebtoken::encode(&header, &claims, &self.key.key)
            .map_err(|e| azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_the_graph_origin() {
        assert_eq!(graph_scope("https://graph.microsoft.com"), "https://graph.microsoft.com/.default");
        assert_eq!(graph_scope("https://graph.microsoft.us/v1.0/"), "https://graph.microsoft.us/.default");
        assert_eq!(graph_scope("http://127.0.0.1:4000"), "http://127.0.0.1:4000/.default");
    }

    #[test]
    fn an_entra_error_with_line_breaks_in_its_description_gives_its_code_and_first_line() {
        // As Entra ID sends it: the description ends with trace and correlation ids on their own lines.
        let body = br#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier '5f0b' was not found in the directory 'Contoso'.\r\nTrace ID: 0b1c\r\nCorrelation ID: 0b1c\r\nTimestamp: 2026-11-30 04:00:00Z","error_codes":[700016],"timestamp":"2026-11-30 04:00:00Z"}"#;
        let error = EntraError::parse(body).unwrap();
        assert_eq!(
            error.summary(),
            "AADSTS700016: Application with identifier '5f0b' was not found in the directory 'Contoso'."
        );
        assert!(error.consent_missing());
        let plain = EntraError::parse(br#"{"error":"invalid_client","error_codes":[7000215]}"#).unwrap();
        assert_eq!(plain.summary(), "invalid_client (AADSTS7000215)");
        assert!(!plain.consent_missing());
        assert_eq!(EntraError::parse(b"<html>busy</html>"), None);
    }
}
