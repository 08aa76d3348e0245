import { expect, test, Page } from "@playwright/test";
import * as path from "path";
import { ADMIN, signIn, hydrated } from "../helpers";

const shot = (name: string) => path.resolve(__dirname, `../screenshots/${name}.png`);

/** An hour of three tools' calls (counters), latency (gauges) and a latency histogram, every 30 s, pushed. */
async function history(page: Page) {
  const created = await page.request.post("/api/fn/token_create", {
    form: { "form[name]": "search-gateway", "form[ingest]": "on", "form[role]": "viewer" },
  });
  const { token } = await created.json();
  const now = Math.floor(Date.now() / 1000);
  const tools: [string, number, number][] = [["search", 4, 42], ["fetch", 2.5, 120], ["summarize", 0.8, 640]];
  const items: object[] = [];
  for (const [tool, perSecond, ms] of tools) {
    let calls = 0;
    const buckets = [0, 0, 0, 0, 0];
    for (let i = 0; i <= 120; i++) {
      const t = now - 3600 + i * 30;
      const wave = 1 + 0.5 * Math.sin(i / 9 + ms);
      const n = Math.round(perSecond * 30 * wave);
      calls += n;
      const latency = ms * (0.8 + 0.4 * Math.random()) * (i > 80 && i < 95 && tool === "fetch" ? 3 : 1);
      [0.05, 0.1, 0.25, 1, Infinity].forEach((le, b) => (buckets[b] += le * 1000 >= latency ? n : Math.round(n * 0.1)));
      for (let b = 1; b < 5; b++) buckets[b] = Math.max(buckets[b], buckets[b - 1]);
      items.push({ metric: "tool_calls_total", labels: { tool }, value: calls, timestamp: t });
      items.push({ metric: "tool_latency_ms", labels: { tool }, value: Math.round(latency * 10) / 10, timestamp: t });
      ["0.05", "0.1", "0.25", "1", "+Inf"].forEach((le, b) =>
        items.push({ metric: "tool_duration_seconds_bucket", labels: { tool, le }, value: buckets[b], timestamp: t }),
      );
    }
  }
  const res = await page.request.post("/api/v1/ingest", {
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    data: JSON.stringify(items),
  });
  expect(res.status(), await res.text()).toBeLessThan(300);
}

test("screenshots of the dashboard, the explorer (a counter's rate, a histogram's p95) and a phone", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await signIn(page, ADMIN);
  await history(page);
  await page.waitForTimeout(8_000); // a few rounds of mcpulse's own metrics for the tiles and the live chart

  await page.goto("/?chart=search-gateway/tool_calls_total");
  await hydrated(page);
  await page.waitForTimeout(3_000);
  await page.screenshot({ path: shot("dashboard"), fullPage: true });

  await page.goto("/explore?metric=tool_calls_total&range=1h&group=series");
  await hydrated(page);
  const chart = page.locator(".explore-result .chart");
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(0);
  await chart.scrollIntoViewIfNeeded();
  const box = (await chart.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await page.mouse.move(box.x + box.width * 0.72, box.y + box.height * 0.5, { steps: 4 });
  await expect(page.locator(".chart-readout-row")).toHaveCount(3);
  await page.screenshot({ path: shot("explore"), fullPage: true });

  await page.goto("/explore?metric=tool_duration_seconds_bucket&range=1h&group=tool");
  await hydrated(page);
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(0);
  await page.screenshot({ path: shot("explore-p95"), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/");
  await hydrated(page);
  await page.waitForTimeout(2_000);
  await page.screenshot({ path: shot("phone-dashboard"), fullPage: true });
  await page.goto("/alerts");
  await hydrated(page);
  await page.locator("#rule-form").getByRole("button", { name: "Create rule" }).click();
  await expect(page.locator("#rule-threshold-error")).toBeVisible();
  await page.locator("#rule-form").screenshot({ path: shot("phone-rule-form") });
});
