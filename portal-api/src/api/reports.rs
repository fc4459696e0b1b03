//! Every list as CSV or XLSX, streamed: pages are read and written one after another while the response is sent.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use sua_db::DbError;
use sua_db::models::portal::{self, FindingFilter};
use utoipa::IntoParams;

use super::calls::GroupBy;
use super::users::{Order, SortKey, UsersQuery, UsersRequest, prepare};
use super::{ApiResult, Refusals, State, date_range, visible_tenant};
use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::export::{Cell, Exporter, Format};

/// Rows read per query while exporting.
const PAGE: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Licences,
    Users,
    Findings,
    CallUsage,
    CallQuality,
    PstnUsage,
}

impl Report {
    const ALL: &[(&str, Report)] = &[
        ("licences", Report::Licences),
        ("users", Report::Users),
        ("findings", Report::Findings),
        ("call-usage", Report::CallUsage),
        ("call-quality", Report::CallQuality),
        ("pstn-usage", Report::PstnUsage),
    ];
}

/// The filters of the list being exported (each report reads its own).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// users: holding a licence or not.
    pub licensed: Option<bool>,
    /// users, findings: a SKU.
    pub sku: Option<String>,
    /// users, findings: a department.
    pub department: Option<String>,
    /// users: no successful sign-in in this many days.
    #[param(minimum = 0, maximum = 3650)]
    pub inactive_days: Option<i64>,
    /// users: account enabled or not.
    pub enabled: Option<bool>,
    /// users: display name, principal name or mail contains this text.
    #[param(max_length = 200)]
    pub search: Option<String>,
    /// users: sort key.
    #[param(inline)]
    pub sort: Option<SortKey>,
    #[param(inline)]
    pub order: Option<Order>,
    /// findings: kind.
    pub kind: Option<String>,
    /// findings: a user id or principal name.
    pub user: Option<String>,
    /// call-usage, call-quality, pstn-usage: first day.
    pub from: Option<NaiveDate>,
    /// call-usage, call-quality, pstn-usage: last day.
    pub to: Option<NaiveDate>,
    /// call-usage, pstn-usage: grouping.
    #[param(inline)]
    pub group_by: Option<GroupBy>,
}

/// A list as a file: `licences`, `users`, `findings`, `call-usage`, `call-quality` or `pstn-usage`, as `.csv` or
/// `.xlsx`. Money is in major units with its currency beside it (in XLSX a number in that currency's format),
/// dates and instants (UTC) are dates, flags are booleans. `pstn-usage` has a row per group, source (`pstn` for
/// Calling Plans, `direct_routing`) and currency, so that no amount is summed across currencies.
#[utoipa::path(
    tag = "reports",
    params(
        ("tenant_id" = String, Path, description = "Customer tenant id"),
        ("file" = String, Path, description = "`{report}.{csv|xlsx}`, e.g. `users.xlsx`"),
        ReportQuery
    ),
    responses(
        (status = 200, description = "The report, streamed", content(
            ("text/csv"),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        )),
        Refusals
    ),
    security(("bearer" = []))
)]
#[get("/tenants/{tenant_id}/reports/{file}")]
pub async fn get_report(
    state: State,
    principal: Principal,
    path: web::Path<(String, String)>,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let (tenant_id, file) = path.into_inner();
    let tenant = visible_tenant(&state, &principal, &tenant_id, false).await?;
    let (name, extension) = file.rsplit_once('.').unwrap_or((file.as_str(), ""));
    let format = match extension {
        "csv" => Format::Csv,
        "xlsx" => Format::Xlsx,
        _ => return Err(ApiError::NotFound("reports are .csv or .xlsx".into())),
    };
    let Some(report) = Report::ALL.iter().find(|(n, _)| *n == name).map(|(_, r)| *r) else {
        let names: Vec<&str> = Report::ALL.iter().map(|(n, _)| *n).collect();
        return Err(ApiError::NotFound(format!("no such report; reports are {}", names.join(", "))));
    };
    let query = query.into_inner();
    // Everything that can be refused is checked before the first byte goes out.
    let job = Job::new(report, &query)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, ApiError>>(4);
    let state: Arc<AppState> = state.get_ref().clone();
    let filename = format!("{}-{}-{}.{}", tenant.id, name, sua_core::clock::now().format("%Y%m%d"), format.extension());
    tokio::spawn(async move {
        if let Err(error) = job.run(&state, &tenant.id, format, &tx).await {
            tracing::warn!(error = %error, tenant = %tenant.id, "export failed");
            let _ = tx.send(Err(export_error(error))).await;
        }
    });
    // The first bytes come after the first page was read: a failure to start is a problem answer, not a 200
    // cut short. Later failures abort the transfer (no final chunk), which clients report as an error.
    let first = match rx.recv().await {
        Some(Ok(bytes)) => bytes,
        Some(Err(error)) => return Err(error),
        None => return Err(ApiError::Internal("the export ended without a byte".into())),
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let stream = futures::stream::once(async move { Ok::<_, ApiError>(first) })
        .chain(rest)
        .map(|item| item.map_err(|_| std::io::Error::other("export failed")));
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .streaming(stream))
}

