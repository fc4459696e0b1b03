// For the tenant's portal admins (and operators): the thresholds findings use, the price book with the tenant's
// overrides, and the audit log of those changes.
import { useEffect, useState } from "preact/hooks";
import { useApi, useSession } from "../context";
import { dateTime, minorPerMajor, money } from "../format";
import type { AuditLog, PriceEntry, Prices, Settings as SettingsData } from "../types";
import { describe, Empty, ErrorState, Loading, Page, Pager, usePager, Field } from "../ui";

function Message({ message }: { message: { ok: boolean; text: string } | null }) {
  return (
    <span class={`message ${message ? (message.ok ? "good" : "bad") : ""}`} role="status" aria-live="polite">
      {message?.text ?? ""}
    </span>
  );
}

function Thresholds({ tenant, onSaved }: { tenant: string; onSaved: () => void }) {
  const { api } = useSession();
  const path = `/tenants/${encodeURIComponent(tenant)}/settings`;
  const settings = useApi<SettingsData>(path);
  const [form, setForm] = useState<{ inactive: string; grace: string; phone: string; excluded: string } | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    const s = settings.data;
    if (s) {
      setForm({ inactive: String(s.inactive_days), grace: String(s.new_account_grace_days), phone: String(s.phone_idle_days), excluded: s.excluded_users.join("\n") });
    }
  }, [settings.data]);
  if (settings.error) return <ErrorState what="thresholds" error={settings.error} onRetry={settings.reload} />;
  if (!form) return <Loading what="thresholds" />;
  const save = async (event: Event) => {
    event.preventDefault();
    setMessage(null);
    try {
      await api.put<SettingsData>(path, {
        inactive_days: Number(form.inactive),
        new_account_grace_days: Number(form.grace),
        phone_idle_days: Number(form.phone),
        excluded_users: form.excluded.split(/[\n,]/).map((u) => u.trim()).filter(Boolean),
      });
      setMessage({ ok: true, text: "Saved. Findings are being recomputed with the new thresholds." });
      settings.reload();
      onSaved();
    } catch (error) {
      const { title, advice } = describe(error);
      setMessage({ ok: false, text: `Not saved. ${title} ${advice}` });
    }
  };
  const field = (key: "inactive" | "grace" | "phone") => (event: Event) => setForm({ ...form, [key]: (event.target as HTMLInputElement).value });
  return (
    <form class="form-grid" onSubmit={save} aria-label="Finding thresholds" data-testid="settings-thresholds">
      <Field id="settings-inactive-after-days-with" label="Inactive after (days without sign-in)">
        <input id="settings-inactive-after-days-with" type="number" min={1} max={3650} required value={form.inactive} onInput={field("inactive")} />
      </Field>
      <Field id="settings-grace-for-new-accounts-d" label="Grace for new accounts (days)">
        <input id="settings-grace-for-new-accounts-d" type="number" min={0} max={3650} required value={form.grace} onInput={field("grace")} />
      </Field>
      <Field id="settings-phone-licence-unused-aft" label="Phone licence unused after (days)">
        <input id="settings-phone-licence-unused-aft" type="number" min={1} max={3650} required value={form.phone} onInput={field("phone")} />
      </Field>
      <Field id="settings-never-flag-one-principal" label="Never flag (one principal name or id per line)">
        <textarea id="settings-never-flag-one-principal" value={form.excluded} onInput={(e) => setForm({ ...form, excluded: (e.target as HTMLTextAreaElement).value })} />
      </Field>
      <button type="submit" class="primary">
        Save thresholds
      </button>
      <Message message={message} />
    </form>
  );
}

function PriceRow({ entry, tenant, onChange }: { entry: PriceEntry; tenant: string; onChange: (prices: Prices) => void }) {
  const { api } = useSession();
  const currency0 = entry.unit_price?.currency ?? "USD";
  const [amount, setAmount] = useState(entry.unit_price ? String(entry.unit_price.amount_minor / minorPerMajor(currency0)) : "");
  const [currency, setCurrency] = useState(currency0);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const save = async () => {
    setMessage(null);
    const code = currency.trim().toUpperCase();
    let factor: number;
    try {
      factor = minorPerMajor(code);
    } catch {
      setMessage({ ok: false, text: `${code} is not an ISO 4217 currency code.` });
      return;
    }
    const major = Number(amount);
    if (!amount.trim() || !Number.isFinite(major) || major < 0) {
      setMessage({ ok: false, text: "Enter a price of 0 or more." });
      return;
    }
    try {
      const prices = await api.put<Prices>(`/tenants/${encodeURIComponent(tenant)}/prices`, {
        prices: [{ sku_part_number: entry.sku_part_number, amount_minor: Math.round(major * factor), currency: code }],
      });
      setMessage({ ok: true, text: "Saved." });
      onChange(prices);
    } catch (error) {
      const { title } = describe(error);
      setMessage({ ok: false, text: `Not saved. ${title}` });
    }
  };
  const reset = async () => {
    setMessage(null);
    try {
      const prices = await api.delete<Prices>(`/tenants/${encodeURIComponent(tenant)}/prices/${encodeURIComponent(entry.sku_part_number)}`);
      onChange(prices);
    } catch (error) {
      const { title } = describe(error);
      setMessage({ ok: false, text: `Not reset. ${title}` });
    }
  };
  const id = `price-${entry.sku_part_number}`;
  return (
    <tr data-sku={entry.sku_part_number}>
      <th scope="row" id={id}>
        {entry.sku_part_number}
        {entry.in_use && <span class="tag good">in use</span>}
      </th>
      <td class="num">{money(entry.unit_price)}</td>
      <td>
        {entry.origin}
        {entry.origin === "override" && entry.updated_by && <span class="evidence"> by {entry.updated_by}, {dateTime(entry.updated_at)}</span>}
      </td>
      <td>
        <div class="row">
          <input class="price-input" type="number" min={0} step="any" value={amount} aria-label={`Monthly price per licence of ${entry.sku_part_number}`} onInput={(e) => setAmount((e.target as HTMLInputElement).value)} />
          <input class="currency-input" type="text" maxLength={3} value={currency} aria-label={`Currency of ${entry.sku_part_number}'s price`} onInput={(e) => setCurrency((e.target as HTMLInputElement).value)} />
          <button type="button" onClick={save} aria-describedby={id}>
            Save
          </button>
          {entry.origin === "override" && (
            <button type="button" onClick={reset} aria-describedby={id}>
              Use default
            </button>
          )}
          <Message message={message} />
        </div>
      </td>
    </tr>
  );
}

