// What each department costs in a month: its users' licences per SKU (calling plans apart) at the prices sua
// knows, plus the PSTN charges of their calls; users without a department are "unassigned". Per currency, never
// added across currencies.
import { useMemo } from "preact/hooks";
import { Chart, type ChartOption } from "../chart";
import { useApi } from "../context";
import { count, day, money, monies, toMajor } from "../format";
import { navigate, useLocation } from "../router";
import type { Chargeback as ChargebackData, DepartmentCharge, Money } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Field, Loading, Page } from "../ui";

/** Months offered in the picker: this one and the 24 before it. */
const MONTHS = 25;

/** `YYYY-MM` of the month `back` months before the current one (UTC, as the API's days are). */
function monthKey(back: number): string {
  const now = new Date();
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
  return d.toISOString().slice(0, 7);
}

const monthFormat = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
function monthName(key: string): string {
  const [y, m] = key.split("-").map(Number);
  return monthFormat.format(new Date(Date.UTC(y, m - 1, 1)));
}

const VALID = /^\d{4}-(0[1-9]|1[0-2])$/;

function amountIn(values: Money[], currency: string): number {
  const m = values.find((v) => v.currency === currency);
  return m ? toMajor(m) : 0;
}

/** One currency's departments as stacked bars: licences, calling plans, PSTN charges. */
function option(departments: DepartmentCharge[], currency: string): ChartOption {
  const rows = departments.filter((d) => d.total.some((t) => t.currency === currency));
  return {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
    xAxis: { type: "value", name: currency },
    yAxis: { type: "category", inverse: true, data: rows.map((d) => d.department) },
    series: [
      { name: "Licences", type: "bar", stack: "cost", data: rows.map((d) => amountIn(d.licence_cost, currency)) },
      { name: "Calling plans", type: "bar", stack: "cost", data: rows.map((d) => amountIn(d.calling_plan_cost, currency)) },
      { name: "PSTN charges", type: "bar", stack: "cost", data: rows.map((d) => amountIn(d.pstn_charges, currency)) },
    ],
  };
}

