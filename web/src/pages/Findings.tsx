// Where licence money is wasted: every finding with its user, SKU, monthly money and evidence; filters, totals by
// kind, pages and exports.
import { useState } from "preact/hooks";
import { useApi } from "../context";
import { count, date, dateTime, KIND_LABELS, kindLabel, monies, money } from "../format";
import { navigate, useLocation } from "../router";
import type { Findings as FindingsData, Licences } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Loading, Page, Pager, usePager, Field } from "../ui";

const PAGE = 50;

type Filters = {
  kind: string;
  sku: string;
  department: string;
  user: string;
};

function evidenceText(evidence: Record<string, unknown> | null): string {
  if (!evidence) return "";
  return Object.entries(evidence)
    .map(([key, value]) => {
      let text = typeof value === "string" ? value : JSON.stringify(value);
      if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) text = date(value);
      return `${key.replace(/_/g, " ")}: ${text}`;
    })
    .join("; ");
}

export default function Findings({ tenant }: { tenant: string }) {
  const base = `/tenants/${encodeURIComponent(tenant)}`;
  const { search } = useLocation();
  const fromUrl: Filters = {
    kind: search.get("kind") ?? "",
    sku: search.get("sku") ?? "",
    department: search.get("department") ?? "",
    user: search.get("user") ?? "",
  };
  const [draft, setDraft] = useState<Filters>(fromUrl);
  const filters = fromUrl;
  const pager = usePager(filters);
  const findings = useApi<FindingsData>(`${base}/findings`, { ...filters, limit: PAGE, cursor: pager.cursor });
  const licences = useApi<Licences>(`${base}/licences`);
  const data = findings.data;

  const apply = (event: Event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(draft)) if (v.trim()) params.set(k, v.trim());
    const query = params.toString();
    navigate(`${window.location.pathname}${query ? `?${query}` : ""}`);
  };
  const clear = () => {
    setDraft({ kind: "", sku: "", department: "", user: "" });
    navigate(window.location.pathname);
  };
  const set = (key: keyof Filters) => (event: Event) => setDraft({ ...draft, [key]: (event.target as HTMLInputElement).value });
  const skuName = (id: string | null) => licences.data?.skus.find((s) => s.sku_id === id)?.sku_part_number ?? id ?? "";

  return (
    <Page
      title="Findings"
      subtitle="Licences that cost money without use, per month. Each licence a user holds is claimed by one finding at most."
      actions={<ExportButtons tenant={tenant} report="findings" query={filters} />}
    >
      <form class="filters panel" onSubmit={apply} aria-label="Filter findings">
        <Field id="findings-kind" label="Kind">
          <select id="findings-kind" value={draft.kind} onChange={set("kind")}>
            <option value="">All kinds</option>
            {Object.entries(KIND_LABELS).map(([kind, label]) => (
              <option value={kind}>{label}</option>
            ))}
          </select>
        </Field>
        <Field id="findings-sku" label="SKU">
          <select id="findings-sku" value={draft.sku} onChange={set("sku")}>
            <option value="">All SKUs</option>
            {(licences.data?.skus ?? []).map((s) => (
              <option value={s.sku_id}>{s.sku_part_number}</option>
            ))}
          </select>
        </Field>
        <Field id="findings-department" label="Department">
          <input id="findings-department" type="text" value={draft.department} onInput={set("department")} placeholder="e.g. Sales" />
        </Field>
        <Field id="findings-user-principal-name-or-i" label="User (principal name or id)">
          <input id="findings-user-principal-name-or-i" type="text" value={draft.user} onInput={set("user")} placeholder="name@example.com" />
        </Field>
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </form>

      {findings.error ? (
        <ErrorState what="findings" error={findings.error} onRetry={findings.reload} />
      ) : !data ? (
        <Loading what="findings" />
      ) : (
        <>
          <div class="cards">
            <Card label="Savings per month (all findings)" testid="findings-savings" tone="good">
              {monies(data.monthly_savings, "none")}
            </Card>
            <Card label="Costs at risk per month" testid="findings-risk" tone={data.monthly_costs_at_risk.length ? "warn" : undefined}>
              {monies(data.monthly_costs_at_risk, "none")}
            </Card>
            <Card label="Findings matching the filters" testid="findings-total">
              {count(data.total)}
            </Card>
          </div>
          <section class="panel table-wrap" aria-labelledby="totals-title">
            <h2 id="totals-title">Totals by kind</h2>
            {data.totals.length === 0 ? (
              <Empty title="No findings">Nothing to save: every licence is used by an active user who needs it.</Empty>
            ) : (
              <table class="data" data-testid="findings-totals">
                <thead>
                  <tr>
                    <th scope="col">Kind</th>
                    <th scope="col" class="num">Findings</th>
                    <th scope="col" class="num">Licences</th>
                    <th scope="col" class="num">Per month</th>
                  </tr>
                </thead>
                <tbody>
                  {data.totals.map((k) => (
                    <tr data-kind={k.kind}>
                      <th scope="row">
                        {kindLabel(k.kind)}
                        {k.effect === "cost" && <span class="tag warn">cost at risk</span>}
                      </th>
                      <td class="num">{count(k.findings)}</td>
                      <td class="num">{count(k.units)}</td>
                      <td class="num">{k.amount.length ? k.amount.map(money).join(" · ") : "no price"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section class="panel table-wrap" aria-labelledby="list-title">
            <h2 id="list-title">Findings{findings.loading ? " (updating…)" : ""}</h2>
            {data.items.length === 0 ? (
              <Empty title="No findings match these filters">Clear or change the filters to see more.</Empty>
            ) : (
              <>
                <table class="data" data-testid="findings-table">
                  <thead>
                    <tr>
                      <th scope="col">Kind</th>
                      <th scope="col">User</th>
                      <th scope="col">Department</th>
                      <th scope="col">SKU</th>
                      <th scope="col" class="num">Licences</th>
                      <th scope="col" class="num">Per month</th>
                      <th scope="col">Evidence</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((f) => (
                      <tr data-id={f.id}>
                        <td>
                          {kindLabel(f.kind)}
                          {f.effect === "cost" && <span class="tag warn">cost</span>}
                        </td>
                        <td class="upn">{f.user_principal_name ?? "—"}</td>
                        <td>{f.department ?? "—"}</td>
                        <td>{f.sku_part_number ?? skuName(f.sku_id)}</td>
                        <td class="num">{count(f.units)}</td>
                        <td class="num">{f.monthly_amount ? money(f.monthly_amount) : "no price"}</td>
                        <td class="evidence">{evidenceText(f.evidence)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                <p class="note">Computed {dateTime(data.items[0].computed_at)}.</p>
              </>
            )}
            <Pager page={pager.page} size={PAGE} shown={data.items.length} total={data.total} next={data.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
          </section>
        </>
      )}
    </Page>
  );
}
