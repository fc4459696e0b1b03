// For the service provider's operators: every tenant's licence cost, savings found and realised, and money at
// risk (per currency, never summed across currencies), inviting a new customer, and the audit log of every tenant.
import { useState } from "preact/hooks";
import { useApi, useSession } from "../context";
import { count, dateTime, day, FEED_LABELS, monies } from "../format";
import { Link, tenantPath } from "../router";
import type { AllTenants, Invitation } from "../types";
import { describe, Card, Empty, ErrorState, Loading, Page, Field } from "../ui";
import { AuditTable } from "./Settings";

function Invite({ onCreated }: { onCreated: () => void }) {
  const { api } = useSession();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<Invitation | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFailure(null);
    setCreated(null);
    setCopied(false);
    try {
      const invitation = await api.post<Invitation>("/onboarding/invitations", { customer_name: name.trim(), admin_email: email.trim() });
      setCreated(invitation);
      setName("");
      setEmail("");
      onCreated();
    } catch (error) {
      const { title, advice } = describe(error);
      setFailure(`${title} ${advice}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <form class="form-grid" onSubmit={submit} aria-label="Invite a customer" data-testid="invite-form">
        <Field id="operator-customer-name" label="Customer name">
          <input id="operator-customer-name" type="text" required maxLength={200} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="operator-customer-admin-s-e-mail" label="Customer admin's e-mail">
          <input id="operator-customer-admin-s-e-mail" type="email" required maxLength={254} value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Creating…" : "Create invitation"}
        </button>
      </form>
      <div role="status" aria-live="polite">
        {failure && <p class="message bad">Not created. {failure}</p>}
        {created && (
          <div class="state" data-testid="invitation">
            <p class="state-title">
              Invitation for {created.customer_name} created, valid until {dateTime(created.expires_at)}.
            </p>
            <p>
              {created.emailed
                ? `It was e-mailed to ${created.admin_email}.`
                : created.email_error
                  ? `E-mailing it failed (${created.email_error}); send the link yourself to ${created.admin_email}:`
                  : `No e-mail is configured: send this link to ${created.admin_email}. A Global Administrator of their tenant opens it and accepts.`}
            </p>
            <p class="consent-link" data-testid="consent-url">
              {created.consent_url}
            </p>
            <button
              type="button"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(created.consent_url);
                  setCopied(true);
                } catch {
                  setCopied(false);
                }
              }}
            >
              {copied ? "Copied" : "Copy link"}
            </button>
          </div>
        )}
      </div>
    </>
  );
}

export default function Operator() {
  const summary = useApi<AllTenants>("/summary");
  const [generation, setGeneration] = useState(0);
  const data = summary.data;
  return (
    <Page title="All tenants" subtitle="Every customer's licences in money, per month. Amounts in different currencies are never added up.">
      {summary.error ? (
        <ErrorState what="the tenants" error={summary.error} onRetry={summary.reload} />
      ) : !data ? (
        <Loading what="the tenants" />
      ) : (
        <>
          <div class="cards">
            <Card label="Tenants" testid="summary-tenants">{count(data.tenants.length)}</Card>
            <Card label="Licence spend per month" testid="summary-cost">{monies(data.monthly_licence_cost, "none")}</Card>
            <Card label="Savings found per month" testid="summary-savings" tone="good">{monies(data.monthly_savings, "none")}</Card>
            <Card label="Savings realised this month" testid="summary-realised-month" tone={data.realised_savings_this_month.length ? "good" : undefined} hint="Per month: licences removed, seat counts lowered">{monies(data.realised_savings_this_month, "none yet")}</Card>
            <Card label="Savings realised in total" testid="summary-realised-total" tone={data.realised_savings_total.length ? "good" : undefined} hint="Per month, every change so far">{monies(data.realised_savings_total, "none yet")}</Card>
            <Card label="Costs at risk per month" testid="summary-risk" tone={data.monthly_costs_at_risk.length ? "warn" : undefined}>{monies(data.monthly_costs_at_risk, "none")}</Card>
          </div>
          <section class="panel table-wrap" aria-labelledby="tenants-title">
            <h2 id="tenants-title">Tenants</h2>
            {data.tenants.length === 0 ? (
              <Empty title="No customers yet">Invite one below: their admin grants consent, and collection starts at once.</Empty>
            ) : (
              <table class="data" data-testid="summary-table">
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Consent</th>
                    <th scope="col">Call feed</th>
                    <th scope="col">Last sync</th>
                    <th scope="col" class="num">Licence spend</th>
                    <th scope="col" class="num">Savings found</th>
                    <th scope="col" class="num">Realised this month</th>
                    <th scope="col" class="num">Realised in total</th>
                    <th scope="col" class="num">At risk</th>
                    <th scope="col" class="num">Findings</th>
                  </tr>
                </thead>
                <tbody>
                  {data.tenants.map((t) => (
                    <tr data-tenant={t.tenant_id}>
                      <th scope="row">
                        <Link href={tenantPath(t.tenant_id)}>{t.display_name || t.tenant_id}</Link>
                      </th>
                      <td class={t.consent_state === "granted" ? "ok" : "missing"}>{t.consent_state}</td>
                      <td>{FEED_LABELS[t.feed_state] ?? t.feed_state}</td>
                      <td>{day(t.last_sync_day)}</td>
                      <td class="num" data-col="cost">{monies(t.monthly_licence_cost, "—")}</td>
                      <td class="num" data-col="savings">{monies(t.monthly_savings, "—")}</td>
                      <td class="num" data-col="realised-month">{monies(t.realised_savings_this_month, "—")}</td>
                      <td class="num" data-col="realised-total">{monies(t.realised_savings_total, "—")}</td>
                      <td class="num" data-col="risk">{monies(t.monthly_costs_at_risk, "—")}</td>
                      <td class="num" data-col="findings">{count(t.findings)}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row" colSpan={4}>
                      All tenants, per currency
                    </th>
                    <td class="num">{monies(data.monthly_licence_cost, "—")}</td>
                    <td class="num">{monies(data.monthly_savings, "—")}</td>
                    <td class="num" data-col="realised-month">{monies(data.realised_savings_this_month, "—")}</td>
                    <td class="num" data-col="realised-total">{monies(data.realised_savings_total, "—")}</td>
                    <td class="num">{monies(data.monthly_costs_at_risk, "—")}</td>
                    <td class="num">{count(data.tenants.reduce((n, t) => n + t.findings, 0))}</td>
                  </tr>
                </tfoot>
              </table>
            )}
          </section>
        </>
      )}
      <section class="panel" aria-labelledby="invite-title">
        <h2 id="invite-title">Invite a customer</h2>
        <p class="note">Creates a consent link for the customer's Global Administrator (read-only permissions, granted once).</p>
        <Invite onCreated={() => { setGeneration((g) => g + 1); summary.reload(); }} />
      </section>
      <section class="panel table-wrap" aria-labelledby="all-audit-title">
        <h2 id="all-audit-title">Changes in every tenant</h2>
        <AuditTable path="/audit" generation={generation} showTenant />
      </section>
    </Page>
  );
}
