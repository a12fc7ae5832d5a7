import assert from 'node:assert/strict';
import { after } from 'node:test';
import { brandCss } from '../src/interactions/views.ts';
import { arrangeBrowserFlow, inPage, launchChromium, test } from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

const LOGO = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40"><rect width="160" height="40" rx="8" fill="#0b6e4f"/></svg>',
).toString('base64')}`;

test('BRAND_NAME, BRAND_LOGO_URL and BRAND_PRIMARY_COLOR show on the pages', async (t) => {
  const { context, page, request } = await arrangeBrowserFlow(t, browser, {
    env: { BRAND_NAME: 'Acme Identity', BRAND_LOGO_URL: LOGO, BRAND_PRIMARY_COLOR: '#0b6e4f' },
  });

  await page.goto(request.url.href);
  assert.equal(await page.title(), 'Sign in · Acme Identity');
  const logo = page.locator('header img');
  assert.equal(await logo.getAttribute('alt'), 'Acme Identity', 'the logo is named for screen readers');
  assert.equal(
    await inPage(page, 'document.querySelector("header img").naturalWidth'),
    160,
    'the logo loads under the CSP',
  );
  const button = 'getComputedStyle(document.querySelector(\'form[action$="/login"] button[type=submit]\'))';
  assert.equal(await inPage(page, `${button}.backgroundColor`), 'rgb(11, 110, 79)');
  assert.equal(await inPage(page, `${button}.color`), 'rgb(255, 255, 255)');
  assert.equal(
    await inPage(page, 'getComputedStyle(document.querySelector("#email")).outlineColor'),
    'rgb(11, 110, 79)',
    'the focus ring takes the brand colour',
  );
  assert.deepEqual(context.cspViolations, []);
});

test('a light brand colour keeps button text, links and the focus ring readable', () => {
  const css = brandCss('#ffd500');
  assert.match(css, /--primary: #ffd500;/);
  assert.match(css, /--primary-text: #1b1f2a;/, 'dark text on a light button');
  assert.match(css, /--link: #1b1f2a;/, 'links fall back to ink');
  assert.match(css, /--focus: #1b1f2a;/, 'the focus ring falls back to ink');
  assert.match(brandCss('#3346d3'), /--primary-text: #ffffff; --link: #3346d3; --focus: #3346d3;/);
});
