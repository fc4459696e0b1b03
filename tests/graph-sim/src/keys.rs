//! Token signing. Entra ID signs with RS256; the simulator uses two fixed RSA keys (`keys/`, test fixtures) so
//! that key rollover can be exercised: only the active key is published until [`Keys::rotate`].

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::{Value, json};

struct SigningKey {
    kid: &'static str,
    modulus: &'static str,
    encoding: EncodingKey,
}

pub struct Keys {
    keys: Vec<SigningKey>,
}

const KEY_1: &str = include_str!("../keys/signing-1.pem");
const KEY_2: &str = include_str!("../keys/signing-2.pem");
const N_1: &str = include_str!("../keys/signing-1.n");
const N_2: &str = include_str!("../keys/signing-2.n");

impl Keys {
    pub fn load() -> anyhow::Result<Self> {
        let load = |kid, pem: &str, n: &'static str| -> anyhow::Result<SigningKey> {
            Ok(SigningKey { kid, modulus: n.trim(), encoding: EncodingKey::from_rsa_pem(pem.as_bytes())? })
        };
        Ok(Self { keys: vec![load("sim-key-1", KEY_1, N_1)?, load("sim-key-2", KEY_2, N_2)?] })
    }

    /// Signs `claims` with key `active` (0 or 1).
    pub fn sign<T: Serialize>(&self, active: usize, claims: &T) -> anyhow::Result<String> {
        let key = &self.keys[active.min(self.keys.len() - 1)];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.to_string());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    pub fn kid(&self, index: usize) -> &'static str {
        self.keys[index.min(self.keys.len() - 1)].kid
    }

    /// The JWKS document publishing keys `published`.
    pub fn jwks(&self, published: &[usize]) -> Value {
        let keys: Vec<Value> = published
            .iter()
            .filter_map(|i| self.keys.get(*i))
            .map(|k| json!({ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid, "n": k.modulus, "e": "AQAB" }))
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

    #[test]
    fn tokens_verify_against_the_published_jwks() {
        let keys = Keys::load().unwrap();
        for active in [0, 1] {
            let token = keys.sign(active, &json!({ "sub": "x", "exp": 4_102_444_800u64 })).unwrap();
            let kid = decode_header(&token).unwrap().kid.unwrap();
            let jwks = keys.jwks(&[0, 1]);
            let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap();
            let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
            let mut validation = Validation::new(Algorithm::RS256);
            validation.validate_aud = false;
            decode::<Value>(&token, &key, &validation).unwrap();
        }
    }
}
