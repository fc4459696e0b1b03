//! Every list as CSV or XLSX, streamed: pages are read and written one after another while the response is sent.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use sua_db::DbError;

use super::calls::GroupBy;
use super::{ApiResult, Refusals, State, visible_tenant};
use crate::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::export::{Cell, Exporter, Format};

/// Rows read per query while exporting.
pub const PAGE: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Licences,
    Users,
    Findings,
    CallUsage,
    CallQuality,
    PstnUsage,
    Trends,
    Chargeback,
}

impl Report {
    /// The validated export of this report for the request's query (its list's own filters).
    fn export(self, query: &str) -> ApiResult<Box<dyn Export>> {
        Ok(match self {
            Report::Licences => Box::new(super::licences::LicencesExport::from_query(query)?),
            Report::Users => Box::new(super::users::UsersExport::from_query(query)?),
            Report::Findings => Box::new(super::findings::FindingsExport::from_query(query)?),
            Report::CallUsage => Box::new(super::calls::UsageExport::from_query(query)?),
            Report::CallQuality => Box::new(super::calls::QualityExport::from_query(query)?),
            Report::PstnUsage => Box::new(super::pstn::PstnExport::from_query(query)?),
            Report::Trends => Box::new(super::history::TrendsExport::from_query(query)?),
            Report::Chargeback => Box::new(super::history::ChargebackExport::from_query(query)?),
        })
    }

    const ALL: &[(&str, Report)] = &[
        ("licences", Report::Licences),
        ("users", Report::Users),
        ("findings", Report::Findings),
        ("call-usage", Report::CallUsage),
        ("call-quality", Report::CallQuality),
        ("pstn-usage", Report::PstnUsage),
        ("trends", Report::Trends),
        ("chargeback", Report::Chargeback),
    ];
}

/// A list as a file: `licences`, `users`, `findings`, `call-usage`, `call-quality`, `pstn-usage`, `trends` or
/// `chargeback`, as `.csv` or `.xlsx`, with the filters of the list it exports (users: `licensed`, `sku`,
/// `department`, `inactive_days`, `enabled`, `search`, `sort`, `order`; findings: `kind`, `sku`, `user`,
/// `department`; call-usage and pstn-usage: `from`, `to`, `group_by`; call-quality and trends: `from`, `to`;
/// chargeback: `month`). Money is in major units with its currency
/// beside it (in XLSX a number in that currency's format), dates and instants (UTC) are dates, flags are
/// booleans. `pstn-usage` has a row per group, source (`pstn` for Calling Plans, `direct_routing`) and currency,
/// so that no amount is summed across currencies.
#[utoipa::path(
    tag = "reports",
    params(
        ("tenant_id" = String, Path, description = "Customer tenant id"),
        ("file" = String, Path, description = "`{report}.{csv|xlsx}`, e.g. `users.xlsx`")
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
    req: HttpRequest,
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
    // Everything that can be refused is checked before the first byte goes out.
    let export = report.export(req.query_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, ApiError>>(4);
    let state: Arc<AppState> = state.get_ref().clone();
    let filename = format!("{}-{}-{}.{}", tenant.id, name, sua_core::clock::now().format("%Y%m%d"), format.extension());
    tokio::spawn(async move {
        if let Err(error) = stream(export, &state, &tenant.id, format, &tx).await {
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

/// A list that can be exported: its sheet and columns, then its rows a page at a time. Implemented beside each
/// resource's handler, which owns its query and its pages; [`stream`] writes any of them.
#[async_trait::async_trait]
pub trait Export: Send + 'static {
    fn sheet(&self) -> &'static str;
    fn columns(&self) -> &'static [&'static str];
    /// The next page of rows; `None` once every row was given.
    async fn next_page(&mut self, state: &AppState, tenant: &str) -> anyhow::Result<Option<Vec<Vec<Cell>>>>;
}

/// The list's own query, parsed as its endpoint parses it (unknown filters are refused).
pub fn list_query<T: serde::de::DeserializeOwned>(query: &str) -> ApiResult<T> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::BadRequest(format!("this report does not take that query: {e}")))
}

/// Writes an export page by page into the response channel.
async fn stream(
    mut export: Box<dyn Export>,
    state: &AppState,
    tenant: &str,
    format: Format,
    tx: &Sender,
) -> anyhow::Result<()> {
    let mut out = Exporter::new(format, export.sheet(), export.columns());
    while let Some(rows) = export.next_page(state, tenant).await? {
        for row in &rows {
            out.row(row);
        }
        send(tx, out.take()).await?;
    }
    send(tx, out.finish()).await
}

/// An amount and its currency, as two cells.
pub fn money_cells(m: Option<&super::Money>) -> [Cell; 2] {
    match m {
        Some(m) => [money(m.amount_minor, &m.currency), Cell::Text(m.currency.clone())],
        None => [Cell::Empty, Cell::Empty],
    }
}

pub fn money(amount_minor: i64, currency: &str) -> Cell {
    if currency.is_empty() {
        Cell::Int(amount_minor)
    } else {
        Cell::Money { amount_minor, currency: currency.to_string() }
    }
}

/// A grouping's key: a day is a date, a user id or department text.
pub fn key_cell(group_by: GroupBy, key: &str) -> Cell {
    match (group_by, key.parse::<NaiveDate>()) {
        (GroupBy::Day, Ok(day)) => day.into(),
        _ => key.into(),
    }
}
