// The overview's history: licence cost, savings available, users and call minutes per day over a chosen range
// (from the daily aggregates behind `/trends`), and the savings realised in that range (`/savings/realised`).
import { useMemo, useState } from "preact/hooks";
import { Chart, type ChartOption } from "../chart";
import type { Loaded } from "../context";
import { count, day, kindLabel, minutes, money, monies, shortDay, toMajor } from "../format";
import { navigate } from "../router";
import type { Money, RealisedSavings, TrendPoint, Trends } from "../types";
import { Empty, ErrorState, ExportButtons, Loading } from "../ui";

export const TREND_RANGES = [30, 90, 365] as const;
const DEFAULT_RANGE = 90;

/** The trend range in days from the overview's `?days=` (90 by default). */
export function trendDays(search: URLSearchParams): number {
  const days = Number(search.get("days"));
  return (TREND_RANGES as readonly number[]).includes(days) ? days : DEFAULT_RANGE;
}

/** Whether the day has licence aggregates (a licence sync was current that day), not only calls. */
export function hasLicences(point: TrendPoint): boolean {
  return point.users !== null || point.purchased_units !== null || point.findings.length > 0;
}

function amountIn(values: Money[], currency: string): number {
  const m = values.find((v) => v.currency === currency);
  return m ? toMajor(m) : 0;
}

/** Every day of `[from, to]` with the API's point where it has one. */
function everyDay(trends: Trends): { day: string; point: TrendPoint | null }[] {
  const byDay = new Map(trends.points.map((p) => [p.day, p]));
  const out: { day: string; point: TrendPoint | null }[] = [];
  for (let t = Date.parse(`${trends.from}T00:00:00Z`); t <= Date.parse(`${trends.to}T00:00:00Z`); t += 86_400_000) {
    const key = new Date(t).toISOString().slice(0, 10);
    out.push({ day: key, point: byDay.get(key) ?? null });
  }
  return out;
}

// A lone day (the first licence sync) is still drawn: every symbol is shown, and gaps are bridged.
const LINE = { type: "line", connectNulls: true, showSymbol: true, showAllSymbol: true, symbolSize: 6 } as const;
// Room above the plot for the legend and the axis names.
const GRID = { left: 8, right: 16, top: 64, bottom: 8, containLabel: true };

/**
 * Money per month as it stood each day, one line per figure and currency (currencies are never added). Days
 * without licence aggregates are gaps the line bridges, not zeroes.
 */
function moneyOption(trends: Trends): ChartOption {
  const days = everyDay(trends);
  const currencies = [...new Set(trends.points.flatMap((p) => [...p.monthly_licence_cost, ...p.monthly_savings].map((m) => m.currency)))].sort();
  const value = (point: TrendPoint | null, pick: (p: TrendPoint) => Money[], currency: string) =>
    point && hasLicences(point) ? amountIn(pick(point), currency) : null;
  return {
    grid: GRID,
    xAxis: { type: "category", data: days.map((d) => shortDay(d.day)) },
    yAxis: { type: "value", name: currencies.length === 1 ? `${currencies[0]} per month` : "Per month" },
    series: currencies.flatMap((currency) => [
      { ...LINE, name: `Licence cost (${currency})`, data: days.map((d) => value(d.point, (p) => p.monthly_licence_cost, currency)) },
      { ...LINE, name: `Savings available (${currency})`, data: days.map((d) => value(d.point, (p) => p.monthly_savings, currency)) },
    ]),
  };
}

