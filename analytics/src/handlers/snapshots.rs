//! Sync-run parts (`licence.skus.v1`, `licence.users.v1`, `report.teams_activity.v1`) and `sync.completed.v1`.

use std::collections::BTreeMap;

use anyhow::anyhow;
use sua_core::broker::HandlerError;
use sua_core::messages::{
    Envelope, Kind, LicenceSkusV1, LicenceUsersV1, PartSummary, SyncCompletedV1, TeamsActivityReportV1,
};
use sua_db::Pool;
use sua_db::models::{AssignmentRow, SkuPlanRow, SkuRow, SnapshotPartRow, SnapshotRow, TeamsActivityRow, UserRow};

use super::{Outcome, TxError};
use crate::normalise::directory;

enum Rows {
    Skus(Vec<SkuRow>, Vec<SkuPlanRow>),
    Users(Vec<UserRow>, Vec<AssignmentRow>),
    Activity(Vec<TeamsActivityRow>),
}

fn run_id(envelope: &Envelope) -> Result<String, HandlerError> {
    envelope
        .run_id
        .map(|id| id.to_string())
        .ok_or_else(|| HandlerError::Reject(anyhow!("a {} message without a run id", envelope.kind)))
}

/// One part page: stored once, then the snapshot becomes current if it was the last thing missing.
pub(crate) async fn part(pool: &Pool, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let run = run_id(envelope)?;
    let tenant = envelope.tenant_id.clone();
    let (name, page, rows) = match envelope.kind {
        Kind::LicenceSkusV1 => {
            let LicenceSkusV1 { body } = envelope.decode()?;
            let (skus, plans) = directory::skus(&run, &tenant, &body).map_err(HandlerError::Reject)?;
            ("skus", 1, Rows::Skus(skus, plans))
        }
        Kind::LicenceUsersV1 => {
            let LicenceUsersV1 { page, sign_in_activity, body } = envelope.decode()?;
            let (users, licences) =
                directory::users(&run, &tenant, &body, sign_in_activity).map_err(HandlerError::Reject)?;
            ("users", page, Rows::Users(users, licences))
        }
        Kind::TeamsActivityReportV1 => {
            let TeamsActivityReportV1 { period, page, csv, .. } = envelope.decode()?;
            let rows = directory::teams_activity(&run, &tenant, &period, &csv).map_err(HandlerError::Reject)?;
            ("teams_activity", page, Rows::Activity(rows))
        }
        other => return Err(HandlerError::Reject(anyhow!("{other} is not a sync-run part"))),
    };
    let records = match &rows {
        Rows::Skus(skus, _) => skus.len(),
        Rows::Users(users, _) => users.len(),
        Rows::Activity(rows) => rows.len(),
    };
    let day = envelope.occurred_at.date_naive();
    let outcome = pool
        .run(move |conn| {
            conn.transaction(|tx| {
                let now = sua_db::now();
                SnapshotRow::lock(tx, &run, &tenant, day, now)?;
                let part = SnapshotPartRow {
                    run_id: run.clone(),
                    part: name.to_string(),
                    page: i32::try_from(page).map_err(|e| TxError::Reject(e.into()))?,
                    records: i32::try_from(records).unwrap_or(i32::MAX),
                    received_at: now,
                };
                if !SnapshotRow::record_part(tx, &part)? {
                    return Ok::<_, TxError>(Outcome::Duplicate);
                }
                match &rows {
                    Rows::Skus(skus, plans) => SnapshotRow::insert_skus(tx, skus, plans)?,
                    Rows::Users(users, licences) => SnapshotRow::insert_users(tx, users, licences)?,
                    Rows::Activity(rows) => SnapshotRow::insert_teams_activity(tx, rows)?,
                }
                if SnapshotRow::try_make_current(tx, &run, now)? {
                    tracing::info!(tenant = %tenant, run = %run, "snapshot is current");
                }
                Ok(Outcome::Stored)
            })
        })
        .await?;
    Ok(outcome)
}

fn pages(part: &PartSummary) -> i64 {
    i64::from(part.messages)
}

/// The run's summary: the snapshot becomes current once every page it counts is stored.
pub(crate) async fn completed(pool: &Pool, envelope: &Envelope) -> Result<Outcome, HandlerError> {
    let run = run_id(envelope)?;
    let tenant = envelope.tenant_id.clone();
    let summary: SyncCompletedV1 = envelope.decode()?;
    let expected: BTreeMap<&str, i64> = [
        ("skus", pages(&summary.parts.skus)),
        ("users", pages(&summary.parts.users)),
        ("teams_activity", pages(&summary.parts.teams_activity)),
    ]
    .into();
    let expected = serde_json::to_string(&expected).map_err(|e| HandlerError::Reject(e.into()))?;
    let outcome = pool
        .run(move |conn| {
            conn.transaction(|tx| {
                let now = sua_db::now();
                SnapshotRow::lock(tx, &run, &tenant, summary.day, now)?;
                let first = SnapshotRow::complete(
                    tx,
                    &run,
                    summary.day,
                    &expected,
                    summary.sign_in_activity,
                    summary.concealed_names,
                    now,
                )?;
                if !first {
                    return Ok::<_, TxError>(Outcome::Duplicate);
                }
                if SnapshotRow::try_make_current(tx, &run, now)? {
                    tracing::info!(tenant = %tenant, run = %run, "snapshot is current");
                }
                Ok(Outcome::Stored)
            })
        })
        .await?;
    Ok(outcome)
}
