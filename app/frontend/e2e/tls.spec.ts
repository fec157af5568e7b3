// The browser reaches the ingress because it trusts the platform's CA (an NSS database made by
// browser.ts), not because certificate errors are ignored: without that database it refuses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CHROMIUM, CHROMIUM_FLAGS } from './browser';
import { expect, test } from './fixtures';

test('without the platform CA the browser refuses the certificate', async ({
  playwright,
  baseURL,
}) => {
  const home = mkdtempSync(join(tmpdir(), 'flightdeck-untrusting-home-'));
  const browser = await playwright.chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    env: { ...process.env, HOME: home },
  });
  try {
    const page = await browser.newPage();
    await expect(page.goto(baseURL ?? '')).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
  } finally {
    await browser.close();
    rmSync(home, { recursive: true, force: true });
  }
});

test('with it the page loads over TLS', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  expect((await response?.securityDetails())?.protocol).toMatch(/^TLS 1\.[23]$/);
});
