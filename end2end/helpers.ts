import { expect, Page } from "@playwright/test";

/** The users end2end/run creates with the CLI. */
export const ADMIN = { username: "e2e-admin", password: "e2e-admin-password" };
export const VIEWER = { username: "e2e-viewer", password: "e2e-viewer-password" };

/** Signs in and waits until the dashboard has hydrated (its live badge only turns "Live" in the browser). */
export async function signIn(page: Page, user: { username: string; password: string }) {
  // The browser's errors (a hydration panic, say) go to the test output, where a failure can be understood.
  page.on("console", (m) => {
    if (m.type() === "error") console.log("browser:", m.text());
  });
  page.on("pageerror", (e) => console.log("page error:", e.message));
  await page.goto("/login");
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator(".live-status")).toHaveAttribute("data-status", "live");
}

/** Waits until the current page is interactive (the top bar's effect only runs in the browser). */
export async function hydrated(page: Page) {
  await expect(page.locator(".topbar")).toHaveAttribute("data-hydrated", "true");
}