function Department({ d }: { d: DepartmentCharge }) {
  return (
    <tr data-department={d.department}>
      <th scope="row">
        {d.department}
        {d.department === "unassigned" && <span class="evidence"> · users without a department</span>}
      </th>
      <td data-col="skus">
        {d.licences.length === 0 ? (
          "none"
        ) : (
          <ul class="plain">
            {d.licences.map((l) => (
              <li data-sku={l.sku_part_number}>
                {l.sku_part_number} × {count(l.units)}: {l.monthly_cost ? money(l.monthly_cost) : "no price"}
                {l.calling_plan && <span class="tag">calling plan</span>}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td class="num" data-col="licences">{monies(d.licence_cost, "—")}</td>
      <td class="num" data-col="calling">{monies(d.calling_plan_cost, "—")}</td>
      <td class="num" data-col="pstn">{monies(d.pstn_charges, "—")}</td>
      <td class="num" data-col="total">{monies(d.total, "—")}</td>
    </tr>
  );
}

export default function Chargeback({ tenant }: { tenant: string }) {
  const { search } = useLocation();
  const asked = search.get("month") ?? "";
  const month = VALID.test(asked) ? asked : monthKey(0);
  const charges = useApi<ChargebackData>(`/tenants/${encodeURIComponent(tenant)}/chargeback`, { month });
  const data = charges.data?.month === month ? charges.data : null;
  const months = useMemo(() => {
    const list = Array.from({ length: MONTHS }, (_, i) => monthKey(i));
    return list.includes(month) ? list : [month, ...list];
  }, [month]);
  const currencies = useMemo(() => (data ? [...new Set(data.departments.flatMap((d) => d.total.map((t) => t.currency)))].sort() : []), [data]);
  const choose = (value: string) => navigate(`${window.location.pathname}${value === monthKey(0) ? "" : `?month=${value}`}`);

  return (
    <Page
      title="Chargeback"
      subtitle={
        data?.licences_day
          ? `${monthName(month)}: licences as assigned on ${day(data.licences_day)}, per month; PSTN charges of the month's calls.`
          : `${monthName(month)}: licence cost per month and PSTN charges of the month's calls, per department.`
      }
      actions={<ExportButtons tenant={tenant} report="chargeback" query={{ month }} />}
    >
      <form class="filters panel" aria-label="Choose the month" onSubmit={(e) => e.preventDefault()}>
        <Field id="chargeback-month" label="Month">
          <select id="chargeback-month" value={month} onChange={(e) => choose((e.target as HTMLSelectElement).value)}>
            {months.map((m) => (
              <option value={m}>{monthName(m)}</option>
            ))}
          </select>
        </Field>
        <button type="button" onClick={() => choose(months[Math.min(months.indexOf(month) + 1, months.length - 1)])} disabled={months.indexOf(month) === months.length - 1}>
          Previous month
        </button>
        <button type="button" onClick={() => choose(months[Math.max(months.indexOf(month) - 1, 0)])} disabled={months.indexOf(month) <= 0}>
          Next month
        </button>
      </form>

      {charges.error ? (
        <ErrorState what="the chargeback" error={charges.error} onRetry={charges.reload} />
      ) : !data ? (
        <Loading what="the chargeback" />
      ) : data.departments.length === 0 ? (
        <Empty title={`Nothing to charge for ${monthName(month)}`}>
          No licence figures were kept in that month and its calls have no PSTN charges. Licence figures are kept once a
          day from the first completed licence sync on.
        </Empty>
      ) : (
        <>
          <div class="cards">
            <Card label="Total per month" testid="chargeback-total">{monies(data.total, "none")}</Card>
            <Card label="Licences" testid="chargeback-licences">{monies(data.licence_cost, "none")}</Card>
            <Card label="Calling plans" testid="chargeback-calling">{monies(data.calling_plan_cost, "none")}</Card>
            <Card label="PSTN charges" testid="chargeback-pstn">{monies(data.pstn_charges, "none")}</Card>
            <Card label="Departments" testid="chargeback-departments">{count(data.departments.length)}</Card>
          </div>
          {!data.licences_day && (
            <p class="state" role="note">
              No licence figures were kept in {monthName(month)}: only the PSTN charges of its calls are shown.
            </p>
          )}
          {currencies.map((currency) => (
            <section class="panel" aria-labelledby={`chargeback-chart-${currency}`}>
              <h2 id={`chargeback-chart-${currency}`}>Cost per department in {currency}</h2>
              <Chart
                option={option(data.departments, currency)}
                height={Math.max(160, data.departments.length * 36 + 56)}
                testid={`chart-chargeback-${currency}`}
                label={`Cost per department in ${currency}: ${data.departments
                  .filter((d) => d.total.some((t) => t.currency === currency))
                  .map((d) => `${d.department} ${money(d.total.find((t) => t.currency === currency))}`)
                  .join("; ")}`}
              />
            </section>
          ))}
          <section class="panel table-wrap" aria-labelledby="departments-title">
            <h2 id="departments-title">Per department</h2>
            <table class="data" data-testid="chargeback-table">
              <thead>
                <tr>
                  <th scope="col">Department</th>
                  <th scope="col">Licences per SKU (per month)</th>
                  <th scope="col" class="num">Licences</th>
                  <th scope="col" class="num">Calling plans</th>
                  <th scope="col" class="num">PSTN charges</th>
                  <th scope="col" class="num">Total</th>
                </tr>
              </thead>
              <tbody>
                {data.departments.map((d) => (
                  <Department d={d} />
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row" colSpan={2}>
                    All departments, per currency
                  </th>
                  <td class="num" data-col="licences">{monies(data.licence_cost, "—")}</td>
                  <td class="num" data-col="calling">{monies(data.calling_plan_cost, "—")}</td>
                  <td class="num" data-col="pstn">{monies(data.pstn_charges, "—")}</td>
                  <td class="num" data-col="total">{monies(data.total, "—")}</td>
                </tr>
              </tfoot>
            </table>
            <p class="note">
              Licences are charged at their monthly price to the department of the user holding them; a SKU without a
              known price adds nothing. Calling plans are the licences that give a Microsoft Calling Plan.
            </p>
          </section>
        </>
      )}
    </Page>
  );
}
