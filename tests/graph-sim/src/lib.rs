//! A Microsoft Graph and Entra ID simulator for sua's tests, benchmarks and demo, with a deterministic tenant
//! generator. Everything it serves is written from Microsoft's documented shapes (see each module), never from
//! sua's own types, so a field the collector misreads fails against it.
//!
//! ```text
//! let sim = GraphSim::start(SimConfig { consent_all: true, ..Default::default() }).await?;
//! // point sua at sim.graph_url / sim.login_url, trust sim.ca_file
//! sim.sim.place_calls(&sim.tenant_ids()[0], 10);
//! ```

pub mod calls;
pub mod catalog;
pub mod faults;
mod http;
pub mod ids;
mod keys;
pub mod permissions;
pub mod pstn;
pub mod report;
pub mod rng;
pub mod signin;
pub mod sim;
pub mod tenant;
mod tls;

pub use faults::{Endpoint, Fault, FaultKind};
pub use http::GraphSim;
pub use signin::{DEFAULT_PORTAL_CLIENT_ID, PortalAccount, SignInConfig};
pub use sim::{ConsentOutcome, Delivery, RequestRecord, Sim, SimConfig, SimSubscription, UserTokenSpec};
pub use tenant::{LicenceProfile, SignIn, SimUser, TenantModel, TenantSpec};