/// A validated export.
enum Job {
    Licences,
    Users(UsersRequest, Option<String>),
    Findings(FindingFilter),
    CallUsage(NaiveDate, NaiveDate, GroupBy),
    CallQuality(NaiveDate, NaiveDate),
    PstnUsage(NaiveDate, NaiveDate, GroupBy),
}

type Sender = tokio::sync::mpsc::Sender<Result<Bytes, ApiError>>;

/// An export's failure as the problem it answers when nothing was sent yet.
fn export_error(error: anyhow::Error) -> ApiError {
    match error.downcast::<DbError>() {
        Ok(db) => db.into(),
        Err(other) => ApiError::Internal(format!("{other:#}")),
    }
}

async fn send(tx: &Sender, bytes: Bytes) -> anyhow::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    tx.send(Ok(bytes)).await.map_err(|_| anyhow::anyhow!("the client went away"))
}

/// An amount and its currency, as two cells.
fn money_cells(m: Option<&super::Money>) -> [Cell; 2] {
    match m {
        Some(m) => [money(m.amount_minor, &m.currency), Cell::Text(m.currency.clone())],
        None => [Cell::Empty, Cell::Empty],
    }
}

fn money(amount_minor: i64, currency: &str) -> Cell {
    if currency.is_empty() {
        Cell::Int(amount_minor)
    } else {
        Cell::Money { amount_minor, currency: currency.to_string() }
    }
}

impl Job {
    fn new(report: Report, q: &ReportQuery) -> ApiResult<Self> {
        Ok(match report {
            Report::Licences => Job::Licences,
            Report::Users => {
                let users = UsersQuery {
                    licensed: q.licensed,
                    sku: q.sku.clone(),
                    department: q.department.clone(),
                    inactive_days: q.inactive_days,
                    enabled: q.enabled,
                    search: q.search.clone(),
                    sort: q.sort,
                    order: q.order,
                    limit: Some(PAGE),
                    cursor: None,
                };
                let (request, sku) = UsersRequest::parse(&users, PAGE, PAGE)?;
                Job::Users(request, sku)
            }
            Report::Findings => {
                let findings = super::findings::FindingsQuery {
                    kind: q.kind.clone(),
                    sku: q.sku.clone(),
                    user: q.user.clone(),
                    department: q.department.clone(),
                    limit: None,
                    cursor: None,
                };
                Job::Findings(findings.filter()?)
            }
            Report::CallUsage => {
                let (from, to) = date_range(q.from, q.to)?;
                Job::CallUsage(from, to, q.group_by.unwrap_or_default())
            }
            Report::CallQuality => {
                let (from, to) = date_range(q.from, q.to)?;
                Job::CallQuality(from, to)
            }
            Report::PstnUsage => {
                let (from, to) = date_range(q.from, q.to)?;
                Job::PstnUsage(from, to, q.group_by.unwrap_or_default())
            }
        })
    }

