// A tenant at a glance: what its licences cost, what the findings would save and what acting on them has saved,
// how many licensed users are active, how much people call (Teams VoIP vs PSTN) and how many audio streams were
// poor over the last 30 days; then the history of those figures over 30, 90 or 365 days.
import { useMemo } from "preact/hooks";
import type { Query } from "../api";
import { Chart, type ChartOption } from "../chart";
import { useApi } from "../context";
import { count, day, kindLabel, lastDays, minutes, monies, money, percent, shortDay, toMajor } from "../format";
import { Link, tenantPath, useLocation } from "../router";
import type { Dashboard, PstnSources, PstnUsage, Quality, RealisedSavings, Trends, Usage, UsageItem, Users } from "../types";
import { Card, Empty, ErrorState, Loading, Page } from "../ui";
import { RealisedPanel, trendDays, TrendsPanel } from "./OverviewHistory";

/** Every day of `[from, to]`, with the API's counts where it has any (days without calls are absent there). */
export function everyDay(from: string, to: string, items: UsageItem[]): { day: string; item: UsageItem | null }[] {
  const byDay = new Map(items.map((i) => [i.key, i]));
  const out: { day: string; item: UsageItem | null }[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    const key = new Date(t).toISOString().slice(0, 10);
    out.push({ day: key, item: byDay.get(key) ?? null });
  }
  return out;
}

/** PSTN minutes of a day or a range: Calling Plan and Direct Routing together. */
export function pstnSeconds(sources: PstnSources | undefined): number {
  return sources ? sources.pstn.seconds + sources.direct_routing.seconds : 0;
}

/**
 * Minutes per day: every call's minutes (call records) as a bar, and over it the PSTN minutes of the same day
 * (the Calling Plan and Direct Routing logs): the part of the bar they do not cover is Teams VoIP. The two come
 * from different sources, so they are drawn one over the other, never subtracted.
 */
export function minutesOption(usage: Usage, pstn: PstnUsage | null): ChartOption {
  const days = everyDay(usage.from, usage.to, usage.items);
  const pstnByDay = new Map((pstn?.items ?? []).map((i) => [i.key, i]));
  return {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    xAxis: { type: "category", data: days.map((d) => shortDay(d.day)) },
    yAxis: { type: "value", name: "Minutes", minInterval: 1 },
    series: [
      { name: "All call minutes (Teams and PSTN)", type: "bar", barWidth: "60%", data: days.map((d) => Math.round((d.item?.seconds ?? 0) / 60)) },
      {
        name: "PSTN minutes (Calling Plan and Direct Routing)",
        type: "bar",
        barWidth: "60%",
        // Drawn over the day's total bar (ECharts reads the gap from the last bar series).
        barGap: "-100%",
        data: days.map((d) => Math.round(pstnSeconds(pstnByDay.get(d.day)) / 60)),
      },
    ],
  };
}

/** What the overview asks the API for (also prefetched while the signed-in user is looked up); `days` is the
 * history's range. */
export function overviewRequests(tenant: string, days: number) {
  const base = `/tenants/${encodeURIComponent(tenant)}`;
  const range = lastDays(days);
  return {
    trends: [`${base}/trends`, range],
    realised: [`${base}/savings/realised`, range],
    dashboard: [`${base}/dashboard`, undefined],
    usage: [`${base}/calls/usage`, { group_by: "day" }],
    // The overview shows the totals only: no worst users to sum.
    quality: [`${base}/calls/quality`, { worst_users: 0 }],
    inactive: [`${base}/users`, { licensed: true, inactive_days: 30, limit: 1 }],
    pstn: [`${base}/calls/pstn`, { group_by: "day" }],
  } satisfies Record<string, [string, Query | undefined]>;
}

