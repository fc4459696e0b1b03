//! The tenant generator: deterministic from the seed, one user at a time (a 100k-user tenant never sits in
//! memory). Every user carries the facts tests need to compute expectations independently ([`SimUser`]).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::catalog::{self, Sku};
use crate::ids::IdCodec;
use crate::rng::Rng;

/// How a user's licences were set up (what the generator meant, for tests to check findings against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceProfile {
    None,
    E3,
    E5,
    OfficeE3,
    OfficeE5,
    BusinessPremium,
    BusinessBasic,
    /// Microsoft 365 E3 + Teams Phone + Domestic Calling Plan.
    E3Phone,
    /// Microsoft 365 E3 + Teams Phone, calling through Direct Routing (no calling plan).
    E3PhoneDirectRouting,
    /// Microsoft 365 E5 + standalone Teams Phone: Teams Phone is paid twice.
    E5RedundantPhone,
    /// Microsoft 365 E5 + Domestic and International Calling Plan.
    E5Calling,
    /// Microsoft 365 E3 + Audio Conferencing.
    E3AudioConferencing,
    /// Microsoft 365 E3 with the Teams plan disabled.
    E3NoTeams,
    /// Microsoft 365 E5 + standalone Entra ID P1: P1 is paid twice.
    E5RedundantP1,
}

/// When the user last signed in successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Days before the simulator's clock.
    DaysAgo(i64),
    Never,
}

/// One generated user with everything tests may want to know about it.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub index: u32,
    pub id: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub user_principal_name: String,
    pub mail: String,
    pub job_title: String,
    pub department: String,
    pub office_location: String,
    pub city: String,
    pub country: String,
    pub usage_location: String,
    pub business_phone: String,
    pub account_enabled: bool,
    pub guest: bool,
    pub created: DateTime<Utc>,
    pub profile: LicenceProfile,
    /// `(sku, disabled plan ids)`
    pub licences: Vec<(&'static Sku, Vec<&'static str>)>,
    pub sign_in: SignIn,
    /// Whether this user's `signInActivity` is `null` rather than an object of empty values (both happen).
    pub sign_in_null_object: bool,
    /// Makes and receives Teams calls.
    pub teams_active: bool,
    /// Holds Teams Phone and places PSTN calls (false for phone users who never dial out).
    pub pstn_active: bool,
}

impl SimUser {
    /// Whether any assigned licence gives the service plan (and it is not disabled).
    pub fn has_plan(&self, plan: &catalog::Plan) -> bool {
        self.licences.iter().any(|(sku, disabled)| sku.has_plan(plan) && !disabled.contains(&plan.id))
    }

    pub fn is_licensed(&self) -> bool {
        !self.licences.is_empty()
    }

    pub fn can_call(&self) -> bool {
        self.account_enabled && self.teams_active && self.has_plan(&catalog::TEAMS1)
    }

    pub fn can_call_pstn(&self) -> bool {
        self.can_call() && self.pstn_active && self.has_plan(&catalog::MCOEV)
    }

    /// Whether the user's PSTN calls go through Direct Routing (Teams Phone without a calling plan).
    pub fn direct_routing(&self) -> bool {
        !self.has_plan(&catalog::MCOPSTN1) && !self.has_plan(&catalog::MCOPSTN2)
    }
}

const FIRST: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Ben",
    "Christie",
    "Debra",
    "Diego",
    "Emily",
    "Enrico",
    "Grady",
    "Henrietta",
    "Irvin",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Raul",
    "Aoife",
    "Cian",
    "Niamh",
    "Oisin",
    "Saoirse",
    "Tadhg",
    "Yuki",
    "Mateo",
    "Priya",
    "Olu",
    "Ines",
    "Lars",
];
const LAST: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Burke",
    "Cline",
    "Berg",
    "Siciliani",
    "Braun",
    "Zinman",
    "Archie",
    "Gonzalez",
    "Sink",
    "Langer",
    "Lauritsen",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Wilkins",
    "Franklin",
    "Murphy",
    "Kelly",
    "Byrne",
    "Walsh",
    "Nakamura",
    "Garcia",
    "Sharma",
    "Adeyemi",
    "Moreau",
    "Larsen",
    "Okafor",
];
const DEPARTMENTS: &[&str] =
    &["Sales", "Finance", "Engineering", "Support", "Marketing", "Human Resources", "Operations", "Legal"];
