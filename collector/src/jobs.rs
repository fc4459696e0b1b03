//! Collector jobs from `sua.collector.jobs`, dispatched by kind.

use sua_core::broker::{Handler, HandlerError};
use sua_core::messages::{
    CallRecordBackfillJobV1, CallRecordFetchJobV1, Envelope, Kind, LicenceSyncJobV1, PstnSyncJobV1,
    SubscriptionEnsureJobV1,
};

use crate::Collector;

pub struct CollectorJobs {
    pub collector: Collector,
}

#[async_trait::async_trait]
impl Handler for CollectorJobs {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let tenant = envelope.tenant_id.as_str();
        let c = &self.collector;
        match envelope.kind {
            Kind::LicenceSyncJobV1 => {
                let job: LicenceSyncJobV1 = envelope.decode()?;
                c.sync.start(tenant, job.day).await.map(|_| ())
            }
            Kind::CallRecordFetchJobV1 => {
                let job: CallRecordFetchJobV1 = envelope.decode()?;
                if c.fetcher.defer_while_spent(&envelope).await? {
                    return Ok(());
                }
                c.fetcher.fetch_all(tenant, &job).await.map(|_| ())
            }
            Kind::SubscriptionEnsureJobV1 => {
                let job: SubscriptionEnsureJobV1 = envelope.decode()?;
                c.subscriptions.ensure(tenant, job.renew).await
            }
            Kind::CallRecordBackfillJobV1 => {
                let job: CallRecordBackfillJobV1 = envelope.decode()?;
                c.backfills.run(&job.backfill_id).await
            }
            Kind::PstnSyncJobV1 => {
                let job: PstnSyncJobV1 = envelope.decode()?;
                c.pstn.run(tenant, job.day).await
            }
            other => Err(HandlerError::Reject(anyhow::anyhow!("{other} is not a collector job"))),
        }
    }
}
