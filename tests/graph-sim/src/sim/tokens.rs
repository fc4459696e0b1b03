//! Tokens: app tokens for Graph, user tokens for the portal, signed with the simulator's keys.

use super::*;

impl Sim {
    /// An app-only Graph access token for `tenant` carrying `roles` (v1 format, as Graph tokens are).
    pub fn app_token(&self, tenant: &TenantModel, roles: &BTreeSet<String>) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = json!({
            "aud": "https://graph.microsoft.com",
            "iss": format!("https://sts.windows.net/{}/", tenant.id),
            "iat": now, "nbf": now, "exp": now + 3599,
            "appid": self.config.client_id,
            "app_displayname": "sua",
            "idtyp": "app",
            "oid": tenant.codec.encode(IdParts { kind: IdKind::User, tenant: tenant.index, day: 1, index: 0 }),
            "roles": roles.iter().collect::<Vec<_>>(),
            "sub": self.config.client_id,
            "tid": tenant.id,
            "uti": uuid::Uuid::new_v4().simple().to_string(),
            "ver": "1.0"
        });
        let active = self.state().active_key;
        self.keys.sign(active, &claims)
    }

    /// A portal user's token as Entra ID would issue it for sua's portal app.
    pub fn user_token(&self, spec: &UserTokenSpec) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let issued = now + spec.issued_offset_secs;
        let claims = json!({
            "aud": spec.audience,
            "iss": spec.issuer.clone().unwrap_or_else(|| format!("{}/{}/v2.0", self.config.issuer_base, spec.tenant_id)),
            "iat": issued, "nbf": issued, "exp": issued + spec.lifetime_secs,
            "tid": spec.tenant_id,
            "oid": spec.object_id,
            "sub": spec.object_id,
            "name": spec.name,
            "preferred_username": spec.username,
            "roles": spec.roles,
            "azp": spec.audience,
            "ver": "2.0"
        });
        let key = spec.key.unwrap_or_else(|| self.state().active_key);
        self.keys.sign(key, &claims)
    }

    /// Signs `claims` with the active key, as every token the simulator issues.
    pub fn sign_claims(&self, claims: &Value) -> anyhow::Result<String> {
        let active = self.state().active_key;
        self.keys.sign(active, claims)
    }

    /// Starts signing with the second key and publishes both (key rollover).
    pub fn rotate_signing_key(&self) {
        let mut state = self.state();
        state.active_key = 1;
        state.published_keys = vec![0, 1];
    }

    pub fn jwks(&self) -> Value {
        let published = self.state().published_keys.clone();
        self.keys.jwks(&published)
    }

    /// Verifies a Graph bearer token this simulator issued; returns `(tenant, roles)`.
    pub fn verify_app_token(&self, token: &str) -> Result<(&TenantModel, BTreeSet<String>), &'static str> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let header = decode_header(token).map_err(|_| "Access token validation failure. Invalid audience.")?;
        let jwks = self.keys.jwks(&[0, 1]);
        let jwk = jwks["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| Some(k["kid"].as_str().unwrap_or_default()) == header.kid.as_deref()))
            .ok_or("Access token validation failure.")?;
        let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap_or_default(), "AQAB")
            .map_err(|_| "Access token validation failure.")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"]);
        validation.leeway = 30;
        let claims = decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Lifetime validation failed, the token is expired."
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "Access token validation failure. Invalid audience."
                }
                _ => "Access token validation failure.",
            })?
            .claims;
        let tenant =
            self.tenant(claims["tid"].as_str().unwrap_or_default()).ok_or("Access token validation failure.")?;
        let roles = claims["roles"].as_array().map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect());
        Ok((tenant, roles.unwrap_or_default()))
    }
}
