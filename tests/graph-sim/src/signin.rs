//! Portal sign-in as Entra ID does it for a single-page app: the authorization code flow with PKCE (S256 only,
//! as Entra requires for SPAs), one-time codes bound to the client, redirect URI and code challenge, and
//! rotating refresh tokens. The accounts offered are each generated tenant's admin and reader (real users of
//! the tenant) and, when configured, the managed-service provider's operator.
//!
//! Shapes follow entra-docs `v2-oauth2-auth-code-flow.md` (authorize, token and refresh requests and answers)
//! and `id-token-claims-reference.md`.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest;

use crate::sim::{Sim, UserTokenSpec};

/// The portal's own app registration (public client, SPA platform) as the simulated Entra ID knows it.
pub const DEFAULT_PORTAL_CLIENT_ID: &str = "3c5e7a90-1b2d-4f60-8e4a-6b7c8d9e0f12";

/// How the simulator signs portal users in.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// The portal SPA's client id; authorize and token requests of other clients are refused.
    pub client_id: String,
    /// Redirect URIs accepted besides loopback ones (`http(s)://127.0.0.1|localhost|[::1]:<any port>/…`, which
    /// Entra also accepts with any port for development).
    pub redirect_uris: Vec<String>,
    /// The managed-service provider's tenant: when set, an operator (`Portal.Operator`) is offered too.
    pub operator_tenant: Option<String>,
    /// Lifetime of access and ID tokens.
    pub token_lifetime_secs: i64,
    /// Lifetime of a refresh token (Entra gives SPAs 24 hours).
    pub refresh_lifetime_secs: i64,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            client_id: DEFAULT_PORTAL_CLIENT_ID.into(),
            redirect_uris: Vec::new(),
            operator_tenant: None,
            token_lifetime_secs: 3_600,
            refresh_lifetime_secs: 24 * 3_600,
        }
    }
}

/// Someone who can sign in to the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalAccount {
    /// What the sign-in page posts: `admin-0`, `reader-0`, `operator`.
    pub key: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub object_id: String,
    pub name: String,
    pub username: String,
    pub role: String,
}

/// What a code stands for until it is redeemed (once).
#[derive(Debug, Clone)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: String,
    nonce: Option<String>,
    account: String,
    expires: i64,
}

#[derive(Debug, Clone)]
struct Refresh {
    client_id: String,
    scope: String,
    account: String,
    expires: i64,
}

/// Issued codes and refresh tokens.
#[derive(Default)]
pub struct SignIns {
    codes: Mutex<HashMap<String, Code>>,
    refresh: Mutex<HashMap<String, Refresh>>,
}

