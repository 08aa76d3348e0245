import { expect, test } from "@playwright/test";
import { createServer } from "node:http";
import { AddressInfo } from "node:net";
import { ADMIN, signIn } from "../helpers";

test("an admin tests a contact point (the receiver's refusal, then its delivery, with the counts) and changes it in place", async ({ page }) => {
  // A receiver that refuses (500) until told otherwise.
  let status = 500;
  const posts: string[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      posts.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const port = (receiver.address() as AddressInfo).port;
  try {
    await signIn(page, ADMIN);
    await page.getByRole("link", { name: "Alerts", exact: true }).click();
    const form = page.locator("#contact-form");
    await form.getByLabel("Name").fill("e2e-hook");
    await form.getByLabel("Kind").selectOption("webhook");
    await form.getByLabel(/^URL/).fill(`http://127.0.0.1:${port}/hook`);
    await form.getByRole("button", { name: "Add contact point" }).click();
    const row = page.locator('tr[data-contact="e2e-hook"]');
    await expect(row).toHaveCount(1);
    await expect(row.locator(".delivery")).toContainText("0 delivered");

    await row.getByRole("button", { name: "Test" }).click();
    const result = row.locator("[data-test-result]");
    await expect(result).toHaveAttribute("data-test-result", "failed");
    await expect(result).toContainText("500");
    expect(posts.length).toBe(1);
    expect(JSON.parse(posts[0]).alerts[0].labels.alertname).toBe("mcpulse test");

    status = 200;
    await row.getByRole("button", { name: "Test" }).click();
    await expect(result).toHaveAttribute("data-test-result", "delivered");
    expect(posts.length).toBe(2);

    // Changed in place: renamed, the URL left empty (kept as it was); the renamed one still reaches the receiver.
    await row.getByRole("button", { name: "Edit" }).click();
    await expect(form.getByLabel("Name")).toHaveValue("e2e-hook");
    await form.getByLabel("Name").fill("e2e-hook-renamed");
    await form.getByRole("button", { name: "Save changes" }).click();
    const renamed = page.locator('tr[data-contact="e2e-hook-renamed"]');
    await expect(renamed).toHaveCount(1);
    await expect(row).toHaveCount(0);
    await expect(form.getByRole("button", { name: "Add contact point" })).toBeVisible();
    await renamed.getByRole("button", { name: "Test" }).click();
    await expect(renamed.locator("[data-test-result]")).toHaveAttribute("data-test-result", "delivered");
    expect(posts.length).toBe(3);
  } finally {
    receiver.close();
  }
});
