//! Onboarding end to end: invitation → Microsoft's consent page (simulated) → collector callback → probes →
//! recorded tenant → first sync, on real RabbitMQ and PostgreSQL (and the embedded twins).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sua_core::messages::{Kind, SyncCompletedV1, TenantConsentedV1};
use sua_db::models::{InvitationRow, TenantRow};
use sua_domain::invitations::StateSigner;
use sua_graph_sim::{ConsentOutcome, SimConfig, TenantSpec};
use sua_tests::smtp::SmtpSink;
use sua_tests::stack::{Backend, RawRecords, STATE_KEY, Stack, sync_completed};

const WAIT: Duration = Duration::from_secs(60);

/// The application permissions sua asks a customer for (the product brief's list).
const REQUESTED: [&str; 5] =
    ["AuditLog.Read.All", "CallRecords.Read.All", "Organization.Read.All", "Reports.Read.All", "User.Read.All"];

/// A tenant without call history: these tests are about licences.
fn quiet() -> SimConfig {
    SimConfig { calls_per_user: 0.0, ..SimConfig::default() }
}

async fn tenant_row(stack: &Stack, id: &str) -> Option<TenantRow> {
    let id = id.to_string();
    stack.deps.pool.run(move |conn| TenantRow::find(conn, &id)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_link_carries_microsofts_documented_parameters() {
    let stack = Stack::start(Backend::Production, quiet(), |_| {}).await;
    let invitation = stack.collector.onboarding.invite("Contoso", "admin@contoso.example", "test").await.unwrap();
    let url = url::Url::parse(&invitation.consent_url).unwrap();
    assert_eq!(url.path(), "/organizations/v2.0/adminconsent");
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], stack.config.client_id);
    assert_eq!(params["redirect_uri"], format!("{}/consent/callback", stack.collector_url));
    assert!(params["scope"].ends_with("/.default"));
    assert!(!params["state"].is_empty());
    assert!(invitation.expires_at > sua_tests::clock::now() + chrono::Duration::days(13));
    assert!(!invitation.emailed, "no SMTP configured");
    let bad = stack.collector.onboarding.invite("Contoso", "not-an-address", "test").await;
    assert!(
        matches!(&bad, Err(sua_collector::onboarding::OnboardingError::Invalid(m)) if m.contains("not an e-mail address")),
        "{bad:?}"
    );
    stack.stop().await;
}

