import { expect, test, Browser, Page } from "@playwright/test";
import { ADMIN, signIn } from "../helpers";

// Bytes on the wire, as the browser counts them (headers + encoded bodies of every response of the load), for a
// first visit with an empty cache. The WASM must arrive compressed under a name carrying its content's hash, cached
// for good (`immutable`), so a second visit does not download it again.
//
// The UI issue's target: at most 350 kB (350,000 bytes) per first load of /login and of /.
const BUDGET = 350_000;

type Load = {
  total: number;
  files: { url: string; bytes: number; status: number; encoding: string; cache: string }[];
};

async function measure(page: Page, path: string, marker: string): Promise<Load> {
  const pending: Promise<void>[] = [];
  const files: Load["files"] = [];
  page.on("response", (response) => {
    pending.push(
      (async () => {
        await response.finished();
        const sizes = await response.request().sizes();
        files.push({
          url: new URL(response.url()).pathname,
          bytes: sizes.responseHeadersSize + sizes.responseBodySize,
          status: response.status(),
          encoding: (await response.allHeaders())["content-encoding"] ?? "",
          cache: (await response.allHeaders())["cache-control"] ?? "",
        });
      })(),
    );
  });
  await page.goto(path);
  await expect(page.locator(marker)).toHaveAttribute("data-hydrated", "true");
  await page.waitForLoadState("networkidle");
  await Promise.all(pending);
  return { total: files.reduce((sum, f) => sum + f.bytes, 0), files };
}

function report(name: string, load: Load) {
  console.log(`${name}: ${(load.total / 1024).toFixed(1)} KiB in ${load.files.length} responses`);
  for (const f of load.files.filter((f) => f.bytes > 2048)) {
    console.log(`  ${f.url} ${f.status} ${f.encoding || "identity"} ${(f.bytes / 1024).toFixed(1)} KiB`);
  }
}

async function freshPage(browser: Browser, storageState?: any) {
  const context = await browser.newContext(storageState ? { storageState } : {});
  return { context, page: await context.newPage() };
}

test("first loads of /login and / arrive compressed within 350 kB and come from the cache afterwards", async ({ browser }) => {
  const anonymous = await freshPage(browser);
  const login = await measure(anonymous.page, "/login", "main[data-hydrated]");
  report("/login, first visit", login);
  const wasm = login.files.find((f) => f.url.endsWith(".wasm"));
  expect(wasm, "the WASM is loaded").toBeTruthy();
  expect(wasm!.encoding).toBe("br");
  expect(wasm!.url).toMatch(/\/pkg\/mcpulse\.[A-Za-z0-9_-]{22}\.wasm$/);
  expect(wasm!.cache).toBe("public, max-age=31536000, immutable");
  const js = login.files.find((f) => f.url.endsWith(".js"));
  expect(js!.cache).toContain("immutable");
  expect(login.total).toBeLessThanOrEqual(BUDGET);
  await anonymous.context.close();

  const setup = await freshPage(browser);
  await signIn(setup.page, ADMIN);
  const storageState = await setup.context.storageState();
  await setup.context.close();

  const fresh = await freshPage(browser, storageState);
  const dashboard = await measure(fresh.page, "/", ".topbar");
  report("/, first visit", dashboard);
  expect(dashboard.total).toBeLessThanOrEqual(BUDGET);

  // The same browser again: the files come from its cache, not over the network.
  const again = await fresh.context.newPage();
  const second = await measure(again, "/", ".topbar");
  report("/, second visit", second);
  // A file taken from the cache travels with no body (Chromium may still report it, with its cached status).
  const wasmAgain = second.files.find((f) => f.url.endsWith(".wasm"));
  if (wasmAgain) expect(wasmAgain.bytes).toBeLessThan(2048);
  expect(second.total).toBeLessThan(dashboard.total / 4);
  await fresh.context.close();
});
