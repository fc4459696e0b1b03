//! `subscribedSkus`, `users` pages and the Teams user activity report → snapshot rows.

use anyhow::{Context, anyhow};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;
use sua_db::models::{AssignmentRow, SkuPlanRow, SkuRow, TeamsActivityRow, UserRow};
use sua_domain::graph::directory::{Page, SubscribedSku, User};

use super::{non_empty, text_without_nul, without_nul};

/// A page's items as Graph documents them.
fn page<T: serde::de::DeserializeOwned>(body: &Value, what: &str) -> anyhow::Result<Vec<T>> {
    let body = without_nul(body);
    let page =
        Page::<T>::deserialize(&*body).with_context(|| format!("the {what} page is not as Graph documents it"))?;
    Ok(page.value)
}

/// The body of `GET /subscribedSkus`.
pub fn skus(run_id: &str, tenant_id: &str, body: &Value) -> anyhow::Result<(Vec<SkuRow>, Vec<SkuPlanRow>)> {
    let mut rows = Vec::new();
    let mut plans = Vec::new();
    for sku in page::<SubscribedSku>(body, "subscribedSkus")? {
        let sku_id = sku.sku_id.to_ascii_lowercase();
        let prepaid = &sku.prepaid_units;
        rows.push(SkuRow {
            run_id: run_id.to_string(),
            tenant_id: tenant_id.to_string(),
            sku_id: sku_id.clone(),
            sku_part_number: sku.sku_part_number.clone(),
            capability_status: non_empty(sku.capability_status).unwrap_or_else(|| "Enabled".into()),
            applies_to: non_empty(sku.applies_to).unwrap_or_else(|| "User".into()),
            enabled: prepaid.enabled,
            warning: prepaid.warning,
            suspended: prepaid.suspended,
            locked_out: prepaid.locked_out,
            consumed: sku.consumed_units,
        });
        for plan in sku.service_plans {
            plans.push(SkuPlanRow {
                run_id: run_id.to_string(),
                sku_id: sku_id.clone(),
                plan_id: plan.service_plan_id.to_ascii_lowercase(),
                plan_name: plan.service_plan_name.unwrap_or_default(),
                applies_to: non_empty(plan.applies_to).unwrap_or_else(|| "User".into()),
                provisioning_status: plan.provisioning_status.unwrap_or_default(),
            });
        }
    }
    rows.sort_by(|a, b| a.sku_id.cmp(&b.sku_id));
    rows.dedup_by(|a, b| a.sku_id == b.sku_id);
    plans.sort_by(|a, b| (&a.sku_id, &a.plan_id).cmp(&(&b.sku_id, &b.plan_id)));
    plans.dedup_by(|a, b| a.sku_id == b.sku_id && a.plan_id == b.plan_id);
    Ok((rows, plans))
}

/// One page of `GET /users`. Sign-in times are read only when the page selected `signInActivity`.
pub fn users(
    run_id: &str,
    tenant_id: &str,
    body: &Value,
    sign_in_activity: bool,
) -> anyhow::Result<(Vec<UserRow>, Vec<AssignmentRow>)> {
    let mut rows = Vec::new();
    let mut assignments = Vec::new();
    for user in page::<User>(body, "users")? {
        let id = user.id.to_ascii_lowercase();
        let user_principal_name =
            non_empty(user.user_principal_name).ok_or_else(|| anyhow!("user {id} has no userPrincipalName"))?;
        for licence in &user.assigned_licenses {
            let mut disabled: Vec<String> = licence.disabled_plans.iter().map(|p| p.to_ascii_lowercase()).collect();
            disabled.sort();
            assignments.push(AssignmentRow {
                run_id: run_id.to_string(),
                tenant_id: tenant_id.to_string(),
                user_id: id.clone(),
                sku_id: licence.sku_id.to_ascii_lowercase(),
                disabled_plans: disabled.join(","),
            });
        }
        let sign_in = user.sign_in_activity.filter(|_| sign_in_activity).unwrap_or_default();
        rows.push(UserRow {
            run_id: run_id.to_string(),
            tenant_id: tenant_id.to_string(),
            id,
            user_principal_name,
            display_name: user.display_name.unwrap_or_default(),
            mail: non_empty(user.mail),
            department: non_empty(user.department),
            job_title: non_empty(user.job_title),
            office_location: non_empty(user.office_location),
            country: non_empty(user.country),
            usage_location: non_empty(user.usage_location),
            account_enabled: user.account_enabled,
            user_type: non_empty(user.user_type),
            created_at: user.created_date_time.map(|t| t.0),
            last_successful_sign_in: sign_in.last_successful_sign_in_date_time.map(|t| t.0),
            last_sign_in: sign_in.last_sign_in_date_time.map(|t| t.0),
            licences: i32::try_from(user.assigned_licenses.len()).unwrap_or(i32::MAX),
        });
    }
    Ok((rows, assignments))
}

