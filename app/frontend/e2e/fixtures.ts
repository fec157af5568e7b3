// The tests' shared fixtures: every page fails its test on a browser console error (a CSP
// violation, an uncaught exception, a failed request the test did not expect), and helpers to
// create notes with unique titles (the platform is shared with other end-to-end tests).
import { test as base, expect, type Page } from '@playwright/test';

interface Fixtures {
  /** HTTP statuses the test provokes on purpose; their console messages are not errors. */
  expectedStatuses: number[];
  browserErrors: string[];
}

export const test = base.extend<Fixtures>({
  expectedStatuses: [[], { option: true }],
  browserErrors: [
    async ({ page, expectedStatuses }, use) => {
      const errors: string[] = [];
      const expected = expectedStatuses.map(
        (status) => `the server responded with a status of ${status}`,
      );
      page.on('console', (message) => {
        const text = message.text();
        if (message.type() === 'error' && !expected.some((part) => text.includes(part))) {
          errors.push(text);
        }
      });
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      await use(errors);
      expect(errors, 'errors in the browser console (CSP violations among them)').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

export function uniqueTitle(label: string): string {
  return `${label} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Create a note through the API from inside the page (same origin, same TLS trust). */
export async function createNoteViaApi(page: Page, title: string, body = ''): Promise<string> {
  return page.evaluate(
    async ([noteTitle, noteBody]) => {
      const response = await fetch('/api/notes', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ title: noteTitle, body: noteBody }),
      });
      if (response.status !== 201) {
        throw new Error(`POST /api/notes answered ${response.status}`);
      }
      return ((await response.json()) as { id: string }).id;
    },
    [title, body],
  );
}
