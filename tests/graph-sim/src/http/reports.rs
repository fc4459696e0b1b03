//! Usage reports: `getTeamsUserActivityUserDetail(period=…|date=…)` and `getTeamsUserActivityCounts(period=…)`
//! answer `302 Found` to a short-lived download URL; the download (`/_download/{token}`) streams the CSV.
//! The download refuses requests that carry an `Authorization` header: Microsoft's links need none, and a client
//! that forwards its Graph token to the download host leaks it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use chrono::Duration;
use futures::stream;

use super::{authorize, base_url, graph_error};
use crate::report::{self, HEADER, PERIODS};
use crate::sim::{Download, Sim};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1.0/reports/{function}", web::get().to(report)).route("/_download/{token}", web::get().to(download));
}

/// Parses `name(period='D30')`, `name(period=%27D30%27)` or `name(date=2026-11-20)`.
fn parse_function(raw: &str) -> Option<(String, String, String)> {
    let decoded = percent_decode(raw);
    let (name, rest) = decoded.split_once('(')?;
    let args = rest.strip_suffix(')')?;
    let (key, value) = args.split_once('=')?;
    Some((name.to_string(), key.trim().to_string(), value.trim().trim_matches('\'').to_string()))
}

fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

async fn report(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let (tenant, _) = match authorize(&sim, &req, crate::permissions::REPORTS) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let Some((name, key, value)) = parse_function(&path.into_inner()) else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Resource not found for the segment.");
    };
    let known = ["getTeamsUserActivityUserDetail", "getTeamsUserActivityCounts"];
    if !known.contains(&name.as_str()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{name}'."),
        );
    }
    let period_days = match key.as_str() {
        "period" if PERIODS.contains(&value.as_str()) => value[1..].parse::<i64>().unwrap_or(30),
        "date" if name == "getTeamsUserActivityUserDetail" => {
            match chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
                Ok(date) if (tenant.clock.date_naive() - date).num_days() <= 30 => 1,
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid value for 'date': must be within the last 30 days.",
                    );
                }
            }
        }
        _ => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &format!("Invalid {key} value '{value}'.")),
    };
    let token = sim.new_download(Download {
        tenant: tenant.id.clone(),
        report: name,
        period_days,
        expires: sim.now() + Duration::minutes(5),
    });
    HttpResponse::Found().insert_header(("Location", format!("{}/_download/{token}", base_url(&req)))).finish()
}

async fn download(sim: web::Data<Sim>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    if req.headers().contains_key("authorization") {
        return HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("The download link is pre-authenticated: do not send an Authorization header to it.");
    }
    let Some(download) = sim.download(&path.into_inner()) else {
        return HttpResponse::NotFound().content_type("text/plain").body("Unknown download link.");
    };
    if download.expires < sim.now() {
        return HttpResponse::Forbidden().content_type("text/plain").body("The download link has expired.");
    }
    let Some(tenant) = sim.tenant(&download.tenant).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    if download.report == "getTeamsUserActivityCounts" {
        let refresh = (tenant.clock - Duration::days(2)).date_naive();
        let body = format!(
            "\u{feff}Report Refresh Date,Report Date,Team Chat Messages,Post Messages,Reply Messages,Private Chat Messages,Calls,Meetings,Audio Duration,Video Duration,Screen Share Duration,Meetings Organized,Meetings Attended,Report Period\n{refresh},{refresh},0,0,0,0,0,0,PT0S,PT0S,PT0S,0,0,{}\n",
            download.period_days
        );
        return HttpResponse::Ok().content_type("application/octet-stream").body(body);
    }
    // Streamed in chunks of 1,000 users, so a 100k-user report never sits in memory.
    const CHUNK: u32 = 1_000;
    let sim = sim.into_inner();
    let index = usize::from(tenant.index);
    let period = download.period_days;
    let body = stream::unfold(0u32, move |chunk| {
        let sim = sim.clone();
        async move {
            let tenant = sim.tenants.get(index)?;
            if chunk == 0 {
                return Some((Ok::<Bytes, actix_web::Error>(Bytes::from(format!("\u{feff}{HEADER}\n"))), 1));
            }
            let start = (chunk - 1).saturating_mul(CHUNK);
            if start >= tenant.spec.users {
                return None;
            }
            let end = (start + CHUNK).min(tenant.spec.users);
            let mut text = String::with_capacity(CHUNK as usize * 256);
            for user in start..end {
                if let Some(row) = report::row(tenant, &tenant.user(user), period) {
                    text.push_str(&row);
                }
            }
            Some((Ok(Bytes::from(text)), chunk + 1))
        }
    });
    HttpResponse::Ok().content_type("application/octet-stream").streaming(body)
}