/// One chunk of the `getTeamsUserActivityUserDetail` CSV (header line first; a UTF-8 BOM is allowed).
pub fn teams_activity(
    run_id: &str,
    tenant_id: &str,
    period: &str,
    csv_text: &str,
) -> anyhow::Result<Vec<TeamsActivityRow>> {
    let csv_text = text_without_nul(csv_text);
    let csv_text = csv_text.strip_prefix('\u{feff}').unwrap_or(&csv_text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv_text.as_bytes());
    let headers = reader.headers().context("the report has no header line")?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let user_id_at = column("User Id");
    let upn_at = column("User Principal Name").ok_or_else(|| anyhow!("the report has no User Principal Name"))?;
    let (refresh, last, team_chat, private_chat, calls, meetings, organized, audio, video, share, licensed) = (
        column("Report Refresh Date"),
        column("Last Activity Date"),
        column("Team Chat Message Count"),
        column("Private Chat Message Count"),
        column("Call Count"),
        column("Meeting Count"),
        column("Meetings Organized Count"),
        column("Audio Duration In Seconds"),
        column("Video Duration In Seconds"),
        column("Screen Share Duration In Seconds"),
        column("Is Licensed"),
    );
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("report line {} is not CSV", line + 2))?;
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("");
        let number = |i: Option<usize>| field(i).parse::<i64>().unwrap_or(0);
        let date = |i: Option<usize>| NaiveDate::parse_from_str(field(i), "%Y-%m-%d").ok();
        let reported_name = field(Some(upn_at)).to_string();
        let user_id = Some(field(user_id_at).to_ascii_lowercase()).filter(|s| !s.is_empty());
        let user_key = user_id.clone().unwrap_or_else(|| reported_name.clone());
        if user_key.is_empty() {
            return Err(anyhow!("report line {} names no user", line + 2));
        }
        rows.push(TeamsActivityRow {
            run_id: run_id.to_string(),
            tenant_id: tenant_id.to_string(),
            user_key,
            user_id,
            reported_name,
            period: period.to_string(),
            report_refresh_date: date(refresh),
            last_activity_date: date(last),
            team_chat_messages: number(team_chat),
            private_chat_messages: number(private_chat),
            calls: number(calls),
            meetings: number(meetings),
            meetings_organized: number(organized),
            audio_seconds: number(audio),
            video_seconds: number(video),
            screen_share_seconds: number(share),
            is_licensed: match field(licensed) {
                "Yes" => Some(true),
                "No" => Some(false),
                _ => None,
            },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skus_read_prepaid_units_and_plans() {
        // From the subscribedSku list example in Microsoft's Graph reference.
        let body = json!({"value": [{
            "capabilityStatus": "Enabled", "consumedUnits": 14, "id": "x_c7df2760",
            "prepaidUnits": {"enabled": 25, "suspended": 1, "warning": 2, "lockedOut": 0},
            "servicePlans": [{"servicePlanId": "8C098270-9DD4-4350-9B30-BA4703F3B36B", "servicePlanName": "ADALLOM_S_O365",
                              "provisioningStatus": "Success", "appliesTo": "User"}],
            "skuId": "c7df2760-2c81-4ef7-b578-5b5392b571df", "skuPartNumber": "ENTERPRISEPREMIUM", "appliesTo": "User"
        }]});
        let (skus, plans) = skus("r", "t", &body).unwrap();
        assert_eq!((skus[0].enabled, skus[0].warning, skus[0].suspended, skus[0].consumed), (25, 2, 1, 14));
        assert_eq!(plans[0].plan_id, "8c098270-9dd4-4350-9b30-ba4703f3b36b");
        assert!(super::skus("r", "t", &json!({"value": [{"consumedUnits": 1}]})).is_err());
    }

    #[test]
    fn sign_in_is_read_only_when_selected() {
        let body = json!({"value": [{
            "id": "U1", "userPrincipalName": "a@x.example", "accountEnabled": false,
            "assignedLicenses": [{"skuId": "S1", "disabledPlans": ["P2", "P1"]}],
            "signInActivity": {"lastSuccessfulSignInDateTime": "2026-11-01T10:00:00Z", "lastSignInDateTime": null}
        }]});
        let (users, licences) = users("r", "t", &body, true).unwrap();
        assert_eq!(users[0].id, "u1");
        assert_eq!(users[0].account_enabled, Some(false));
        assert!(users[0].last_successful_sign_in.is_some());
        assert_eq!(licences[0].disabled_plans, "p1,p2");
        let (unmeasured, _) = super::users("r", "t", &body, false).unwrap();
        assert_eq!(unmeasured[0].last_successful_sign_in, None);
    }

    #[test]
    fn the_report_parses_with_a_bom_and_concealed_names() {
        let csv = "\u{feff}Report Refresh Date,User Id,User Principal Name,Last Activity Date,Call Count,Is Licensed\n\
                   2026-11-24,00000000-0000-0000-0000-00000000000A,0123456789ABCDEF0123456789ABCDEF,2026-11-20,3,Yes\n\
                   2026-11-24,,FEDCBA9876543210FEDCBA9876543210,,0,No\n";
        let rows = teams_activity("r", "t", "D30", csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user_key, "00000000-0000-0000-0000-00000000000a");
        assert_eq!(rows[0].calls, 3);
        assert_eq!(rows[1].user_key, "FEDCBA9876543210FEDCBA9876543210");
        assert_eq!(rows[1].last_activity_date, None);
        assert_eq!(rows[1].is_licensed, Some(false));
    }
}
