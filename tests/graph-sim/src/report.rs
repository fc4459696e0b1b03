//! The Teams user activity report (`getTeamsUserActivityUserDetail`) as CSV, streamed a user at a time.
//! The header line is Microsoft's, verbatim (reportroot-getteamsuseractivityuserdetail.md, 33 columns); the body
//! starts with a UTF-8 byte-order mark, as the downloads commonly do. With concealed names (the tenant default
//! since 2021) the User Principal Name is a 32-character upper-case hex pseudonym.

use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::catalog;
use crate::rng::Rng;
use crate::tenant::{SignIn, SimUser, TenantModel};

pub const HEADER: &str = "Report Refresh Date,Tenant Display Name,Shared Channel Tenant Display Names,User Id,User Principal Name,Last Activity Date,Is Deleted,Deleted Date,Assigned Products,Team Chat Message Count,Private Chat Message Count,Call Count,Meeting Count,Post Messages,Reply Messages,Urgent Messages,Meetings Organized Count,Meetings Attended Count,Ad Hoc Meetings Organized Count,Ad Hoc Meetings Attended Count,Scheduled One-time Meetings Organized Count,Scheduled One-time Meetings Attended Count,Scheduled Recurring Meetings Organized Count,Scheduled Recurring Meetings Attended Count,Audio Duration,Video Duration,Screen Share Duration,Audio Duration In Seconds,Video Duration In Seconds,Screen Share Duration In Seconds,Has Other Action,Is Licensed,Report Period";

pub const PERIODS: &[&str] = &["D7", "D30", "D90", "D180"];

/// Whether a user appears in the report (every licensed user).
pub fn included(user: &SimUser) -> bool {
    user.is_licensed()
}

/// The pseudonym Microsoft shows instead of a name when names are concealed.
pub fn conceal(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02X}")).collect()
}

fn iso_duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("PT{s}S"),
        (0, _) => format!("PT{m}M{s}S"),
        _ => format!("PT{h}H{m}M{s}S"),
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_string() }
}

/// One data line (with its newline) for `user`, or `None` when the user is not in the report.
pub fn row(tenant: &TenantModel, user: &SimUser, period_days: i64) -> Option<String> {
    if !included(user) {
        return None;
    }
    let mut rng = Rng::for_key(&[tenant.seed, u64::from(tenant.index), 0x7e9, u64::from(user.index)]);
    let refresh = (tenant.clock - Duration::days(2)).date_naive();
    let active_days_ago = match user.sign_in {
        SignIn::DaysAgo(days) if user.teams_active && user.has_plan(&catalog::TEAMS1) => Some(days + 2),
        _ => None,
    };
    let active = active_days_ago.is_some_and(|d| d <= period_days);
    let mut scale =
        |max: u64| if active { rng.below(max * u64::try_from(period_days).unwrap_or(1) / 7 + 1) } else { 0 };
    let chat = scale(40);
    let private = scale(60);
    let calls = scale(12);
    let organized = scale(4);
    let attended = scale(10);
    let audio = i64::try_from(calls * 300 + attended * 900).unwrap_or(0);
    let video = audio / 3;
    let share = audio / 10;
    let products: Vec<&str> = user.licences.iter().map(|(sku, _)| sku.product_name).collect();
    let upn =
        if tenant.spec.concealed_names { conceal(&user.user_principal_name) } else { user.user_principal_name.clone() };
    let last_activity =
        active_days_ago.map(|d| (tenant.clock - Duration::days(d)).date_naive().to_string()).unwrap_or_default();
    let fields: Vec<String> = vec![
        refresh.to_string(),
        csv_field(&tenant.display_name),
        String::new(),
        user.id.clone(),
        upn,
        last_activity,
        "False".into(),
        String::new(),
        csv_field(&products.join("+")),
        chat.to_string(),
        private.to_string(),
        calls.to_string(),
        (organized + attended).to_string(),
        (chat / 5).to_string(),
        (chat / 3).to_string(),
        "0".into(),
        organized.to_string(),
        attended.to_string(),
        (organized / 2).to_string(),
        (attended / 3).to_string(),
        (organized / 4).to_string(),
        (attended / 3).to_string(),
        (organized / 4).to_string(),
        (attended / 3).to_string(),
        iso_duration(audio),
        iso_duration(video),
        iso_duration(share),
        audio.to_string(),
        video.to_string(),
        share.to_string(),
        if active { "Yes" } else { "No" }.into(),
        if user.has_plan(&catalog::TEAMS1) { "Yes" } else { "No" }.into(),
        period_days.to_string(),
    ];
    Some(format!("{}\n", fields.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_has_the_33_documented_columns() {
        assert_eq!(HEADER.split(',').count(), 33);
    }

    #[test]
    fn concealed_names_look_like_microsofts_pseudonyms() {
        let hidden = conceal("adele.vance@contoso.example");
        assert_eq!(hidden.len(), 32);
        assert!(hidden.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }
}
