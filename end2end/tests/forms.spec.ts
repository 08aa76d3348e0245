import { expect, test } from "@playwright/test";
import { ADMIN, signIn, hydrated } from "../helpers";

// Forms learn every problem at once: each shows under its field (marked aria-invalid), and an edited field's
// error goes away until the next answer.
test("forms name every bad field at once and clear an error when its field changes", async ({ page }) => {
  await signIn(page, ADMIN);

  await page.goto("/alerts");
  await hydrated(page);
  const form = page.locator("#rule-form");
  await form.locator("#rule-for").fill("soon");
  await form.getByRole("button", { name: "Create rule" }).click();
  for (const field of ["name", "metric", "threshold", "for"]) {
    await expect(page.locator(`#rule-${field}-error`)).toBeVisible();
  }
  await expect(page.locator("#rule-for-error")).toContainText("not a duration");
  await expect(form.getByLabel("Threshold")).toHaveAttribute("aria-invalid", "true");
  await expect(form.getByLabel("Metric", { exact: true })).toHaveAttribute("aria-invalid", "true");
  // No form-level message repeats what the fields say.
  await expect(form.locator(".form-error")).toHaveCount(0);
  // Fixing one field clears its error only.
  await form.getByLabel("Name", { exact: true }).fill("Anything");
  await expect(page.locator("#rule-name-error")).toHaveCount(0);
  await expect(form.getByLabel("Name", { exact: true })).not.toHaveAttribute("aria-invalid", "true");
  await expect(page.locator("#rule-threshold-error")).toBeVisible();

  // Users and tokens: both fields at once.
  await page.goto("/users");
  await hydrated(page);
  const users = page.locator("#user-form");
  await users.getByLabel("Username").fill("no spaces allowed");
  await users.getByLabel(/^Password/).fill("short");
  await users.getByRole("button", { name: "Add user" }).click();
  await expect(page.locator("#user-username-error")).toContainText("only letters");
  await expect(page.locator("#user-password-error")).toContainText("at least 8");
  const tokens = page.locator("#token-form");
  await tokens.getByLabel(/^Expires/).fill("whenever");
  await tokens.getByRole("button", { name: "Create token" }).click();
  await expect(page.locator("#token-name-error")).toBeVisible();
  await expect(page.locator("#token-expires_in-error")).toContainText("not a duration");
});
