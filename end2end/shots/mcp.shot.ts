import { expect, test } from "@playwright/test";
import * as path from "path";
import { ADMIN, signIn } from "../helpers";

const everything = path.resolve(__dirname, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

test("screenshot of the MCP page", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 1000 });
  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "Sources", exact: true }).click();
  await page.getByLabel("Kind").selectOption("mcp");
  await page.getByLabel("Id", { exact: true }).fill("everything");
  await page.getByLabel("Name", { exact: false }).first().fill("Everything (reference server)");
  await page.getByLabel("Server URL or command").fill("node");
  await page.getByLabel(/^Arguments/).fill(everything);
  await page.getByLabel(/^Interval/).fill("1s");
  await page.getByLabel(/^Tool calls/).fill('echo {"message": "hi"}\nget-sum {"a": 1, "b": 2}\nget-tiny-image');
  await page.getByRole("button", { name: "Add source" }).click();
  await expect(page.locator('tr[data-source="everything"]')).toHaveCount(1);
  await page.waitForTimeout(20_000);
  // Client-side navigation, as users move around.
  await page.getByRole("link", { name: "MCP", exact: true }).click();
  await expect(page.locator('section.mcp-server tr[data-tool="echo"] td.num').first()).not.toHaveText("");
  await page.screenshot({ path: path.resolve(__dirname, "../screenshots/mcp.png"), fullPage: true });
});
