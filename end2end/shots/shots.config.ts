import base from "../playwright.config";
import { defineConfig } from "@playwright/test";

// Screenshots for the README (not tests): E2E_CONFIG=end2end/shots/shots.config.ts end2end/run
export default defineConfig({ ...base, testDir: ".", testMatch: process.env.SHOT ?? "*.shot.ts", timeout: 120_000 });
