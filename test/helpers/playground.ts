import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { assertAccessible, clickConsent, overflowsHorizontally, submitLogin } from './chromium.ts';

/** The playground's pages, driven as a person would, with axe at 375 and 1280 px on every step. */

const VIEWPORTS = [
  { width: 375, height: 740 },
  { width: 1280, height: 800 },
];

export interface PlaygroundRun {
  /** Step 1's parameters as printed. */
  params: Record<string, string>;
  /** Step 3: the callback URL as printed, and the URL the browser really came back to. */
  printedCallback: string;
  browserCallback: string;
  /** Step 4: the printed token response's JSON. */
  tokenResponse: Record<string, string>;
  tokenRequest: string;
}

/** Runs axe at both widths, and checks that nothing scrolls sideways. */
export async function checkStep(page: Page, label: string, axe: boolean) {
  if (!axe) return;
  const size = page.viewportSize();
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize(viewport);
    await assertAccessible(page, `${label} ${viewport.width}px`);
    assert.equal(await overflowsHorizontally(page), false, `${label} ${viewport.width}px: no sideways scrolling`);
  }
  if (size) await page.setViewportSize(size);
}

/** The JSON body of a printed response (after the blank line that ends its headers). */
export function printedJson(text: string): Record<string, string> {
  return JSON.parse(text.slice(text.indexOf('\n\n') + 2)) as Record<string, string>;
}

export async function printed(page: Page, kind: string, part: 'request' | 'response', index = -1): Promise<string> {
  const all = await page.locator(`pre[data-exchange="${kind}"][data-part="${part}"]`).allTextContents();
  const text = all.at(index);
  assert.ok(text !== undefined, `a printed ${kind} ${part}`);
  return text;
}

/** Clicks one of the buttons after step 5 and waits for the page to come back. */
export async function act(page: Page, action: string) {
  await page.locator(`button[name=action][value=${action}]`).click();
  await page.waitForURL((url) => url.pathname === '/playground');
  await page.waitForLoadState();
}

/** Steps 0 to 5: choose, authorize, sign in and consent, callback, token request sent. */
export async function runPlayground(
  page: Page,
  options: {
    issuer: string;
    appType: 'web' | 'spa' | 'native';
    email: string;
    offline?: boolean;
    resource?: string;
    axe?: boolean;
  },
): Promise<PlaygroundRun> {
  const axe = options.axe ?? true;
  await page.goto(`${options.issuer}/playground`);
  await checkStep(page, 'choose', axe);
  await page.locator(`#app_type_${options.appType}`).check();
  if (options.offline === false) await page.locator('#offline_access').uncheck();
  if (options.resource) await page.locator('#resource').selectOption(options.resource);
  await page.locator('form[action="/playground/start"] button[type=submit]').click();
  await page.waitForURL((url) => url.pathname === '/playground');
  await checkStep(page, 'step 1', axe);
  const params: Record<string, string> = {};
  for (const code of await page.locator('code[data-param]').all()) {
    params[(await code.getAttribute('data-param')) ?? ''] = (await code.textContent()) ?? '';
  }
  let browserCallback = '';
  page.on('request', (request) => {
    if (request.url().includes('/playground/callback/')) browserCallback = request.url();
  });
  await page.locator('#go').click();
  await page.waitForLoadState();
  await submitLogin(page, options.email);
  if (await page.locator('form[action$="/consent"]').count()) await clickConsent(page, 'allow');
  await page.waitForURL((url) => url.pathname === '/playground');
  await checkStep(page, 'step 3', axe);
  assert.equal(await page.locator('[data-check=state]').getAttribute('class'), 'ok');
  assert.equal(await page.locator('[data-check=iss]').getAttribute('class'), 'ok');
  const printedCallback = (await page.locator('pre[data-callback-url]').textContent()) ?? '';
  const tokenRequest = await printed(page, 'token', 'request');
  await act(page, 'token');
  await checkStep(page, 'steps 4 and 5', axe);
  const tokenResponse = printedJson(await printed(page, 'token', 'response'));
  return { params, printedCallback, browserCallback, tokenResponse, tokenRequest };
}
