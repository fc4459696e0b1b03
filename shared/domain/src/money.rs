//! Money: integer minor units of an ISO 4217 currency, never summed across currencies.

/// Decimal places of an ISO 4217 currency's minor unit (2 unless listed).
pub fn minor_unit_digits(currency: &str) -> u32 {
    match currency.to_ascii_uppercase().as_str() {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "XAF" | "XOF" | "PYG" | "UGX" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "IQD" | "LYD" | "TND" => 3,
        _ => 2,
    }
}

/// A decimal amount in minor units, rounded half away from zero.
pub fn to_minor(amount: f64, currency: &str) -> i64 {
    let scale = 10f64.powi(minor_unit_digits(currency) as i32);
    (amount * scale).round() as i64
}
