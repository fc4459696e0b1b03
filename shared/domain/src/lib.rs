//! sua's shared domain: what more than one service needs and no single service owns. The price book and money,
//! finding kinds and thresholds (analytics computes findings, portal-api lists and edits them), each tenant's
//! collection status (the collector writes it, portal-api and `sua tenants` show it), and invitations with their
//! signed consent links (created by portal-api and `sua invite`, verified by the collector).

pub mod findings;
pub mod graph;
pub mod invitations;
pub mod money;
pub mod prices;
pub mod tenants;
