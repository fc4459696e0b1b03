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
    /// An id that cannot be part of a Graph URL (not a GUID, or a dot segment); nothing was requested.
    #[error("not a valid Graph id: {0:?}")]
    InvalidId(String),
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

impl GraphError {
    /// Graph (or Entra ID) out of reach or overloaded: 5xx, 429, timeouts, connection errors, a token that could
    /// not be had for another reason than missing consent, or the collector stopping. The message that met it is
    /// not at fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. }
                | GraphError::Server { .. }
                | GraphError::Timeout { .. }
                | GraphError::Transport { .. }
                | GraphError::Limiter(_)
                | GraphError::Cancelled
                | GraphError::Token { consent_missing: false, .. }
        )
    }
}

impl From<GraphError> for sua_core::broker::HandlerError {
    /// An outage is waited out; a refusal of access is final; anything else (a record still propagating, a
    /// broken page) is retried up to the delivery limit.
    fn from(error: GraphError) -> Self {
        match error {
            GraphError::Forbidden { .. }
            | GraphError::Token { consent_missing: true, .. }
            | GraphError::InvalidId(_) => Self::Reject(error.into()),
            error if error.is_unavailable() => Self::Unavailable(error.into()),
            error => Self::Transient(error.into()),
        }
    }
}
