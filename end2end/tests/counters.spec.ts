import { expect, test } from "@playwright/test";
import { ADMIN, signIn, hydrated } from "../helpers";

// A counter (`requests_total` of mcpulse itself) is charted as its per-second rate by default; the hover readout
// names one instant for every line; "Zoom out" doubles the range; a histogram is charted as a percentile; an
// unknown metric gets a message; auto-refresh fetches a relative range again.
test("counters chart as rates, the readout snaps to one instant, zoom out and auto-refresh", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto("/explore?metric=requests_total&range=15m");
  await hydrated(page);
  await expect(page.getByLabel("Aggregation")).toHaveValue("rate");
  await expect(page.locator("#metric-list option[value='requests_total']")).toHaveText(/counter \(charted as rate\)/);
  const chart = page.locator(".explore-result .chart");
  // Rates need two samples in a window: with 1 s collection they come within seconds.
  await expect
    .poll(async () => {
      await page.reload();
      await hydrated(page);
      return Number(await chart.getAttribute("data-points"));
    }, { timeout: 30_000 })
    .toBeGreaterThan(4);
  await expect(page.locator("[data-summary]")).toContainText("rate per second");

  // The readout: one time, every shown line's value at it (or "no data").
  await expect(chart).toHaveAttribute("data-interactive", "true");
  await chart.scrollIntoViewIfNeeded();
  const box = (await chart.boundingBox())!;
  // At the right edge, where the newest points are (the server started moments ago).
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2, { steps: 5 });
  const readout = page.locator(".chart-readout");
  await expect(readout).toBeVisible();
  expect(Number(await readout.getAttribute("data-t"))).toBeGreaterThan(0);
  await expect(readout.locator(".chart-readout-row").first()).toBeVisible();
  await expect(readout.locator(".chart-readout-row .value").first()).toContainText("/s");

  // Zoom out: twice the span, centred on the old one.
  const x0 = Number(await chart.getAttribute("data-x0"));
  const x1 = Number(await chart.getAttribute("data-x1"));
  await page.getByRole("button", { name: "Zoom out" }).click();
  await expect(page).toHaveURL(/range=custom/);
  const url = new URL(page.url());
  const from = Date.parse(url.searchParams.get("from")!);
  const to = Date.parse(url.searchParams.get("to")!);
  expect(to - from).toBeGreaterThanOrEqual(2 * (x1 - x0) - 2000);
  expect(from).toBeLessThan(x0);

  // A histogram family (pushed: two minutes of a latency histogram every 10 s) is one picker entry, charted as
  // its p95.
  const created = await page.request.post("/api/fn/token_create", {
    form: { "form[name]": "e2e-histogram", "form[ingest]": "on", "form[role]": "viewer" },
  });
  expect(created.status()).toBe(200);
  const { token } = await created.json();
  const now = Math.floor(Date.now() / 1000);
  const bounds = ["0.1", "0.5", "1", "+Inf"];
  const items = [];
  for (let i = 0; i < 12; i++) {
    const counts = [10 * i, 18 * i, 19 * i, 20 * i];
    bounds.forEach((le, b) =>
      items.push({ metric: "e2e_call_seconds_bucket", labels: { le }, value: counts[b], timestamp: now - 120 + i * 10 }),
    );
    items.push({ metric: "e2e_call_seconds_count", value: 20 * i, timestamp: now - 120 + i * 10 });
  }
  const pushed = await page.request.post("/api/v1/ingest", {
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    data: JSON.stringify(items),
  });
  expect(pushed.status(), await pushed.text()).toBeLessThan(300);
  await page.goto("/explore?metric=e2e_call_seconds_bucket&range=15m");
  await hydrated(page);
  await expect(page.getByLabel("Aggregation")).toHaveValue("p95");
  await expect(page.locator("#metric-list option[value='e2e_call_seconds_bucket']")).toHaveText(/histogram/);
  await expect(page.locator("#metric-list option[value='e2e_call_seconds_count']")).toHaveCount(0);
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(0);
  await expect(page.locator("[data-summary]")).toContainText("p95");
  // 90 % of the calls within 0.5 s, 95 % within 1 s: the p95 lies between 0.5 and 1 s.
  await chart.scrollIntoViewIfNeeded();
  const hbox = (await chart.boundingBox())!;
  await page.mouse.move(hbox.x + hbox.width * 0.5, hbox.y + hbox.height / 2);
  await page.mouse.move(hbox.x + hbox.width - 2, hbox.y + hbox.height / 2, { steps: 5 });
  await expect(page.locator(".chart-readout .chart-readout-row .value").first()).toHaveText(/^(0\.[5-9]\d*|1(\.00)?) s$/);
  await page.getByLabel("Aggregation").selectOption("p99");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.locator("[data-summary]")).toContainText("p99");

  // A metric nobody reports: a message, not an empty chart.
  await page.goto("/explore?metric=no_such_metric_total&range=15m");
  await hydrated(page);
  await expect(page.locator(".explore-result [data-empty]")).toContainText("No data for no_such_metric_total");
  await expect(page.locator(".explore-result .chart")).toHaveCount(0);

  // Auto-refresh every 10 s on a relative range: the query is sent again without a reload.
  await page.goto("/explore?metric=requests_total&range=15m");
  await hydrated(page);
  let queries = 0;
  page.on("response", (r) => {
    if (new URL(r.url()).pathname === "/api/fn/query" && r.status() === 200) queries++;
  });
  await page.getByLabel("Auto-refresh").selectOption("10s");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/refresh=10s/);
  // The navigation's own query, then the timer's: a second answer within two periods, no reload.
  await expect.poll(() => queries, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  const first = queries;
  await expect.poll(() => queries, { timeout: 25_000 }).toBeGreaterThan(first);
  await expect(page).toHaveURL(/refresh=10s/);
});
