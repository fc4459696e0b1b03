import { defineConfig, type Plugin } from "vite";

// portal-api serves dist/ at `/`: content-hashed names under assets/ (cached for a year), index.html revalidated.
// `npm run dev` proxies the API and the sign-in settings to a running portal-api (the demo's by default).
const api = process.env.SUA_PORTAL_URL ?? "http://127.0.0.1:8080";

/** Lets the browser fetch and compile the charting chunk (imported lazily) while the app's own code starts. */
function preloadCharts(): Plugin {
  return {
    name: "sua:preload-charts",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(_html, context) {
        const chunk = Object.values(context.bundle ?? {}).find((c) => c.type === "chunk" && c.name === "echarts");
        return chunk ? [{ tag: "link", attrs: { rel: "modulepreload", crossorigin: "", href: `/${chunk.fileName}` }, injectTo: "head" }] : [];
      },
    },
  };
}

export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [preloadCharts()],
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    assetsDir: "assets",
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: { "/api": api, "/config.json": api },
  },
});
