//! What can go wrong talking to Microsoft Graph, typed so that callers can tell a missing permission from an
//! outage.

/// A failed Graph (or token) call, after retries where retrying made sense.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error("no access token for tenant {tenant}: {message}")]
    Token { tenant: String, message: String, consent_missing: bool },
    #[error("Graph refused the token (401 {code}): {message}")]
    Unauthorized { code: String, message: String },
    #[error("Graph denied access (403 {code}): {message}")]
    Forbidden { code: String, message: String },
    #[error("not found (404 {code}): {message}")]
    NotFound { code: String, message: String },
    #[error("Graph rejected the request ({status} {code}): {message}")]
    Rejected { status: u16, code: String, message: String },
    #[error("Graph kept throttling (429) after {attempts} attempts")]
    Throttled { attempts: u32 },
    #[error("Graph failed with {status} after {attempts} attempts")]
    Server { status: u16, attempts: u32 },
    #[error("Graph did not answer within the timeout after {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("Graph could not be reached after {attempts} attempts: {message}")]
    Transport { attempts: u32, message: String },
    #[error("Graph sent a broken response after {attempts} attempts: {message}")]
    Malformed { attempts: u32, message: String },
    #[error("unexpected answer from Graph: {0}")]
    Unexpected(String),
    #[error("rate limiter unavailable: {0}")]
    Limiter(String),
    #[error("stopped: the collector is shutting down")]
    Cancelled,
}

impl GraphError {
    /// The Graph error code (`Authorization_RequestDenied`, …) when Graph sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            GraphError::Unauthorized { code, .. }
            | GraphError::Forbidden { code, .. }
            | GraphError::NotFound { code, .. }
            | GraphError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_forbidden(&self) -> bool {
        matches!(self, GraphError::Forbidden { .. })
    }

    /// A 403 saying the tenant lacks Entra ID P1 for sign-in data (not a missing permission).
    pub fn is_missing_premium_licence(&self) -> bool {
        self.code() == Some("Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    }
}
