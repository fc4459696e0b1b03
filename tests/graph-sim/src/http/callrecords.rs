//! Call records: `GET callRecords/{id}` (with `$expand=sessions($expand=segments)` or `participants_v2`, 60
//! sessions / 130 participants per page and their `@odata.nextLink`s), `GET callRecords` (`$filter` on
//! `startDateTime`, 60 per page), `getPstnCalls` and `getDirectRoutingCalls` (≤ 90 days, 1,000 rows per page).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

use super::{authorize, base_url, graph_error};
use crate::calls::{self, CallHeader};
use crate::pstn;
use crate::sim::Sim;
use crate::tenant::{TenantModel, day_number};

const SESSIONS_PER_PAGE: usize = 60;
const PARTICIPANTS_PER_PAGE: usize = 130;
const RECORDS_PER_PAGE: usize = 60;
const LOG_ROWS_PER_PAGE: usize = 1_000;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1.0/communications/callRecords", web::get().to(list))
        .route("/v1.0/communications/callRecords/{id}", web::get().to(get))
        .route("/v1.0/communications/callRecords/{id}/sessions", web::get().to(sessions_page))
        .route("/v1.0/communications/callRecords/{id}/participants_v2", web::get().to(participants_page));
}

fn not_found(id: &str) -> HttpResponse {
    graph_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// `Prefer: odata.maxpagesize=n`, capped at the endpoint's maximum.
fn page_size(req: &HttpRequest, max: usize) -> usize {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|n| n.trim().parse::<usize>().ok())
        .next()
        .map_or(max, |n| n.clamp(1, max))
}

fn skip(query: &HashMap<String, String>) -> usize {
    query.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn with_segments(mut sessions: Vec<Value>, segments: bool) -> Vec<Value> {
    if !segments {
        for session in &mut sessions {
            if let Some(object) = session.as_object_mut() {
                object.remove("segments");
            }
        }
    }
    sessions
}

/// The tenant (from the token) and the call a request names, or the answer Graph gives instead.
fn requested_call<'a>(
    sim: &'a Sim,
    req: &HttpRequest,
    id: &str,
) -> Result<(&'a TenantModel, CallHeader), HttpResponse> {
    let (tenant, _) = authorize(sim, req, crate::permissions::CALL_RECORDS)?;
    let call = sim.call_by_id(tenant, id).ok_or_else(|| not_found(id))?;
    Ok((tenant, call))
}

async fn get(
    sim: web::Data<Sim>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let id = path.into_inner();
    if let Some(rest) = id.strip_prefix("getPstnCalls(") {
        return log_rows(&sim, &req, &query, rest, false);
    }
    if let Some(rest) = id.strip_prefix("getDirectRoutingCalls(") {
        return log_rows(&sim, &req, &query, rest, true);
    }
    let (tenant, call) = match requested_call(&sim, &req, &id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let base = base_url(&req);
    let mut body = calls::record(tenant, &call, sim.version(&call.id));
    let expand = query.get("$expand").map(|e| e.replace(' ', "")).unwrap_or_default();
    body["@odata.context"] = json!(format!("{base}/v1.0/$metadata#communications/callRecords/$entity"));
    body["organizer_v2@odata.context"] =
        json!(format!("{base}/v1.0/$metadata#communications/callRecords('{id}')/organizer_v2/$entity"));
    if expand.starts_with("sessions") {
        let segments = expand.contains("segments");
        let all = calls::sessions(tenant, &call);
        let size = page_size(&req, SESSIONS_PER_PAGE);
        body["@odata.context"] = json!(format!(
            "{base}/v1.0/$metadata#communications/callRecords({})/$entity",
            if segments { "sessions(segments())" } else { "sessions()" }
        ));
        body["sessions"] = json!(with_segments(all.iter().take(size).cloned().collect(), segments));
        if all.len() > size {
            let expand = if segments { "?$expand=segments&" } else { "?" };
            body["sessions@odata.nextLink"] =
                json!(format!("{base}/v1.0/communications/callRecords/{id}/sessions{expand}$skiptoken={size}"));
        }
    } else if expand == "participants_v2" {
        let all = calls::participants(tenant, &call);
        body["participants_v2"] = json!(all.iter().take(PARTICIPANTS_PER_PAGE).collect::<Vec<_>>());
        if all.len() > PARTICIPANTS_PER_PAGE {
            body["participants_v2@odata.nextLink"] = json!(format!(
                "{base}/v1.0/communications/callRecords/{id}/participants_v2?$skiptoken={PARTICIPANTS_PER_PAGE}"
            ));
        }
    } else if !expand.is_empty() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Could not find a property named '{expand}' to expand."),
        );
    }
    HttpResponse::Ok().json(body)
}