/// An OAuth error: `(status, error, AADSTS code, description)`.
pub type GrantError = (u16, &'static str, u32, String);

/// The parameters of an authorization request the sign-in page carries along.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub response_mode: Option<String>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `BASE64URL(SHA256(verifier)) == challenge` (RFC 7636 §4.6), in constant time over the encoded bytes.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    valid_verifier
        && computed.len() == challenge.len()
        && computed.bytes().zip(challenge.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Whether `uri` is a loopback redirect URI (any port), as Entra allows for development.
pub(crate) fn loopback(uri: &url::Url) -> bool {
    matches!(uri.scheme(), "http" | "https")
        && matches!(uri.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
        && uri.fragment().is_none()
}

/// The audience an access token gets for `scope`: the resource of its first non-OIDC scope (`api://app/x` →
/// `api://app`), as Entra picks the resource from the requested scopes.
pub fn audience_of(scope: &str) -> Option<String> {
    scope
        .split_whitespace()
        .find(|s| !matches!(*s, "openid" | "profile" | "email" | "offline_access"))
        .and_then(|s| s.rsplit_once('/'))
        .map(|(resource, _)| resource.to_string())
        .filter(|r| !r.is_empty())
}

/// A stable object id for the operator of `tenant` (the same across restarts, so audit entries stay theirs).
fn operator_object_id(tenant: &str) -> String {
    let digest = sha2::Sha256::digest(format!("operator/{tenant}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

impl Sim {
    /// Everyone the sign-in page offers (for a tenant named in the authority path, only its own accounts).
    pub fn portal_accounts(&self, tenant_hint: &str) -> Vec<PortalAccount> {
        let only = self.tenant(tenant_hint).map(|t| t.id.clone());
        let mut accounts = Vec::new();
        for tenant in &self.tenants {
            if only.as_deref().is_some_and(|id| id != tenant.id) {
                continue;
            }
            // The first two enabled members of the directory: an admin and a reader.
            let people = (0..tenant.spec.users.min(200))
                .map(|i| tenant.user(i))
                .filter(|u| u.account_enabled && !u.guest)
                .take(2)
                .collect::<Vec<_>>();
            for (user, (kind, role)) in people.iter().zip([("admin", "Portal.Admin"), ("reader", "Portal.Reader")]) {
                accounts.push(PortalAccount {
                    key: format!("{kind}-{}", tenant.index),
                    tenant_id: tenant.id.clone(),
                    tenant_name: tenant.display_name.clone(),
                    object_id: user.id.clone(),
                    name: user.display_name.clone(),
                    username: user.user_principal_name.clone(),
                    role: role.into(),
                });
            }
        }
        if let Some(operator) = &self.config.sign_in.operator_tenant {
            let operator = operator.to_ascii_lowercase();
            if only.is_none() || only.as_deref() == Some(operator.as_str()) || tenant_hint == operator {
                accounts.push(PortalAccount {
                    key: "operator".into(),
                    tenant_id: operator.clone(),
                    tenant_name: "Managed-service provider".into(),
                    object_id: operator_object_id(&operator),
                    name: "MSP Operator".into(),
                    username: "operator@msp.example".into(),
                    role: "Portal.Operator".into(),
                });
            }
        }
        accounts
    }

    fn portal_account(&self, key: &str) -> Option<PortalAccount> {
        self.portal_accounts("organizations").into_iter().find(|a| a.key == key)
    }

    /// Checks an authorization request; the error is shown on the sign-in page (never redirected, as Entra
    /// does for a bad client or redirect URI).
    pub fn check_authorize(&self, request: &AuthorizeRequest) -> Result<(), String> {
        let sign_in = &self.config.sign_in;
        if request.client_id != sign_in.client_id {
            return Err(format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                request.client_id
            ));
        }
        let redirect = url::Url::parse(&request.redirect_uri).map_err(|_| {
            "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.".to_string()
        })?;
        if !loopback(&redirect) && !sign_in.redirect_uris.contains(&request.redirect_uri) {
            return Err(format!(
                "AADSTS50011: The redirect URI '{}' specified in the request does not match the redirect URIs \
                 configured for the application.",
                request.redirect_uri
            ));
        }
        if request.code_challenge.is_empty() || request.code_challenge_method != "S256" {
            return Err("AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code \
                        redemption (code_challenge with code_challenge_method=S256)."
                .into());
        }
        if !request.scope.split_whitespace().any(|s| s == "openid") {
            return Err("AADSTS900144: The request must include the 'openid' scope.".into());
        }
        Ok(())
    }

    /// The signed-in account's one-time code for `request` (valid for 5 minutes).
    pub fn issue_code(&self, request: &AuthorizeRequest, account: &str) -> Option<String> {
        self.portal_account(account)?;
        let code = random_token();
        let mut codes = self.sign_ins.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Utc::now().timestamp();
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            code.clone(),
            Code {
                client_id: request.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                challenge: request.code_challenge.clone(),
                scope: request.scope.clone(),
                nonce: request.nonce.clone(),
                account: account.to_string(),
                expires: now + 300,
            },
        );
        Some(code)
    }

    /// `grant_type=authorization_code`: redeems a code once, checking client, redirect URI and PKCE verifier.
    pub fn redeem_code(&self, form: &HashMap<String, String>) -> Result<Value, GrantError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let invalid_grant = |code: u32, text: &str| (400, "invalid_grant", code, text.to_string());
        let taken = self
            .sign_ins
            .codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(field("code"))
            .ok_or_else(|| {
                invalid_grant(54_005, "AADSTS54005: OAuth2 Authorization code was already redeemed, or is not valid.")
            })?;
        if taken.expires <= Utc::now().timestamp() {
            return Err(invalid_grant(
                70_008,
                "AADSTS70008: The provided authorization code or refresh token has expired.",
            ));
        }
        if field("client_id") != taken.client_id {
            return Err(invalid_grant(70_000, "AADSTS70000: The code was issued to another client."));
        }
        if field("redirect_uri") != taken.redirect_uri {
            return Err(invalid_grant(
                50_011,
                "AADSTS50011: The redirect URI does not match the one of the authorization request.",
            ));
        }
        if !pkce_matches(field("code_verifier"), &taken.challenge) {
            return Err(invalid_grant(
                501_481,
                "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
        self.tokens(&taken.client_id, &taken.scope, &taken.account, taken.nonce.as_deref())
    }

    /// `grant_type=refresh_token`: a new set of tokens; the refresh token is rotated (the old one stops working).
    pub fn redeem_refresh(&self, form: &HashMap<String, String>) -> Result<Value, GrantError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let taken = self
            .sign_ins
            .refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(field("refresh_token"))
            .filter(|r| r.expires > Utc::now().timestamp() && r.client_id == field("client_id"))
            .ok_or((
                400,
                "invalid_grant",
                700_082,
                "AADSTS700082: The refresh token has expired or is invalid; sign in again.".to_string(),
            ))?;
        self.tokens(&taken.client_id, &taken.scope, &taken.account, None)
    }

    /// Access, ID and (with `offline_access`) refresh token for an account, signed like every simulator token.
    fn tokens(&self, client_id: &str, scope: &str, account: &str, nonce: Option<&str>) -> Result<Value, GrantError> {
        let server = |e: anyhow::Error| (500, "server_error", 50_000, e.to_string());
        let account = self.portal_account(account).ok_or((
            400,
            "invalid_grant",
            50_034,
            "AADSTS50034: The user account does not exist in the directory.".to_string(),
        ))?;
        let lifetime = self.config.sign_in.token_lifetime_secs;
        let audience = audience_of(scope).unwrap_or_else(|| client_id.to_string());
        let mut spec = UserTokenSpec::new(&account.tenant_id, &audience, &[account.role.as_str()]);
        spec.object_id = account.object_id.clone();
        spec.name = account.name.clone();
        spec.username = account.username.clone();
        spec.lifetime_secs = lifetime;
        let access_token = self.user_token(&spec).map_err(server)?;
        let now = Utc::now().timestamp();
        let mut id_claims = json!({
            "aud": client_id,
            "iss": format!("{}/{}/v2.0", self.config.issuer_base, account.tenant_id),
            "iat": now, "nbf": now, "exp": now + lifetime,
            "tid": account.tenant_id,
            "oid": account.object_id,
            "sub": account.object_id,
            "name": account.name,
            "preferred_username": account.username,
            "roles": [account.role],
            "ver": "2.0"
        });
        if let Some(nonce) = nonce {
            id_claims["nonce"] = json!(nonce);
        }
        let id_token = self.sign_claims(&id_claims).map_err(server)?;
        let granted: Vec<&str> = scope
            .split_whitespace()
            .filter(|s| !matches!(*s, "openid" | "profile" | "email" | "offline_access"))
            .collect();
        let mut body = json!({
            "token_type": "Bearer",
            "scope": granted.join(" "),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
            "id_token": id_token
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            let refresh_token = random_token();
            let mut refresh = self.sign_ins.refresh.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            refresh.retain(|_, r| r.expires > now);
            refresh.insert(
                refresh_token.clone(),
                Refresh {
                    client_id: client_id.to_string(),
                    scope: scope.to_string(),
                    account: account.key.clone(),
                    expires: now + self.config.sign_in.refresh_lifetime_secs,
                },
            );
            body["refresh_token"] = json!(refresh_token);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_check_accepts_rfc_7636s_example_and_nothing_else() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(!pkce_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!pkce_matches("short", "short"));
    }

    #[test]
    fn the_audience_is_the_resource_of_the_first_api_scope() {
        assert_eq!(audience_of("openid profile offline_access api://sua/.default").as_deref(), Some("api://sua"));
        assert_eq!(audience_of("openid api://x/Portal.Access").as_deref(), Some("api://x"));
        assert_eq!(audience_of("openid profile"), None);
    }

    #[test]
    fn only_loopback_redirects_are_accepted_without_registration() {
        let ok = |u: &str| loopback(&url::Url::parse(u).unwrap());
        assert!(ok("http://127.0.0.1:8080/auth/callback"));
        assert!(ok("http://localhost:5173/"));
        assert!(!ok("https://evil.example/cb"));
        assert!(!ok("http://127.0.0.1.evil.example/cb"));
    }
}
