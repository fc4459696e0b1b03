//! Licence findings: pure functions over a snapshot, the tenant's PSTN use, prices and thresholds.
//!
//! Every user-held licence (user, SKU) is claimed by at most one finding, in this order: disabled account →
//! never signed in / inactive → redundant → unused phone licence → downgrade candidate. Seat findings are per SKU
//! and count units nobody holds, so the savings never count one licence twice. Over-assignment is a cost (the
//! true-up at renewal), reported apart from savings.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDateTime};
use serde_json::json;
use sua_db::models::{FindingRow, SnapshotData, UserRow};

pub use sua_domain::findings::*;
use sua_domain::prices::{DOWNGRADES, Price, PriceBook};

/// Teams Phone Standard (`MCOEV`).
pub const TEAMS_PHONE_PLAN: &str = "4828c8ec-dc2e-4779-b502-87ac9ce28ab7";
/// Calling plans: Domestic (`MCOPSTN1`), Domestic and International (`MCOPSTN2`).
pub const CALLING_PLANS: &[&str] = &["4ed3ff63-69d7-4fb7-b984-5aec7f605ca8", "5a10155d-f5c1-411a-a8ec-e99aae125390"];
/// `(plan, plan it includes)`: a licence giving the first already gives the second.
pub const SUPERSEDES: &[(&str, &str)] = &[
    // Entra ID P2 includes P1.
    ("eec0eb4f-6444-4f95-aba0-50c24d67f998", "41781fb2-bc02-4b7c-bd55-b576c07bb09d"),
    // Defender for Cloud Apps includes Cloud App Security Discovery.
    ("2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2", "932ad362-64a8-4783-9106-97849a1a30b9"),
    // The Domestic and International Calling Plan includes the Domestic one.
    ("5a10155d-f5c1-411a-a8ec-e99aae125390", "4ed3ff63-69d7-4fb7-b984-5aec7f605ca8"),
];

/// Everything the rules read.
pub struct Inputs<'a> {
    pub tenant_id: &'a str,
    pub run_id: &'a str,
    /// When the snapshot was taken: ages count back from here.
    pub as_of: NaiveDateTime,
    pub snapshot: &'a SnapshotData,
    /// Whether the snapshot carries sign-in times (Entra ID P1 and AuditLog.Read.All); without them nobody is
    /// judged inactive.
    pub sign_in_measured: bool,
    /// The last PSTN or Direct Routing call of each user id.
    pub last_pstn_call: &'a BTreeMap<String, NaiveDateTime>,
    pub prices: &'a PriceBook,
    pub settings: &'a Settings,
    pub computed_at: NaiveDateTime,
}

struct Sku<'a> {
    part_number: &'a str,
    /// Plans that apply to users.
    user_plans: BTreeSet<&'a str>,
}

fn covered(plan: &str, given: &BTreeSet<&str>) -> bool {
    given.contains(plan) || SUPERSEDES.iter().any(|(sup, sub)| *sub == plan && given.contains(sup))
}

/// A licence a user holds: the SKU and the plans disabled in it.
type Held<'a> = (&'a str, BTreeSet<&'a str>);

/// What every rule reads: the inputs, the SKUs with the plans they give users, and who holds what.
struct Rules<'a> {
    inputs: &'a Inputs<'a>,
    skus: BTreeMap<&'a str, Sku<'a>>,
    held: BTreeMap<&'a str, Vec<Held<'a>>>,
    /// A PSTN call at or after this time counts as recent.
    phone_since: NaiveDateTime,
}