    async fn run(self, state: &AppState, tenant_id: &str, format: Format, tx: &Sender) -> anyhow::Result<()> {
        let tenant = tenant_id.to_string();
        match self {
            Job::Licences => {
                let mut out = Exporter::new(
                    format,
                    "licences",
                    &[
                        "sku_id",
                        "sku_part_number",
                        "capability_status",
                        "purchased",
                        "warning",
                        "assigned",
                        "available",
                        "over_assigned",
                        "unit_price",
                        "currency",
                        "price_origin",
                        "monthly_cost",
                        "monthly_waste",
                        "wasted_units",
                    ],
                );
                let licences = state.pool.run(move |conn| super::licences::load(conn, &tenant)).await?;
                for s in &licences.skus {
                    let [price, currency] = money_cells(s.unit_price.as_ref());
                    let waste = s
                        .monthly_waste
                        .iter()
                        .find(|w| Some(&w.currency) == s.unit_price.as_ref().map(|p| &p.currency));
                    out.row(&[
                        s.sku_id.as_str().into(),
                        s.sku_part_number.as_str().into(),
                        s.capability_status.as_str().into(),
                        s.purchased.into(),
                        s.warning.into(),
                        s.assigned.into(),
                        s.available.into(),
                        s.over_assigned.into(),
                        price,
                        currency,
                        s.price_source.clone().into(),
                        s.monthly_cost.as_ref().map_or(Cell::Empty, |m| money(m.amount_minor, &m.currency)),
                        waste.map_or(Cell::Empty, |w| money(w.amount_minor, &w.currency)),
                        s.wasted_units.into(),
                    ]);
                }
                send(tx, out.finish()).await
            }
            Job::Users(mut request, sku) => {
                let mut out = Exporter::new(
                    format,
                    "users",
                    &[
                        "id",
                        "user_principal_name",
                        "display_name",
                        "department",
                        "job_title",
                        "account_enabled",
                        "created_at",
                        "last_sign_in",
                        "licences",
                        "monthly_cost",
                        "currency",
                    ],
                );
                let lookup = tenant.clone();
                let (context, prepared) = state.pool.run(move |conn| prepare(conn, &lookup, request, sku)).await?;
                let context = Arc::new(context);
                if let Some(prepared) = prepared {
                    request = prepared;
                    loop {
                        let ctx = context.clone();
                        let (users, next, back) = state
                            .pool
                            .run(move |conn| -> Result<_, DbError> {
                                let (users, next) = ctx.page(conn, &request)?;
                                Ok((users, next, request))
                            })
                            .await?;
                        request = back;
                        for u in &users {
                            let parts: Vec<String> = u
                                .licences
                                .iter()
                                .map(|l| l.sku_part_number.clone().unwrap_or_else(|| l.sku_id.clone()))
                                .collect();
                            let cost = u.monthly_cost.first();
                            let [amount, currency] = money_cells(cost);
                            out.row(&[
                                u.id.as_str().into(),
                                u.user_principal_name.as_str().into(),
                                u.display_name.as_str().into(),
                                u.department.clone().into(),
                                u.job_title.clone().into(),
                                u.account_enabled.into(),
                                u.created_at.into(),
                                u.last_sign_in.into(),
                                parts.join(" ").into(),
                                amount,
                                currency,
                            ]);
                        }
                        send(tx, out.take()).await?;
                        if next.is_none() {
                            break;
                        }
                        request.after = next;
                    }
                }
                send(tx, out.finish()).await
            }
            Job::Findings(filter) => {
                let mut out = Exporter::new(
                    format,
                    "findings",
                    &[
                        "id",
                        "kind",
                        "effect",
                        "user_id",
                        "user_principal_name",
                        "department",
                        "sku_id",
                        "sku_part_number",
                        "units",
                        "monthly_amount",
                        "currency",
                        "evidence",
                    ],
                );
                let filter = Arc::new(filter);
                let mut after: Option<String> = None;
                loop {
                    let (lookup, f, from) = (tenant.clone(), filter.clone(), after.clone());
                    let rows = state
                        .pool
                        .run(move |conn| portal::findings_page(conn, &lookup, &f, from.as_deref(), PAGE))
                        .await?;
                    for r in &rows {
                        out.row(&[
                            r.id.as_str().into(),
                            r.kind.as_str().into(),
                            r.effect.as_str().into(),
                            r.user_id.clone().into(),
                            r.user_principal_name.clone().into(),
                            r.department.clone().into(),
                            r.sku_id.clone().into(),
                            r.sku_part_number.clone().into(),
                            r.units.into(),
                            r.amount_minor.map_or(Cell::Empty, |a| money(a, r.currency.as_deref().unwrap_or(""))),
                            r.currency.clone().into(),
                            r.evidence.as_str().into(),
                        ]);
                    }
                    send(tx, out.take()).await?;
                    if (rows.len() as i64) < PAGE {
                        break;
                    }
                    after = rows.last().map(|r| r.id.clone());
                }
                send(tx, out.finish()).await
            }
            Job::CallUsage(from, to, group_by) => {
                let mut out = Exporter::new(
                    format,
                    "call-usage",
                    &[
                        "key",
                        "user_principal_name",
                        "display_name",
                        "department",
                        "calls",
                        "group_calls",
                        "peer_calls",
                        "seconds",
                        "video_calls",
                        "pstn_calls",
                        "streams",
                        "poor_streams",
                    ],
                );
                let mut after = String::new();
                loop {
                    let (lookup, from_user) = (tenant.clone(), after.clone());
                    let usage = state
                        .pool
                        .run(move |conn| super::calls::load(conn, &lookup, from, to, group_by, &from_user, PAGE))
                        .await?;
                    for i in &usage.items {
                        let c = &i.counts;
                        out.row(&[
                            key_cell(group_by, &i.key),
                            i.user_principal_name.clone().into(),
                            i.display_name.clone().into(),
                            i.department.clone().into(),
                            c.calls.into(),
                            c.group_calls.into(),
                            c.peer_calls.into(),
                            c.seconds.into(),
                            c.video_calls.into(),
                            c.pstn_calls.into(),
                            c.streams.into(),
                            c.poor_streams.into(),
                        ]);
                    }
                    send(tx, out.take()).await?;
                    match (group_by, usage.items.last(), usage.next_cursor) {
                        (GroupBy::User, Some(last), Some(_)) => after = last.key.clone(),
                        _ => break,
                    }
                }
                send(tx, out.finish()).await
            }
            Job::CallQuality(from, to) => {
                let mut out =
                    Exporter::new(format, "call-quality", &["day", "calls", "streams", "poor_streams", "poor_ratio"]);
                let quality = state.pool.run(move |conn| super::calls::quality_of(conn, &tenant, from, to)).await?;
                for d in &quality.days {
                    out.row(&[
                        d.day.into(),
                        d.calls.into(),
                        d.streams.into(),
                        d.poor_streams.into(),
                        d.poor_ratio.into(),
                    ]);
                }
                send(tx, out.finish()).await
            }
            Job::PstnUsage(from, to, group_by) => pstn_usage(state, tenant, (from, to), group_by, format, tx).await,
        }
    }
}