/** Licensed and active users (lines, left axis) and call minutes (bars, right axis) per day. */
function usageOption(trends: Trends): ChartOption {
  const days = everyDay(trends);
  return {
    grid: GRID,
    xAxis: { type: "category", data: days.map((d) => shortDay(d.day)) },
    yAxis: [
      { type: "value", name: "Users", minInterval: 1 },
      { type: "value", name: "Minutes", minInterval: 1, splitLine: { show: false } },
    ],
    series: [
      { name: "Call minutes", type: "bar", yAxisIndex: 1, data: days.map((d) => Math.round((d.point?.call_seconds ?? 0) / 60)) },
      { name: "PSTN minutes", type: "bar", yAxisIndex: 1, barGap: "-100%", data: days.map((d) => Math.round((d.point?.pstn_seconds ?? 0) / 60)) },
      { ...LINE, name: "Licensed users", data: days.map((d) => d.point?.licensed_users ?? null) },
      { ...LINE, name: "Active licensed users", data: days.map((d) => d.point?.active_users ?? null) },
    ],
  };
}

function RangePicker({ days }: { days: number }) {
  const choose = (n: number) => {
    const params = new URLSearchParams(window.location.search);
    if (n === DEFAULT_RANGE) params.delete("days");
    else params.set("days", String(n));
    const query = params.toString();
    navigate(`${window.location.pathname}${query ? `?${query}` : ""}`, true);
  };
  return (
    <div class="row range" role="group" aria-label="Range of the history">
      {TREND_RANGES.map((n) => (
        <button type="button" aria-pressed={n === days} onClick={() => choose(n)} data-testid={`trend-range-${n}`}>
          Last {n} days
        </button>
      ))}
    </div>
  );
}

/** The first and the latest day with licence figures (one column when there is one such day), and the calls of
 * the whole range. */
