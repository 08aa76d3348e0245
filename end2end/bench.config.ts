import base from "./playwright.config";
import { defineConfig } from "@playwright/test";

// Browser benchmarks (scripts/bench-browser): same server and browser as the tests, figures printed to stdout.
export default defineConfig({ ...base, testDir: "./bench", testMatch: /.*\.bench\.ts/, timeout: 180_000 });
