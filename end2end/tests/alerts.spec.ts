import { expect, test, Page, APIRequestContext } from "@playwright/test";
import { ADMIN, VIEWER, signIn, hydrated } from "../helpers";

const RULE = "E2E latency high";

/** Pushes samples of `e2e_latency_ms` as source `e2e-push`, with an ingest token the admin creates. */
async function push(request: APIRequestContext, token: string, items: { value: number; timestamp?: number }[]) {
  const res = await request.post("/api/v1/ingest", {
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    data: JSON.stringify(items.map((i) => ({ metric: "e2e_latency_ms", labels: { tool: "search" }, ...i }))),
  });
  expect(res.status(), await res.text()).toBeLessThan(300);
}

test("an editor creates a rule in the form, sees it fire on the dashboard live, acknowledges it, and zooms a chart", async ({ page }) => {
  await signIn(page, ADMIN);
  const created = await page.request.post("/api/fn/token_create", {
    form: { "form[name]": "e2e-push", "form[ingest]": "on", "form[role]": "viewer" },
  });
  expect(created.status()).toBe(200);
  const { token } = await created.json();
  // Ten minutes of quiet history, one point a minute.
  const now = Math.floor(Date.now() / 1000);
  await push(page.request, token, Array.from({ length: 10 }, (_, i) => ({ value: 10, timestamp: now - 600 + i * 60 })));

  await page.getByRole("link", { name: "Alerts", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Alerts", level: 1 })).toBeVisible();
  const form = page.locator("#rule-form");
  await form.getByLabel("Name", { exact: true }).fill(RULE);
  await form.getByLabel("Metric", { exact: true }).fill("e2e_latency_ms");
  await form.getByLabel("Condition").selectOption(">");
  await form.getByLabel("Severity").selectOption("critical");

  // A bad threshold is named under its field and nothing is stored.
  await form.getByLabel("Threshold").fill("fast");
  await form.getByRole("button", { name: "Create rule" }).click();
  await expect(page.locator("#rule-threshold-error")).toContainText("not a number");
  await expect(form.getByLabel("Threshold")).toHaveAttribute("aria-describedby", "rule-threshold-error");
  await expect(page.locator(`.rules-table tr[data-rule="${RULE}"]`)).toHaveCount(0);

  // The preview charts the metric with the threshold; the backtest finds no firing in the quiet history.
  await form.getByLabel("Threshold").fill("50");
  await form.getByRole("button", { name: "Preview" }).click();
  await expect(page.locator(".rule-preview")).toHaveAttribute("data-marks", "0");
  await expect(page.locator(".rule-preview .chart svg")).toHaveCount(1);

  await form.getByRole("button", { name: "Create rule" }).click();
  await expect(page.locator("#rule-threshold-error")).toHaveCount(0);
  const ruleRow = page.locator(`.rules-table tr[data-rule="${RULE}"]`);
  await expect(ruleRow).toHaveCount(1);
  await expect(ruleRow).toHaveAttribute("data-state", "ok");

  // On the dashboard, without reloading, the alert appears once a pushed value crosses the threshold.
  await page.getByRole("link", { name: "Dashboard", exact: true }).click();
  await expect(page.locator(".live-status")).toHaveAttribute("data-status", "live");
  await page.evaluate(() => ((window as any).__noReload = true));
  await expect(page.locator('.tile[data-tile="firing"]')).toHaveAttribute("data-count", "0");
  await push(page.request, token, [{ value: 120 }]);
  const active = page.locator(`.alerts-table tr[data-rule="${RULE}"]`);
  await expect(active).toHaveAttribute("data-state", "firing", { timeout: 15_000 });
  await expect(page.locator('.tile[data-tile="firing"]')).toHaveAttribute("data-count", "1");
  await expect(page.locator('.tile[data-tile="firing"] [data-severities]')).toHaveText("1 critical");
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  // Acknowledge it on the alerts page.
  await page.getByRole("link", { name: "Alerts", exact: true }).click();
  const current = page.locator(`.alerts-table tr[data-rule="${RULE}"]`);
  await expect(current).toHaveAttribute("data-state", "firing");
  await current.getByRole("button", { name: "Acknowledge" }).click();
  await expect(current).toHaveAttribute("data-acknowledged", "true");
  await expect(current).toContainText("acknowledged by e2e-admin");
  await expect(page.locator(`.history tr[data-rule="${RULE}"][data-state="firing"]`).first()).toBeVisible();

  // Silence it from its row: the form previews what it will mute, and the alert then says who silenced it.
  await current.getByRole("button", { name: "Silence…" }).click();
  const silence = page.locator("#silence-form");
  await expect(silence.locator("[data-mutes]")).toHaveAttribute("data-mutes", "1");
  await expect(silence.locator("[data-mutes]")).toContainText(RULE);
  await silence.getByLabel("Silence alerts matching").fill("alertname=nothing-like-it");
  await expect(silence.locator("[data-mutes]")).toHaveAttribute("data-mutes", "0");
  await silence.getByLabel("Silence alerts matching").fill(`alertname=${RULE}`);
  await expect(silence.locator("[data-mutes]")).toHaveAttribute("data-mutes", "1");
  await silence.getByLabel("Comment").fill("e2e maintenance");
  await silence.getByRole("button", { name: "Create silence" }).click();
  await expect(current).toHaveAttribute("data-silenced", "true");
  await expect(current.locator("[data-silenced-by]")).toContainText("by e2e-admin");
  await expect(current.locator("[data-silenced-by]")).toContainText("e2e maintenance");

  // Changed in place: a longer silence with a new comment, still one silence, the alert still silenced.
  const silenceRow = page.locator("tr[data-silence]").filter({ hasText: `alertname=${RULE}` });
  await expect(silenceRow).toHaveCount(1);
  await silenceRow.getByRole("button", { name: "Edit" }).click();
  await expect(silence.getByLabel("Silence alerts matching")).toHaveValue(`alertname=${RULE}`);
  await silence.getByLabel("For", { exact: true }).fill("3h");
  await silence.getByLabel("Comment").fill("e2e maintenance, extended");
  await silence.getByRole("button", { name: "Save silence" }).click();
  await expect(silenceRow).toContainText("e2e maintenance, extended");
  await expect(page.locator("tr[data-silence]").filter({ hasText: `alertname=${RULE}` })).toHaveCount(1);
  await expect(current.locator("[data-silenced-by]")).toContainText("extended");

  // Zoom the metric's chart by dragging, then read a hovered value.
  await page.goto("/?chart=e2e-push/e2e_latency_ms");
  await expect(page.locator(".live-status")).toHaveAttribute("data-status", "live");
  const chart = page.locator('.chart-card[data-metric="e2e_latency_ms"] .chart');
  await expect(chart).toHaveAttribute("data-zoomed", "false");
  await expect(chart).toHaveAttribute("data-interactive", "true");
  const x0 = Number(await chart.getAttribute("data-x0"));
  const x1 = Number(await chart.getAttribute("data-x1"));
  const box = (await chart.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.2, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.85, y, { steps: 5 });
  await page.mouse.up();
  await expect(chart).toHaveAttribute("data-zoomed", "true");
  const z0 = Number(await chart.getAttribute("data-x0"));
  const z1 = Number(await chart.getAttribute("data-x1"));
  expect(z0).toBeGreaterThan(x0);
  expect(z1).toBeLessThan(x1);
  expect(z1 - z0).toBeLessThan((x1 - x0) * 0.8);

  // The quiet history (10 ms a minute) lies in the zoomed range; hovering shows its exact value and time.
  await page.mouse.move(box.x + box.width * 0.4, y);
  const row = chart.locator(".chart-readout-row");
  await expect(row).toHaveCount(1);
  await expect(row.locator(".value")).toHaveText("10 ms");
  const t = Number(await chart.locator(".chart-readout").getAttribute("data-t"));
  expect(t).toBeGreaterThanOrEqual(z0);
  expect(t).toBeLessThanOrEqual(z1);

  await page.getByRole("button", { name: "Reset zoom" }).click();
  await expect(chart).toHaveAttribute("data-zoomed", "false");
});

test("a viewer sees alerts and rules but no edit controls, and its direct server function calls are refused", async ({ page }) => {
  await signIn(page, VIEWER);
  // Rendered on the server this time (a full page load), then hydrated.
  await page.goto("/alerts");
  await hydrated(page);
  await expect(page.locator(`.rules-table tr[data-rule="${RULE}"]`)).toHaveCount(1);
  await expect(page.getByRole("heading", { name: "Rules" })).toBeVisible();
  await expect(page.locator("#rule-form")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Create rule" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Acknowledge" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Delete" })).toHaveCount(0);
  await expect(page.locator("#silence-form")).toHaveCount(0);
  await expect(page.locator("#contact-form")).toHaveCount(0);

  // The browser's session, used directly: the server refuses, whatever the UI shows.
  const create = await page.request.post("/api/fn/rule_save", {
    form: { "form[name]": "sneaky", "form[metric]": "up", "form[condition]": "<", "form[threshold]": "1" },
  });
  expect(create.status()).toBe(403);
  const ack = await page.request.post("/api/fn/alert_ack", { form: { rule_id: "1", series_id: "1" } });
  expect(ack.status()).toBe(403);
  const rules = await page.request.post("/api/fn/rules", { form: {} });
  expect(rules.status()).toBe(200);
  expect(JSON.stringify(await rules.json())).not.toContain("sneaky");
});
