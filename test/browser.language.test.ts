import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import { en } from '../src/interactions/locales/en.ts';
import { fr } from '../src/interactions/locales/fr.ts';
import { VIEWS_DIR } from '../src/interactions/views.ts';
import {
  arrangeBrowserFlow,
  authorizationRequest,
  backAtApp,
  clickConsent,
  launchChromium,
  receivedQuery,
  submitLogin,
  test,
} from './helpers/chromium.ts';

const browser = await launchChromium();
after(() => browser.close());

test('a browser that prefers French gets every page in French', async (t) => {
  const { app, rp, user, page, request } = await arrangeBrowserFlow(t, browser, {
    appName: 'Acme Dashboard',
    user: { name: 'Alex Martin' },
    context: { locale: 'fr-FR' },
  });

  const response = await page.goto(request.url.href);
  assert.equal(await response?.headerValue('content-language'), 'fr');
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  assert.equal(await page.title(), 'Connexion · Latchkey');
  assert.equal(await page.locator('label[for=email]').textContent(), 'Adresse e-mail');
  assert.equal(await page.locator('main p.lede').textContent(), 'pour continuer vers Acme Dashboard');

  await submitLogin(page, user.email, 'mauvais mot de passe');
  assert.equal(
    await page
      .locator('[role=alert]')
      .textContent()
      .then((s) => s?.trim()),
    'Adresse e-mail ou mot de passe incorrect.',
  );
  await submitLogin(page, user.email);
  assert.equal(await page.locator('h1').textContent(), 'Acme Dashboard souhaite accéder à votre compte');
  assert.equal(await page.locator('button[value=allow]').textContent(), 'Autoriser');
  assert.match((await page.locator('main').textContent()) ?? '', /Savoir qui vous êtes/);
  await clickConsent(page, 'deny');
  await backAtApp(page, app);
  assert.equal((await receivedQuery(page)).error, 'access_denied');

  await page.goto((await authorizationRequest(rp, app, { redirect_uri: `${app.url}/unregistered` })).url.href);
  assert.equal(await page.locator('h1').textContent(), 'Cette demande ne peut pas aboutir');
  assert.match((await page.locator('footer').textContent()) ?? '', /Protégé par Latchkey/);
});

/** Every leaf string of a locale, functions called with sample arguments, keyed by path. */
function leaves(value: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof value === 'string') out.set(prefix, value);
  else if (typeof value === 'function') out.set(prefix, String((value as (...a: string[]) => string)('X', 'Y')));
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value))
      for (const [k, v] of leaves(inner, `${prefix}.${key}`)) out.set(k, v);
  }
  return out;
}

test('templates hold no text of their own: every string a person reads is in the locale files, translated', async () => {
  for (const file of (await readdir(VIEWS_DIR)).filter((name) => name.endsWith('.ejs'))) {
    const source = await readFile(path.join(VIEWS_DIR, file), 'utf8');
    const withoutEjs = source.replace(/<%[\s\S]*?%>/g, '');
    const words = withoutEjs.replace(/<[^>]*>/g, ' ').match(/\p{L}+/gu) ?? [];
    assert.deepEqual(words, [], `${file} has literal text`);
    assert.doesNotMatch(
      withoutEjs,
      /\b(alt|aria-label|title|placeholder)="[^"]*[A-Za-z]/,
      `${file} has a literal label`,
    );
  }
  const english = leaves(en);
  const french = leaves(fr);
  assert.deepEqual([...french.keys()].sort(), [...english.keys()].sort(), 'French has exactly the English keys');
  const sameInFrench = new Set(['.device.code']); // « Code » is French too
  const untranslated = [...english]
    .filter(([key, value]) => french.get(key) === value && !sameInFrench.has(key))
    .map(([key]) => key);
  assert.deepEqual(untranslated, [], 'every French string differs from the English one');
});
