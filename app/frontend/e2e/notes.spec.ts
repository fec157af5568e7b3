// What a person does with the notes app, in chromium, on the real platform (TLS ingress, nginx
// serving the built bundle with its CSP, the backend on FerretDB).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createNoteViaApi, expect, test, uniqueTitle } from './fixtures';
import { requiredEnv } from './browser';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test.describe('notes', () => {
  test('create a note, edit it, upload and download an attachment, delete it', async ({ page }) => {
    const title = uniqueTitle('Trip plan');
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Flightdeck notes', level: 1 })).toBeVisible();

    await page.getByLabel('Title').fill(title);
    await page.getByLabel('Text').fill('Pack the charger.\nBook the train.');
    await page.getByRole('button', { name: 'Add note' }).click();
    const card = page.getByRole('article', { name: title });
    await expect(card).toBeVisible();
    await expect(card).toContainText('Book the train.');
    await expect(page.getByLabel('Title')).toHaveValue('');
    // Newest first: the new note is the first of the list.
    await expect(page.getByRole('article').first()).toHaveAccessibleName(title);

    const edited = `${title} (edited)`;
    await card.getByRole('button', { name: `Edit “${title}”` }).click();
    const form = page.getByRole('article', { name: `Editing “${title}”` });
    await expect(form.getByLabel('Title')).toBeFocused();
    await form.getByLabel('Title').fill(edited);
    await form.getByRole('button', { name: 'Save' }).click();
    const editedCard = page.getByRole('article', { name: edited });
    await expect(editedCard).toBeVisible();
    await expect(editedCard).toContainText(' · updated ');
    await expect(editedCard.getByRole('button', { name: `Edit “${edited}”` })).toBeFocused();

    // A slow upload, so that the progress bar shows the way it would on a real network.
    const content = randomBytes(768 * 1024);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 256 * 1024,
    });
    await editedCard.getByLabel(`Attach a file to “${edited}”`).setInputFiles({
      name: 'tickets.bin',
      mimeType: 'application/octet-stream',
      buffer: content,
    });
    const bar = editedCard.getByRole('progressbar', { name: 'Uploading tickets.bin' });
    await expect(bar).toBeVisible();
    // Seen part-way: the bar moves with the bytes sent, not only at the end.
    await expect
      .poll(
        async () => {
          const value = Number(await bar.getAttribute('value'));
          return value > 0 && value < 100;
        },
        { timeout: 10_000, intervals: [100] },
      )
      .toBe(true);
    const link = editedCard.getByRole('link', { name: 'tickets.bin' });
    await expect(link).toBeVisible({ timeout: 30_000 });
    await expect(bar).toBeHidden();
    await expect(editedCard.getByText('Uploaded tickets.bin.')).toBeVisible();
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });

    const downloading = page.waitForEvent('download');
    await link.click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe('tickets.bin');
    expect(sha256(readFileSync(await download.path()))).toBe(sha256(content));

    await editedCard.getByRole('button', { name: `Delete “${edited}”` }).click();
    await expect(editedCard.getByText('Delete this note and its 1 attachment?')).toBeVisible();
    await editedCard.getByRole('button', { name: 'Yes, delete' }).click();
    await expect(page.getByRole('article', { name: edited })).toHaveCount(0);
    await expect(page.getByRole('heading', { name: 'Notes', level: 2 })).toBeFocused();
    await page.reload();
    await expect(page.getByRole('article').first()).toBeVisible();
    await expect(page.getByRole('article', { name: edited })).toHaveCount(0);
  });

  test('a keyboard alone adds and deletes a note', async ({ page }) => {
    const title = uniqueTitle('Keyboard');
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Notes', level: 2 })).toBeVisible();
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to the notes' })).toBeFocused();
    await page.keyboard.press('Tab');
    await expect(page.getByLabel('Title')).toBeFocused();
    await page.keyboard.type(title);
    await page.keyboard.press('Tab');
    await expect(page.getByLabel('Text')).toBeFocused();
    await page.keyboard.type('typed, not clicked');
    await page.keyboard.press('Tab');
    await expect(page.getByRole('button', { name: 'Add note' })).toBeFocused();
    await page.keyboard.press('Enter');
    const card = page.getByRole('article', { name: title });
    await expect(card).toBeVisible();

    await card.getByRole('button', { name: `Delete “${title}”` }).focus();
    await page.keyboard.press('Enter');
    await expect(card.getByRole('button', { name: 'Yes, delete' })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.getByRole('article', { name: title })).toHaveCount(0);
  });
});

test.describe('errors the API reports', () => {
  test.use({ expectedStatuses: [413, 422] });

  test('a 422 shows next to the field it names', async ({ page }) => {
    await page.goto('/');
    const title = page.getByLabel('Title');
    await title.fill('   ');
    await page.getByLabel('Text').fill('a title of spaces is refused by the API');
    await page.getByRole('button', { name: 'Add note' }).click();
    await expect(title).toHaveAttribute('aria-invalid', 'true');
    // The API's own message (pydantic's), linked to the field.
    await expect(title).toHaveAccessibleDescription('String should have at least 1 character');
    await expect(title).toBeFocused();
    await expect(page.getByRole('alert')).toHaveText(
      'The note was not saved: correct the title field.',
    );
    await expect(page.getByLabel('Text')).not.toHaveAttribute('aria-invalid', 'true');
  });

  test('a file over the limit gets a clear 413 message', async ({ page }) => {
    const limit = Number(requiredEnv('FLIGHTDECK_MAX_UPLOAD_BYTES'));
    const title = uniqueTitle('Too big');
    await page.goto('/');
    await createNoteViaApi(page, title);
    await page.reload();
    const card = page.getByRole('article', { name: title });
    await card.getByLabel(`Attach a file to “${title}”`).setInputFiles({
      name: 'huge.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(limit + 1),
    });
    await expect(card.getByRole('alert')).toContainText(
      'The file is too large: the server accepts files up to',
    );
    await expect(card.getByRole('link')).toHaveCount(0);
  });
});

test.describe('layout', () => {
  test('the page does not shift while the notes load', async ({ page }) => {
    await page.goto('/');
    await createNoteViaApi(page, uniqueTitle('Layout'), 'a body\nof two lines');
    await page.addInitScript(() => {
      const win = window as unknown as { layoutShift: number };
      win.layoutShift = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries() as (PerformanceEntry & {
          value: number;
          hadRecentInput: boolean;
        })[]) {
          if (!entry.hadRecentInput) {
            win.layoutShift += entry.value;
          }
        }
      }).observe({ type: 'layout-shift', buffered: true });
    });
    await page.reload();
    await expect(page.getByRole('article').first()).toBeVisible();
    await expect(page.getByText(/ · stable| · canary/)).toBeVisible();
    await page.waitForTimeout(500);
    const shift = await page.evaluate(
      () => (window as unknown as { layoutShift: number }).layoutShift,
    );
    // Web Vitals call a cumulative layout shift under 0.1 good; the page aims at none.
    expect(shift).toBeLessThan(0.01);
  });

  test('a phone-sized screen gets one column and no horizontal scrolling', async ({ page }) => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Notes', level: 2 })).toBeVisible();
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    const form = await page.getByRole('region', { name: 'New note' }).boundingBox();
    const list = await page.getByRole('region', { name: 'Notes' }).boundingBox();
    expect(form && list && form.y + form.height <= list.y).toBe(true);
  });
});