/// The findings of one tenant, ordered by id. Each user's licences go through the rules in order, and a licence a
/// rule claims is not looked at by the later ones.
pub fn compute(inputs: &Inputs<'_>) -> Vec<FindingRow> {
    let rules = Rules::new(inputs);
    let mut out = Vec::new();
    for user in &inputs.snapshot.users {
        let Some(licences) = rules.held.get(user.id.as_str()) else { continue };
        if rules.excluded(user)
            || rules.disabled_account(user, licences, &mut out)
            || rules.inactive(user, licences, &mut out)
        {
            continue;
        }
        let mut claimed = BTreeSet::new();
        rules.redundant_licences(user, licences, &mut claimed, &mut out);
        rules.unused_phone_licences(user, licences, &mut claimed, &mut out);
        rules.downgrade_candidates(user, licences, &claimed, &mut out);
    }
    rules.seats(&mut out);
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

impl<'a> Rules<'a> {
    fn new(inputs: &'a Inputs<'a>) -> Self {
        let snapshot = inputs.snapshot;
        let mut skus: BTreeMap<&str, Sku<'_>> = snapshot
            .skus
            .iter()
            .map(|s| (s.sku_id.as_str(), Sku { part_number: s.sku_part_number.as_str(), user_plans: BTreeSet::new() }))
            .collect();
        for plan in &snapshot.plans {
            if plan.applies_to.eq_ignore_ascii_case("User")
                && let Some(sku) = skus.get_mut(plan.sku_id.as_str())
            {
                sku.user_plans.insert(plan.plan_id.as_str());
            }
        }
        let mut held: BTreeMap<&str, Vec<Held<'_>>> = BTreeMap::new();
        for assignment in &snapshot.assignments {
            let disabled: BTreeSet<&str> = assignment.disabled_plans.split(',').filter(|s| !s.is_empty()).collect();
            held.entry(assignment.user_id.as_str()).or_default().push((assignment.sku_id.as_str(), disabled));
        }
        let phone_since = inputs.as_of - Duration::days(inputs.settings.phone_idle_days);
        Self { inputs, skus, held, phone_since }
    }

    fn finding(&self, kind: &str, user: Option<&UserRow>, sku_id: &str, units: i64) -> FindingRow {
        let inputs = self.inputs;
        FindingRow {
            tenant_id: inputs.tenant_id.to_string(),
            id: format!("{kind}:{}:{sku_id}", user.map_or("-", |u| u.id.as_str())),
            run_id: inputs.run_id.to_string(),
            kind: kind.to_string(),
            user_id: user.map(|u| u.id.clone()),
            user_principal_name: user.map(|u| u.user_principal_name.clone()),
            department: user.and_then(|u| u.department.clone()),
            sku_id: Some(sku_id.to_string()),
            sku_part_number: self.skus.get(sku_id).map(|s| s.part_number.to_string()),
            units,
            effect: "saving".into(),
            amount_minor: None,
            currency: None,
            evidence: String::new(),
            computed_at: inputs.computed_at,
        }
    }

    fn price_of(&self, sku_id: &str) -> Option<&Price> {
        self.skus.get(sku_id).and_then(|s| self.inputs.prices.get(s.part_number))
    }

    /// A finding of `units` of its SKU at the SKU's price, with its evidence.
    fn priced(&self, mut row: FindingRow, units: i64, evidence: serde_json::Value) -> FindingRow {
        if let Some(price) = row.sku_id.as_deref().and_then(|sku| self.price_of(sku)) {
            row.amount_minor = Some(price.amount_minor * units);
            row.currency = Some(price.currency.clone());
        }
        row.evidence = evidence.to_string();
        row
    }

    /// The plans of a SKU a user may use (those not disabled in the assignment).
    fn enabled_plans(&self, sku_id: &str, disabled: &BTreeSet<&str>) -> BTreeSet<&'a str> {
        self.skus
            .get(sku_id)
            .map(|s| s.user_plans.iter().copied().filter(|p| !disabled.contains(p)).collect())
            .unwrap_or_default()
    }

    fn excluded(&self, user: &UserRow) -> bool {
        let excluded = &self.inputs.settings.excluded;
        excluded.contains(&user.id) || excluded.contains(&user.user_principal_name.to_ascii_lowercase())
    }

    /// Rule 1: a disabled account frees every licence it holds; true when the rule took the user.
    fn disabled_account(&self, user: &UserRow, licences: &[Held<'_>], out: &mut Vec<FindingRow>) -> bool {
        if user.account_enabled != Some(false) {
            return false;
        }
        for (sku, _) in licences {
            out.push(self.priced(
                self.finding(DISABLED_ACCOUNT, Some(user), sku, 1),
                1,
                json!({"account_enabled": false}),
            ));
        }
        true
    }

    /// Rule 2: never signed in, or not for `inactive_days`: only when sign-ins are measured, and new accounts have grace;
    /// true when the rule took the user.
    fn inactive(&self, user: &UserRow, licences: &[Held<'_>], out: &mut Vec<FindingRow>) -> bool {
        let (inputs, settings) = (self.inputs, self.inputs.settings);
        let new_account = user
            .created_at
            .is_some_and(|created| created > inputs.as_of - Duration::days(settings.new_account_grace_days));
        if !inputs.sign_in_measured || new_account {
            return false;
        }
        let kind = match user.last_successful_sign_in {
            None => NEVER_SIGNED_IN,
            Some(at) if at < inputs.as_of - Duration::days(settings.inactive_days) => INACTIVE_USER,
            Some(_) => return false,
        };
        for (sku, _) in licences {
            let evidence = json!({
                "last_successful_sign_in": user.last_successful_sign_in,
                "inactive_days": settings.inactive_days,
                "created_at": user.created_at,
            });
            out.push(self.priced(self.finding(kind, Some(user), sku, 1), 1, evidence));
        }
        true
    }

    /// Rule 3, redundant: every user plan of the SKU is given by the user's other licences (fewest plans first, so of
    /// two licences covering each other the smaller one is the redundant one).
    fn redundant_licences<'l>(
        &self,
        user: &UserRow,
        licences: &'l [Held<'a>],
        claimed: &mut BTreeSet<&'l str>,
        out: &mut Vec<FindingRow>,
    ) {
        let mut order: Vec<&Held<'a>> = licences.iter().collect();
        order.sort_by_key(|(sku, _)| (self.skus.get(sku).map_or(0, |s| s.user_plans.len()), *sku));
        for (sku, _) in order {
            let Some(own) = self.skus.get(sku).map(|s| &s.user_plans).filter(|p| !p.is_empty()) else { continue };
            let mut others: BTreeSet<&str> = BTreeSet::new();
            let mut givers = Vec::new();
            for (other, disabled) in licences {
                if other != sku && !claimed.contains(other) {
                    let plans = self.enabled_plans(other, disabled);
                    if own.iter().any(|p| covered(p, &plans)) {
                        givers.push(self.skus.get(other).map_or(*other, |s| s.part_number));
                    }
                    others.extend(plans);
                }
            }
            if own.iter().all(|p| covered(p, &others)) {
                let evidence = json!({"plans": own, "given_by": givers});
                out.push(self.priced(self.finding(REDUNDANT_LICENCE, Some(user), sku, 1), 1, evidence));
                claimed.insert(sku);
            }
        }
    }

    /// The user's last PSTN call, and whether it falls within `phone_idle_days`.
    fn last_pstn_call(&self, user: &UserRow) -> (Option<NaiveDateTime>, bool) {
        let last = self.inputs.last_pstn_call.get(&user.id).copied();
        (last, last.is_some_and(|at| at >= self.phone_since))
    }

    /// Rule 4: Teams Phone or calling-plan licences (add-ons made only of such plans) with no PSTN call.
    fn unused_phone_licences<'l>(
        &self,
        user: &UserRow,
        licences: &'l [Held<'a>],
        claimed: &mut BTreeSet<&'l str>,
        out: &mut Vec<FindingRow>,
    ) {
        let (last_pstn, dialled_recently) = self.last_pstn_call(user);
        if dialled_recently {
            return;
        }
        for (sku, _) in licences {
            if claimed.contains(sku) {
                continue;
            }
            let Some(own) = self.skus.get(sku).map(|s| &s.user_plans).filter(|p| !p.is_empty()) else { continue };
            if own.iter().all(|p| *p == TEAMS_PHONE_PLAN || CALLING_PLANS.contains(p)) {
                let evidence =
                    json!({"last_pstn_call": last_pstn, "phone_idle_days": self.inputs.settings.phone_idle_days});
                out.push(self.priced(self.finding(UNUSED_PHONE_LICENCE, Some(user), sku, 1), 1, evidence));
                claimed.insert(sku);
            }
        }
    }

    /// Rule 5: suites whose calling features (Teams Phone) go unused: the cheaper suite without them would do; the
    /// saving is the difference of the two prices.
    fn downgrade_candidates(
        &self,
        user: &UserRow,
        licences: &[Held<'a>],
        claimed: &BTreeSet<&str>,
        out: &mut Vec<FindingRow>,
    ) {
        let (last_pstn, dialled_recently) = self.last_pstn_call(user);
        if dialled_recently {
            return;
        }
        let prices = self.inputs.prices;
        for (sku, disabled) in licences {
            if claimed.contains(sku) {
                continue;
            }
            let Some(part) = self.skus.get(sku).map(|s| s.part_number) else { continue };
            let Some((_, to)) = DOWNGRADES.iter().find(|(from, _)| from.eq_ignore_ascii_case(part)) else { continue };
            if !self.enabled_plans(sku, disabled).contains(TEAMS_PHONE_PLAN) {
                continue;
            }
            let mut row = self.finding(DOWNGRADE_CANDIDATE, Some(user), sku, 1);
            if let (Some(from), Some(target)) = (prices.get(part), prices.get(to))
                && from.currency == target.currency
            {
                row.amount_minor = Some(from.amount_minor - target.amount_minor);
                row.currency = Some(from.currency.clone());
            }
            row.evidence = json!({"downgrade_to": to, "last_pstn_call": last_pstn,
                                  "phone_idle_days": self.inputs.settings.phone_idle_days})
            .to_string();
            out.push(row);
        }
    }

    /// Seats: bought and held by nobody (a saving at renewal); held beyond what was bought (a cost at true-up).
    fn seats(&self, out: &mut Vec<FindingRow>) {
        for sku in &self.inputs.snapshot.skus {
            if !matches!(sku.capability_status.as_str(), "Enabled" | "Warning") {
                continue;
            }
            let available = sku.enabled - sku.consumed;
            let free = self.price_of(&sku.sku_id).is_some_and(|p| p.amount_minor == 0);
            if available > 0 && !free {
                let evidence = json!({"enabled": sku.enabled, "warning": sku.warning, "consumed": sku.consumed,
                                      "action": "reducible at renewal"});
                let row = self.finding(UNASSIGNED_SEATS, None, &sku.sku_id, available);
                out.push(self.priced(row, available, evidence));
            }
            let over = sku.consumed - sku.enabled - sku.warning;
            if over > 0 {
                let evidence = json!({"enabled": sku.enabled, "warning": sku.warning, "consumed": sku.consumed,
                                      "action": "buy or unassign before the true-up"});
                let mut row = self.priced(self.finding(OVER_ASSIGNED, None, &sku.sku_id, over), over, evidence);
                row.effect = "cost".into();
                out.push(row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use sua_db::models::{AssignmentRow, SkuPlanRow, SkuRow, UserRow};

    const E3: &str = "e3";
    const E5: &str = "e5";
    const PHONE: &str = "phone";
    const CALLING: &str = "calling";
    const P1: &str = "p1";
    const TEAMS: &str = "57ff2da0-773e-42df-b2af-ffb7a2317929";
    const AAD_P1: &str = "41781fb2-bc02-4b7c-bd55-b576c07bb09d";
    const AAD_P2: &str = "eec0eb4f-6444-4f95-aba0-50c24d67f998";

    fn at(day: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap().and_hms_opt(12, 0, 0).unwrap()
    }

    fn sku(id: &str, part: &str, enabled: i64, warning: i64, consumed: i64) -> SkuRow {
        SkuRow {
            run_id: "r".into(),
            tenant_id: "t".into(),
            sku_id: id.into(),
            sku_part_number: part.into(),
            capability_status: "Enabled".into(),
            applies_to: "User".into(),
            enabled,
            warning,
            suspended: 0,
            locked_out: 0,
            consumed,
        }
    }

    fn plan(sku: &str, plan: &str, applies_to: &str) -> SkuPlanRow {
        SkuPlanRow {
            run_id: "r".into(),
            sku_id: sku.into(),
            plan_id: plan.into(),
            plan_name: plan.into(),
            applies_to: applies_to.into(),
            provisioning_status: "Success".into(),
        }
    }

    fn user(id: &str, enabled: bool, created: NaiveDateTime, sign_in: Option<NaiveDateTime>) -> UserRow {
        UserRow {
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
            account_enabled: Some(enabled),
            user_type: Some("Member".into()),
            created_at: Some(created),
            last_successful_sign_in: sign_in,
            last_sign_in: sign_in,
            licences: 0,
        }
    }

    fn holds(user: &str, sku: &str, disabled: &str) -> AssignmentRow {
        AssignmentRow {
            run_id: "r".into(),
            tenant_id: "t".into(),
            user_id: user.into(),
            sku_id: sku.into(),
            disabled_plans: disabled.into(),
        }
    }

    fn catalogue() -> SnapshotData {
        SnapshotData {
            skus: vec![
                sku(E3, "SPE_E3", 100, 0, 10),
                sku(E5, "SPE_E5", 100, 0, 10),
                sku(PHONE, "MCOEV", 10, 0, 10),
                sku(CALLING, "MCOPSTN1", 4, 1, 10),
                sku(P1, "AAD_PREMIUM", 10, 0, 10),
            ],
            plans: vec![
                plan(E3, TEAMS, "User"),
                plan(E3, AAD_P1, "User"),
                plan(E5, TEAMS, "User"),
                plan(E5, TEAMS_PHONE_PLAN, "User"),
                plan(E5, AAD_P2, "User"),
                plan(PHONE, TEAMS_PHONE_PLAN, "User"),
                plan(CALLING, CALLING_PLANS[0], "User"),
                plan(P1, AAD_P1, "User"),
                plan(P1, "113feb6c-3fe4-4440-bddc-54d774bf0318", "Company"),
            ],
            users: vec![],
            assignments: vec![],
        }
    }

    fn run(
        snapshot: &SnapshotData,
        pstn: &BTreeMap<String, NaiveDateTime>,
        settings: &Settings,
        measured: bool,
    ) -> Vec<FindingRow> {
        let prices = PriceBook::defaults();
        compute(&Inputs {
            tenant_id: "t",
            run_id: "r",
            as_of: at(26),
            snapshot,
            sign_in_measured: measured,
            last_pstn_call: pstn,
            prices: &prices,
            settings,
            computed_at: at(26),
        })
    }

    fn user_findings(rows: &[FindingRow]) -> Vec<(String, String, String)> {
        rows.iter()
            .filter(|r| r.user_id.is_some())
            .map(|r| (r.kind.clone(), r.user_id.clone().unwrap(), r.sku_id.clone().unwrap()))
            .collect()
    }

    fn long_ago() -> NaiveDateTime {
        at(1) - Duration::days(700)
    }

    #[test]
    fn a_disabled_account_frees_every_licence_it_holds_and_nothing_else_claims_them() {
        let mut s = catalogue();
        s.users = vec![user("u1", false, long_ago(), None)];
        s.assignments = vec![holds("u1", E5, ""), holds("u1", PHONE, "")];
        let rows = run(&s, &BTreeMap::new(), &Settings::default(), true);
        let found = user_findings(&rows);
        assert_eq!(
            found,
            vec![
                (DISABLED_ACCOUNT.into(), "u1".into(), E5.into()),
                (DISABLED_ACCOUNT.into(), "u1".into(), PHONE.into()),
            ]
        );
        let e5 = rows.iter().find(|r| r.sku_id.as_deref() == Some(E5) && r.user_id.is_some()).unwrap();
        assert_eq!((e5.amount_minor, e5.currency.as_deref()), (Some(5_700), Some("USD")));
    }

    #[test]
    fn inactive_and_never_signed_in_respect_the_threshold_the_grace_and_the_exclusions() {
        let mut s = catalogue();
        s.users = vec![
            user("old", true, long_ago(), Some(at(26) - Duration::days(91))),
            user("recent", true, long_ago(), Some(at(26) - Duration::days(89))),
            user("never", true, long_ago(), None),
            user("new", true, at(20), None),
            user("breakglass", true, long_ago(), None),
        ];
        s.assignments = ["old", "recent", "never", "new", "breakglass"].iter().map(|u| holds(u, E3, "")).collect();
        let settings = Settings { excluded: ["breakglass@x.example".to_string()].into(), ..Settings::default() };
        let found = user_findings(&run(&s, &BTreeMap::new(), &settings, true));
        assert_eq!(
            found,
            vec![(INACTIVE_USER.into(), "old".into(), E3.into()), (NEVER_SIGNED_IN.into(), "never".into(), E3.into()),]
        );
        let stricter = Settings { inactive_days: 30, ..settings };
        assert_eq!(user_findings(&run(&s, &BTreeMap::new(), &stricter, true)).len(), 3);
        assert!(user_findings(&run(&s, &BTreeMap::new(), &Settings::default(), false)).is_empty(), "not measured");
    }

    #[test]
    fn redundancy_is_decided_by_service_plan_ids_including_plans_that_include_others() {
        let mut s = catalogue();
        let active = Some(at(25));
        s.users = vec![
            user("phone", true, long_ago(), active),
            user("p1", true, long_ago(), active),
            user("ok", true, long_ago(), active),
        ];
        s.assignments = vec![
            holds("phone", E5, ""),
            holds("phone", PHONE, ""),
            holds("p1", E5, ""),
            holds("p1", P1, ""),
            // Teams Phone disabled in the suite: the add-on is not redundant.
            holds("ok", E5, TEAMS_PHONE_PLAN),
            holds("ok", PHONE, ""),
        ];
        let dialled: BTreeMap<String, NaiveDateTime> =
            ["phone", "p1", "ok"].iter().map(|u| (u.to_string(), at(25))).collect();
        let found = user_findings(&run(&s, &dialled, &Settings::default(), true));
        assert_eq!(
            found,
            vec![
                (REDUNDANT_LICENCE.into(), "p1".into(), P1.into()),
                (REDUNDANT_LICENCE.into(), "phone".into(), PHONE.into()),
            ]
        );
    }

    #[test]
    fn phone_licences_without_pstn_calls_and_suites_whose_phone_goes_unused() {
        let mut s = catalogue();
        let active = Some(at(25));
        s.users = vec![
            user("quiet", true, long_ago(), active),
            user("caller", true, long_ago(), active),
            user("lapsed", true, long_ago(), active),
            user("e5", true, long_ago(), active),
        ];
        s.assignments = vec![
            holds("quiet", E3, ""),
            holds("quiet", PHONE, ""),
            holds("quiet", CALLING, ""),
            holds("caller", E3, ""),
            holds("caller", PHONE, ""),
            holds("lapsed", E3, ""),
            holds("lapsed", PHONE, ""),
            holds("e5", E5, ""),
        ];
        let pstn: BTreeMap<String, NaiveDateTime> =
            [("caller".to_string(), at(20)), ("lapsed".to_string(), at(26) - Duration::days(120))].into();
        let rows = run(&s, &pstn, &Settings::default(), true);
        assert_eq!(
            user_findings(&rows),
            vec![
                (DOWNGRADE_CANDIDATE.into(), "e5".into(), E5.into()),
                (UNUSED_PHONE_LICENCE.into(), "lapsed".into(), PHONE.into()),
                (UNUSED_PHONE_LICENCE.into(), "quiet".into(), CALLING.into()),
                (UNUSED_PHONE_LICENCE.into(), "quiet".into(), PHONE.into()),
            ]
        );
        let downgrade = rows.iter().find(|r| r.kind == DOWNGRADE_CANDIDATE).unwrap();
        assert_eq!(downgrade.amount_minor, Some(5_700 - 3_600));
    }

    #[test]
    fn seats_unassigned_and_over_assigned_are_per_sku_and_never_overlap_user_findings() {
        let s = catalogue();
        let rows = run(&s, &BTreeMap::new(), &Settings::default(), true);
        let seats: Vec<_> = rows
            .iter()
            .filter(|r| r.kind == UNASSIGNED_SEATS)
            .map(|r| (r.sku_id.clone().unwrap(), r.units, r.amount_minor))
            .collect();
        assert_eq!(seats, vec![(E3.into(), 90, Some(90 * 3_600)), (E5.into(), 90, Some(90 * 5_700))]);
        let over: Vec<_> = rows.iter().filter(|r| r.kind == OVER_ASSIGNED).collect();
        assert_eq!(over.len(), 1);
        assert_eq!((over[0].units, over[0].effect.as_str(), over[0].amount_minor), (5, "cost", Some(5 * 800)));
    }

    #[test]
    fn no_licence_is_claimed_twice() {
        let mut s = catalogue();
        s.users = vec![
            user("a", false, long_ago(), None),
            user("b", true, long_ago(), None),
            user("c", true, long_ago(), Some(at(25))),
        ];
        for u in ["a", "b", "c"] {
            for sku in [E5, PHONE, CALLING, P1] {
                s.assignments.push(holds(u, sku, ""));
            }
        }
        let found = user_findings(&run(&s, &BTreeMap::new(), &Settings::default(), true));
        let mut keys: Vec<_> = found.iter().map(|(_, u, s)| (u.clone(), s.clone())).collect();
        let before = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(before, keys.len());
        // c: Teams Phone and P1 redundant, the calling plan unused, E5 a downgrade candidate.
        assert_eq!(before, 4 + 4 + 4);
    }
}
