// Apache ECharts, piece by piece: bar and line charts, grid, tooltip, legend and the SVG renderer, nothing else.
// A chunk of its own, fetched while the portal signs in and asks the API for data.
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, SVGRenderer]);

export { echarts };
