// Charts are Apache ECharts (see ./echarts for what is imported). Each chart is an image with a text summary for
// screen readers; the numbers behind it are in a table or cards beside it.
import type { EChartsCoreOption, EChartsType } from "echarts/core";
import { useEffect, useRef } from "preact/hooks";

// Started when the portal starts, so the charting code loads while sign-in and the API's answers are awaited.
const library = import("./echarts");

export type ChartOption = EChartsCoreOption;

/** Colours with at least 4.5:1 contrast on white, told apart without relying on hue alone (legend names them). */
export const PALETTE = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#4b5563", "#0e7490"];

const BASE: ChartOption = {
  color: PALETTE,
  animation: false,
  textStyle: { fontFamily: "system-ui, sans-serif", color: "#1f2937" },
  grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
  tooltip: { trigger: "axis", confine: true },
  legend: { top: 0, textStyle: { color: "#1f2937" } },
};

export function Chart({ option, label, height = 280, testid }: { option: ChartOption; label: string; height?: number; testid?: string }) {
  const element = useRef<HTMLDivElement>(null);
  const chart = useRef<EChartsType | null>(null);
  const latest = useRef(option);
  latest.current = option;
  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void library.then(({ echarts }) => {
      if (disposed || !element.current) return;
      const instance = echarts.init(element.current, undefined, { renderer: "svg" });
      chart.current = instance;
      instance.setOption({ ...BASE, ...latest.current }, { notMerge: true });
      observer = new ResizeObserver(() => instance.resize());
      observer.observe(element.current);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      chart.current?.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption({ ...BASE, ...option }, { notMerge: true });
  }, [option]);
  return (
    <figure class="chart" role="img" aria-label={label} data-testid={testid}>
      <div ref={element} style={{ height: `${height}px` }} aria-hidden="true" />
    </figure>
  );
}
