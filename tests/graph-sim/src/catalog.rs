//! Licences the generator hands out, with Microsoft's real `skuId`/`skuPartNumber` pairs and the service plans
//! that matter to sua (Teams, Teams Phone, calling plans, audio conferencing, Entra ID P1/P2, Exchange).
//! Sources: Microsoft's "Product names and service plan identifiers for licensing" reference (entra-docs
//! `docs/identity/users/licensing-service-plan-reference.md`, 2025-10-29) and the subscribedSku example in
//! microsoft-graph-docs-contrib; each SKU lists a subset of its real service plans.

/// A service plan inside a SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub id: &'static str,
    pub name: &'static str,
    /// `User` or `Company`.
    pub applies_to: &'static str,
}

pub const TEAMS1: Plan = Plan { id: "57ff2da0-773e-42df-b2af-ffb7a2317929", name: "TEAMS1", applies_to: "User" };
pub const MCOEV: Plan = Plan { id: "4828c8ec-dc2e-4779-b502-87ac9ce28ab7", name: "MCOEV", applies_to: "User" };
pub const MCOPSTN1: Plan = Plan { id: "4ed3ff63-69d7-4fb7-b984-5aec7f605ca8", name: "MCOPSTN1", applies_to: "User" };
pub const MCOPSTN2: Plan = Plan { id: "5a10155d-f5c1-411a-a8ec-e99aae125390", name: "MCOPSTN2", applies_to: "User" };
pub const MCOMEETADV: Plan =
    Plan { id: "3e26ee1f-8a5f-4d52-aee2-b81ce45c8f40", name: "MCOMEETADV", applies_to: "User" };
pub const MCOSTANDARD: Plan =
    Plan { id: "0feaeb32-d00e-4d66-bd5a-43b5b83db82c", name: "MCOSTANDARD", applies_to: "User" };
pub const AAD_PREMIUM: Plan =
    Plan { id: "41781fb2-bc02-4b7c-bd55-b576c07bb09d", name: "AAD_PREMIUM", applies_to: "User" };
pub const AAD_PREMIUM_P2: Plan =
    Plan { id: "eec0eb4f-6444-4f95-aba0-50c24d67f998", name: "AAD_PREMIUM_P2", applies_to: "User" };
pub const MFA_PREMIUM: Plan =
    Plan { id: "8a256a2b-b617-496d-b51b-e76466e88db0", name: "MFA_PREMIUM", applies_to: "User" };
pub const EXCHANGE_S_ENTERPRISE: Plan =
    Plan { id: "efb87545-963c-4e0d-99df-69c6916d9eb0", name: "EXCHANGE_S_ENTERPRISE", applies_to: "User" };
pub const EXCHANGE_S_STANDARD: Plan =
    Plan { id: "9aaf7827-d63c-4b61-89c3-182f06f82e5c", name: "EXCHANGE_S_STANDARD", applies_to: "User" };
pub const EXCHANGE_S_FOUNDATION: Plan =
    Plan { id: "113feb6c-3fe4-4440-bddc-54d774bf0318", name: "EXCHANGE_S_FOUNDATION", applies_to: "Company" };
pub const ADALLOM_S_O365: Plan =
    Plan { id: "8c098270-9dd4-4350-9b30-ba4703f3b36b", name: "ADALLOM_S_O365", applies_to: "User" };
pub const ADALLOM_S_STANDALONE: Plan =
    Plan { id: "2e2ddb96-6af9-4b1d-a3f0-d6ecfd22edb2", name: "ADALLOM_S_STANDALONE", applies_to: "User" };
pub const ADALLOM_S_DISCOVERY: Plan =
    Plan { id: "932ad362-64a8-4783-9106-97849a1a30b9", name: "ADALLOM_S_DISCOVERY", applies_to: "User" };

/// A product (SKU) a tenant can buy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sku {
    pub id: &'static str,
    pub part_number: &'static str,
    /// As the Teams activity report's "Assigned Products" column names it.
    pub product_name: &'static str,
    pub plans: &'static [Plan],
}

impl Sku {
    pub fn has_plan(&self, plan: &Plan) -> bool {
        self.plans.iter().any(|p| p.id == plan.id)
    }
}