async fn sessions_page(
    sim: web::Data<Sim>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let id = path.into_inner();
    let (tenant, call) = match requested_call(&sim, &req, &id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let segments = query.get("$expand").is_some_and(|e| e.contains("segments"));
    let all = calls::sessions(tenant, &call);
    let size = page_size(&req, SESSIONS_PER_PAGE);
    let from = skip(&query).min(all.len());
    let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
    let base = base_url(&req);
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#communications/callRecords('{id}')/sessions"),
        "value": with_segments(page, segments)
    });
    if from + size < all.len() {
        let expand = if segments { "$expand=segments&" } else { "" };
        body["@odata.nextLink"] =
            json!(format!("{base}/v1.0/communications/callRecords/{id}/sessions?{expand}$skiptoken={}", from + size));
    }
    HttpResponse::Ok().json(body)
}

async fn participants_page(
    sim: web::Data<Sim>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let id = path.into_inner();
    let (tenant, call) = match requested_call(&sim, &req, &id) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let all = calls::participants(tenant, &call);
    let from = skip(&query).min(all.len());
    let base = base_url(&req);
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#communications/callRecords('{id}')/participants_v2"),
        "value": all.iter().skip(from).take(PARTICIPANTS_PER_PAGE).collect::<Vec<_>>()
    });
    if from + PARTICIPANTS_PER_PAGE < all.len() {
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/communications/callRecords/{id}/participants_v2?$skiptoken={}",
            from + PARTICIPANTS_PER_PAGE
        ));
    }
    HttpResponse::Ok().json(body)
}

/// Parses the `startDateTime` clauses of a `$filter` into `[from, to)`.
fn parse_filter(filter: &str, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let (mut from, mut to) =
        (now - chrono::Duration::days(crate::sim::RETENTION_DAYS), now + chrono::Duration::days(1));
    for clause in filter.split(" and ").filter(|c| !c.trim().is_empty()) {
        let parts: Vec<&str> = clause.split_whitespace().collect();
        let [field, op, value] = parts.as_slice() else {
            return Err(format!("Invalid filter clause: '{clause}'."));
        };
        if !field.eq_ignore_ascii_case("startDateTime") {
            return Err(format!("The simulator filters only on startDateTime, not '{field}'."));
        }
        let at = DateTime::parse_from_rfc3339(value.trim_matches('\''))
            .map_err(|_| format!("'{value}' is not a valid DateTimeOffset."))?
            .with_timezone(&Utc);
        match *op {
            "ge" => from = from.max(at),
            "gt" => from = from.max(at + chrono::Duration::microseconds(1)),
            "lt" => to = to.min(at),
            "le" => to = to.min(at + chrono::Duration::microseconds(1)),
            other => return Err(format!("Operator '{other}' is not supported on startDateTime.")),
        }
    }
    Ok((from, to))
}

/// Cursor for lists: `"{day}.{position}"` (position within that day's slots).
fn cursor(query: &HashMap<String, String>) -> Option<(u32, usize)> {
    let token = query.get("$skiptoken")?;
    let (day, position) = token.split_once('.')?;
    Some((day.parse().ok()?, position.parse().ok()?))
}

