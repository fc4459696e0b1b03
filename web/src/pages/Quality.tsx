// Call quality: poor audio streams per day (the Call Quality Dashboard's classification) and the users most
// affected.
import { useMemo } from "preact/hooks";
import { Chart, type ChartOption } from "../chart";
import { useApi } from "../context";
import { count, dateTime, day, percent, shortDay } from "../format";
import type { Quality as QualityData } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Loading, Page } from "../ui";
import { DateRange, useRange } from "./Calls";

export default function Quality({ tenant }: { tenant: string }) {
  const range = useRange();
  const quality = useApi<QualityData>(`/tenants/${encodeURIComponent(tenant)}/calls/quality`, { from: range.from, to: range.to });
  const data = quality.data;
  const option = useMemo<ChartOption | null>(() => {
    if (!data) return null;
    const byDay = new Map(data.days.map((d) => [d.day, d]));
    const days: string[] = [];
    for (let t = Date.parse(`${data.from}T00:00:00Z`); t <= Date.parse(`${data.to}T00:00:00Z`); t += 86_400_000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    return {
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: days.map(shortDay) },
      yAxis: [
        { type: "value", name: "Poor streams", minInterval: 1 },
        { type: "value", name: "Share", axisLabel: { formatter: (v: number) => percent(v) }, splitLine: { show: false } },
      ],
      series: [
        { name: "Poor streams", type: "bar", data: days.map((d) => byDay.get(d)?.poor_streams ?? 0) },
        { name: "Share of streams that were poor", type: "line", yAxisIndex: 1, symbolSize: 6, data: days.map((d) => byDay.get(d)?.poor_ratio ?? 0) },
      ],
    };
  }, [data]);

  return (
    <Page
      title="Call quality"
      subtitle="An audio stream is poor when it carried more than 500 packets and its average round trip exceeded 500 ms, packet loss 10 % or jitter 30 ms (Microsoft's Call Quality Dashboard classification)."
      actions={<ExportButtons tenant={tenant} report="call-quality" query={{ from: range.from, to: range.to }} />}
    >
      <DateRange key={`${range.from}/${range.to}`} from={range.from} to={range.to} onChange={(f, t) => range.set(f, t)} />
      {quality.error ? (
        <ErrorState what="call quality" error={quality.error} onRetry={quality.reload} />
      ) : !data || !option ? (
        <Loading what="call quality" />
      ) : (
        <>
          <div class="cards">
            <Card label="Poor streams" testid="quality-poor">{count(data.poor_streams)}</Card>
            <Card label="Streams measured" testid="quality-streams">{count(data.streams)}</Card>
            <Card label="Share poor" testid="quality-ratio" tone={data.poor_ratio > 0.05 ? "warn" : undefined}>
              {percent(data.poor_ratio)}
            </Card>
          </div>
          {data.streams === 0 ? (
            <Empty title="No streams measured in this range">Pick a longer range, or check the call feed under Tenant status.</Empty>
          ) : (
            <section class="panel">
              <h2>Poor streams over time</h2>
              <Chart option={option} testid="chart-quality" label={`Poor audio streams per day from ${day(data.from)} to ${day(data.to)}: ${count(data.poor_streams)} of ${count(data.streams)}`} />
            </section>
          )}
          <section class="panel table-wrap" aria-labelledby="worst-title">
            <h2 id="worst-title">Users with the most poor streams</h2>
            {data.worst_users_as_of && (
              <p class="note" data-testid="quality-worst-as-of">
                Ranked {dateTime(data.worst_users_as_of)}; rankings of the last 7, 30 and 90 days are redone within a minute of new calls.
              </p>
            )}
            {data.worst_users.length === 0 ? (
              <Empty title="Nobody had a poor stream in this range" />
            ) : (
              <table class="data" data-testid="quality-worst">
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Department</th>
                    <th scope="col" class="num">Calls</th>
                    <th scope="col" class="num">Streams</th>
                    <th scope="col" class="num">Poor</th>
                    <th scope="col" class="num">Share poor</th>
                  </tr>
                </thead>
                <tbody>
                  {data.worst_users.map((u) => (
                    <tr data-id={u.user_id}>
                      <th scope="row">
                        {u.display_name ?? u.user_id}
                        {u.user_principal_name && <span class="evidence"> · {u.user_principal_name}</span>}
                      </th>
                      <td>{u.department ?? "—"}</td>
                      <td class="num">{count(u.calls)}</td>
                      <td class="num">{count(u.streams)}</td>
                      <td class="num">{count(u.poor_streams)}</td>
                      <td class="num">{percent(u.poor_ratio)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </Page>
  );
}
