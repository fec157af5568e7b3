// The version badge shows which track answered: with a canary track running (weight 0), the
// canary header or cookie sends the browser's requests to it, and the badge says so.
import { requiredEnv } from './browser';
import { expect, test } from './fixtures';

const stable = requiredEnv('FLIGHTDECK_STABLE_VERSION');
const canary = requiredEnv('FLIGHTDECK_CANARY_VERSION');
const header = process.env.FLIGHTDECK_CANARY_HEADER ?? 'X-Canary';
const cookie = process.env.FLIGHTDECK_CANARY_COOKIE ?? 'canary';

test('without the header or cookie the stable track answers', async ({ page }) => {
  await page.goto('/');
  const badge = page.getByText(`${stable} · stable`);
  await expect(badge).toBeVisible();
  await expect(badge).toHaveAttribute('data-track', 'stable');
});

test('the canary header routes the page to the canary, and the badge shows it', async ({
  browser,
  baseURL,
}) => {
  const context = await browser.newContext({ baseURL, extraHTTPHeaders: { [header]: 'always' } });
  const page = await context.newPage();
  await page.goto('/');
  const badge = page.getByText(`${canary} · canary`);
  await expect(badge).toBeVisible();
  await expect(badge).toHaveAttribute('data-track', 'canary');
  await context.close();
});

test('the badge follows the canary cookie without a reload', async ({ page, context, baseURL }) => {
  await page.clock.install();
  await page.goto('/');
  await expect(page.getByText(`${stable} · stable`)).toBeVisible();
  await context.addCookies([{ name: cookie, value: 'always', url: baseURL ?? '' }]);
  // The badge asks again every 15 s: let that time pass.
  await page.clock.fastForward(16_000);
  await expect(page.getByText(`${canary} · canary`)).toBeVisible();
  await context.addCookies([{ name: cookie, value: 'never', url: baseURL ?? '' }]);
  await page.clock.fastForward(16_000);
  await expect(page.getByText(`${stable} · stable`)).toBeVisible();
});
