//! Deliveries to clients: change notifications and lifecycle events, retried as Graph does.

use super::*;

impl Sim {
    pub(crate) fn record_delivery(&self, delivery: Delivery) {
        self.state().deliveries.push(delivery);
    }

    /// Every validation request, notification and lifecycle event sent so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Sends change notifications for `call_ids` to every live subscription of the tenant, in the background.
    pub fn notify(self: &Arc<Self>, tenant_id: &str, change_type: &'static str, call_ids: &[String]) {
        if call_ids.is_empty() {
            return;
        }
        for sub in self.subscriptions(tenant_id) {
            if !sub.change_type.split(',').any(|c| c.trim() == change_type) {
                continue;
            }
            for id in call_ids {
                let body = json!({ "value": [{
                    "subscriptionId": sub.id,
                    "clientState": sub.client_state,
                    "changeType": change_type,
                    "resource": format!("communications/callRecords/{id}"),
                    "subscriptionExpirationDateTime": sub.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.callrecord",
                        "@odata.id": format!("communications/callRecords/{id}"),
                        "id": id
                    },
                    "tenantId": sub.tenant_id
                }]});
                self.spawn_delivery(
                    "notification",
                    sub.id.clone(),
                    sub.notification_url.clone(),
                    vec![id.clone()],
                    body,
                );
            }
        }
    }

    /// Sends a lifecycle event (e.g. `reauthorizationRequired`) for a subscription.
    pub fn send_lifecycle(self: &Arc<Self>, subscription_id: &str, event: &str) -> bool {
        let Some(sub) = self.state().subscriptions.get(subscription_id).cloned() else { return false };
        let url = sub.lifecycle_notification_url.clone().unwrap_or_else(|| sub.notification_url.clone());
        let body = json!({ "value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.expiration.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event
        }]});
        self.spawn_delivery("lifecycle", sub.id, url, Vec::new(), body);
        true
    }

    fn spawn_delivery(
        self: &Arc<Self>,
        kind: &'static str,
        subscription_id: String,
        url: String,
        resources: Vec<String>,
        body: Value,
    ) {
        let sim = self.clone();
        tokio::spawn(async move {
            let Ok(_slot) = sim.notify_slots.clone().acquire_owned().await else { return };
            for attempt in 1..=sim.config.notification_retries.max(1) {
                let started = std::time::Instant::now();
                let result = sim.http.post(&url).timeout(sim.config.notification_timeout).json(&body).send().await;
                let status = result.as_ref().ok().map(|r| r.status().as_u16());
                sim.record_delivery(Delivery {
                    kind,
                    subscription_id: subscription_id.clone(),
                    url: url.clone(),
                    resources: resources.clone(),
                    attempt,
                    status,
                    millis: started.elapsed().as_millis() as u64,
                    at: sim.now(),
                });
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    return;
                }
                tokio::time::sleep(sim.config.notification_retry_delay).await;
            }
        });
    }
}