async fn list(sim: web::Data<Sim>, req: HttpRequest, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::CALL_RECORDS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let filter = query.get("$filter").cloned().unwrap_or_default();
    let (from, to) = match parse_filter(&filter, sim.now()) {
        Ok(window) => window,
        Err(message) => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message),
    };
    let size = page_size(&req, RECORDS_PER_PAGE);
    let (mut day, mut position) = cursor(&query).unwrap_or((day_number(from.date_naive()).saturating_sub(1), 0));
    let last_day = day_number(to.date_naive());
    let mut page = Vec::new();
    let mut next = None;
    'days: while day <= last_day {
        let count = sim.slot_count(tenant, day);
        while position < count {
            if page.len() == size {
                next = Some((day, position));
                break 'days;
            }
            if let Some(call) = sim.slot_at(tenant, day, position).and_then(|slot| sim.call(tenant, day, slot))
                && call.start >= from
                && call.start < to
            {
                page.push(calls::record(tenant, &call, sim.version(&call.id)));
            }
            position += 1;
        }
        day += 1;
        position = 0;
    }
    let base = base_url(&req);
    let mut body =
        json!({ "@odata.context": format!("{base}/v1.0/$metadata#communications/callRecords"), "value": page });
    if let Some((day, position)) = next {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if !filter.is_empty() {
            pairs.append_pair("$filter", &filter);
        }
        pairs.append_pair("$skiptoken", &format!("{day}.{position}"));
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/communications/callRecords?{}", pairs.finish()));
    }
    HttpResponse::Ok().json(body)
}

/// `fromDateTime=2026-11-01,toDateTime=2026-11-30T00:00:00Z)` (dates or date-times).
fn parse_window(args: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let args = percent(args);
    let args = args.trim_end_matches(')');
    let mut from = None;
    let mut to = None;
    for pair in args.split(',') {
        let (key, value) = pair.split_once('=')?;
        let value = value.trim().trim_matches('\'');
        let at = DateTime::parse_from_rfc3339(value).map(|d| d.with_timezone(&Utc)).ok().or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| Utc.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).single())
        })?;
        match key.trim() {
            "fromDateTime" | "from" => from = Some(at),
            "toDateTime" | "to" => to = Some(at),
            _ => return None,
        }
    }
    Some((from?, to?))
}

fn percent(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

fn log_rows(
    sim: &Sim,
    req: &HttpRequest,
    query: &HashMap<String, String>,
    args: &str,
    direct_routing: bool,
) -> HttpResponse {
    let (tenant, _) = match authorize(sim, req, crate::permissions::PSTN_LOGS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Some((from, to)) = parse_window(args) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "fromDateTime and toDateTime are required date-times.",
        );
    };
    if to < from || (to - from) > chrono::Duration::days(90) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The date range between fromDateTime and toDateTime cannot be more than 90 days.",
        );
    }
    let (mut day, mut position) = cursor(query).unwrap_or((day_number(from.date_naive()), 0));
    let last_day = day_number(to.date_naive());
    let mut rows = Vec::new();
    let mut next = None;
    'days: while day <= last_day {
        let count = sim.slot_count(tenant, day);
        while position < count {
            if rows.len() == LOG_ROWS_PER_PAGE {
                next = Some((day, position));
                break 'days;
            }
            if let Some(call) = sim.slot_at(tenant, day, position).and_then(|slot| sim.call(tenant, day, slot)) {
                // getPstnCalls: both ends inclusive; getDirectRoutingCalls: toDateTime exclusive.
                let in_window = call.start >= from && if direct_routing { call.start < to } else { call.start <= to };
                let row = if direct_routing {
                    pstn::direct_routing_row(tenant, &call)
                } else {
                    pstn::pstn_row(tenant, &call)
                };
                if in_window && let Some(row) = row {
                    rows.push(row);
                }
            }
            position += 1;
        }
        day += 1;
        position = 0;
    }
    let base = base_url(req);
    let (function, row_type) = if direct_routing {
        ("getDirectRoutingCalls", "directRoutingLogRow")
    } else {
        ("getPstnCalls", "pstnCallLogRow")
    };
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#Collection(microsoft.graph.callRecords.{row_type})"),
        "@odata.count": rows.len(),
        "value": rows
    });
    if let Some((day, position)) = next {
        let window = format!(
            "fromDateTime={},toDateTime={}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        body["@odata.nextLink"] =
            json!(format!("{base}/v1.0/communications/callRecords/{function}({window})?$skiptoken={day}.{position}"));
    }
    HttpResponse::Ok().json(body)
}
