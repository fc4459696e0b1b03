//! callRecords subscriptions: created, renewed, expired and deleted.

use super::*;

impl Sim {
    pub(crate) fn new_subscription_id(&self, tenant: &TenantModel) -> String {
        let mut state = self.state();
        state.subscription_seq += 1;
        // Graph's subscription ids are random GUIDs, never reused: a simulator started again must not hand out the
        // ids of the one before it, so each start numbers its subscriptions in a range of its own.
        tenant.codec.encode(IdParts {
            kind: IdKind::Subscription,
            tenant: tenant.index,
            day: self.subscription_epoch,
            index: state.subscription_seq,
        })
    }

    pub(crate) fn insert_subscription(&self, subscription: SimSubscription) {
        self.state().subscriptions.insert(subscription.id.clone(), subscription);
    }

    /// A live subscription of `tenant` (expired ones are gone, as in Graph).
    pub fn subscription(&self, tenant: &str, id: &str) -> Option<SimSubscription> {
        let mut state = self.state();
        let sub = state.subscriptions.get(id).filter(|s| s.tenant_id == tenant).cloned()?;
        if sub.expiration <= self.now() {
            state.subscriptions.remove(id);
            return None;
        }
        Some(sub)
    }

    pub fn subscriptions(&self, tenant: &str) -> Vec<SimSubscription> {
        let now = self.now();
        let mut state = self.state();
        state.subscriptions.retain(|_, s| s.expiration > now);
        state.subscriptions.values().filter(|s| s.tenant_id == tenant).cloned().collect()
    }

    pub(crate) fn renew_subscription(
        &self,
        tenant: &str,
        id: &str,
        expiration: DateTime<Utc>,
    ) -> Option<SimSubscription> {
        self.subscription(tenant, id)?;
        let mut state = self.state();
        let sub = state.subscriptions.get_mut(id)?;
        sub.expiration = expiration;
        Some(sub.clone())
    }

    /// Deletes a subscription (as Graph does when it expires or the customer removes the app).
    pub fn delete_subscription(&self, id: &str) -> bool {
        self.state().subscriptions.remove(id).is_some()
    }

    /// Makes a subscription expire now.
    pub fn expire_subscription(&self, id: &str) -> bool {
        match self.state().subscriptions.get_mut(id) {
            Some(sub) => {
                sub.expiration = self.now() - chrono::Duration::seconds(1);
                true
            }
            None => false,
        }
    }
}