function PriceBook({ tenant, onSaved }: { tenant: string; onSaved: () => void }) {
  const prices = useApi<Prices>(`/tenants/${encodeURIComponent(tenant)}/prices`);
  const [data, setData] = useState<Prices | null>(null);
  const [all, setAll] = useState(false);
  useEffect(() => setData(prices.data), [prices.data]);
  if (prices.error) return <ErrorState what="the price book" error={prices.error} onRetry={prices.reload} />;
  if (!data) return <Loading what="the price book" />;
  const items = data.items.filter((p) => all || p.in_use || p.origin === "override");
  return (
    <>
      <p class="row">
        <input id="prices-all" type="checkbox" checked={all} onChange={(e) => setAll((e.target as HTMLInputElement).checked)} />
        <label for="prices-all">Show every SKU in the price book, not only those the tenant has</label>
      </p>
      {items.length === 0 ? (
        <Empty title="The tenant has no SKUs yet">Prices of its SKUs appear after the first licence sync.</Empty>
      ) : (
        <table class="data" data-testid="settings-prices">
          <thead>
            <tr>
              <th scope="col">SKU</th>
              <th scope="col" class="num">Per licence per month</th>
              <th scope="col">Origin</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {items.map((entry) => (
              <PriceRow
                key={`${entry.sku_part_number}/${entry.origin}/${entry.unit_price?.amount_minor}/${entry.unit_price?.currency}`}
                entry={entry}
                tenant={tenant}
                onChange={(next) => {
                  setData(next);
                  onSaved();
                }}
              />
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** A before or after value of the audit log, readable: money as money, settings as `name: value`. */
function auditValue(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "object") return String(value);
  const record = value as Record<string, unknown>;
  if (typeof record.amount_minor === "number" && typeof record.currency === "string") {
    return money({ amount_minor: record.amount_minor, currency: record.currency });
  }
  return Object.entries(record)
    .map(([k, v]) => `${k.replace(/_/g, " ")}: ${Array.isArray(v) ? v.join(", ") || "none" : String(v)}`)
    .join("; ");
}

export function AuditTable({ path, generation, showTenant }: { path: string; generation: number; showTenant?: boolean }) {
  const { tenants } = useSession();
  const pager = usePager(path);
  const log = useApi<AuditLog>(path, { limit: 25, cursor: pager.cursor });
  useEffect(() => {
    if (generation > 0) log.reload();
  }, [generation]);
  if (log.error) return <ErrorState what="the audit log" error={log.error} onRetry={log.reload} />;
  if (!log.data) return <Loading what="the audit log" />;
  if (log.data.items.length === 0 && pager.page === 1) return <Empty title="No changes yet">Every change of prices, thresholds and invitations will be listed here.</Empty>;
  const tenantName = (id: string | null) => (id ? (tenants.find((t) => t.tenant_id === id)?.display_name ?? id) : "all tenants");
  return (
    <>
      <table class="data" data-testid="audit-table">
        <thead>
          <tr>
            <th scope="col">When</th>
            {showTenant && <th scope="col">Tenant</th>}
            <th scope="col">Who</th>
            <th scope="col">What</th>
            <th scope="col">Before</th>
            <th scope="col">After</th>
          </tr>
        </thead>
        <tbody>
          {log.data.items.map((e) => (
            <tr>
              <td>{dateTime(e.at)}</td>
              {showTenant && <td>{tenantName(e.tenant_id)}</td>}
              <td>{e.actor_name || e.actor_id}</td>
              <td>
                {e.action} <code>{e.target}</code>
              </td>
              <td class="evidence">{auditValue(e.before)}</td>
              <td class="evidence">{auditValue(e.after)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager page={pager.page} size={25} shown={log.data.items.length} next={log.data.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
    </>
  );
}

export default function Settings({ tenant }: { tenant: string }) {
  const [generation, setGeneration] = useState(0);
  const saved = () => setGeneration((g) => g + 1);
  return (
    <Page title="Settings" subtitle="Changes recompute the findings and are written to the audit log with your name.">
      <section class="panel" aria-labelledby="thresholds-title">
        <h2 id="thresholds-title">Finding thresholds</h2>
        <Thresholds tenant={tenant} onSaved={saved} />
      </section>
      <section class="panel table-wrap" aria-labelledby="prices-title">
        <h2 id="prices-title">Price book</h2>
        <p class="note">sua ships public list prices; set your own (any currency) where you pay differently.</p>
        <PriceBook tenant={tenant} onSaved={saved} />
      </section>
      <section class="panel table-wrap" aria-labelledby="audit-title">
        <h2 id="audit-title">Audit log</h2>
        <AuditTable path={`/tenants/${encodeURIComponent(tenant)}/audit`} generation={generation} />
      </section>
    </Page>
  );
}
