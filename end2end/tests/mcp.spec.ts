import { expect, test } from "@playwright/test";
import * as path from "path";
import { ADMIN, VIEWER, signIn } from "../helpers";

// The reference MCP server from npm (installed by scripts/setup), started over stdio by mcpulse's probe.
const everything = path.resolve(__dirname, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

test("an admin adds an MCP probe in the form and sees the server's tools with their latency on the MCP page", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "MCP", exact: true }).click();
  await expect(page.getByRole("heading", { name: "MCP servers", level: 1 })).toBeVisible();
  await page.getByRole("link", { name: "Add an MCP server" }).click();
  await expect(page.getByRole("heading", { name: "Sources", level: 1 })).toBeVisible();
  await expect(page.getByLabel("Kind")).toHaveValue("mcp");

  await page.getByLabel("Id", { exact: true }).fill("everything");
  await page.getByLabel("Server URL or command").fill("node");
  await page.getByLabel(/^Arguments/).fill(everything);
  await page.getByLabel(/^Interval/).fill("2s");
  // A call whose arguments are not JSON is named under its field.
  await page.getByLabel(/^Tool calls/).fill("echo {message: hi}");
  await page.getByRole("button", { name: "Add source" }).click();
  await expect(page.locator("#calls-error")).toContainText("not JSON");

  await page.getByLabel(/^Tool calls/).fill('echo {"message": "hi from mcpulse"}');
  await page.getByRole("button", { name: "Test" }).click();
  await expect(page.locator('.test-result[data-ok="true"]')).toContainText("samples");
  await page.getByRole("button", { name: "Add source" }).click();
  await expect(page.locator('tr[data-source="everything"]')).toHaveCount(1);

  await page.getByRole("link", { name: "MCP", exact: true }).click();
  const card = page.locator('section.mcp-server[data-source="everything"]');
  await expect
    .poll(
      async () => {
        await page.getByRole("button", { name: "Refresh" }).click();
        return card.locator('tr[data-tool="echo"] td.num').first().textContent({ timeout: 1000 }).catch(() => "");
      },
      { timeout: 30_000 },
    )
    .toMatch(/^[1-9]/);
  await expect(card.locator(".badge")).toHaveText("up");
  await expect(card).toContainText("everything");
  // The echo tool's percentiles and the protocol methods' rows are filled in.
  await expect(card.locator('tr[data-tool="echo"] td.num').nth(2)).toContainText("ms");
  await expect(card.locator('table.mcp-methods tr[data-method="ping"]')).toHaveCount(1);
  await expect(card.locator(".schema-history li")).toHaveCount(1);
  await expect(card.locator(".schema-history li")).toContainText("first seen with");
});

test("a viewer sees the MCP page but cannot add probes", async ({ page }) => {
  await signIn(page, VIEWER);
  await page.goto("/mcp-servers");
  await expect(page.getByRole("heading", { name: "MCP servers", level: 1 })).toBeVisible();
  await expect(page.getByRole("link", { name: "Add an MCP server" })).toHaveCount(0);
});
