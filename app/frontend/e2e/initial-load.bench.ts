// Cold loads of the app (a new browser context each: empty cache, new TLS session), measured in
// the page: the JavaScript transferred before the notes list first shows, and the time it
// takes to show. BENCH_RUNS loads; the results go to the JSON file BENCH_RESULTS.
import { writeFileSync } from 'node:fs';

import { test } from '@playwright/test';

import { requiredEnv } from './browser';

interface Load {
  /** ms from navigation start until the first note is in the DOM. */
  notesInDom: number;
  /** ms from navigation start until the frame after that (the notes list painted). */
  notesPainted: number;
  firstContentfulPaint: number | null;
  responseStart: number;
  domContentLoaded: number;
  /** Bytes of JavaScript bodies received (compressed, as sent) before the notes showed. */
  scriptEncodedBytes: number;
  /** The same scripts' sizes once decompressed. */
  scriptDecodedBytes: number;
  /** Including response headers. */
  scriptTransferBytes: number;
  scripts: string[];
  layoutShift: number;
}

function observe(): void {
  const win = window as unknown as Record<string, number>;
  win.benchLayoutShift = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as (PerformanceEntry & { value: number })[]) {
      win.benchLayoutShift = (win.benchLayoutShift ?? 0) + entry.value;
    }
  }).observe({ type: 'layout-shift', buffered: true });
  const seen = new MutationObserver(() => {
    if (document.querySelector('main article')) {
      seen.disconnect();
      win.benchNotesInDom = performance.now();
      requestAnimationFrame(() => {
        win.benchNotesPainted = performance.now();
      });
    }
  });
  seen.observe(document, { childList: true, subtree: true });
}

test('initial load of the notes list', async ({ browser, baseURL }) => {
  const runs = Number(requiredEnv('BENCH_RUNS'));
  const loads: Load[] = [];
  for (let run = 0; run < runs; run += 1) {
    const context = await browser.newContext({ baseURL });
    const page = await context.newPage();
    await page.addInitScript(observe);
    await page.goto('/');
    await page.waitForFunction(() => 'benchNotesPainted' in window, undefined, { timeout: 30_000 });
    loads.push(
      await page.evaluate(() => {
        const win = window as unknown as Record<string, number>;
        const notesInDom = win.benchNotesInDom ?? 0;
        const scripts = (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
          .filter((entry) => entry.initiatorType === 'script' || /\.m?js($|\?)/.test(entry.name))
          .filter((entry) => entry.startTime < notesInDom);
        const navigation = performance.getEntriesByType(
          'navigation',
        )[0] as PerformanceNavigationTiming;
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        const sum = (key: 'encodedBodySize' | 'decodedBodySize' | 'transferSize') =>
          scripts.reduce((total, entry) => total + entry[key], 0);
        return {
          notesInDom,
          notesPainted: win.benchNotesPainted ?? 0,
          firstContentfulPaint: paint ? paint.startTime : null,
          responseStart: navigation.responseStart,
          domContentLoaded: navigation.domContentLoadedEventEnd,
          scriptEncodedBytes: sum('encodedBodySize'),
          scriptDecodedBytes: sum('decodedBodySize'),
          scriptTransferBytes: sum('transferSize'),
          scripts: scripts.map((entry) => new URL(entry.name).pathname),
          layoutShift: win.benchLayoutShift ?? 0,
        };
      }),
    );
    await context.close();
  }
  writeFileSync(requiredEnv('BENCH_RESULTS'), JSON.stringify(loads, null, 2));
});
