import { expect, test, Page } from "@playwright/test";
import { ADMIN, signIn, hydrated } from "../helpers";

// Chart rendering in the browser, measured with the page's own clock:
//  1. 10,000 points (5 series × 2,000, what the server sends for a 1000-pixel-wide chart): the SVG's generation in
//     WASM (data-render-ms) and a full redraw to the next painted frame (a legend click re-renders every point);
//  2. a live append on the dashboard: websocket message arrival → chart updated in the DOM → next painted frame.

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * 0.95)];

test("chart render times", async ({ page }) => {
  // Record when each websocket message arrives, before the app's handler runs.
  await page.addInitScript(() => {
    const w = window as any;
    w.__wsArrivals = [];
    const Native = WebSocket;
    // A listener added at construction runs before the app's onmessage handler.
    w.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener("message", () => w.__wsArrivals.push(performance.now()));
      }
    };
  });
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  await signIn(page, ADMIN);
  const created = await page.request.post("/api/fn/token_create", { form: { name: "bench-chart", scopes: "ingest", expires_in: "" } });
  const { token } = await created.json();
  const now = Math.floor(Date.now() / 1000);
  const items = [];
  for (let s = 0; s < 5; s++)
    for (let i = 0; i < 2000; i++)
      items.push({ metric: "bench_latency_ms", labels: { tool: `t${s}` }, value: 50 + 40 * Math.sin(i / 30 + s) + s * 10, timestamp: now - 1995 + i });
  const pushed = await page.request.post("/api/v1/ingest", { headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, data: JSON.stringify(items) });
  expect(pushed.status()).toBeLessThan(300);

  // 1. 10,000 points.
  await page.goto("/explore?metric=bench_latency_ms&range=custom&from=-1990s&step=1s&agg=avg&group=series");
  await hydrated(page);
  const chart = page.locator(".explore-result .chart");
  const points = Number(await chart.getAttribute("data-points"));
  expect(points).toBeGreaterThan(9900);
  const generate: number[] = [];
  const redraw: number[] = [];
  for (let i = 0; i < 20; i++) {
    // Hide then show series t0: the second click redraws all points.
    const t = await page.evaluate(async () => {
      const button = document.querySelector('.legend-item[data-series$="{tool=t0}"]') as HTMLButtonElement;
      const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      button.click();
      await frame();
      const t0 = performance.now();
      button.click();
      await frame();
      return performance.now() - t0;
    });
    redraw.push(t);
    generate.push(Number(await chart.getAttribute("data-render-ms")));
  }
  // data-render-ms reads performance.now() from WASM; in a lazily loaded chunk that clock can read 0 (then omitted).
  const inWasm = median(generate) > 0 ? `SVG generated in WASM median ${median(generate).toFixed(1)} ms (p95 ${p95(generate).toFixed(1)} ms); ` : "";
  console.log(`chart, ${points} points: ${inWasm}click → redrawn and painted median ${median(redraw).toFixed(1)} ms (p95 ${p95(redraw).toFixed(1)} ms)`);

  // 2. Live append on the dashboard (one point a second arrives over the websocket).
  await page.goto("/");
  await expect(page.locator(".live-status")).toHaveAttribute("data-status", "live");
  const appends: number[] = [];
  const dashChart = page.locator(".chart-card .chart");
  for (let i = 0; i < 10; i++) {
    const t = await page.evaluate(async () => {
      const w = window as any;
      const svg = document.querySelector(".chart-card .chart-svg")!;
      const before = w.__wsArrivals.length;
      const changed = new Promise<number>((resolve) => {
        const obs = new MutationObserver(() => {
          obs.disconnect();
          resolve(performance.now());
        });
        obs.observe(svg, { childList: true, subtree: true });
      });
      await changed;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      const painted = performance.now();
      const arrival = w.__wsArrivals[w.__wsArrivals.length - 1];
      return w.__wsArrivals.length > before ? painted - arrival : NaN;
    });
    if (!Number.isNaN(t)) appends.push(t);
  }
  const dashPoints = Number(await dashChart.getAttribute("data-points"));
  console.log(`live append (dashboard chart, ${dashPoints} points): message arrived → redrawn and painted median ${median(appends).toFixed(1)} ms (p95 ${p95(appends).toFixed(1)} ms) over ${appends.length} appends`);
});
