//! Change notifications and lifecycle notifications as Graph POSTs them (changenotificationcollection,
//! changenotification, lifecycle notifications for callRecords), read without copying their text when it needs no
//! unescaping (the webhook answers thousands a second), and a subscription as Graph returns it.

use std::borrow::Cow;

use serde::Deserialize;

/// The body of a notification POST: change notifications, or lifecycle events.
#[derive(Debug, Clone, Deserialize)]
pub struct NotificationCollection<'a> {
    #[serde(borrow)]
    pub value: Vec<Notification<'a>>,
}

/// One item of a notification POST. A change notification carries `changeType`, `resource` and `resourceData`; a
/// lifecycle notification `lifecycleEvent` instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification<'a> {
    #[serde(borrow, default)]
    pub subscription_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub tenant_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub client_state: Option<Cow<'a, str>>,
    /// `created`, `updated`
    #[serde(borrow, default)]
    pub change_type: Option<Cow<'a, str>>,
    /// `communications/callRecords/{id}`
    #[serde(borrow, default)]
    pub resource: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub resource_data: Option<ResourceData<'a>>,
    /// `reauthorizationRequired`, `subscriptionRemoved`, `missed`
    #[serde(borrow, default)]
    pub lifecycle_event: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceData<'a> {
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
}

/// A created or renewed subscription (subscription-post-subscriptions.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub resource: Option<String>,
    pub change_type: Option<String>,
    pub expiration_date_time: String,
    pub client_state: Option<String>,
}
