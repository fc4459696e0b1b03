// Licences per SKU: bought, assigned, available, over-assigned, price, monthly cost and the waste the findings
// found on it.
import { useMemo } from "preact/hooks";
import { Chart, type ChartOption } from "../chart";
import { canAdminister, useApi, useSession } from "../context";
import { count, day, monies, money } from "../format";
import { Link, tenantPath } from "../router";
import type { Licences as LicencesData } from "../types";
import { Card, Empty, ErrorState, ExportButtons, Loading, Page } from "../ui";

export default function Licences({ tenant }: { tenant: string }) {
  const { me } = useSession();
  const licences = useApi<LicencesData>(`/tenants/${encodeURIComponent(tenant)}/licences`);
  const data = licences.data;
  const option = useMemo<ChartOption>(() => {
    const skus = data?.skus ?? [];
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: skus.map((s) => s.sku_part_number), axisLabel: { interval: 0, rotate: skus.length > 6 ? 30 : 0 } },
      yAxis: { type: "value", name: "Licences", minInterval: 1 },
      series: [
        { name: "Assigned", type: "bar", stack: "units", data: skus.map((s) => Math.min(s.assigned, s.purchased)) },
        { name: "Available", type: "bar", stack: "units", data: skus.map((s) => s.available) },
        { name: "Over-assigned", type: "bar", stack: "units", data: skus.map((s) => s.over_assigned) },
      ],
    };
  }, [data]);

  const actions = <ExportButtons tenant={tenant} report="licences" />;
  if (licences.loading && !data) return <Page title="Licences"><Loading what="licences" /></Page>;
  if (licences.error || !data) {
    return (
      <Page title="Licences">
        <ErrorState what="licences" error={licences.error} onRetry={licences.reload} />
      </Page>
    );
  }
  return (
    <Page
      title="Licences"
      subtitle={data.snapshot ? `Per SKU, as of the licence sync of ${day(data.snapshot.day)}. Prices are per month.` : undefined}
      actions={actions}
    >
      {!data.snapshot || data.skus.length === 0 ? (
        <Empty title={data.snapshot ? "The tenant buys no licences" : "No licence sync has completed yet"}>
          {data.snapshot ? (
            "Microsoft reports no subscribed SKUs for this tenant."
          ) : (
            <>
              Licences appear after the first daily sync. <Link href={tenantPath(tenant, "status")}>Tenant status</Link> shows
              its progress.
            </>
          )}
        </Empty>
      ) : (
        <>
          <div class="cards">
            <Card label="Licence spend per month" testid="licences-cost">
              {monies(data.monthly_cost, "no priced licences")}
            </Card>
            <Card label="Waste found per month" testid="licences-waste" tone="good">
              {monies(data.monthly_waste, "none")}
            </Card>
          </div>
          <section class="panel" aria-labelledby="units-title">
            <h2 id="units-title">Assigned and available licences</h2>
            <Chart
              option={option}
              testid="chart-licences"
              label={data.skus.map((s) => `${s.sku_part_number}: ${s.assigned} assigned of ${s.purchased}`).join("; ")}
            />
          </section>
          <section class="panel table-wrap" aria-labelledby="skus-title">
            <h2 id="skus-title">Per SKU</h2>
            <table class="data" data-testid="licences-table">
              <thead>
                <tr>
                  <th scope="col">SKU</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Purchased</th>
                  <th scope="col" class="num">Assigned</th>
                  <th scope="col" class="num">Available</th>
                  <th scope="col" class="num">Over-assigned</th>
                  <th scope="col" class="num">Unit price</th>
                  <th scope="col" class="num">Monthly cost</th>
                  <th scope="col" class="num">Waste found</th>
                </tr>
              </thead>
              <tbody>
                {data.skus.map((s) => (
                  <tr data-sku={s.sku_part_number}>
                    <th scope="row">{s.sku_part_number}</th>
                    <td>
                      {s.capability_status}
                      {s.warning > 0 && <span class="tag warn">{count(s.warning)} in grace</span>}
                    </td>
                    <td class="num" data-col="purchased">{count(s.purchased)}</td>
                    <td class="num" data-col="assigned">{count(s.assigned)}</td>
                    <td class="num" data-col="available">{count(s.available)}</td>
                    <td class="num" data-col="over">{s.over_assigned ? <span class="tag warn">{count(s.over_assigned)}</span> : "0"}</td>
                    <td class="num" data-col="price">
                      {s.unit_price ? money(s.unit_price) : "unknown"}
                      {s.price_source === "override" && <span class="tag">override</span>}
                    </td>
                    <td class="num" data-col="cost">{money(s.monthly_cost)}</td>
                    <td class="num" data-col="waste">
                      {s.wasted_units ? `${monies(s.monthly_waste, "no price")} (${count(s.wasted_units)})` : "—"}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="note">
              A SKU without a known price adds nothing to the totals
              {canAdminister(me, tenant) ? (
                <>
                  ; set prices under <Link href={tenantPath(tenant, "settings")}>Settings</Link>.
                </>
              ) : (
                "; your organisation's portal admins can set prices."
              )}
            </p>
          </section>
        </>
      )}
    </Page>
  );
}