async fn consent_then_first_sync(backend: Backend) {
    let users = 1_100;
    let sim = SimConfig { tenants: vec![TenantSpec { users, entra_p1: true, concealed_names: true }], ..quiet() };
    let stack = Stack::start(backend, sim, |_| {}).await;
    let tenant = stack.tenant(0);
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("access granted") && page.contains(&tenant), "{page}");
    assert!(!page.contains("Missing"), "{page}");

    let row = tenant_row(&stack, &tenant).await.expect("the tenant is recorded");
    assert_eq!(row.consent_state, "granted");
    assert_eq!(row.display_name, "Contoso Ltd", "the organization's name from Graph");
    let permissions: BTreeMap<String, String> = serde_json::from_str(&row.permissions).unwrap();
    let granted = |p: &str| (p.to_string(), "granted".to_string());
    assert_eq!(permissions, BTreeMap::from(REQUESTED.map(granted)), "the five permissions sua asks for, all granted");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&row.prerequisites).unwrap()["entra_id_p1"], true);
    let invitation_id = row.invitation_id.clone().unwrap();
    let invitation = stack.deps.pool.run(move |conn| InvitationRow::find(conn, &invitation_id)).await.unwrap().unwrap();
    assert_eq!(invitation.tenant_id.as_deref(), Some(tenant.as_str()));

    // The first sync starts on its own and publishes everything, then its summary.
    let records = RawRecords::collect(&stack, WAIT, sync_completed).await;
    let consented: TenantConsentedV1 = records.of(Kind::TenantConsentedV1)[0].decode().unwrap();
    assert_eq!(consented.entra_id_p1, Some(true));
    let model = stack.graph().tenant(&tenant).unwrap();
    let pages = records.of(Kind::LicenceUsersV1);
    assert_eq!(pages.len(), 3, "1,100 users with signInActivity come 500 per page");
    let mut ids = BTreeSet::new();
    for page in &pages {
        let payload: sua_core::messages::LicenceUsersV1 = page.decode().unwrap();
        assert!(payload.sign_in_activity);
        for user in payload.body["value"].as_array().unwrap() {
            assert!(user.get("signInActivity").is_some(), "{user}");
            ids.insert(user["id"].as_str().unwrap().to_string());
        }
    }
    let expected: BTreeSet<String> = (0..users).map(|i| model.user(i).id).collect();
    assert_eq!(ids, expected, "every user of the tenant, once");
    let skus: sua_core::messages::LicenceSkusV1 = records.of(Kind::LicenceSkusV1)[0].decode().unwrap();
    assert_eq!(skus.body["value"].as_array().unwrap().len(), model.subscriptions().len());
    let report_rows: u64 = records
        .of(Kind::TeamsActivityReportV1)
        .iter()
        .map(|e| u64::from(e.decode::<sua_core::messages::TeamsActivityReportV1>().unwrap().rows))
        .sum();
    let licensed = (0..users).filter(|i| model.user(*i).is_licensed()).count() as u64;
    assert_eq!(report_rows, licensed);

    let completed: SyncCompletedV1 = records.of(Kind::SyncCompletedV1)[0].decode().unwrap();
    assert_eq!(completed.parts.users.records, u64::from(users));
    assert_eq!(completed.parts.users.messages, 3);
    assert_eq!(completed.parts.skus.records, model.subscriptions().len() as u64);
    assert_eq!(completed.parts.teams_activity.records, licensed);
    assert!(completed.sign_in_activity);
    assert_eq!(completed.concealed_names, Some(true), "Microsoft conceals names by default");
    let run_id = records.of(Kind::SyncCompletedV1)[0].run_id;
    let licence_kinds = [Kind::LicenceSkusV1, Kind::LicenceUsersV1, Kind::TeamsActivityReportV1, Kind::SyncCompletedV1];
    assert!(records.envelopes.iter().filter(|e| licence_kinds.contains(&e.kind)).all(|e| e.run_id == run_id));

    let status = sua_domain::tenants::list(&stack.deps.pool).await.unwrap();
    let last = status[0].last_sync.clone().unwrap();
    assert_eq!((last.status, last.attempt), (sua_db::states::RunStatus::Completed, 1));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_leads_to_a_complete_first_sync_on_rabbitmq_and_postgres() {
    consent_then_first_sync(Backend::Production).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_leads_to_a_complete_first_sync_on_sqlite_and_the_in_process_broker() {
    consent_then_first_sync(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_shows_a_clear_page_and_changes_nothing() {
    let stack = Stack::start(Backend::Production, quiet(), |_| {}).await;
    let tenant = stack.tenant(0);
    stack.graph().set_consent_outcome(&tenant, ConsentOutcome::Deny);
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 200);
    assert!(
        page.contains("not granted") && page.contains("consent_required") && page.contains("Nothing was changed"),
        "{page}"
    );
    assert!(tenant_row(&stack, &tenant).await.is_none());
    // Consent publishes its jobs (confirmed) before the page is answered; a denial published none.
    assert_eq!(stack.broker.counter("sua_broker_published_total", &[]), 0, "no job was published");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_expired_link_is_refused_and_changes_nothing() {
    let stack = Stack::start(Backend::Production, quiet(), |_| {}).await;
    let tenant = stack.tenant(0);
    let invitation = stack.collector.onboarding.invite("Contoso", "admin@contoso.example", "test").await.unwrap();
    let callback = format!("{}/consent/callback", stack.collector_url);

    let forged = StateSigner::new(b"someone else's key, 32 bytes long")
        .sign(&invitation.id, sua_tests::clock::now() + chrono::Duration::hours(1));
    let (status, page) = stack.get_page(&format!("{callback}?admin_consent=True&tenant={tenant}&state={forged}")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid") && page.contains("Nothing was changed"), "{page}");

    let expired = StateSigner::new(STATE_KEY.as_bytes())
        .sign(&invitation.id, sua_tests::clock::now() - chrono::Duration::minutes(1));
    let (status, page) =
        stack.get_page(&format!("{callback}?admin_consent=True&tenant={tenant}&state={expired}")).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    let (status, _) = stack.get_page(&format!("{callback}?admin_consent=True&tenant={tenant}")).await;
    assert_eq!(status, 400, "no state at all");
    assert!(tenant_row(&stack, &tenant).await.is_none());
    assert!(stack.graph().requests_to(sua_graph_sim::Endpoint::Token).is_empty(), "no token was even requested");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_already_onboarded_through_another_invitation_is_not_rebound() {
    let stack = Stack::start(Backend::Production, quiet(), |_| {}).await;
    let (status, _) = stack.onboard().await;
    assert_eq!(status, 200);
    let tenant = stack.tenant(0);
    let first = tenant_row(&stack, &tenant).await.unwrap().invitation_id;
    // The same tenant's admin answers a second invitation's link.
    stack.graph().set_next_consenting_tenant(&tenant);
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 409, "{page}");
    assert_eq!(tenant_row(&stack, &tenant).await.unwrap().invitation_id, first);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_permission_is_reported_and_the_sync_skips_only_what_needs_it() {
    let stack = Stack::start(Backend::Production, quiet(), |_| {}).await;
    let tenant = stack.tenant(0);
    let granted = ["AuditLog.Read.All", "CallRecords.Read.All", "Organization.Read.All", "User.Read.All"];
    stack
        .sim
        .sim
        .sim
        .set_consent_outcome(&tenant, ConsentOutcome::Grant(granted.iter().map(|s| s.to_string()).collect()));
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 200);
    assert!(page.contains("Missing: Reports.Read.All") && page.contains("Grant admin consent"), "{page}");
    let row = tenant_row(&stack, &tenant).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&row.permissions).unwrap()["Reports.Read.All"], "missing");

    let records = RawRecords::collect(&stack, WAIT, sync_completed).await;
    let completed: SyncCompletedV1 = records.of(Kind::SyncCompletedV1)[0].decode().unwrap();
    assert_eq!(completed.parts.teams_activity.status, sua_core::messages::PartStatus::Skipped);
    assert!(completed.parts.teams_activity.reason.as_deref().unwrap().contains("Reports.Read.All"));
    assert_eq!(completed.parts.users.records, 200);
    assert_eq!(completed.parts.skus.status, sua_core::messages::PartStatus::Published);
    assert!(records.of(Kind::TeamsActivityReportV1).is_empty());
    assert!(stack.graph().requests_to(sua_graph_sim::Endpoint::ReportDownload).is_empty());
    stack.stop().await;
}

/// No `state_signing_key` anywhere: `sua invite` and the collector both use the installation's key, which
/// `sua migrate` made, so the link the command prints is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_printed_by_sua_invite_is_accepted_by_a_collector_with_no_key_configured() {
    use secrecy::ExposeSecret;
    let stack = Stack::start(Backend::Production, quiet(), |c| c.state_signing_key = None).await;
    let output = tokio::process::Command::new(sua_tests::binaries::binary("sua"))
        .args(["invite", "--customer", "Contoso", "--email", "admin@contoso.example"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SUA_DATABASE_URL", stack.db.url().expose_secret())
        .env("SUA_AMQP_URL", "memory://")
        .env("SUA_LOGIN_URL", stack.config.login_url.as_str())
        .env("SUA_CLIENT_ID", &stack.config.client_id)
        .env("SUA_PUBLIC_URL", &stack.collector_url)
        // The command runs on the system clock, the collector on the test's (which may be pinned months ahead):
        // a link valid for years is valid for both.
        .env("SUA_ONBOARDING__INVITATION_TTL_HOURS", (5 * 365 * 24).to_string())
        .env("SUA_LOG__FILTER", "warn")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}{}", String::from_utf8_lossy(&output.stderr));
    let link = printed
        .split_whitespace()
        .find(|word| word.contains("/adminconsent?"))
        .unwrap_or_else(|| panic!("no consent link in: {printed}"));
    let (status, page) = stack.follow_consent_link(link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("access granted"), "{page}");
    stack.stop().await;
}

/// Entra ID's error descriptions carry line breaks (`\r\n` before the trace ids): the admin is told the AADSTS
/// code and Microsoft's sentence, not a parser's complaint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_shows_entras_code_and_description_on_the_consent_page() {
    let stack = Stack::start(Backend::Production, quiet(), |c| {
        c.client_secret = Some(secrecy::SecretString::from("not-the-secret"));
    })
    .await;
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 502, "Entra ID, upstream, refused: {page}");
    assert!(
        page.contains("AADSTS7000215: Invalid client secret provided."),
        "the page names Entra ID's code and reason: {page}"
    );
    assert!(!page.contains("borrowed") && !page.contains("Trace ID"), "{page}");
    assert!(tenant_row(&stack, &stack.tenant(0)).await.is_none(), "an unverified consent records nothing");
    stack.stop().await;
}

