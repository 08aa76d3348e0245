import { expect, test, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { ADMIN, signIn, hydrated } from "../helpers";

const PAGES = ["/", "/explore?metric=requests_total&range=15m", "/alerts", "/sources", "/mcp-servers", "/reports", "/users"];

/** axe-core's WCAG 2.1 A/AA rules on the current page: prints every violation, returns the serious and critical. */
async function axe(page: Page, path: string) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const counts = result.violations.reduce<Record<string, number>>((c, v) => {
    c[v.impact ?? "unknown"] = (c[v.impact ?? "unknown"] ?? 0) + v.nodes.length;
    return c;
  }, {});
  console.log(`axe ${path}: ${result.passes.length} rules pass, violations ${JSON.stringify(counts)}`);
  for (const v of result.violations) {
    console.log(`  ${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  }
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.nodes.length})`);
}

test("every page passes axe-core's WCAG 2.1 AA checks with no serious or critical violation", async ({ page }) => {
  await page.goto("/login");
  const problems: Record<string, string[]> = { "/login": await axe(page, "/login") };
  await signIn(page, ADMIN);
  for (const path of PAGES) {
    await page.goto(path);
    await hydrated(page);
    problems[path] = await axe(page, path);
  }
  // A form showing its errors is checked too.
  await page.goto("/alerts");
  await hydrated(page);
  await page.locator("#rule-form").getByRole("button", { name: "Create rule" }).click();
  await expect(page.locator("#rule-name-error")).toBeVisible();
  problems["/alerts (form errors)"] = await axe(page, "/alerts (form errors)");
  expect(Object.entries(problems).filter(([, p]) => p.length > 0)).toEqual([]);
});

test("at phone width (390 px) no page is wider than the screen and every page stays reachable from the nav", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/login");
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await signIn(page, ADMIN);
  // Real names are long: the dashboard's chart picker lists this one.
  const created = await page.request.post("/api/fn/token_create", {
    form: { "form[name]": "a-gateway-with-a-long-name", "form[ingest]": "on", "form[role]": "viewer" },
  });
  const { token } = await created.json();
  const pushed = await page.request.post("/api/v1/ingest", {
    headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
    data: "mcp_gateway_upstream_connection_pool_wait_seconds 0.25\n",
  });
  expect(pushed.status()).toBeLessThan(300);
  for (const path of PAGES) {
    await page.goto(path);
    await hydrated(page);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width, `${path} lays out ${width} px wide`).toBeLessThanOrEqual(390);
    // Nothing sticks out of the screen unless it sits in a box that scrolls (a wide table).
    const outside = await page.evaluate(() => {
      const scrolls = (e: Element | null): boolean =>
        !!e && e !== document.body && (["auto", "scroll", "hidden"].includes(getComputedStyle(e).overflowX) || scrolls(e.parentElement));
      return [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > 391 && !scrolls(e.parentElement))
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""}.${[...e.classList].join(".")} (${Math.round(e.getBoundingClientRect().right)} px)`);
    });
    expect(outside, `${path}: elements beyond the screen's edge`).toEqual([]);
    for (const name of ["Dashboard", "Explore", "Alerts", "Sources", "MCP", "Reports", "Users"]) {
      const link = page.locator(".nav").getByRole("link", { name, exact: true });
      await expect(link).toBeInViewport();
    }
  }
  // The skip link is the first stop of the keyboard and leads to the page's content.
  await page.keyboard.press("Tab");
  await expect(page.locator(".skip-link")).toBeFocused();
  await expect(page.locator("main#main")).toHaveCount(1);
});
