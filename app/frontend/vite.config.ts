import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';

import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// `npm run dev` serves the sources with hot reload and proxies the API to a running platform
// (`make up`): FLIGHTDECK_URL (default https://localhost:8443), trusting FLIGHTDECK_CA (default
// the platform's CA in the checkout). Only the dev server reads these; the build does not.
function devProxy() {
  const target = process.env.FLIGHTDECK_URL ?? 'https://localhost:8443';
  const caPath = process.env.FLIGHTDECK_CA ?? '../../.flightdeck/tls/ca.crt';
  let agent: Agent | undefined;
  try {
    agent = new Agent({ ca: readFileSync(caPath) });
  } catch {
    agent = undefined; // no platform CA yet: the proxy reports the TLS error when it is used
  }
  const route = { target, changeOrigin: true, secure: true, agent };
  return { '/api': route, '/health': route };
}

export default defineConfig({
  plugins: [react()],
  build: {
    target: 'es2022',
    sourcemap: false,
    // Assets are inlined as data: URLs below this size; the CSP allows data: images only.
    assetsInlineLimit: 4096,
  },
  server: { proxy: devProxy() },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    // The component tests wait on real timers and renders; on a busy two-core CI machine the
    // default 5 s per test was seen to run out.
    testTimeout: 20_000,
  },
});
