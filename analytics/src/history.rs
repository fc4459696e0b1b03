//! History: the daily aggregates written with every findings recompute, and the savings realised between the
//! tenant's previous findings and its new ones. Pure functions; [`crate::recompute`] reads and writes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use sua_db::models::{
    DepartmentCostDayRow, FindingRow, LicenceCostDayRow, RealisedSavingRow, SavingsDayRow, SkuRow, SnapshotData,
    TenantDayRow,
};
use sua_domain::findings::{DOWNGRADE_CANDIDATE, Settings, UNASSIGNED_SEATS};
use sua_domain::prices::{Price, PriceBook};

use crate::findings::CALLING_PLANS;

/// One day's aggregates of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub tenant: TenantDayRow,
    pub licences: Vec<LicenceCostDayRow>,
    pub savings: Vec<SavingsDayRow>,
    pub departments: Vec<DepartmentCostDayRow>,
}

/// What the aggregates of a day read.
pub struct DayInputs<'a> {
    pub tenant_id: &'a str,
    pub day: NaiveDate,
    pub run_id: &'a str,
    pub as_of: NaiveDateTime,
    pub snapshot: &'a SnapshotData,
    pub sign_in_measured: bool,
    pub findings: &'a [FindingRow],
    pub prices: &'a PriceBook,
    pub settings: &'a Settings,
    pub computed_at: NaiveDateTime,
}

fn price_of<'p>(prices: &'p PriceBook, sku_part_number: &str) -> Option<&'p Price> {
    prices.get(sku_part_number)
}

/// The day's aggregates from the current snapshot, its findings and prices.
pub fn day(inputs: &DayInputs<'_>) -> Day {
    let snapshot = inputs.snapshot;
    let active_since = inputs.as_of - Duration::days(inputs.settings.inactive_days);
    let tenant = TenantDayRow {
        tenant_id: inputs.tenant_id.to_string(),
        day: inputs.day,
        run_id: inputs.run_id.to_string(),
        users: snapshot.users.len() as i64,
        licensed_users: snapshot.users.iter().filter(|u| u.licences > 0).count() as i64,
        active_users: inputs.sign_in_measured.then(|| {
            snapshot.users.iter().filter(|u| u.last_successful_sign_in.is_some_and(|at| at >= active_since)).count()
                as i64
        }),
        computed_at: inputs.computed_at,
    };
    let licences = snapshot
        .skus
        .iter()
        .map(|sku| {
            let price = price_of(inputs.prices, &sku.sku_part_number);
            LicenceCostDayRow {
                tenant_id: inputs.tenant_id.to_string(),
                day: inputs.day,
                sku_id: sku.sku_id.clone(),
                sku_part_number: sku.sku_part_number.clone(),
                purchased: sku.enabled,
                assigned: sku.consumed,
                available: (sku.enabled - sku.consumed).max(0),
                currency: price.map(|p| p.currency.clone()).unwrap_or_default(),
                unit_price_minor: price.map(|p| p.amount_minor),
                cost_minor: price.map(|p| p.amount_minor * sku.enabled),
            }
        })
        .collect();
    let mut savings: BTreeMap<(String, String, String), (i64, i64, i64)> = BTreeMap::new();
    for f in inputs.findings {
        let key = (f.kind.clone(), f.effect.clone(), f.currency.clone().unwrap_or_default());
        let entry = savings.entry(key).or_default();
        entry.0 += 1;
        entry.1 += f.units;
        entry.2 += f.amount_minor.unwrap_or(0);
    }
    let savings = savings
        .into_iter()
        .map(|((kind, effect, currency), (findings, units, amount_minor))| SavingsDayRow {
            tenant_id: inputs.tenant_id.to_string(),
            day: inputs.day,
            kind,
            effect,
            currency,
            findings,
            units,
            amount_minor,
        })
        .collect();
    Day { tenant, licences, savings, departments: departments(inputs) }
}

