import { expect, test, Browser } from "@playwright/test";
import { spawn, ChildProcess } from "node:child_process";
import { ADMIN, signIn } from "../helpers";

// Every page loaded cold (a fresh browser context: no cache, no running WASM) COLD_LOADS times (default 25) while the
// machine is busy: a busy loop on one core and a client pushing 200 series every 250 ms. Any panic, page error or
// console error fails the test, and so does a page that never becomes interactive (a panic during hydration stops
// the effect that marks it hydrated).
const LOADS = Number(process.env.COLD_LOADS ?? 25);
// The explorer twice: empty, and charting the series being pushed (its data changes between any two reads).
const PAGES = ["/login", "/", "/explore", "/explore?metric=cold_load_gauge&sources=cold-load&range=5m", "/alerts", "/sources", "/mcp-servers", "/reports", "/users"];

test.describe.configure({ timeout: 30 * 60_000 });

function busyLoop(): ChildProcess {
  return spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
}

function pusher(baseURL: string): () => void {
  const token = process.env.E2E_INGEST_TOKEN;
  if (!token) throw new Error("E2E_INGEST_TOKEN is not set (end2end/run creates it)");
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    const lines = Array.from({ length: 200 }, (_, i) => `cold_load_gauge{series="${i}"} ${(n + i) % 97}`);
    fetch(`${baseURL}/api/v1/ingest?source=cold-load`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/plain" },
      body: lines.join("\n") + "\n",
    }).catch(() => {});
  }, 250);
  return () => clearInterval(timer);
}

async function coldLoad(browser: Browser, storageState: any, path: string): Promise<string[]> {
  const context = await browser.newContext({ storageState });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  try {
    await page.goto(path);
    const marker = path === "/login" ? page.locator("main[data-hydrated]") : page.locator(".topbar");
    await expect(marker, `${path} becomes interactive`).toHaveAttribute("data-hydrated", "true");
  } catch (e) {
    problems.push(`not interactive: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await context.close();
  }
  return problems;
}

test(`every page loads cold ${LOADS} times under load without a panic or a page error`, async ({ browser, baseURL }) => {
  const signedIn = await browser.newContext();
  const first = await signedIn.newPage();
  await signIn(first, ADMIN);
  const storageState = await signedIn.storageState();
  const anonymous = { cookies: [], origins: [] };
  await signedIn.close();

  const busy = busyLoop();
  const stopPushing = pusher(baseURL!);
  const failures: string[] = [];
  let loads = 0;
  try {
    for (let i = 0; i < LOADS; i++) {
      for (const path of PAGES) {
        const problems = await coldLoad(browser, path === "/login" ? anonymous : storageState, path);
        loads += 1;
        for (const p of problems) failures.push(`${path} (load ${i + 1}): ${p}`);
      }
    }
  } finally {
    stopPushing();
    busy.kill();
  }
  console.log(`cold loads: ${loads}, with a problem: ${new Set(failures.map((f) => f.split(":")[0])).size}`);
  expect(failures, failures.slice(0, 20).join("\n")).toEqual([]);
});
