import { expect, test, Page } from "@playwright/test";
import { ADMIN, VIEWER, signIn } from "../helpers";

test("an admin tests, adds and watches a Prometheus source; a bad target is named in the form", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  // Client-side navigation keeps the hydrated app.
  await page.getByRole("link", { name: "Sources", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Sources", level: 1 })).toBeVisible();

  await page.getByLabel("Id", { exact: true }).fill("own-metrics");
  await page.getByLabel("Target URL").fill("ftp://example.invalid/metrics");
  await page.getByLabel(/^Interval/).fill("1s");
  await page.getByRole("button", { name: "Add source" }).click();
  await expect(page.locator("#target-error")).toContainText("http");
  await expect(page.locator('tr[data-source="own-metrics"]')).toHaveCount(0);

  // mcpulse's own /metrics is a real Prometheus endpoint.
  await page.getByLabel("Target URL").fill(`${baseURL}/metrics`);
  await page.getByRole("button", { name: "Test" }).click();
  await expect(page.locator('.test-result[data-ok="true"]')).toContainText("samples");

  await page.getByRole("button", { name: "Add source" }).click();
  const row = page.locator('tr[data-source="own-metrics"]');
  await expect(row).toHaveCount(1);
  await expect
    .poll(async () => {
      await page.getByRole("button", { name: "Refresh" }).click();
      return row.locator(".badge").first().textContent();
    })
    .toBe("up");
  await expect(row.locator("td").nth(8)).not.toHaveText("0");

  // Delete asks first.
  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Yes, delete" }).click();
  await expect(row).toHaveCount(0);
});

test("a viewer sees sources but no edit controls", async ({ page }) => {
  await signIn(page, VIEWER);
  await page.getByRole("link", { name: "Sources", exact: true }).click();
  await expect(page.locator('tr[data-source="self"]')).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Add source" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Delete" })).toHaveCount(0);
  await expect(page.locator("#source-form")).toHaveCount(0);
});