function Summary({ trends }: { trends: Trends }) {
  const licenceDays = trends.points.filter(hasLicences);
  const columns = licenceDays.length > 1 ? [licenceDays[0], licenceDays[licenceDays.length - 1]] : licenceDays;
  const users = (p: TrendPoint, v: number | null) => (v !== null ? count(v) : p.users !== null ? "not measured" : "—");
  const rows: { key: string; label: string; value: (p: TrendPoint) => string }[] = [
    { key: "licence-cost", label: "Licence cost per month", value: (p) => monies(p.monthly_licence_cost, "—") },
    { key: "savings", label: "Savings available per month", value: (p) => monies(p.monthly_savings, "none") },
    { key: "licensed", label: "Licensed users", value: (p) => users(p, p.licensed_users) },
    { key: "active", label: "Active licensed users (signed in within the inactivity threshold)", value: (p) => users(p, p.active_users) },
  ];
  const callSeconds = trends.points.reduce((n, p) => n + p.call_seconds, 0);
  const pstnSeconds = trends.points.reduce((n, p) => n + p.pstn_seconds, 0);
  return (
    <table class="data" data-testid="trend-summary">
      <caption class="sr-only">The history's first and latest day with licence figures</caption>
      <thead>
        <tr>
          <th scope="col">Figure</th>
          {columns.length === 0 ? (
            <th scope="col" class="num">
              In the range
            </th>
          ) : (
            columns.map((p) => (
              <th scope="col" class="num">
                {day(p.day)}
              </th>
            ))
          )}
        </tr>
      </thead>
      <tbody>
        {columns.length > 0 && rows.map((row) => (
          <tr data-row={row.key}>
            <th scope="row">{row.label}</th>
            {columns.map((p, i) => (
              <td class="num" data-col={i === columns.length - 1 ? "latest" : "first"}>
                {row.value(p)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr data-row="minutes">
          <th scope="row">Call minutes in the range (PSTN among them)</th>
          <td class="num" colSpan={Math.max(1, columns.length)} data-col="minutes">
            {minutes(callSeconds)} ({minutes(pstnSeconds)} PSTN)
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

export function TrendsPanel({ tenant, days, trends }: { tenant: string; days: number; trends: Loaded<Trends> }) {
  const data = trends.data;
  const moneyChart = useMemo(() => (data ? moneyOption(data) : null), [data]);
  const usageChart = useMemo(() => (data ? usageOption(data) : null), [data]);
  const licenceDays = data ? data.points.filter(hasLicences) : [];
  const last = licenceDays.at(-1);
  return (
    <section class="panel" aria-labelledby="trends-title">
      <header class="page-head">
        <h2 id="trends-title">History: cost, savings, users and calls per day</h2>
        <RangePicker days={days} />
      </header>
      {trends.error ? (
        <ErrorState what="the history" error={trends.error} onRetry={trends.reload} />
      ) : !data || !moneyChart || !usageChart ? (
        <Loading what="the history" />
      ) : data.points.length === 0 ? (
        <Empty title={`Nothing recorded in the last ${days} days`}>
          A point is added each day a licence sync completes or calls are made.
        </Empty>
      ) : (
        <>
          {licenceDays.length <= 1 && (
            <p class="note" role="note" data-testid="trend-note">
              {licenceDays.length === 0
                ? "No licence figures in this range yet: they are kept once a day, from the first completed licence sync on."
                : `Licence figures exist for one day so far (${day(licenceDays[0].day)}); each daily licence sync adds a point.`}
            </p>
          )}
          <div class="grid-2 even">
            <Chart
              option={moneyChart}
              testid="chart-trend-money"
              label={`Licence cost and savings available per month, ${day(data.from)} to ${day(data.to)}: ${
                last ? `on ${day(last.day)} licences cost ${monies(last.monthly_licence_cost, "nothing priced")} and findings could save ${monies(last.monthly_savings, "nothing")}` : "no licence figures"
              }, over ${count(licenceDays.length)} days with licence figures`}
            />
            <Chart
              option={usageChart}
              testid="chart-trend-usage"
              label={`Licensed and active users and call minutes per day, ${day(data.from)} to ${day(data.to)}: ${minutes(data.points.reduce((n, p) => n + p.call_seconds, 0))} call minutes in all`}
            />
          </div>
          <Summary trends={data} />
        </>
      )}
      <div class="row note">
        <span>The history as a file, a row per day and currency:</span>
        <ExportButtons tenant={tenant} report="trends" query={data ? { from: data.from, to: data.to } : undefined} />
      </div>
    </section>
  );
}

const SHOWN = 10;

export function RealisedPanel({ days, realised }: { days: number; realised: Loaded<RealisedSavings> }) {
  const [all, setAll] = useState(false);
  const data = realised.data;
  const items = data ? [...data.items].reverse() : [];
  const shown = all ? items : items.slice(0, SHOWN);
  return (
    <section class="panel table-wrap" aria-labelledby="realised-title">
      <h2 id="realised-title">Savings realised in the last {days} days</h2>
      {realised.error ? (
        <ErrorState what="the realised savings" error={realised.error} onRetry={realised.reload} />
      ) : !data ? (
        <Loading what="the realised savings" />
      ) : items.length === 0 ? (
        <Empty title="No savings realised in this range">
          When a licence a finding pointed at is removed, or a seat count is lowered, the next licence sync records the
          money that stopped here. Price and threshold changes do not count.
        </Empty>
      ) : (
        <>
          <p data-testid="realised-range-total">
            {count(items.length)} {items.length === 1 ? "change" : "changes"} saving{" "}
            <strong>{monies(data.total, "an unpriced amount")}</strong> per month.
          </p>
          <table class="data" data-testid="realised-table">
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">What changed</th>
                <th scope="col">Finding kind</th>
                <th scope="col" class="num">Licences</th>
                <th scope="col" class="num">Per month</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr data-day={r.day} data-sku={r.sku_part_number}>
                  <td>{day(r.day)}</td>
                  <th scope="row">{r.description}</th>
                  <td>{kindLabel(r.kind)}</td>
                  <td class="num">{count(r.units)}</td>
                  <td class="num" data-col="amount">{money(r.monthly_amount)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {items.length > SHOWN && (
            <p class="row">
              <button type="button" aria-expanded={all} onClick={() => setAll(!all)}>
                {all ? `Show the latest ${SHOWN} only` : `Show all ${count(items.length)}`}
              </button>
            </p>
          )}
        </>
      )}
    </section>
  );
}