const TITLES: &[&str] =
    &["Analyst", "Manager", "Engineer", "Consultant", "Director", "Specialist", "Coordinator", "Associate"];
/// `(office, city, country, usage location, dialling prefix)`
const LOCATIONS: &[(&str, &str, &str, &str, &str)] = &[
    ("Dublin HQ", "Dublin", "Ireland", "IE", "+3531"),
    ("London", "London", "United Kingdom", "GB", "+4420"),
    ("New York", "New York", "United States", "US", "+1212"),
    ("Chicago", "Chicago", "United States", "US", "+1312"),
    ("Berlin", "Berlin", "Germany", "DE", "+4930"),
];
const COMPANIES: &[&str] =
    &["Contoso", "Fabrikam", "Northwind", "Tailspin", "Litware", "Proseware", "Woodgrove", "Adatum", "Relecloud"];

/// Settings of one generated tenant.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    pub users: u32,
    /// Whether the tenant holds Entra ID P1 anywhere (needed for `signInActivity`).
    pub entra_p1: bool,
    /// Whether usage reports conceal user names (Microsoft's default since 2021).
    pub concealed_names: bool,
}

/// One generated tenant.
#[derive(Debug, Clone)]
pub struct TenantModel {
    pub index: u8,
    pub id: String,
    pub display_name: String,
    pub domain: String,
    pub spec: TenantSpec,
    pub seed: u64,
    pub codec: IdCodec,
    /// The generator's "now": sign-in ages and creation dates count back from it.
    pub clock: DateTime<Utc>,
    sku_counts: Vec<(&'static Sku, u64)>,
    /// What an admin changed since the tenant was generated (shared by every clone of the model).
    changes: std::sync::Arc<std::sync::RwLock<Changes>>,
}

/// Changes an admin made to a generated tenant: licences removed from users, seat counts lowered.
#[derive(Debug, Default)]
struct Changes {
    /// `(user index, SKU id)`.
    removed: Vec<(u32, &'static str)>,
    /// Units taken off a SKU's `prepaidUnits.enabled`.
    seats_lowered: Vec<(&'static str, u64)>,
}

impl TenantModel {
    pub fn new(seed: u64, index: u8, spec: TenantSpec, clock: DateTime<Utc>) -> Self {
        let codec = IdCodec::new(seed);
        let company = COMPANIES[usize::from(index) % COMPANIES.len()];
        let (display_name, domain) = if index < COMPANIES.len() as u8 {
            (format!("{company} Ltd"), format!("{}.example", company.to_lowercase()))
        } else {
            (format!("{company} {index} Ltd"), format!("{}{index}.example", company.to_lowercase()))
        };
        let mut tenant = Self {
            index,
            id: codec.tenant(index),
            display_name,
            domain,
            spec,
            seed,
            codec,
            clock,
            sku_counts: Vec::new(),
            changes: Default::default(),
        };
        tenant.sku_counts = tenant.count_assignments();
        tenant
    }

    fn count_assignments(&self) -> Vec<(&'static Sku, u64)> {
        let mut counts: Vec<(&'static Sku, u64)> = catalog::ALL.iter().map(|s| (s, 0)).collect();
        for index in 0..self.spec.users {
            for (sku, _) in self.user(index).licences {
                if let Some(entry) = counts.iter_mut().find(|(s, _)| s.id == sku.id) {
                    entry.1 += 1;
                }
            }
        }
        counts
    }

    fn changes(&self) -> std::sync::RwLockReadGuard<'_, Changes> {
        self.changes.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes a licence from a user, as an admin would in the Microsoft 365 admin centre.
    pub fn remove_licence(&self, user: u32, sku: &'static Sku) {
        let mut changes = self.changes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        changes.removed.push((user, sku.id));
    }

    /// Lowers a SKU's purchased units by `by`.
    pub fn lower_seats(&self, sku: &'static Sku, by: u64) {
        let mut changes = self.changes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        changes.seats_lowered.push((sku.id, by));
    }

    /// Assigned units per SKU (`consumedUnits`), computed once by walking every user, less the licences removed.
    pub fn assigned(&self, sku: &Sku) -> u64 {
        let generated = self.sku_counts.iter().find(|(s, _)| s.id == sku.id).map_or(0, |(_, n)| *n);
        let removed = self.changes().removed.iter().filter(|(_, s)| *s == sku.id).count() as u64;
        generated.saturating_sub(removed)
    }

    /// The SKUs the tenant subscribes to, with `(enabled, warning, suspended)` prepaid units and capability status.
    pub fn subscriptions(&self) -> Vec<SkuSubscription> {
        let mut rng = Rng::for_key(&[self.seed, u64::from(self.index), 0x5c0]);
        let mut subs = Vec::new();
        for (sku, consumed) in &self.sku_counts {
            let consumed = *consumed;
            let sub = if sku.id == catalog::COPILOT_SKU.id {
                // Bought, never assigned: every seat is waste.
                SkuSubscription { sku, consumed, enabled: 10 + rng.below(20), warning: 0, suspended: 0 }
            } else if consumed == 0 {
                continue;
            } else if sku.id == catalog::MCOMEETADV_SKU.id {
                // Over-assigned: more assigned than bought (assignments outlived a reduced order).
                SkuSubscription {
                    sku,
                    consumed,
                    enabled: consumed.saturating_sub(1 + consumed / 10),
                    warning: 0,
                    suspended: 0,
                }
            } else if sku.id == catalog::MCOPSTN1_SKU.id {
                // Some units expired but are still in their grace period.
                let warning = 1 + consumed / 20;
                SkuSubscription { sku, consumed, enabled: consumed.saturating_sub(warning) + 2, warning, suspended: 0 }
            } else {
                let slack = consumed / 10 + rng.below(6);
                SkuSubscription { sku, consumed, enabled: consumed + slack, warning: 0, suspended: 0 }
            };
            subs.push(sub);
        }
        let changes = self.changes();
        for sub in &mut subs {
            sub.consumed =
                sub.consumed.saturating_sub(changes.removed.iter().filter(|(_, s)| *s == sub.sku.id).count() as u64);
            let lowered: u64 = changes.seats_lowered.iter().filter(|(s, _)| *s == sub.sku.id).map(|(_, n)| n).sum();
            sub.enabled = sub.enabled.saturating_sub(lowered);
        }
        subs
    }

    fn profile(&self, rng: &mut Rng, guest: bool) -> LicenceProfile {
        use LicenceProfile::*;
        if guest {
            return if rng.chance(0.15) { BusinessBasic } else { None };
        }
        let roll = rng.unit();
        let table: &[(f64, LicenceProfile)] = &[
            (0.28, E3),
            (0.12, E5),
            (0.06, OfficeE3),
            (0.02, OfficeE5),
            (0.06, BusinessPremium),
            (0.04, BusinessBasic),
            (0.08, E3Phone),
            (0.03, E3PhoneDirectRouting),
            (0.05, E5RedundantPhone),
            (0.04, E5Calling),
            (0.03, E3AudioConferencing),
            (0.02, E3NoTeams),
            (0.02, E5RedundantP1),
        ];
        let mut acc = 0.0;
        for (share, profile) in table {
            acc += share;
            if roll < acc {
                return *profile;
            }
        }
        None
    }

    fn licences(&self, profile: LicenceProfile) -> Vec<(&'static Sku, Vec<&'static str>)> {
        use LicenceProfile::*;
        // Without Entra ID P1 the tenant only buys Office 365 suites (which carry no P1 plan).
        let (e3, e5, business) = if self.spec.entra_p1 {
            (&catalog::SPE_E3, &catalog::SPE_E5, &catalog::SPB)
        } else {
            (&catalog::ENTERPRISEPACK, &catalog::ENTERPRISEPREMIUM, &catalog::O365_BUSINESS_ESSENTIALS)
        };
        let plain = |sku: &'static Sku| (sku, Vec::new());
        match profile {
            None => vec![],
            E3 => vec![plain(e3)],
            E5 => vec![plain(e5)],
            OfficeE3 => vec![plain(&catalog::ENTERPRISEPACK)],
            OfficeE5 => vec![plain(&catalog::ENTERPRISEPREMIUM)],
            BusinessPremium => vec![plain(business)],
            BusinessBasic => vec![plain(&catalog::O365_BUSINESS_ESSENTIALS)],
            E3Phone => vec![plain(e3), plain(&catalog::MCOEV_SKU), plain(&catalog::MCOPSTN1_SKU)],
            E3PhoneDirectRouting => vec![plain(e3), plain(&catalog::MCOEV_SKU)],
            E5RedundantPhone => vec![plain(e5), plain(&catalog::MCOEV_SKU)],
            E5Calling => vec![plain(e5), plain(&catalog::MCOPSTN2_SKU)],
            E3AudioConferencing => vec![plain(e3), plain(&catalog::MCOMEETADV_SKU)],
            E3NoTeams => vec![(e3, vec![catalog::TEAMS1.id])],
            E5RedundantP1 if self.spec.entra_p1 => vec![plain(e5), plain(&catalog::AAD_PREMIUM_SKU)],
            E5RedundantP1 => vec![plain(e5)],
        }
    }

    /// User number `index` (0-based).
    pub fn user(&self, index: u32) -> SimUser {
        let mut rng = Rng::for_key(&[self.seed, u64::from(self.index), 0x05e7, u64::from(index)]);
        let given = *rng.pick(FIRST);
        let surname = *rng.pick(LAST);
        let guest = rng.chance(0.03);
        let account_enabled = !rng.chance(0.04);
        let (office, city, country, usage, prefix) = *rng.pick(LOCATIONS);
        let department = (*rng.pick(DEPARTMENTS)).to_string();
        let job_title = (*rng.pick(TITLES)).to_string();
        let new_account = rng.chance(0.03);
        let created = if new_account {
            self.clock - Duration::days(rng.range(1, 10)) - Duration::minutes(rng.range(0, 1439))
        } else {
            self.clock - Duration::days(rng.range(30, 1500)) - Duration::minutes(rng.range(0, 1439))
        };
        let profile = self.profile(&mut rng, guest);
        let mut licences = self.licences(profile);
        licences.retain(|(sku, _)| !self.changes().removed.contains(&(index, sku.id)));
        let roll = rng.unit();
        let sign_in = if new_account && rng.chance(0.5) {
            SignIn::Never
        } else if roll < 0.66 {
            SignIn::DaysAgo(rng.range(0, 6))
        } else if roll < 0.80 {
            SignIn::DaysAgo(rng.range(8, 60))
        } else if roll < 0.94 {
            SignIn::DaysAgo(rng.range(91, 400))
        } else {
            SignIn::Never
        };
        let sign_in_null_object = rng.chance(0.5);
        let teams_active = matches!(sign_in, SignIn::DaysAgo(d) if d <= 60) && rng.chance(0.9);
        let pstn_active = rng.chance(0.7);
        let local = format!("{}.{}{}", given.to_lowercase(), surname.to_lowercase(), index);
        let (upn, mail) = if guest {
            let home = format!("{local}@partner.example");
            (format!("{}_partner.example#EXT#@{}", local, self.domain), home)
        } else {
            let address = format!("{local}@{}", self.domain);
            (address.clone(), address)
        };
        SimUser {
            index,
            id: self.codec.user(self.index, index),
            display_name: format!("{given} {surname}"),
            given_name: given.to_string(),
            surname: surname.to_string(),
            user_principal_name: upn,
            mail,
            job_title,
            department,
            office_location: office.to_string(),
            city: city.to_string(),
            country: country.to_string(),
            usage_location: usage.to_string(),
            business_phone: format!("{prefix} 555 {:04}", index % 10_000),
            account_enabled,
            guest,
            created,
            profile,
            licences,
            sign_in,
            sign_in_null_object,
            teams_active,
            pstn_active,
        }
    }

    /// The user's direct number in E.164 form (for PSTN calls).
    pub fn phone_number(&self, user: &SimUser) -> String {
        user.business_phone.replace(' ', "")
    }

    /// Picks a user matching `accept`, trying deterministic candidates; `None` if the tenant has none.
    pub fn pick_user(&self, rng: &mut Rng, accept: impl Fn(&SimUser) -> bool) -> Option<SimUser> {
        let users = u64::from(self.spec.users.max(1));
        for _ in 0..64 {
            let user = self.user(u32::try_from(rng.below(users)).unwrap_or(0));
            if accept(&user) {
                return Some(user);
            }
        }
        (0..self.spec.users).map(|i| self.user(i)).find(|u| accept(u))
    }

    /// The first day of generated history and the day after the last (days since 1970-01-01).
    pub fn history_days(&self, days: u32) -> (u32, u32) {
        let today = day_number(self.clock.date_naive());
        (today.saturating_sub(days), today)
    }
}

/// One subscribed SKU and its unit counts.
#[derive(Debug, Clone)]
pub struct SkuSubscription {
    pub sku: &'static Sku,
    pub consumed: u64,
    pub enabled: u64,
    pub warning: u64,
    pub suspended: u64,
}

/// Days since 1970-01-01.
pub fn day_number(date: NaiveDate) -> u32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    u32::try_from((date - epoch).num_days()).unwrap_or(0)
}

/// Midnight UTC of a day number.
pub fn day_start(day: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(i64::from(day) * 86_400, 0).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(users: u32, entra_p1: bool) -> TenantModel {
        let clock = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        TenantModel::new(7, 0, TenantSpec { users, entra_p1, concealed_names: true }, clock)
    }

    #[test]
    fn users_are_deterministic_and_independent_of_order() {
        let t = tenant(1000, true);
        let forwards: Vec<String> = (0..50).map(|i| t.user(i).user_principal_name).collect();
        let backwards: Vec<String> = (0..50).rev().map(|i| t.user(i).user_principal_name).collect();
        assert_eq!(forwards, backwards.into_iter().rev().collect::<Vec<_>>());
        assert_eq!(tenant(1000, true).user(17).id, t.user(17).id);
    }

    #[test]
    fn a_tenant_holds_every_case_the_findings_need() {
        let t = tenant(2000, true);
        let users: Vec<SimUser> = (0..2000).map(|i| t.user(i)).collect();
        let has = |f: &dyn Fn(&SimUser) -> bool| users.iter().any(f);
        assert!(has(&|u| u.profile == LicenceProfile::E5RedundantPhone));
        assert!(has(&|u| u.profile == LicenceProfile::E5RedundantP1));
        assert!(has(&|u| !u.account_enabled && u.is_licensed()));
        assert!(has(&|u| u.sign_in == SignIn::Never && u.is_licensed()));
        assert!(has(&|u| matches!(u.sign_in, SignIn::DaysAgo(d) if d > 90) && u.is_licensed()));
        assert!(has(&|u| u.guest));
        assert!(has(&|u| u.has_plan(&catalog::MCOEV) && !u.pstn_active));
        assert!(has(&|u| u.can_call_pstn() && u.direct_routing()));
        let subs = t.subscriptions();
        assert!(subs.iter().any(|s| s.sku.id == catalog::COPILOT_SKU.id && s.consumed == 0 && s.enabled > 0));
        assert!(subs.iter().any(|s| s.consumed > s.enabled + s.warning), "an over-assigned SKU");
        for sub in &subs {
            let counted = users.iter().filter(|u| u.licences.iter().any(|(s, _)| s.id == sub.sku.id)).count() as u64;
            assert_eq!(counted, sub.consumed, "{}", sub.sku.part_number);
        }
    }

    #[test]
    fn a_tenant_without_p1_has_no_p1_plan_anywhere() {
        let t = tenant(500, false);
        assert!((0..500).all(|i| !t.user(i).has_plan(&catalog::AAD_PREMIUM)));
        assert!(t.subscriptions().iter().all(|s| !s.sku.has_plan(&catalog::AAD_PREMIUM)));
    }
}
