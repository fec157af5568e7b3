// axe-core on the app in its states: no serious or critical violation of WCAG 2.1 A and AA.
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';

import { createNoteViaApi, expect, test, uniqueTitle } from './fixtures';

async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
    .analyze();
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact ?? ''}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
}

for (const colorScheme of ['light', 'dark'] as const) {
  test.describe(`${colorScheme} colour scheme`, () => {
    test.use({ colorScheme, expectedStatuses: [422] });

    test('the list, the edit form, the delete confirmation and a field error', async ({ page }) => {
      const title = uniqueTitle('Accessible');
      await page.goto('/');
      await createNoteViaApi(page, title, 'with some text');
      await page.reload();
      const card = page.getByRole('article', { name: title });
      await expect(card).toBeVisible();
      await expect(page.getByText(/ · (stable|canary)/)).toBeVisible();
      expect(await seriousViolations(page)).toEqual([]);

      await card.getByRole('button', { name: `Edit “${title}”` }).click();
      await expect(page.getByRole('button', { name: 'Save' })).toBeVisible();
      expect(await seriousViolations(page)).toEqual([]);
      await page.getByRole('button', { name: 'Cancel' }).click();

      await card.getByRole('button', { name: `Delete “${title}”` }).click();
      await expect(card.getByRole('button', { name: 'Yes, delete' })).toBeVisible();
      expect(await seriousViolations(page)).toEqual([]);
      await card.getByRole('button', { name: 'Keep it' }).click();

      await page.getByLabel('Title').first().fill(' ');
      await page.getByRole('button', { name: 'Add note' }).click();
      await expect(page.getByRole('alert')).toBeVisible();
      expect(await seriousViolations(page)).toEqual([]);
    });
  });
}
