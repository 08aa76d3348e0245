import { expect, test, Page } from "@playwright/test";
import { hydrated } from "../helpers";

const ADMIN = { username: "e2e-admin", password: "e2e-admin-password" };

async function signIn(page: Page, username: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Waits until the WASM has hydrated the page (the live badge only turns "Live" in the browser). */
async function waitForLive(page: Page) {
  await expect(page.locator(".live-status")).toHaveAttribute("data-status", "live");
}

test("a wrong password shows one clear error and stays on the sign-in page", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page, ADMIN.username, "not-the-password");
  await expect(page.getByRole("alert")).toHaveText("Invalid username or password.");
  await expect(page).toHaveURL(/\/login$/);
});

test("sign in, watch the dashboard update live without navigation, sign out", async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await waitForLive(page);

  // A marker on window survives only if the page is never reloaded.
  await page.evaluate(() => ((window as any).__noReload = true));

  const tile = page.locator('.tile[data-metric="requests_total"] .tile-value');
  const chart = page.locator('.chart-card[data-metric="requests_total"] .chart');
  await expect(tile).not.toHaveText("–");
  const before = await tile.textContent();
  const pointsBefore = Number(await chart.getAttribute("data-points"));

  // Make requests so the counter must move; the next collection round (1 s in tests) is pushed over the websocket.
  for (let i = 0; i < 3; i++) await page.request.get("/health");
  await expect(tile).not.toHaveText(before!);
  await expect.poll(async () => Number(await chart.getAttribute("data-points"))).toBeGreaterThan(pointsBefore);
  // The series line (plotters also draws the grid as polylines, in other colours).
  await expect(chart.locator(`svg polyline[stroke="#3B82F6"]`)).toHaveCount(1);
  expect(await page.evaluate(() => (window as any).__noReload)).toBe(true);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  // The session is gone server-side: the dashboard sends us back to sign-in.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
});

test("pages do not jump while they hydrate (cumulative layout shift under 0.1)", async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as any;
    w.__shift = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as any[]) if (!e.hadRecentInput) w.__shift += e.value;
    }).observe({ type: "layout-shift", buffered: true });
  });
  await signIn(page, ADMIN.username, ADMIN.password);
  await waitForLive(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const path of ["/", "/alerts", "/explore?metric=requests_total&range=15m", "/sources", "/reports"]) {
    await page.goto(path);
    await hydrated(page);
    // Let lazy chunks and late resources settle.
    await page.waitForTimeout(500);
    const shift = await page.evaluate(() => (window as any).__shift);
    expect(shift, `layout shift on ${path}`).toBeLessThan(0.1);
  }
});
