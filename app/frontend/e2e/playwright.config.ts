// Browser tests of the frontend on a running local platform, through its TLS ingress.
// tests/e2e/test_frontend_browser.py starts the platform (and a canary track) and runs this
// suite with FLIGHTDECK_URL, FLIGHTDECK_CA and the versions it expects.
import { defineConfig } from '@playwright/test';

import { CHROMIUM, CHROMIUM_FLAGS, homeTrusting, requiredEnv } from './browser';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  outputDir: 'test-results',
  // The machine has two cores, shared: one browser at a time.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: true,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  use: {
    baseURL: requiredEnv('FLIGHTDECK_URL'),
    browserName: 'chromium',
    launchOptions: {
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      env: { ...process.env, HOME: homeTrusting(requiredEnv('FLIGHTDECK_CA')) },
    },
    screenshot: 'only-on-failure',
  },
});