/// Assigned licences per department and SKU, priced.
fn departments(inputs: &DayInputs<'_>) -> Vec<DepartmentCostDayRow> {
    let snapshot = inputs.snapshot;
    let department: BTreeMap<&str, &str> =
        snapshot.users.iter().map(|u| (u.id.as_str(), u.department.as_deref().unwrap_or_default())).collect();
    let skus: BTreeMap<&str, &SkuRow> = snapshot.skus.iter().map(|s| (s.sku_id.as_str(), s)).collect();
    let calling: BTreeSet<&str> = snapshot
        .plans
        .iter()
        .filter(|p| CALLING_PLANS.contains(&p.plan_id.as_str()))
        .map(|p| p.sku_id.as_str())
        .collect();
    let mut units: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for a in &snapshot.assignments {
        let dept = department.get(a.user_id.as_str()).copied().unwrap_or_default();
        *units.entry((dept, a.sku_id.as_str())).or_default() += 1;
    }
    units
        .into_iter()
        .map(|((dept, sku_id), units)| {
            let part = skus.get(sku_id).map(|s| s.sku_part_number.as_str()).unwrap_or_default();
            let price = price_of(inputs.prices, part);
            DepartmentCostDayRow {
                tenant_id: inputs.tenant_id.to_string(),
                day: inputs.day,
                department: dept.to_string(),
                sku_id: sku_id.to_string(),
                sku_part_number: part.to_string(),
                calling_plan: calling.contains(sku_id),
                units,
                currency: price.map(|p| p.currency.clone()).unwrap_or_default(),
                cost_minor: price.map(|p| p.amount_minor * units),
            }
        })
        .collect()
}

/// What realised savings compare.
pub struct Change<'a> {
    pub tenant_id: &'a str,
    /// The new snapshot's day: the day the change was seen.
    pub day: NaiveDate,
    /// Findings before the recompute, and the SKUs of the snapshot they were computed from.
    pub old: &'a [FindingRow],
    pub old_skus: &'a [SkuRow],
    pub new: &'a [FindingRow],
    pub snapshot: &'a SnapshotData,
    pub prices: &'a PriceBook,
    pub recorded_at: NaiveDateTime,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Savings realised by the change from `old` to `new` findings, per SKU, counted in units so that the same money
