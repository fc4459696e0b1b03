//! Collector jobs from `sua.collector.jobs`, dispatched by kind.

use sua_core::broker::{Handler, HandlerError};
use sua_core::messages::{Envelope, Kind, LicenceSyncJobV1};

use crate::sync::SyncRunner;

pub struct CollectorJobs {
    pub sync: SyncRunner,
}

#[async_trait::async_trait]
impl Handler for CollectorJobs {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        match envelope.kind {
            Kind::LicenceSyncJobV1 => {
                let job: LicenceSyncJobV1 = envelope.decode()?;
                let outcome = self.sync.start(&envelope.tenant_id, job.day).await?;
                tracing::debug!(tenant = %envelope.tenant_id, day = %job.day, ?outcome, "licence sync job handled");
                Ok(())
            }
            other => Err(HandlerError::Reject(anyhow::anyhow!("{other} is not a collector job"))),
        }
    }
}
