import { expect, test, Page } from "@playwright/test";
import { ADMIN, VIEWER, signIn } from "../helpers";

test("an admin adds a user, changes its role, signs it out, and creates and revokes an API token", async ({ page, browser }) => {
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Users", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Users", level: 1 })).toBeVisible();

  const form = page.locator("#user-form");
  await form.getByLabel("Username").fill("e2e-carol");
  await form.getByLabel(/^Password/).fill("short");
  await form.getByRole("button", { name: "Add user" }).click();
  await expect(page.locator("#user-password-error")).toContainText("at least 8");
  await expect(page.locator('tr[data-user="e2e-carol"]')).toHaveCount(0);
  await form.getByLabel(/^Password/).fill("carol-password-1");
  await form.getByRole("button", { name: "Add user" }).click();
  const row = page.locator('tr[data-user="e2e-carol"]');
  await expect(row).toHaveCount(1);

  // Carol signs in elsewhere as a viewer; promoted to editor, her open session gets the new role.
  const carol = await browser.newPage();
  await signIn(carol, { username: "e2e-carol", password: "carol-password-1" });
  await row.getByLabel("Role of e2e-carol").selectOption("editor");
  await expect(page.getByRole("status").filter({ hasText: "e2e-carol is now editor." })).toBeVisible();
  const me = await carol.request.post("/api/fn/me", { form: {} });
  expect((await me.json()).role).toBe("editor");
  // Signed out everywhere: her session stops working at once.
  await row.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Signed out everywhere." })).toBeVisible();
  expect((await carol.request.post("/api/fn/me", { form: {} })).status()).toBe(401);
  await carol.close();

  // A token's secret is shown once and works for push ingest until revoked.
  const tokens = page.locator("#token-form");
  await tokens.getByLabel(/^Name/).fill("e2e-ci");
  await tokens.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.locator("code.token-secret").textContent())!.trim();
  expect(secret.length).toBeGreaterThan(20);
  const tokenRow = page.locator('tr[data-token="e2e-ci"]');
  await expect(tokenRow).toHaveAttribute("data-revoked", "false");
  const push = () =>
    page.request.post("/api/v1/ingest", { headers: { authorization: `Bearer ${secret}`, "content-type": "text/plain" }, data: "e2e_token_check 1\n" });
  expect((await push()).status()).toBeLessThan(300);
  await tokenRow.getByRole("button", { name: "Revoke" }).click();
  await tokenRow.getByRole("button", { name: "Yes, revoke" }).click();
  await expect(tokenRow).toHaveAttribute("data-revoked", "true");
  expect((await push()).status()).toBe(401);

  // Carol's account is deleted (after a confirmation); the admin's own row has no Delete.
  await expect(page.locator(`tr[data-user="${ADMIN.username}"]`).getByRole("button", { name: "Delete…" })).toHaveCount(0);
  await row.getByRole("button", { name: "Delete…" }).click();
  await row.getByRole("button", { name: "Yes, delete" }).click();
  await expect(page.getByRole("status").filter({ hasText: "User deleted" })).toBeVisible();
  await expect(page.locator('tr[data-user="e2e-carol"]')).toHaveCount(0);
});

test("a viewer cannot reach user management", async ({ page }) => {
  await signIn(page, VIEWER);
  await expect(page.getByRole("link", { name: "Users", exact: true })).toHaveCount(0);
  await page.goto("/users");
  await expect(page.getByRole("alert")).toContainText("This page is for admins.");
  await expect(page.locator("#user-form")).toHaveCount(0);
  const res = await page.request.post("/api/fn/user_create", { form: { username: "sneaky", password: "sneaky-password", role: "admin" } });
  expect(res.status()).toBe(403);
});