/// is never counted twice:
///
/// realised(S) = clamp(R + (u_old − u_new), 0, R + u_old)
///
/// where R counts per-user saving findings on S (but downgrade candidates, whose money does not stop by removing
/// the licence) whose user no longer holds S (licence removed or user deleted), and u is the units of the
/// `unassigned_seats` finding on S. A licence removed while its seat is kept turns into an unassigned seat (0
/// realised: the money is still spent); lowering the seat count afterwards realises it then. A price or threshold
/// change, or an excluded user, removes findings of users who still hold the licence: R = 0 and u unchanged. An
/// idle seat given to a new user is a purchase avoided (u falls by one). Up to R units go to the removed
/// findings' kinds, the rest to `unassigned_seats`; SKUs without a known non-zero price record nothing.
pub fn realised(change: &Change<'_>) -> Vec<RealisedSavingRow> {
    let held: BTreeSet<(&str, &str)> =
        change.snapshot.assignments.iter().map(|a| (a.user_id.as_str(), a.sku_id.as_str())).collect();
    let present: BTreeSet<&str> = change.snapshot.users.iter().map(|u| u.id.as_str()).collect();
    let seats = |findings: &[FindingRow], sku: &str| -> i64 {
        findings
            .iter()
            .filter(|f| f.kind == UNASSIGNED_SEATS && f.sku_id.as_deref() == Some(sku))
            .map(|f| f.units)
            .sum()
    };
    // Per SKU: removed units per kind, users whose licence was removed, users deleted; and the part number.
    struct Removed<'f> {
        part: &'f str,
        by_kind: BTreeMap<&'f str, i64>,
        licence_removed: BTreeSet<&'f str>,
        deleted: BTreeSet<&'f str>,
    }
    let mut skus: BTreeMap<&str, Removed<'_>> = BTreeMap::new();
    for f in change.old.iter().filter(|f| f.effect == "saving") {
        let (Some(sku), Some(part)) = (f.sku_id.as_deref(), f.sku_part_number.as_deref()) else { continue };
        let entry = skus.entry(sku).or_insert_with(|| Removed {
            part,
            by_kind: BTreeMap::new(),
            licence_removed: BTreeSet::new(),
            deleted: BTreeSet::new(),
        });
        let Some(user) = f.user_id.as_deref() else { continue };
        if f.kind == DOWNGRADE_CANDIDATE || held.contains(&(user, sku)) {
            continue;
        }
        *entry.by_kind.entry(f.kind.as_str()).or_default() += f.units;
        if present.contains(user) {
            entry.licence_removed.insert(user);
        } else {
            entry.deleted.insert(user);
        }
    }
    let purchased = |rows: &[SkuRow], sku: &str| rows.iter().find(|s| s.sku_id == sku).map(|s| s.enabled);
    let mut out = Vec::new();
    for (sku, removed) in skus {
        let r: i64 = removed.by_kind.values().sum();
        let (u_old, u_new) = (seats(change.old, sku), seats(change.new, sku));
        let total = (r + u_old - u_new).clamp(0, r + u_old);
        if total == 0 {
            continue;
        }
        let Some(price) = change.prices.get(removed.part).filter(|p| p.amount_minor > 0) else { continue };
        let mut what = Vec::new();
        if !removed.licence_removed.is_empty() {
            what.push(format!(
                "licence removed from {}",
                plural(removed.licence_removed.len() as i64, "user", "users")
            ));
        }
        if !removed.deleted.is_empty() {
            what.push(format!("{} deleted", plural(removed.deleted.len() as i64, "user", "users")));
        }
        match (purchased(change.old_skus, sku), purchased(&change.snapshot.skus, sku)) {
            (Some(before), Some(after)) if before != after => what.push(format!("seats {before} → {after}")),
            _ if u_old > u_new => what.push(format!("unassigned seats {u_old} → {u_new}")),
            _ => {}
        }
        let description = what.join("; ");
        let mut left = total;
        let mut parts: Vec<(&str, i64)> = Vec::new();
        for (kind, units) in &removed.by_kind {
            let take = (*units).min(left);
            if take > 0 {
                parts.push((kind, take));
                left -= take;
            }
        }
        if left > 0 {
            parts.push((UNASSIGNED_SEATS, left));
        }
        for (kind, units) in parts {
            out.push(RealisedSavingRow {
                tenant_id: change.tenant_id.to_string(),
                day: change.day,
                sku_id: sku.to_string(),
                kind: kind.to_string(),
                sku_part_number: removed.part.to_string(),
                units,
                currency: price.currency.clone(),
                amount_minor: units * price.amount_minor,
                description: description.clone(),
                recorded_at: change.recorded_at,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use sua_db::models::{AssignmentRow, PriceOverrideRow, SkuRow, UserRow};

    use super::*;
    use crate::findings::{Inputs, compute};

    const E3: &str = "e3";

    fn at() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    /// A tenant with `seats` SPE_E3 seats: `holders` users hold one (user "u0" has a disabled account), and
    /// user "idle" exists without a licence.
    fn tenant(seats: i64, holders: &[&str]) -> SnapshotData {
        let user = |id: &str| UserRow {
            run_id: "r".into(),
            tenant_id: "t".into(),
            id: id.into(),
            user_principal_name: format!("{id}@x.example"),
            display_name: id.into(),
            mail: None,
            department: Some("Sales".into()),
            job_title: None,
            office_location: None,
            country: None,
            usage_location: None,
            account_enabled: Some(id != "u0"),
            user_type: Some("Member".into()),
            created_at: Some(at() - Duration::days(400)),
            last_successful_sign_in: Some(at() - Duration::days(1)),
            last_sign_in: None,
            licences: i32::from(holders.contains(&id)),
        };
        SnapshotData {
            skus: vec![SkuRow {
                run_id: "r".into(),
                tenant_id: "t".into(),
                sku_id: E3.into(),
                sku_part_number: "SPE_E3".into(),
                capability_status: "Enabled".into(),
                applies_to: "User".into(),
                enabled: seats,
                warning: 0,
                suspended: 0,
                locked_out: 0,
                consumed: holders.len() as i64,
            }],
            plans: vec![],
            users: ["u0", "u1", "u2", "idle"].iter().map(|u| user(u)).collect(),
            assignments: holders
                .iter()
                .map(|u| AssignmentRow {
                    run_id: "r".into(),
                    tenant_id: "t".into(),
                    user_id: (*u).into(),
                    sku_id: E3.into(),
                    disabled_plans: String::new(),
                })
                .collect(),
        }
    }

    fn findings(s: &SnapshotData, prices: &PriceBook, settings: &Settings) -> Vec<FindingRow> {
        compute(&Inputs {
            tenant_id: "t",
            run_id: "r",
            as_of: at(),
            snapshot: s,
            sign_in_measured: true,
            last_pstn_call: &BTreeMap::new(),
            prices,
            settings,
            computed_at: at(),
        })
    }

    /// Realised (kind, units, amount) between two states of the tenant.
    fn between(
        before: &SnapshotData,
        after: &SnapshotData,
        prices: (&PriceBook, &PriceBook),
        settings: (&Settings, &Settings),
    ) -> Vec<(String, i64, i64, String)> {
        let old = findings(before, prices.0, settings.0);
        let new = findings(after, prices.1, settings.1);
        realised(&Change {
            tenant_id: "t",
            day: at().date(),
            old: &old,
            old_skus: &before.skus,
            new: &new,
            snapshot: after,
            prices: prices.1,
            recorded_at: at(),
        })
        .into_iter()
        .map(|r| (r.kind, r.units, r.amount_minor, r.description))
        .collect()
    }

    fn same<T>(x: &T) -> (&T, &T) {
        (x, x)
    }

    #[test]
    fn a_removed_licence_whose_seat_is_kept_realises_nothing_until_the_seat_count_falls() {
        let (p, s) = (PriceBook::defaults(), Settings::default());
        let start = tenant(3, &["u0", "u1", "u2"]);
        let removed = tenant(3, &["u1", "u2"]);
        assert_eq!(between(&start, &removed, same(&p), same(&s)), vec![]);
        let lowered = tenant(2, &["u1", "u2"]);
        assert_eq!(
            between(&removed, &lowered, same(&p), same(&s)),
            vec![("unassigned_seats".into(), 1, 3_600, "seats 3 → 2".into())]
        );
    }

    #[test]
    fn a_removed_licence_with_the_seat_count_lowered_realises_one_unit_of_its_finding() {
        let (p, s) = (PriceBook::defaults(), Settings::default());
        assert_eq!(
            between(&tenant(3, &["u0", "u1", "u2"]), &tenant(2, &["u1", "u2"]), same(&p), same(&s)),
            vec![("disabled_account".into(), 1, 3_600, "licence removed from 1 user; seats 3 → 2".into())]
        );
    }

    #[test]
    fn an_idle_seat_given_to_a_new_user_is_a_purchase_avoided() {
        let (p, s) = (PriceBook::defaults(), Settings::default());
        assert_eq!(
            between(&tenant(3, &["u1"]), &tenant(3, &["u1", "idle"]), same(&p), same(&s)),
            vec![("unassigned_seats".into(), 1, 3_600, "unassigned seats 2 → 1".into())]
        );
    }

    #[test]
    fn price_and_threshold_changes_and_exclusions_realise_nothing() {
        let s = Settings::default();
        let state = tenant(3, &["u0", "u1"]);
        let cheaper = PriceBook::for_tenant(&[PriceOverrideRow {
            tenant_id: "t".into(),
            sku_part_number: "SPE_E3".into(),
            amount_minor: 1_000,
            currency: "USD".into(),
            updated_at: at(),
            updated_by: "admin".into(),
        }]);
        let p = PriceBook::defaults();
        assert_eq!(between(&state, &state, (&p, &cheaper), same(&s)), vec![]);
        let excluded = Settings { excluded: ["u0".to_string()].into(), ..Settings::default() };
        assert_eq!(between(&state, &state, same(&p), (&s, &excluded)), vec![]);
        let lenient = Settings { inactive_days: 1_000, ..Settings::default() };
        assert_eq!(between(&state, &state, same(&p), (&s, &lenient)), vec![]);
    }

    #[test]
    fn the_day_counts_users_and_prices_licences_per_department() {
        let p = PriceBook::defaults();
        let s = Settings::default();
        let snapshot = tenant(3, &["u0", "u1"]);
        let rows = findings(&snapshot, &p, &s);
        let day = day(&DayInputs {
            tenant_id: "t",
            day: at().date(),
            run_id: "r",
            as_of: at(),
            snapshot: &snapshot,
            sign_in_measured: true,
            findings: &rows,
            prices: &p,
            settings: &s,
            computed_at: at(),
        });
        assert_eq!((day.tenant.users, day.tenant.licensed_users, day.tenant.active_users), (4, 2, Some(4)));
        assert_eq!(day.licences[0].cost_minor, Some(3 * 3_600));
        assert_eq!(day.licences[0].available, 1);
        let depts: Vec<_> = day.departments.iter().map(|d| (d.department.as_str(), d.units, d.cost_minor)).collect();
        assert_eq!(depts, vec![("Sales", 2, Some(2 * 3_600))]);
        let kinds: Vec<_> = day.savings.iter().map(|r| (r.kind.as_str(), r.units, r.amount_minor)).collect();
        assert_eq!(kinds, vec![("disabled_account", 1, 3_600), ("unassigned_seats", 1, 3_600)]);
    }
}