export function Overview({ tenant }: { tenant: string }) {
  const days = trendDays(useLocation().search);
  const requests = overviewRequests(tenant, days);
  const dashboard = useApi<Dashboard>(...requests.dashboard);
  const usage = useApi<Usage>(...requests.usage);
  const quality = useApi<Quality>(...requests.quality);
  const inactive = useApi<Users>(...requests.inactive);
  const pstn = useApi<PstnUsage>(...requests.pstn);
  const trends = useApi<Trends>(...requests.trends);
  const realised = useApi<RealisedSavings>(...requests.realised);

  const data = dashboard.data;
  const savingKinds = useMemo(() => (data?.findings ?? []).filter((k) => k.effect === "saving"), [data]);
  const currencies = useMemo(() => [...new Set(savingKinds.flatMap((k) => k.amount.map((a) => a.currency)))].sort(), [savingKinds]);
  const savingsOption = useMemo<ChartOption>(
    () => ({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", name: currencies.length === 1 ? currencies[0] : "" },
      yAxis: { type: "category", inverse: true, data: savingKinds.map((k) => kindLabel(k.kind)) },
      series: currencies.map((currency) => ({
        name: `${currency} per month`,
        type: "bar",
        data: savingKinds.map((k) => {
          const m = k.amount.find((a) => a.currency === currency);
          return m ? toMajor(m) : 0;
        }),
      })),
    }),
    [savingKinds, currencies],
  );
  const active = data && inactive.data && data.snapshot?.sign_in_activity ? data.licensed_users - inactive.data.total : null;
  const usersOption = useMemo<ChartOption>(
    () => ({
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { show: false },
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: ["All users", "Licensed", "Active licensed (30 days)"] },
      series: [{ name: "Users", type: "bar", data: data ? [data.users, data.licensed_users, active ?? 0] : [] }],
    }),
    [data, active],
  );
  const callsChart = useMemo(
    () => (usage.data && (pstn.data || pstn.error) ? minutesOption(usage.data, pstn.data) : null),
    [usage.data, pstn.data, pstn.error],
  );

  if (dashboard.loading && !data) return <Page title="Overview"><Loading what="the overview" /></Page>;
  if (dashboard.error || !data) {
    return (
      <Page title="Overview">
        <ErrorState what="the overview" error={dashboard.error} onRetry={dashboard.reload} />
      </Page>
    );
  }
  const snapshot = data.snapshot;
  return (
    <Page
      title={`${data.display_name}: overview`}
      subtitle={
        snapshot
          ? `Licences as of the sync of ${day(snapshot.day)}; calls of the last 30 days.`
          : "No licence sync has completed yet: licence figures appear after the first one."
      }
    >
      {!snapshot && (
        <Empty title="Waiting for the first licence sync">
          sua collects licences and users once a day, starting right after consent. See{" "}
          <Link href={tenantPath(tenant, "status")}>Tenant status</Link> for its progress.
        </Empty>
      )}
      <div class="cards">
        <Card label="Licence spend per month" testid="overview-licence-cost">
          {monies(data.monthly_licence_cost, "no priced licences")}
        </Card>
        <Card label="Savings found per month" testid="overview-savings" tone="good" hint={<Link href={tenantPath(tenant, "findings")}>See the findings</Link>}>
          {monies(data.monthly_savings, "none found")}
        </Card>
        <Card
          label="Savings realised this month"
          testid="overview-realised-month"
          tone={data.realised_savings_this_month.length ? "good" : undefined}
          hint={<a href="#realised-title">Licences removed and seat counts lowered, per month</a>}
        >
          {monies(data.realised_savings_this_month, "none yet")}
        </Card>
        <Card label="Savings realised in total" testid="overview-realised-total" tone={data.realised_savings_total.length ? "good" : undefined} hint="Per month, every change since collection began">
          {monies(data.realised_savings_total, "none yet")}
        </Card>
        <Card label="Costs at risk per month" testid="overview-risk" tone={data.monthly_costs_at_risk.length ? "warn" : undefined} hint="Licences assigned beyond those bought (a true-up at renewal)">
          {monies(data.monthly_costs_at_risk, "none")}
        </Card>
        <Card label="Licensed users" testid="overview-licensed" hint={`of ${count(data.users)} users`}>
          {count(data.licensed_users)}
        </Card>
        <Card
          label="Active licensed users (signed in within 30 days)"
          testid="overview-active"
          hint={snapshot && !snapshot.sign_in_activity ? "Sign-in dates need Microsoft Entra ID P1 in your tenant" : active !== null && data.licensed_users > 0 ? `${percent(active / data.licensed_users)} of licensed users` : undefined}
        >
          {active !== null ? count(active) : inactive.error ? "unavailable" : snapshot && !snapshot.sign_in_activity ? "not measured" : "…"}
        </Card>
        <Card label="Call minutes (30 days)" testid="overview-minutes" hint={usage.data ? `${count(usage.data.totals.calls)} calls` : undefined}>
          {usage.data ? minutes(usage.data.totals.seconds) : usage.error ? "unavailable" : "…"}
        </Card>
        <Card
          label="PSTN minutes (30 days)"
          testid="overview-pstn-minutes"
          hint={pstn.data ? `Calling Plan ${minutes(pstn.data.totals.pstn.seconds)}, Direct Routing ${minutes(pstn.data.totals.direct_routing.seconds)}; charged ${monies(pstn.data.totals.pstn.charges, "nothing")}` : undefined}
        >
          {pstn.data ? minutes(pstnSeconds(pstn.data.totals)) : pstn.error ? "unavailable" : "…"}
        </Card>
        <Card
          label="Poor audio streams (30 days)"
          testid="overview-poor"
          tone={quality.data && quality.data.poor_ratio > 0.05 ? "warn" : undefined}
          hint={quality.data ? `${count(quality.data.poor_streams)} of ${count(quality.data.streams)} streams` : undefined}
        >
          {quality.data ? percent(quality.data.poor_ratio) : quality.error ? "unavailable" : "…"}
        </Card>
      </div>

      <div class="grid-2">
        <section class="panel" aria-labelledby="savings-title">
          <h2 id="savings-title">Savings by finding kind</h2>
          {savingKinds.length === 0 ? (
            <Empty title="No savings found">Every licence is assigned to an active user who needs it{snapshot ? "" : " (or no sync has completed yet)"}.</Empty>
          ) : (
            <>
              <Chart
                option={savingsOption}
                height={Math.max(160, savingKinds.length * 44 + 48)}
                testid="chart-savings"
                label={`Monthly savings by finding kind: ${savingKinds.map((k) => `${kindLabel(k.kind)} ${monies(k.amount, "no price")}`).join("; ")}`}
              />
              <table class="data" data-testid="overview-kinds">
                <caption class="sr-only">Findings by kind</caption>
                <thead>
                  <tr>
                    <th scope="col">Kind</th>
                    <th scope="col" class="num">Findings</th>
                    <th scope="col" class="num">Licences</th>
                    <th scope="col" class="num">Per month</th>
                  </tr>
                </thead>
                <tbody>
                  {data.findings.map((k) => (
                    <tr data-kind={k.kind}>
                      <th scope="row">
                        <Link href={`${tenantPath(tenant, "findings")}?kind=${k.kind}`}>{kindLabel(k.kind)}</Link>
                        {k.effect === "cost" && <span class="tag warn">cost</span>}
                      </th>
                      <td class="num">{count(k.findings)}</td>
                      <td class="num">{count(k.units)}</td>
                      <td class="num">{k.amount.length ? k.amount.map(money).join(" · ") : "no price"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </section>
        <section class="panel" aria-labelledby="users-title">
          <h2 id="users-title">Active vs licensed users</h2>
          <Chart
            option={usersOption}
            height={170}
            testid="chart-users"
            label={`${count(data.users)} users, ${count(data.licensed_users)} licensed, ${active !== null ? count(active) : "unknown"} licensed and active in the last 30 days`}
          />
          <p class="note">
            {count(data.assigned_units)} licences assigned of {count(data.purchased_units)} bought.{" "}
            <Link href={tenantPath(tenant, "licences")}>Licences per SKU</Link>
          </p>
        </section>
      </div>

      <section class="panel" aria-labelledby="calls-title">
        <h2 id="calls-title">Call minutes per day: all calls, and PSTN among them</h2>
        {usage.error ? (
          <ErrorState what="call usage" error={usage.error} onRetry={usage.reload} />
        ) : !usage.data || !callsChart ? (
          <Loading what="call usage" />
        ) : usage.data.totals.calls === 0 ? (
          <Empty title="No calls in the last 30 days">
            Call records arrive within minutes of each call once the call feed is healthy ({data.feed_state.replace("_", " ")} now).
          </Empty>
        ) : (
          <Chart
            option={callsChart}
            testid="chart-calls"
            label={`Call minutes per day over ${usage.data.items.length} days with calls: ${minutes(usage.data.totals.seconds)} minutes in all, ${pstn.data ? minutes(pstnSeconds(pstn.data.totals)) : "unknown"} of them PSTN`}
          />
        )}
        {pstn.error && <ErrorState what="PSTN minutes" error={pstn.error} onRetry={pstn.reload} />}
        <p class="note">
          <Link href={tenantPath(tenant, "calls")}>Call usage by day, user and department</Link> ·{" "}
          <Link href={tenantPath(tenant, "quality")}>Call quality</Link>
        </p>
      </section>

      <TrendsPanel tenant={tenant} days={days} trends={trends} />
      <RealisedPanel days={days} realised={realised} />
      <p class="note">
        <Link href={tenantPath(tenant, "chargeback")}>Cost per department (chargeback)</Link>
      </p>
    </Page>
  );
}