pub const SPE_E3: Sku = Sku {
    id: "05e9a617-0261-4cee-bb44-138d3ef5d965",
    part_number: "SPE_E3",
    product_name: "MICROSOFT 365 E3",
    plans: &[TEAMS1, MCOSTANDARD, EXCHANGE_S_ENTERPRISE, AAD_PREMIUM, MFA_PREMIUM, ADALLOM_S_DISCOVERY],
};
pub const SPE_E5: Sku = Sku {
    id: "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
    part_number: "SPE_E5",
    product_name: "MICROSOFT 365 E5",
    plans: &[
        TEAMS1,
        MCOSTANDARD,
        MCOEV,
        MCOMEETADV,
        EXCHANGE_S_ENTERPRISE,
        AAD_PREMIUM,
        AAD_PREMIUM_P2,
        MFA_PREMIUM,
        ADALLOM_S_O365,
        ADALLOM_S_STANDALONE,
    ],
};
pub const ENTERPRISEPACK: Sku = Sku {
    id: "6fd2c87f-b296-42f0-b197-1e91e994b900",
    part_number: "ENTERPRISEPACK",
    product_name: "OFFICE 365 E3",
    plans: &[TEAMS1, MCOSTANDARD, EXCHANGE_S_ENTERPRISE],
};
pub const ENTERPRISEPREMIUM: Sku = Sku {
    id: "c7df2760-2c81-4ef7-b578-5b5392b571df",
    part_number: "ENTERPRISEPREMIUM",
    product_name: "OFFICE 365 E5",
    plans: &[TEAMS1, MCOSTANDARD, MCOEV, MCOMEETADV, EXCHANGE_S_ENTERPRISE, ADALLOM_S_O365],
};
pub const SPB: Sku = Sku {
    id: "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
    part_number: "SPB",
    product_name: "MICROSOFT 365 BUSINESS PREMIUM",
    plans: &[TEAMS1, MCOSTANDARD, EXCHANGE_S_STANDARD, AAD_PREMIUM, MFA_PREMIUM],
};
pub const O365_BUSINESS_ESSENTIALS: Sku = Sku {
    id: "3b555118-da6a-4418-894f-7df1e2096870",
    part_number: "O365_BUSINESS_ESSENTIALS",
    product_name: "MICROSOFT 365 BUSINESS BASIC",
    plans: &[TEAMS1, MCOSTANDARD, EXCHANGE_S_STANDARD],
};
pub const MCOEV_SKU: Sku = Sku {
    id: "e43b5b99-8dfb-405f-9987-dc307f34bcbd",
    part_number: "MCOEV",
    product_name: "MICROSOFT TEAMS PHONE STANDARD",
    plans: &[MCOEV],
};
pub const MCOPSTN1_SKU: Sku = Sku {
    id: "0dab259f-bf13-4952-b7f8-7db8f131b28d",
    part_number: "MCOPSTN1",
    product_name: "MICROSOFT 365 DOMESTIC CALLING PLAN",
    plans: &[MCOPSTN1],
};
pub const MCOPSTN2_SKU: Sku = Sku {
    id: "d3b4fe1f-9992-4930-8acb-ca6ec609365e",
    part_number: "MCOPSTN2",
    product_name: "MICROSOFT 365 DOMESTIC AND INTERNATIONAL CALLING PLAN",
    plans: &[MCOPSTN2],
};
pub const MCOMEETADV_SKU: Sku = Sku {
    id: "0c266dff-15dd-4b49-8397-2bb16070ed52",
    part_number: "MCOMEETADV",
    product_name: "MICROSOFT 365 AUDIO CONFERENCING",
    plans: &[MCOMEETADV],
};
pub const AAD_PREMIUM_SKU: Sku = Sku {
    id: "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
    part_number: "AAD_PREMIUM",
    product_name: "MICROSOFT ENTRA ID P1",
    plans: &[AAD_PREMIUM, MFA_PREMIUM, ADALLOM_S_DISCOVERY, EXCHANGE_S_FOUNDATION],
};
/// Bought and never assigned in generated tenants (unassigned seats).
pub const COPILOT_SKU: Sku = Sku {
    id: "639dec6b-bb19-468b-871c-c5c441c4b0cb",
    part_number: "Microsoft_365_Copilot",
    product_name: "MICROSOFT 365 COPILOT",
    plans: &[],
};

/// Every SKU a generated tenant may hold.
pub const ALL: &[Sku] = &[
    SPE_E3,
    SPE_E5,
    ENTERPRISEPACK,
    ENTERPRISEPREMIUM,
    SPB,
    O365_BUSINESS_ESSENTIALS,
    MCOEV_SKU,
    MCOPSTN1_SKU,
    MCOPSTN2_SKU,
    MCOMEETADV_SKU,
    AAD_PREMIUM_SKU,
    COPILOT_SKU,
];

pub fn by_id(id: &str) -> Option<&'static Sku> {
    ALL.iter().find(|s| s.id == id)
}

/// The Graph application permissions sua's app registration asks for (the brief's list).
pub const APP_ROLES: &[&str] =
    &["AuditLog.Read.All", "CallRecords.Read.All", "Organization.Read.All", "Reports.Read.All", "User.Read.All"];
