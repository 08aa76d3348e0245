import { expect, test, type Page } from "@playwright/test";
import { ADMIN } from "../helpers";

// Every form works before the page is interactive: without script at all, the browser posts each form itself to
// its server function (never a GET with the values in the URL), the server answers with a redirect back to the
// page, which shows the result — or the problem under its field.
test.use({ javaScriptEnabled: false });

/** Submits `form` and waits for the page the server redirects back to; the request must be a POST. */
async function post(page: Page, form: string, button: string) {
  const request = page.waitForRequest((r) => r.url().includes("/api/fn/"));
  await page.locator(form).getByRole("button", { name: button, exact: true }).click();
  const sent = await request;
  expect(sent.method(), `${form} posts`).toBe("POST");
  await page.waitForLoadState("load");
  expect(new URL(page.url()).search, "no values in the URL").not.toMatch(/password|form%5B|form\[/);
}

test("every form works without script: posted by the browser, answered with the page, problems under their fields", async ({ page }) => {
  const suffix = Date.now().toString(36);
  await page.goto("/login");
  await page.getByLabel("Username").fill(ADMIN.username);
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);

  // Users: a bad account is named field by field; a good one is listed.
  await page.goto("/users");
  await page.locator("#user-username").fill("no spaces allowed");
  await page.locator("#user-password").fill("short");
  await post(page, "#user-form", "Add user");
  await expect(page.locator("#user-username-error")).toContainText("only letters");
  await expect(page.locator("#user-password-error")).toContainText("at least 8");
  await page.locator("#user-username").fill(`ns-${suffix}`);
  await page.locator("#user-password").fill("a-long-enough-password");
  await page.locator("#user-role").selectOption("editor");
  await post(page, "#user-form", "Add user");
  const row = page.locator(`tr[data-user="ns-${suffix}"]`);
  await expect(row).toHaveCount(1);
  await expect(row.locator("select option[selected]")).toHaveText("editor");

  // Tokens: the secret of a token made this way is shown once on the page the browser comes back to.
  await page.locator("#token-name").fill(`ns-token-${suffix}`);
  await page.locator('#token-form input[name="form[read]"]').check();
  await post(page, "#token-form", "Create token");
  await expect(page.locator(".secret")).toContainText(`ns-token-${suffix}`);
  const secret = (await page.locator(".token-secret").textContent()) ?? "";
  expect(secret.length).toBeGreaterThan(20);
  const scopes = page.locator(`tr[data-token="ns-token-${suffix}"]`);
  await expect(scopes).toContainText("ingest, read");
  await page.goto("/users");
  await expect(page.locator(".secret"), "shown once").toHaveCount(0);
  const read = await page.request.get("/api/metrics", { headers: { authorization: `Bearer ${secret}` } });
  expect(read.status(), "the token works").toBe(200);

  // Sources: bad labels are named; a good source is listed.
  await page.goto("/sources");
  await page.locator("#source-id").fill(`ns-${suffix}`);
  await page.locator("#source-target").fill("http://127.0.0.1:9/metrics");
  await page.locator("#source-labels").fill("team");
  await post(page, "#source-form", "Add source");
  await expect(page.locator("#labels-error")).toContainText("name=value");
  await page.locator("#source-id").fill(`ns-${suffix}`);
  await page.locator("#source-target").fill("http://127.0.0.1:9/metrics");
  await page.locator("#source-labels").fill("team=platform");
  await post(page, "#source-form", "Add source");
  await expect(page.locator(`tr[data-source="ns-${suffix}"]`)).toHaveCount(1);

  // Alerts: a rule (every problem at once, then a good one), a silence and a contact point.
  await page.goto("/alerts");
  await page.locator("#rule-for").fill("soon");
  await post(page, "#rule-form form", "Create rule");
  for (const field of ["name", "metric", "threshold", "for"]) {
    await expect(page.locator(`#rule-${field}-error`)).toBeVisible();
  }
  await expect(page.locator("#rule-name")).toHaveAttribute("aria-invalid", "true");
  await page.locator("#rule-name").fill(`ns rule ${suffix}`);
  await page.locator("#rule-metric").fill("up");
  await page.locator("#rule-condition").selectOption("<");
  await page.locator("#rule-threshold").fill("0.5");
  await post(page, "#rule-form form", "Create rule");
  await expect(page.locator(`.rules-table tr[data-rule="ns rule ${suffix}"]`)).toHaveCount(1);

  await page.locator("#silence-matchers").fill(`alertname=ns rule ${suffix}`);
  await page.locator("#silence-comment").fill("maintenance");
  await post(page, "#silence-form", "Create silence");
  await expect(page.locator("tr[data-silence]").filter({ hasText: `alertname=ns rule ${suffix}` })).toHaveCount(1);

  await page.locator("#cp-name").fill(`ns-console-${suffix}`);
  await page.locator("#cp-kind").selectOption("console");
  await post(page, "#contact-form", "Add contact point");
  await expect(page.locator("#contact-form").locator("..")).toContainText(`ns-console-${suffix}`);

  // Reports: a template with its default sections (the metrics section needs a metric: asked for by section).
  await page.goto("/reports");
  await page.locator("#report-name").fill(`ns report ${suffix}`);
  await post(page, "#template-form", "Save template");
  await expect(page.locator("#template-form")).toContainText("section 1: name at least one metric");
  await page.locator("#report-name").fill(`ns report ${suffix}`);
  await page.locator('input[name="form[sections][0][metrics]"]').fill("up");
  await post(page, "#template-form", "Save template");
  await expect(page.locator("body")).toContainText(`ns report ${suffix}`);
  await expect(page.locator("#template-form .form-error")).toHaveCount(0);
});