/// Each tenant grants four of the five permissions. The simulator enforces Microsoft's documented permission table
/// for every endpoint, so the probes must be requests that need only what sua asks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_permission_revoked_alone_shows_as_missing_and_nothing_else_does() {
    let spec = TenantSpec { users: 20, entra_p1: true, concealed_names: true };
    let sim = SimConfig { tenants: vec![spec; REQUESTED.len()], ..quiet() };
    let stack = Stack::start(Backend::Production, sim, |_| {}).await;
    for (n, revoked) in REQUESTED.iter().enumerate() {
        let tenant = stack.tenant(n);
        let granted: BTreeSet<String> = REQUESTED.iter().filter(|p| *p != revoked).map(|p| p.to_string()).collect();
        stack.graph().set_consent_outcome(&tenant, ConsentOutcome::Grant(granted));
        stack.graph().set_next_consenting_tenant(&tenant);
        let (status, page) = stack.onboard().await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(&format!("Missing: {revoked}")), "{revoked}: {page}");
        let row = tenant_row(&stack, &tenant).await.expect("the tenant is recorded");
        let permissions: BTreeMap<String, String> = serde_json::from_str(&row.permissions).unwrap();
        let missing: Vec<&str> =
            permissions.iter().filter(|(_, state)| *state == "missing").map(|(p, _)| p.as_str()).collect();
        assert_eq!(missing, [*revoked], "revoking {revoked}: {permissions:?}");
        // Sign-in data needs User.Read.All as well: without it AuditLog.Read.All cannot be told apart.
        let unknown: Vec<&str> =
            permissions.iter().filter(|(_, state)| *state == "unknown").map(|(p, _)| p.as_str()).collect();
        let expected_unknown: &[&str] = if *revoked == "User.Read.All" { &["AuditLog.Read.All"] } else { &[] };
        assert_eq!(unknown, expected_unknown, "revoking {revoked}: {permissions:?}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_entra_id_p1_users_are_synced_without_sign_in_data_and_the_admin_is_told() {
    let sim =
        SimConfig { tenants: vec![TenantSpec { users: 150, entra_p1: false, concealed_names: false }], ..quiet() };
    let stack = Stack::start(Backend::Production, sim, |_| {}).await;
    let (status, page) = stack.onboard().await;
    assert_eq!(status, 200);
    assert!(page.contains("No Microsoft Entra ID P1 licence"), "{page}");
    let records = RawRecords::collect(&stack, WAIT, sync_completed).await;
    let completed: SyncCompletedV1 = records.of(Kind::SyncCompletedV1)[0].decode().unwrap();
    assert!(!completed.sign_in_activity);
    assert!(completed.parts.users.reason.as_deref().unwrap().contains("Entra ID P1"));
    assert_eq!(completed.parts.users.records, 150);
    assert_eq!(completed.concealed_names, Some(false));
    for page in records.of(Kind::LicenceUsersV1) {
        let payload: sua_core::messages::LicenceUsersV1 = page.decode().unwrap();
        assert!(!payload.sign_in_activity);
        assert!(payload.body["value"][0].get("signInActivity").is_none());
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_emailed_when_smtp_is_configured() {
    let sink = SmtpSink::start().await;
    let stack = Stack::start(Backend::Production, quiet(), |c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = sink.port;
        c.smtp.security = "none".into();
        c.smtp.from = "sua <onboarding@msp.example>".into();
    })
    .await;
    let invitation = stack.collector.onboarding.invite("Fabrikam", "it-admin@fabrikam.example", "test").await.unwrap();
    assert!(invitation.emailed, "{:?}", invitation.email_error);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["it-admin@fabrikam.example"]);
    let body = mails[0].data.replace("=\n", "");
    assert!(body.contains("Fabrikam") && body.contains("CallRecords.Read.All"), "{body}");
    assert!(body.contains("/organizations/v2.0/adminconsent"), "the link is in the mail: {body}");
    stack.stop().await;
}
