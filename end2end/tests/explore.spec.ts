import { expect, test, Page } from "@playwright/test";
import { ADMIN, signIn, hydrated } from "../helpers";
import * as fs from "fs";

test("explore a metric: search it, pick a range, share the URL, download CSV and JSON, zoom into a custom range", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Explore", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Explore", level: 1 })).toBeVisible();
  // The picker offers every metric with its sources.
  await expect(page.locator('#metric-list option[value="requests_total"]')).toHaveCount(1);

  await page.getByLabel(/^Metric/).fill("requests_total");
  await page.getByLabel("Range", { exact: true }).selectOption("15m");
  await page.getByLabel("Aggregation").selectOption("max");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/metric=requests_total/);
  await expect(page).toHaveURL(/range=15m/);
  const chart = page.locator(".explore-result .chart");
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(0);
  await expect(page.locator("[data-summary]")).toContainText("max");

  // The URL alone reproduces the view.
  const shared = page.url();
  await page.goto(shared);
  await hydrated(page);
  await expect(page.getByLabel(/^Metric/)).toHaveValue("requests_total");
  await expect(page.getByLabel("Range", { exact: true })).toHaveValue("15m");
  await expect(page.getByLabel("Aggregation")).toHaveValue("max");
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(0);

  // Downloads carry what is shown.
  const [csv] = await Promise.all([page.waitForEvent("download"), page.locator('a[data-format="csv"]').click()]);
  expect(csv.suggestedFilename()).toBe("requests_total.csv");
  const text = fs.readFileSync((await csv.path())!, "utf8");
  const lines = text.trim().split("\n");
  expect(lines[0]).toBe("timestamp,metric,source,labels,value");
  expect(lines.length).toBeGreaterThan(1);
  expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT[^,]+Z,requests_total,self,,\d/);
  const [json] = await Promise.all([page.waitForEvent("download"), page.locator('a[data-format="json"]').click()]);
  expect(json.suggestedFilename()).toBe("requests_total.json");
  const body = JSON.parse(fs.readFileSync((await json.path())!, "utf8"));
  expect(body.metric).toBe("requests_total");
  expect(body.aggregation).toBe("max");
  expect(body.series.length).toBeGreaterThan(0);

  // Dragging zooms in and moves the URL to that custom range.
  await expect(chart).toHaveAttribute("data-interactive", "true");
  await chart.scrollIntoViewIfNeeded();
  const box = (await chart.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.5, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.95, y, { steps: 8 });
  await page.mouse.up();
  await expect(page).toHaveURL(/range=custom/);
  await expect(page).toHaveURL(/from=\d{4}-/);
  await expect(page.getByLabel("Range", { exact: true })).toHaveValue("custom");
});
