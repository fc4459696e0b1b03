// Teams call usage over a date range, by day, user or department.
import { useMemo, useState } from "preact/hooks";
import { Chart, type ChartOption } from "../chart";
import { useApi } from "../context";
import { count, day, lastDays, minutes, monies } from "../format";
import { navigate, useLocation } from "../router";
import type { GroupBy, PstnUsage, Usage, UsageItem } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Loading, Page, Pager, usePager, Field } from "../ui";
import { minutesOption, pstnSeconds } from "./Overview";

const PAGE = 100;
const GROUPS: { key: GroupBy; label: string }[] = [
  { key: "day", label: "By day" },
  { key: "user", label: "By user" },
  { key: "department", label: "By department" },
];

export function DateRange(props: { from: string; to: string; onChange: (from: string, to: string) => void }) {
  const [from, setFrom] = useState(props.from);
  const [to, setTo] = useState(props.to);
  return (
    <form
      class="filters panel"
      aria-label="Date range"
      onSubmit={(e) => {
        e.preventDefault();
        props.onChange(from, to);
      }}
    >
      <Field id="calls-from" label="From">
        <input id="calls-from" type="date" value={from} max={to} required onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
      </Field>
      <Field id="calls-to" label="To">
        <input id="calls-to" type="date" value={to} min={from} required onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
      </Field>
      <button type="submit" class="primary">
        Show
      </button>
      {[7, 30, 90].map((n) => (
        <button
          type="button"
          onClick={() => {
            const range = lastDays(n);
            setFrom(range.from);
            setTo(range.to);
            props.onChange(range.from, range.to);
          }}
        >
          Last {n} days
        </button>
      ))}
    </form>
  );
}

/** The range in the URL (`?from&to`), the last 30 days by default. */
export function useRange(): { from: string; to: string; set: (from: string, to: string, extra?: Record<string, string>) => void } {
  const { search } = useLocation();
  const fallback = lastDays(30);
  const from = search.get("from") ?? fallback.from;
  const to = search.get("to") ?? fallback.to;
  return {
    from,
    to,
    set: (f, t, extra = {}) => {
      const params = new URLSearchParams(window.location.search);
      params.set("from", f);
      params.set("to", t);
      for (const [k, v] of Object.entries(extra)) params.set(k, v);
      navigate(`${window.location.pathname}?${params}`);
    },
  };
}

function name(item: UsageItem, group: GroupBy): string {
  if (group === "day") return day(item.key);
  if (group === "department") return item.key || "(no department)";
  return item.display_name ?? item.user_principal_name ?? item.key;
}

