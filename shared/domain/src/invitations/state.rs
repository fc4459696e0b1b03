//! The consent link's `state`: the invitation id and an expiry, signed with HMAC-SHA256, so the callback can
//! trust which invitation a consent belongs to and refuse forged or stale links without a database read.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the link's state is malformed")]
    Malformed,
    #[error("the link's state signature is wrong")]
    Forged,
    #[error("the link expired on {0}")]
    Expired(DateTime<Utc>),
}

#[derive(Clone)]
pub struct StateSigner {
    key: Vec<u8>,
}

impl StateSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(message.as_bytes());
        mac
    }

    pub fn sign(&self, invitation_id: &str, expires: DateTime<Utc>) -> String {
        let message = format!("{invitation_id}.{}", expires.timestamp());
        let tag = self.mac(&message).finalize().into_bytes();
        let encoded_tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{message}.{encoded_tag}"))
    }

    /// The invitation id of a valid, unexpired state.
    pub fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<String, StateError> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(state).map_err(|_| StateError::Malformed)?;
        let text = String::from_utf8(raw).map_err(|_| StateError::Malformed)?;
        let mut parts = text.rsplitn(2, '.');
        let (Some(tag), Some(message)) = (parts.next(), parts.next()) else { return Err(StateError::Malformed) };
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).map_err(|_| StateError::Malformed)?;
        self.mac(message).verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let (id, expires) = message.rsplit_once('.').ok_or(StateError::Malformed)?;
        let expires =
            expires.parse::<i64>().ok().and_then(|t| DateTime::from_timestamp(t, 0)).ok_or(StateError::Malformed)?;
        if expires < now {
            return Err(StateError::Expired(expires));
        }
        Ok(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_verifies_until_it_expires_and_only_with_its_key() {
        let signer = StateSigner::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let state = signer.sign("inv-1", now + chrono::Duration::hours(1));
        assert_eq!(signer.verify(&state, now).unwrap(), "inv-1");
        assert!(matches!(signer.verify(&state, now + chrono::Duration::hours(2)), Err(StateError::Expired(_))));
        let other = StateSigner::new(b"another key of thirty-two bytes!");
        assert_eq!(other.verify(&state, now), Err(StateError::Forged));
        assert_eq!(signer.verify("not-base64!", now), Err(StateError::Malformed));
        // Changing the invitation id or the expiry breaks the signature.
        let raw = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&state).unwrap()).unwrap();
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.replacen("inv-1", "inv-2", 1));
        assert_eq!(signer.verify(&tampered, now), Err(StateError::Forged));
    }
}
