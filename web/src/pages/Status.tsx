// How collection is doing: consent and each Graph permission (with how to fix a missing one), Entra ID P1, the
// last licence sync, the call-record feed and its subscription, the last backfill.
import { useApi } from "../context";
import { count, dateTime, day, FEED_LABELS } from "../format";
import type { TenantStatus } from "../types";
import { ErrorState, Loading, Page } from "../ui";

const PURPOSE: Record<string, string> = {
  "AuditLog.Read.All": "users' last sign-in date (finds inactive users holding licences)",
  "CallRecords.Read.All": "Teams call and meeting records (call usage and quality)",
  "Organization.Read.All": "the licences your organisation bought",
  "Reports.Read.All": "the Microsoft Teams user activity report",
  "User.Read.All": "users and their assigned licences",
};

const FIX =
  "A Global Administrator of the tenant grants it: open a new consent link from your service provider and accept every " +
  "permission, or in the Microsoft Entra admin center open Enterprise applications → sua → Permissions → Grant admin consent.";

function consentText(state: string): string {
  switch (state) {
    case "granted":
      return "Granted: sua reads the tenant with every permission it needs.";
    case "partial":
      return "Partly granted: some permissions are missing (below), so some figures are incomplete.";
    case "revoked":
      return "Revoked: sua can no longer read the tenant. A Global Administrator must consent again.";
    default:
      return state;
  }
}

export default function Status({ tenant }: { tenant: string }) {
  const status = useApi<TenantStatus>(`/tenants/${encodeURIComponent(tenant)}/status`);
  const s = status.data;
  if (status.error) {
    return (
      <Page title="Tenant status">
        <ErrorState what="the tenant's status" error={status.error} onRetry={status.reload} />
      </Page>
    );
  }
  if (!s) return <Page title="Tenant status"><Loading what="the tenant's status" /></Page>;
  const permissions = Object.entries(s.permissions).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Page title="Tenant status" subtitle={`${s.display_name} · tenant ${s.tenant_id}`} actions={<button type="button" onClick={status.reload}>Refresh</button>}>
      <section class="panel" aria-labelledby="consent-title">
        <h2 id="consent-title">Consent</h2>
        <dl class="facts">
          <dt>State</dt>
          <dd data-testid="status-consent">
            <span class={s.consent_state === "granted" ? "ok" : "missing"}>{s.consent_state}</span> · {consentText(s.consent_state)}
          </dd>
          <dt>Consented</dt>
          <dd>{dateTime(s.consented_at)}</dd>
          <dt>Microsoft Entra ID P1</dt>
          <dd data-testid="status-p1">
            {s.entra_id_p1 === true
              ? "Yes: last sign-in dates are collected."
              : s.entra_id_p1 === false
                ? "No: last sign-in dates cannot be read, so inactive users are not found. One Entra ID P1 licence in the tenant is enough."
                : "Not known yet (the first sync tells)."}
          </dd>
        </dl>
      </section>

      <section class="panel table-wrap" aria-labelledby="permissions-title">
        <h2 id="permissions-title">Permissions</h2>
        <table class="data" data-testid="status-permissions">
          <thead>
            <tr>
              <th scope="col">Permission</th>
              <th scope="col">State</th>
              <th scope="col">Needed for</th>
              <th scope="col">How to fix</th>
            </tr>
          </thead>
          <tbody>
            {permissions.map(([name, state]) => (
              <tr data-permission={name}>
                <th scope="row">
                  <code>{name}</code>
                </th>
                <td class={state === "granted" ? "ok" : "missing"}>{state}</td>
                <td>{PURPOSE[name] ?? ""}</td>
                <td>{state === "granted" ? "Nothing to do." : state === "unknown" ? `It could not be checked; sua checks again at the next sync. If it stays so: ${FIX}` : FIX}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section class="panel" aria-labelledby="sync-title">
        <h2 id="sync-title">Licence sync</h2>
        {s.last_sync ? (
          <dl class="facts" data-testid="status-sync">
            <dt>Last run</dt>
            <dd>
              {day(s.last_sync.day)}: <span class={s.last_sync.status === "failed" ? "missing" : s.last_sync.status === "completed" ? "ok" : ""}>{s.last_sync.status}</span>
              {s.last_sync.attempt > 1 && ` (attempt ${s.last_sync.attempt})`}
            </dd>
            <dt>Started</dt>
            <dd>{dateTime(s.last_sync.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{s.last_sync.finished_at ? dateTime(s.last_sync.finished_at) : "still running"}</dd>
            {s.last_sync.error && (
              <>
                <dt>Error</dt>
                <dd class="missing">{s.last_sync.error} (sua retries it; if it persists, tell your service provider)</dd>
              </>
            )}
          </dl>
        ) : (
          <p class="state">No sync has run yet: it starts right after consent, then once a day.</p>
        )}
      </section>

      <section class="panel" aria-labelledby="feed-title">
        <h2 id="feed-title">Call-record feed</h2>
        <dl class="facts">
          <dt>Health</dt>
          <dd data-testid="status-feed">
            <span class={s.feed_state === "healthy" ? "ok" : "missing"}>{FEED_LABELS[s.feed_state] ?? s.feed_state}</span>
            {s.feed_since && ` since ${dateTime(s.feed_since)}`}
            {s.feed_error && <> · {s.feed_error}</>}
          </dd>
          <dt>Subscription expires</dt>
          <dd data-testid="status-subscription">
            {s.subscription_expires_at ? `${dateTime(s.subscription_expires_at)} (renewed automatically two days before)` : "no subscription yet"}
          </dd>
          <dt>Last backfill</dt>
          <dd>
            {s.last_backfill
              ? `${s.last_backfill.status} (${s.last_backfill.reason}): ${dateTime(s.last_backfill.window_from)} – ${dateTime(s.last_backfill.window_to)}, ${count(s.last_backfill.listed)} listed, ${count(s.last_backfill.queued)} fetched${s.last_backfill.error ? `; ${s.last_backfill.error}` : ""}`
              : "none"}
          </dd>
        </dl>
      </section>
    </Page>
  );
}