export default function Calls({ tenant }: { tenant: string }) {
  const base = `/tenants/${encodeURIComponent(tenant)}`;
  const { search } = useLocation();
  const range = useRange();
  const group = (GROUPS.find((g) => g.key === search.get("group_by"))?.key ?? "day") as GroupBy;
  const pager = usePager([range.from, range.to, group]);
  const query = { from: range.from, to: range.to, group_by: group, limit: group === "user" ? PAGE : undefined, cursor: group === "user" ? pager.cursor : undefined };
  const usage = useApi<Usage>(`${base}/calls/usage`, query);
  const data = usage.data?.group_by === group ? usage.data : null;
  // PSTN minutes and charges come from Microsoft's PSTN and Direct Routing logs (per day or department; per user
  // they page on their own, so that grouping shows the totals only).
  const pstnGroup = group === "user" ? "day" : group;
  const pstn = useApi<PstnUsage>(`${base}/calls/pstn`, { from: range.from, to: range.to, group_by: pstnGroup });
  const pstnData = pstn.data?.group_by === pstnGroup ? pstn.data : null;
  const pstnByKey = new Map((pstnData?.items ?? []).map((i) => [i.key, i]));

  const departmentOption = useMemo<ChartOption | null>(() => {
    if (!data || group !== "department") return null;
    const items = [...data.items].sort((a, b) => b.seconds - a.seconds);
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: items.map((i) => i.key || "(none)"), axisLabel: { interval: 0, rotate: items.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: "Minutes" },
      series: [
        { name: "Teams (VoIP) minutes", type: "bar", data: items.map((i) => Math.round(i.seconds / 60)) },
        { name: "PSTN calls", type: "bar", data: items.map((i) => i.pstn_calls) },
      ],
    };
  }, [data, group]);
  const dayOption = useMemo(() => (data && group === "day" ? minutesOption(data, pstnData) : null), [data, group, pstnData]);

  const tabs = (
    <div class="tabs" role="group" aria-label="Group calls">
      {GROUPS.map((g) => (
        <button type="button" aria-pressed={g.key === group} onClick={() => range.set(range.from, range.to, { group_by: g.key })}>
          {g.label}
        </button>
      ))}
    </div>
  );

  return (
    <Page
      title="Call usage"
      subtitle="Teams calls and meetings of the tenant's users (UTC days). A call with several of your users counts once per user when grouped by user or department."
      actions={<ExportButtons tenant={tenant} report="call-usage" query={{ from: range.from, to: range.to, group_by: group }} />}
    >
      <DateRange key={`${range.from}/${range.to}`} from={range.from} to={range.to} onChange={(f, t) => range.set(f, t)} />
      {tabs}
      {usage.error ? (
        <ErrorState what="call usage" error={usage.error} onRetry={usage.reload} />
      ) : !data ? (
        <Loading what="call usage" />
      ) : (
        <>
          <div class="cards">
            <Card label="Calls" testid="calls-total">{count(data.totals.calls)}</Card>
            <Card label="Call minutes" testid="calls-minutes">{minutes(data.totals.seconds)}</Card>
            <Card label="Calls with a phone number" testid="calls-pstn">{count(data.totals.pstn_calls)}</Card>
            <Card
              label="PSTN minutes (billed logs)"
              testid="calls-pstn-minutes"
              hint={pstnData ? `${count(pstnData.totals.pstn.calls + pstnData.totals.direct_routing.calls)} calls; Calling Plan charges ${monies(pstnData.totals.pstn.charges, "none")}` : undefined}
            >
              {pstnData ? minutes(pstnSeconds(pstnData.totals)) : pstn.error ? "unavailable" : "…"}
            </Card>
            <Card label="Group calls / peer-to-peer" testid="calls-group">
              {count(data.totals.group_calls)} / {count(data.totals.peer_calls)}
            </Card>
            <Card label="Calls with video" testid="calls-video">{count(data.totals.video_calls)}</Card>
          </div>
          {data.items.length === 0 ? (
            <Empty title="No calls in this range">Pick a longer range, or check the call feed under Tenant status.</Empty>
          ) : (
            <>
              {dayOption && (
                <section class="panel">
                  <Chart option={dayOption} testid="chart-usage-days" label={`Calls per day from ${day(data.from)} to ${day(data.to)}`} />
                </section>
              )}
              {departmentOption && (
                <section class="panel">
                  <Chart option={departmentOption} testid="chart-usage-departments" label={`Call minutes per department from ${day(data.from)} to ${day(data.to)}`} />
                </section>
              )}
              <section class="panel table-wrap" aria-labelledby="usage-table-title">
                <h2 id="usage-table-title">{GROUPS.find((g) => g.key === group)?.label}</h2>
                <table class="data" data-testid="usage-table">
                  <thead>
                    <tr>
                      <th scope="col">{group === "day" ? "Day" : group === "user" ? "User" : "Department"}</th>
                      {group === "user" && <th scope="col">Department</th>}
                      <th scope="col" class="num">Calls</th>
                      <th scope="col" class="num">Minutes</th>
                      <th scope="col" class="num">Group</th>
                      <th scope="col" class="num">Peer-to-peer</th>
                      <th scope="col" class="num">Video</th>
                      <th scope="col" class="num">With a phone number</th>
                      {group !== "user" && <th scope="col" class="num">PSTN minutes</th>}
                      <th scope="col" class="num">Poor streams</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.items.map((i) => (
                      <tr data-key={i.key}>
                        <th scope="row">{name(i, group)}</th>
                        {group === "user" && <td>{i.department ?? "—"}</td>}
                        <td class="num">{count(i.calls)}</td>
                        <td class="num">{minutes(i.seconds)}</td>
                        <td class="num">{count(i.group_calls)}</td>
                        <td class="num">{count(i.peer_calls)}</td>
                        <td class="num">{count(i.video_calls)}</td>
                        <td class="num">{count(i.pstn_calls)}</td>
                        {group !== "user" && <td class="num">{pstnData ? minutes(pstnSeconds(pstnByKey.get(i.key))) : "…"}</td>}
                        <td class="num">
                          {count(i.poor_streams)} / {count(i.streams)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {group === "user" && (
                  <Pager page={pager.page} size={PAGE} shown={data.items.length} next={data.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
                )}
              </section>
            </>
          )}
        </>
      )}
    </Page>
  );
}
