// The frontend benchmark (benchmarks/frontend/run_benchmark.py runs it): the same browser and
// TLS trust as the browser tests, only the *.bench.ts files.
import { defineConfig } from '@playwright/test';

import tests from './playwright.config';

export default defineConfig({
  ...tests,
  testMatch: '*.bench.ts',
  timeout: 600_000,
});
