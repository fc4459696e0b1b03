//! The price book: monthly list prices per `skuPartNumber`, per unit, in minor units of a currency.
//!
//! The shipped defaults are public US list prices (USD per user per month, annual commitment) as published when
//! this table was written; each line says where it comes from. Operators override any of them per tenant, in any
//! currency (`price_overrides`); money is never summed across currencies.

use std::collections::BTreeMap;

use serde::Serialize;
use sua_db::models::PriceOverrideRow;

/// A price per unit per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    pub amount_minor: i64,
    pub currency: String,
    /// `default` (the shipped book) or `override`.
    pub origin: &'static str,
    pub source: String,
}

/// `(skuPartNumber, USD cents per month, source)`.
pub const DEFAULTS: &[(&str, i64, &str)] = &[
    (
        "ENTERPRISEPACK",
        2_300,
        "Office 365 E3, Microsoft list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    (
        "ENTERPRISEPREMIUM",
        3_800,
        "Office 365 E5, Microsoft list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    (
        "STANDARDPACK",
        1_000,
        "Office 365 E1, Microsoft list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    (
        "SPE_E3",
        3_600,
        "Microsoft 365 E3, Microsoft list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    ("SPE_E5", 5_700, "Microsoft 365 E5 (axeti.com Microsoft 365 licence-mix guide)"),
    ("SPE_F1", 800, "Microsoft 365 F3 (axeti.com Microsoft 365 licence-mix guide)"),
    (
        "O365_BUSINESS_ESSENTIALS",
        600,
        "Microsoft 365 Business Basic, list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    (
        "SPB",
        2_200,
        "Microsoft 365 Business Premium, list price from 1 March 2022 (stripeolt.com/microsoft-365-licensing-update)",
    ),
    ("MCOEV", 1_000, "Microsoft Teams Phone Standard (redresscompliance.com Teams Phone licensing guide)"),
    ("MCOPSTN1", 800, "Microsoft 365 Domestic Calling Plan (inferse.com, 2022 Teams calling plan prices)"),
    (
        "MCOPSTN2",
        2_400,
        "Microsoft 365 Domestic and International Calling Plan (inferse.com, 2022 Teams calling plan prices)",
    ),
    ("MCOMEETADV", 400, "Microsoft 365 Audio Conferencing (medium.com/365uc audio conferencing pricing)"),
    ("AAD_PREMIUM", 600, "Microsoft Entra ID P1 (samexpert.com Entra ID licensing guide)"),
    ("AAD_PREMIUM_P2", 900, "Microsoft Entra ID P2 (samexpert.com Entra ID licensing guide)"),
    ("Microsoft_365_Copilot", 3_000, "Microsoft 365 Copilot (redresscompliance.com Copilot licensing page)"),
];

/// What a downgrade candidate moves to: `(from, to)` by `skuPartNumber`.
pub const DOWNGRADES: &[(&str, &str)] = &[("SPE_E5", "SPE_E3"), ("ENTERPRISEPREMIUM", "ENTERPRISEPACK")];

/// The prices in force for one tenant: defaults with its overrides applied.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    prices: BTreeMap<String, Price>,
}

impl PriceBook {
    pub fn defaults() -> Self {
        let prices = DEFAULTS
            .iter()
            .map(|(part, cents, source)| {
                let price = Price {
                    amount_minor: *cents,
                    currency: "USD".into(),
                    origin: "default",
                    source: (*source).to_string(),
                };
                (part.to_ascii_uppercase(), price)
            })
            .collect();
        Self { prices }
    }

    pub fn for_tenant(overrides: &[PriceOverrideRow]) -> Self {
        let mut book = Self::defaults();
        for row in overrides {
            book.prices.insert(
                row.sku_part_number.to_ascii_uppercase(),
                Price {
                    amount_minor: row.amount_minor,
                    currency: row.currency.to_ascii_uppercase(),
                    origin: "override",
                    source: format!("set by {} at {}", row.updated_by, row.updated_at),
                },
            );
        }
        book
    }

    /// The price of a `skuPartNumber` (case-insensitive), if known.
    pub fn get(&self, sku_part_number: &str) -> Option<&Price> {
        self.prices.get(&sku_part_number.to_ascii_uppercase())
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Price)> {
        self.prices.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_in_their_own_currency() {
        let row = PriceOverrideRow {
            tenant_id: "t".into(),
            sku_part_number: "spe_e3".into(),
            amount_minor: 3_390,
            currency: "eur".into(),
            updated_at: chrono::NaiveDateTime::default(),
            updated_by: "admin@x.example".into(),
        };
        let book = PriceBook::for_tenant(&[row]);
        let e3 = book.get("SPE_E3").unwrap();
        assert_eq!((e3.amount_minor, e3.currency.as_str(), e3.origin), (3_390, "EUR", "override"));
        assert_eq!(book.get("SPE_E5").unwrap().currency, "USD");
        assert!(book.get("UNKNOWN_SKU").is_none());
    }

    #[test]
    fn every_default_names_its_source_and_downgrades_are_priced() {
        let book = PriceBook::defaults();
        assert!(DEFAULTS.iter().all(|(_, cents, source)| *cents > 0 && !source.is_empty()));
        for (from, to) in DOWNGRADES {
            assert!(book.get(from).unwrap().amount_minor > book.get(to).unwrap().amount_minor);
        }
    }
}
