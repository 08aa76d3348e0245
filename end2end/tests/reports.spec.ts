import { expect, test } from "@playwright/test";
import { ADMIN, VIEWER, signIn, hydrated } from "../helpers";
import * as fs from "fs";

test("an editor creates a report template in the form, generates it now, and downloads HTML, JSON and CSV", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Reports", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Reports", level: 1 })).toBeVisible();
  await hydrated(page);

  // A bad cron expression is a field error, and nothing is saved.
  await page.getByLabel("Name", { exact: true }).fill("E2E summary");
  await page.getByLabel(/^Schedule/).fill("61 * * * *");
  await page.getByLabel(/^Period/).fill("1h");
  const sections = page.locator(".section-item");
  await expect(sections).toHaveCount(3);
  await sections.first().getByLabel("Metrics").fill("requests_total");
  await page.getByRole("button", { name: "Save template" }).click();
  await expect(page.locator("#report-schedule-error")).toContainText("not a cron expression");
  await expect(page.getByLabel(/^Schedule/)).toHaveAttribute("aria-describedby", "report-schedule-error");
  const stored = await (await page.request.get("/api/report-templates")).json();
  expect(stored.templates.map((t: any) => t.template.name)).not.toContain("E2E summary");

  // Fixed: it saves, appears in the list, and runs on demand.
  await page.getByLabel(/^Schedule/).fill("0 9 * * MON");
  await page.getByLabel(/^Time zone/).fill("Europe/Berlin");
  await page.getByRole("button", { name: "Save template" }).click();
  await expect(page.locator("[data-saved]")).toContainText("E2E summary");
  const template = page.locator('.templates-table tr[data-template="E2E summary"]');
  await expect(template).toContainText("0 9 * * MON (Europe/Berlin)");
  await expect(template).toContainText("next ");
  await template.getByRole("button", { name: "Generate now" }).click();
  const report = page.locator('.reports-table tr[data-template="E2E summary"]').first();
  await expect(report).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });

  // Downloads: the right names and contents.
  const [html] = await Promise.all([page.waitForEvent("download"), report.locator('a[data-format="html"]').click()]);
  expect(html.suggestedFilename()).toMatch(/^e2e-summary-\d{4}-\d\d-\d\d-\d{4}\.html$/);
  const page_ = fs.readFileSync((await html.path())!, "utf8");
  expect(page_).toContain("<title>E2E summary");
  expect(page_).toContain("<svg");
  expect(page_).toContain("requests_total");
  expect(page_).not.toContain("<script");

  const [json] = await Promise.all([page.waitForEvent("download"), report.locator('a[data-format="json"]').click()]);
  expect(json.suggestedFilename()).toMatch(/\.json$/);
  const data = JSON.parse(fs.readFileSync((await json.path())!, "utf8"));
  expect(data.template).toBe("E2E summary");
  expect(data.sections.map((s: any) => s.kind)).toEqual(["metrics_summary", "alerts_summary", "source_health"]);
  const series = data.sections[0].metrics[0].series;
  expect(series.length).toBeGreaterThan(0);
  expect(series[0].max).toBeGreaterThanOrEqual(series[0].min);
  expect(data.sections[2].sources.map((s: any) => s.source)).toContain("self");

  const [csv] = await Promise.all([page.waitForEvent("download"), report.locator('a[data-format="csv"]').click()]);
  expect(csv.suggestedFilename()).toMatch(/\.csv$/);
  const lines = fs.readFileSync((await csv.path())!, "utf8").trim().split(/\r?\n/);
  expect(lines[0]).toBe("section,metrics_summary,Metrics summary");
  expect(lines[1]).toBe("metric,source,labels,samples,min,avg,max,last,p95");
  expect(lines).toContain("section,alerts_summary,Alerts summary");
  expect(lines).toContain("source,rounds,availability_pct,outages,longest_outage_s,longest_outage_start");

  // Filters: by template, and by a date range that excludes it.
  await page.getByLabel("Template", { exact: true }).selectOption({ label: "E2E summary" });
  await expect(page.locator(".reports-table tr[data-report]")).toHaveCount(1);
  await page.getByLabel("From", { exact: true }).fill("2099-01-01");
  await expect(page.locator("[data-empty]").last()).toContainText("No reports match");

  // Edit: the form fills from the row and its sections stay editable while the lists refresh.
  await page.getByLabel("From", { exact: true }).fill("");
  await template.getByRole("button", { name: "Edit" }).click();
  await expect(page.getByRole("heading", { name: "Change template E2E summary" })).toBeVisible();
  await expect(sections).toHaveCount(3);
  await template.getByRole("button", { name: "Generate now" }).click();
  const runs = page.locator('.reports-table tr[data-template="E2E summary"]');
  await expect(runs).toHaveCount(2);
  await expect(runs.first()).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
  await sections.nth(1).getByLabel("Title").fill("Incidents");
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.locator("[data-saved]")).toContainText("E2E summary");
  await expect(template).toContainText("Incidents");
});

test("a viewer sees templates and reports but cannot generate or edit", async ({ page }) => {
  await signIn(page, VIEWER);
  await page.goto("/reports");
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Templates" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Generate now" })).toHaveCount(0);
  await expect(page.locator("#template-form")).toHaveCount(0);
  // The server refuses a direct call too.
  const status = await page.evaluate(async () => {
    const res = await fetch("/api/fn/report_generate", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "id=1",
    });
    return res.status;
  });
  expect(status).toBe(403);
});
