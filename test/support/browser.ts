// A real browser for tests: Debian's Chromium (installed by `make test`'s
// set-up), driven by playwright-core, which never downloads a browser of its
// own. Every console error and uncaught page error is collected, so a test
// can say "no console errors" and mean it.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './daemon.js';

export const CHROMIUM = '/usr/bin/chromium';

export function needsChromium(): { skip: string | false } {
  return existsSync(CHROMIUM) ? { skip: false } : { skip: `needs Debian's chromium at ${CHROMIUM} (make test installs it)` };
}

/** Where screenshots go: build/test-output/<name>/ (beside build/test-output.tap). */
export function outputDir(name: string): string {
  const dir = join(ROOT, 'build', 'test-output', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface TestBrowser {
  browser: Browser;
  page: Page;
  /** Console errors and page errors so far. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport = { width: 1500, height: 1000 }): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return { browser, page, errors, close: () => browser.close() };
}
