//! Call records: the generated history, calls placed at runtime and their versions.

use super::*;

impl Sim {
    fn history(&self, tenant: &TenantModel) -> (u32, u32) {
        tenant.history_days(self.config.days)
    }

    /// Generated slots of a day (0 outside the history).
    fn generated_slots(&self, tenant: &TenantModel, day: u32) -> u32 {
        let (first, end) = self.history(tenant);
        if day >= first && day < end { calls::slots_on_day(tenant, day, self.config.calls_per_user) } else { 0 }
    }

    /// Whether Graph would still serve a call record that ended at `end`.
    pub fn retained(&self, end: DateTime<Utc>) -> bool {
        let now = self.now();
        end <= now && end > now - chrono::Duration::days(RETENTION_DAYS)
    }

    /// The call in `slot` of `day`, when it exists and is still retained.
    pub fn call(&self, tenant: &TenantModel, day: u32, slot: u32) -> Option<CallHeader> {
        let header = if slot < self.generated_slots(tenant, day) {
            calls::header(tenant, day, slot, None)
        } else {
            let placed_at = self
                .state()
                .placed
                .get(&(tenant.index, day))
                .and_then(|calls| calls.iter().find(|(s, _)| *s == slot).map(|(_, at)| *at))?;
            calls::header(tenant, day, slot, Some(placed_at))
        }?;
        self.retained(header.end).then_some(header)
    }

    /// The call an id names, if it belongs to `tenant` and exists.
    pub fn call_by_id(&self, tenant: &TenantModel, id: &str) -> Option<CallHeader> {
        let parts = tenant.codec.decode(&id.to_ascii_lowercase())?;
        if parts.kind != IdKind::CallRecord || parts.tenant != tenant.index {
            return None;
        }
        self.call(tenant, parts.day, parts.index)
    }

    /// How many slots of a day may hold a call (generated and placed).
    pub fn slot_count(&self, tenant: &TenantModel, day: u32) -> usize {
        let placed = self.state().placed.get(&(tenant.index, day)).map_or(0, Vec::len);
        self.generated_slots(tenant, day) as usize + placed
    }

    /// The slot at `position` among a day's slots (generated first, then placed).
    pub fn slot_at(&self, tenant: &TenantModel, day: u32, position: usize) -> Option<u32> {
        let generated = self.generated_slots(tenant, day) as usize;
        if position < generated {
            return u32::try_from(position).ok();
        }
        self.state().placed.get(&(tenant.index, day)).and_then(|p| p.get(position - generated)).map(|(slot, _)| *slot)
    }

    /// All slots of a day that may hold a call, generated and placed.
    pub fn slots(&self, tenant: &TenantModel, day: u32) -> Vec<u32> {
        let mut slots: Vec<u32> = (0..self.generated_slots(tenant, day)).collect();
        if let Some(placed) = self.state().placed.get(&(tenant.index, day)) {
            slots.extend(placed.iter().map(|(slot, _)| *slot));
        }
        slots
    }

    /// Every retained call of `tenant` starting in `[from, to)`, in day and slot order.
    pub fn calls_starting(&self, tenant: &TenantModel, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<CallHeader> {
        let mut out = Vec::new();
        let first = day_number(from.date_naive()).saturating_sub(1);
        let last = day_number(to.date_naive());
        for day in first..=last {
            for slot in self.slots(tenant, day) {
                if let Some(call) = self.call(tenant, day, slot)
                    && call.start >= from
                    && call.start < to
                {
                    out.push(call);
                }
            }
        }
        out
    }

    pub fn version(&self, id: &str) -> i64 {
        self.state().versions.get(id).copied().unwrap_or(1)
    }

    /// Places `count` new calls in `tenant` that end now, and notifies its subscriptions (`created`).
    pub fn place_calls(self: &Arc<Self>, tenant_id: &str, count: u32) -> Vec<String> {
        let Some(tenant) = self.tenant(tenant_id) else { return Vec::new() };
        let now = self.now();
        let day = day_number(now.date_naive());
        let base = self.generated_slots(tenant, day);
        let mut ids = Vec::new();
        let mut slot = {
            let state = self.state();
            state
                .placed
                .get(&(tenant.index, day))
                .and_then(|p| p.iter().map(|(s, _)| s + 1).max())
                .unwrap_or(base)
                .max(base)
        };
        let mut tries = 0;
        while ids.len() < count as usize && tries < count.saturating_mul(200).max(200) {
            tries += 1;
            if let Some(call) = calls::header(tenant, day, slot, Some(now)) {
                self.state().placed.entry((tenant.index, day)).or_default().push((slot, now));
                ids.push(call.id);
            }
            slot += 1;
        }
        self.notify(&tenant.id, "created", &ids);
        ids
    }

    /// Raises the version of a call record and notifies (`updated`).
    pub fn update_call(self: &Arc<Self>, tenant_id: &str, call_id: &str) -> Option<i64> {
        let tenant = self.tenant(tenant_id)?;
        self.call_by_id(tenant, call_id)?;
        let version = {
            let mut state = self.state();
            let version = state.versions.entry(call_id.to_string()).or_insert(1);
            *version += 1;
            *version
        };
        self.notify(&tenant.id, "updated", &[call_id.to_string()]);
        Some(version)
    }
}
