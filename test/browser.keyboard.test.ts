import assert from 'node:assert/strict';
import { after } from 'node:test';
import type { Page } from 'playwright-core';
import { arrangeBrowserFlow, backAtApp, inPage, launchChromium, receivedQuery, test } from './helpers/chromium.ts';
import { PASSWORD } from './helpers/latchkey.ts';

const browser = await launchChromium();
after(() => browser.close());

/** The focused element, as `tag#id` or `tag[value]`, and whether it shows a focus ring. */
async function focused(page: Page): Promise<{ element: string; ring: boolean }> {
  return inPage(
    page,
    `(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const element = el.tagName.toLowerCase() + (el.id ? '#' + el.id : el.getAttribute('value') ? '[' + el.getAttribute('value') + ']' : '');
    return { element, ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
  })()`,
  );
}

test('a person signs in and allows access with the keyboard only, and always sees where the focus is', async (t) => {
  const { app, user, page, request } = await arrangeBrowserFlow(t, browser);
  await page.goto(request.url.href);

  // The email field has focus on arrival; Tab walks email -> password -> Sign in -> Forgot password? -> Cancel.
  assert.deepEqual(await focused(page), { element: 'input#email', ring: true });
  await page.keyboard.type(user.email);
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(page), { element: 'input#password', ring: true });
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(page), { element: 'button', ring: true });
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(page), { element: 'a', ring: true });
  assert.match(await inPage<string>(page, 'document.activeElement.textContent'), /Forgot password\?/);
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(page), { element: 'button', ring: true });
  assert.match(await inPage<string>(page, 'document.activeElement.textContent'), /Cancel/);
  for (let stop = 0; stop < 3; stop++) await page.keyboard.press('Shift+Tab');
  assert.deepEqual(await focused(page), { element: 'input#password', ring: true });
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname.startsWith('/interaction/') && url.href !== request.url.href);
  await page.locator('form[action$="/consent"]').waitFor();

  // Consent: the first Tab stop is Allow.
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(page), { element: 'button[allow]', ring: true });
  await page.keyboard.press('Enter');
  await backAtApp(page, app);
  assert.ok((await receivedQuery(page)).code);
});
