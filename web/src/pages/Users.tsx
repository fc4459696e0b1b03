// The tenant's users with their licences: search, filters, sortable columns and pages.
import { useState } from "preact/hooks";
import { useApi } from "../context";
import { count, date, day, monies } from "../format";
import { navigate, useLocation } from "../router";
import type { Licences, Users as UsersData } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Loading, Page, Pager, usePager, Field } from "../ui";

const PAGE = 50;
const KEYS = ["search", "licensed", "sku", "department", "inactive_days", "enabled", "sort", "order"] as const;
type Key = (typeof KEYS)[number];
type Filters = Record<Key, string>;

const SORTS: { key: string; label: string }[] = [
  { key: "display_name", label: "Name" },
  { key: "user_principal_name", label: "Principal name" },
  { key: "department", label: "Department" },
  { key: "last_sign_in", label: "Last sign-in" },
];

export default function Users({ tenant }: { tenant: string }) {
  const base = `/tenants/${encodeURIComponent(tenant)}`;
  const { search } = useLocation();
  const filters = Object.fromEntries(KEYS.map((k) => [k, search.get(k) ?? ""])) as Filters;
  const [draft, setDraft] = useState<Filters>(filters);
  const pager = usePager(filters);
  const users = useApi<UsersData>(`${base}/users`, { ...filters, limit: PAGE, cursor: pager.cursor });
  const licences = useApi<Licences>(`${base}/licences`);
  const data = users.data;

  const go = (next: Filters) => {
    const params = new URLSearchParams();
    for (const k of KEYS) if (next[k].trim()) params.set(k, next[k].trim());
    const query = params.toString();
    navigate(`${window.location.pathname}${query ? `?${query}` : ""}`);
  };
  const apply = (event: Event) => {
    event.preventDefault();
    go(draft);
  };
  const set = (key: Key) => (event: Event) => setDraft({ ...draft, [key]: (event.target as HTMLInputElement).value });
  const sortBy = (key: string) => {
    const current = filters.sort || "display_name";
    const order = current === key && filters.order !== "desc" ? "desc" : "asc";
    const next = { ...filters, sort: key, order };
    setDraft(next);
    go(next);
  };
  const ariaSort = (key: string) => {
    const current = filters.sort || "display_name";
    if (current !== key) return undefined;
    return filters.order === "desc" ? "descending" : "ascending";
  };
  const header = (key: string, label: string) => (
    <th scope="col" aria-sort={ariaSort(key)}>
      <button type="button" class="link" onClick={() => sortBy(key)}>
        {label}
        {ariaSort(key) === "ascending" ? " ▲" : ariaSort(key) === "descending" ? " ▼" : ""}
      </button>
    </th>
  );

  return (
    <Page
      title="Users"
      subtitle={data?.snapshot ? `As of the licence sync of ${day(data.snapshot.day)}.` : undefined}
      actions={<ExportButtons tenant={tenant} report="users" query={filters} />}
    >
      <form class="filters panel" onSubmit={apply} aria-label="Search and filter users">
        <Field id="users-search" label="Search">
          <input id="users-search" type="search" value={draft.search} onInput={set("search")} placeholder="Name, principal name or mail" />
        </Field>
        <Field id="users-licensed" label="Licensed">
          <select id="users-licensed" value={draft.licensed} onChange={set("licensed")}>
            <option value="">Everyone</option>
            <option value="true">Holding a licence</option>
            <option value="false">Holding none</option>
          </select>
        </Field>
        <Field id="users-sku" label="SKU">
          <select id="users-sku" value={draft.sku} onChange={set("sku")}>
            <option value="">Any SKU</option>
            {(licences.data?.skus ?? []).map((s) => (
              <option value={s.sku_part_number}>{s.sku_part_number}</option>
            ))}
          </select>
        </Field>
        <Field id="users-department" label="Department">
          <input id="users-department" type="text" value={draft.department} onInput={set("department")} placeholder="e.g. Sales" />
        </Field>
        <Field id="users-no-sign-in-for-days" label="No sign-in for (days)">
          <input id="users-no-sign-in-for-days" type="number" min={0} max={3650} value={draft.inactive_days} onInput={set("inactive_days")} class="price-input" />
        </Field>
        <Field id="users-account" label="Account">
          <select id="users-account" value={draft.enabled} onChange={set("enabled")}>
            <option value="">Enabled or disabled</option>
            <option value="true">Enabled</option>
            <option value="false">Disabled</option>
          </select>
        </Field>
        <Field id="users-sort-by" label="Sort by">
          <select id="users-sort-by" value={draft.sort} onChange={set("sort")}>
            <option value="">Name</option>
            {SORTS.slice(1).map((s) => (
              <option value={s.key}>{s.label}</option>
            ))}
          </select>
        </Field>
        <Field id="users-order" label="Order">
          <select id="users-order" value={draft.order} onChange={set("order")}>
            <option value="">Ascending</option>
            <option value="desc">Descending</option>
          </select>
        </Field>
        <button type="submit" class="primary">
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            const empty = Object.fromEntries(KEYS.map((k) => [k, ""])) as Filters;
            setDraft(empty);
            go(empty);
          }}
        >
          Clear
        </button>
      </form>

      {users.error ? (
        <ErrorState what="users" error={users.error} onRetry={users.reload} />
      ) : !data ? (
        <Loading what="users" />
      ) : !data.snapshot ? (
        <Empty title="No licence sync has completed yet">Users appear after the first daily sync.</Empty>
      ) : (
        <>
          <div class="cards">
            <Card label="Users matching" testid="users-total">
              {count(data.total)}
            </Card>
          </div>
          {data.snapshot && !data.snapshot.sign_in_activity && (
            <p class="state" role="note">
              Last sign-in dates are unknown: they need at least one Microsoft Entra ID P1 licence in the tenant (and the
              AuditLog.Read.All permission).
            </p>
          )}
          <section class="panel table-wrap" aria-labelledby="users-title">
            <h2 id="users-title">Users{users.loading ? " (updating…)" : ""}</h2>
            {data.items.length === 0 ? (
              <Empty title="No users match">Clear or change the search and filters.</Empty>
            ) : (
              <table class="data" data-testid="users-table">
                <thead>
                  <tr>
                    {header("display_name", "Name")}
                    {header("user_principal_name", "Principal name")}
                    {header("department", "Department")}
                    <th scope="col">Account</th>
                    {header("last_sign_in", "Last sign-in")}
                    <th scope="col">Licences</th>
                    <th scope="col" class="num">Per month</th>
                  </tr>
                </thead>
                <tbody>
                  {data.items.map((u) => (
                    <tr data-id={u.id}>
                      <th scope="row">
                        {u.display_name}
                        {u.job_title && <span class="evidence"> · {u.job_title}</span>}
                      </th>
                      <td class="upn">{u.user_principal_name}</td>
                      <td>{u.department ?? "—"}</td>
                      <td>{u.account_enabled === false ? <span class="tag bad">disabled</span> : "enabled"}</td>
                      <td>{u.last_sign_in ? date(u.last_sign_in) : data.snapshot?.sign_in_activity ? "never" : "unknown"}</td>
                      <td>{u.licences.map((l) => l.sku_part_number ?? l.sku_id).join(", ") || "none"}</td>
                      <td class="num">{monies(u.monthly_cost, "—")}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <Pager page={pager.page} size={PAGE} shown={data.items.length} total={data.total} next={data.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
          </section>
        </>
      )}
    </Page>
  );
}