/// A grouping's key: a day is a date, a user id or department text.
fn key_cell(group_by: GroupBy, key: &str) -> Cell {
    match (group_by, key.parse::<NaiveDate>()) {
        (GroupBy::Day, Ok(day)) => day.into(),
        _ => key.into(),
    }
}

/// PSTN and Direct Routing use, a row per group, source and currency (pages of users when grouped by user).
async fn pstn_usage(
    state: &AppState,
    tenant: String,
    range: (NaiveDate, NaiveDate),
    group_by: GroupBy,
    format: Format,
    tx: &Sender,
) -> anyhow::Result<()> {
    let mut out = Exporter::new(
        format,
        "pstn-usage",
        &[
            "key",
            "user_principal_name",
            "display_name",
            "department",
            "source",
            "calls",
            "seconds",
            "minutes",
            "charge",
            "currency",
        ],
    );
    let mut after: Option<String> = None;
    loop {
        let (lookup, from_user) = (tenant.clone(), after.clone());
        let rows = state
            .pool
            .run(move |conn| super::pstn::rows(conn, &lookup, range, group_by, from_user.as_deref(), PAGE))
            .await?;
        for r in &rows {
            out.row(&[
                key_cell(group_by, &r.key),
                r.user_principal_name.clone().into(),
                r.display_name.clone().into(),
                r.department.clone().into(),
                r.source.as_str().into(),
                r.calls.into(),
                r.seconds.into(),
                (r.seconds as f64 / 60.0).into(),
                if r.currency.is_empty() { Cell::Empty } else { money(r.charge_minor, &r.currency) },
                r.currency.as_str().into(),
            ]);
        }
        send(tx, out.take()).await?;
        let mut users: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        users.dedup();
        match (group_by, users.last()) {
            (GroupBy::User, Some(last)) if users.len() as i64 == PAGE => after = Some((*last).to_string()),
            _ => break,
        }
    }
    send(tx, out.finish()).await
}
