import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { test as nodeTest, type TestContext } from 'node:test';
import type { AxeResults } from 'axe-core';
import * as oidc from 'openid-client';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { type Latchkey, PASSWORD, startLatchkey, type TestClient } from './latchkey.ts';

/**
 * Real-browser helpers: Debian's Chromium driven by playwright-core, a tiny relying party that
 * shows what it received, and an axe-core check. One browser per test file; a fresh context
 * (cookies, storage) per test.
 */

/** Debian's package; CHROMIUM_PATH overrides it (another distribution, a local build). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Upper bound for any single wait in a browser test: a broken page fails fast instead of hanging the run. */
export const STEP_TIMEOUT_MS = 15_000;

/** Why the browser tests cannot run here (no Chromium), with how to fix it; undefined when they can. */
const MISSING = existsSync(CHROMIUM)
  ? undefined
  : `Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium fonts-dejavu-core\`` +
    ' (Debian, Ubuntu; as .ci/run does), or point CHROMIUM_PATH at a Chromium build';
/** In CI a missing Chromium fails the browser tests: a skip there would pass without testing the pages. */
const IN_CI = !['', '0', 'false'].includes(process.env.CI ?? '');
const SKIP = IN_CI ? undefined : MISSING;

/**
 * node:test's `test` for the browser tests: on a developer's machine without Chromium each test is
 * skipped with how to install it; in CI (CI set, as .ci/run does) it runs, and launchChromium() fails instead.
 */
export function test(name: string, fn: (t: TestContext) => void | Promise<void>) {
  return nodeTest(name, { skip: SKIP }, fn);
}

/**
 * The one browser of a test file. Without Chromium: an error saying how to install it in CI, else
 * a stand-in that only closes, for tests that `test` above skips.
 */
export async function launchChromium(): Promise<Browser> {
  if (SKIP) {
    console.warn(`browser tests skipped: ${SKIP}`);
    return { close: async () => undefined } as Browser;
  }
  if (MISSING) throw new Error(MISSING);
  // launch() gives every run a fresh temporary profile; the flags keep Chromium from calling home.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

/**
 * A fresh browser context (cookie jar) closed when the test ends. Every page in it records the
 * Content-Security-Policy violations it reports, so flow tests can assert the real CSP let them through.
 */
export async function newContext(
  t: TestContext,
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<BrowserContext & { cspViolations: string[] }> {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const cspViolations: string[] = [];
  context.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) cspViolations.push(message.text());
  });
  t.after(() => context.close());
  return Object.assign(context, { cspViolations });
}

export interface RelyingParty {
  /** Origin of the app, http://127.0.0.1:port. */
  url: string;
  callback: string;
  loggedOut: string;
}

/**
 * The client app's side of the browser: an HTTP server on 127.0.0.1 that answers every path with
 * a page showing the query it received (the code, state, iss or error the browser brought back).
 */
export async function startRelyingParty(t: TestContext): Promise<RelyingParty> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = JSON.stringify(Object.fromEntries(url.searchParams), null, 2)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      `<!doctype html><html lang="en"><title>Test app</title><main><h1>Test app ${url.pathname}</h1><pre id="query">${query}</pre></main></html>`,
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return { url, callback: `${url}/callback`, loggedOut: `${url}/logged-out` };
}

/** A registered client of `idp` that returns to `app`, with openid-client as its back end. */
export async function registerApp(idp: Latchkey, app: RelyingParty, name = 'Test App') {
  const client: TestClient = await idp.clients.create({
    name,
    type: 'confidential',
    redirectUris: [app.callback],
    postLogoutRedirectUris: [app.loggedOut],
  });
  return { client, rp: await idp.rp(client) };
}

export interface AuthorizationRequest {
  url: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The authorization URL the app would send the browser to (code flow, PKCE S256, state, nonce). */
export async function authorizationRequest(
  rp: oidc.Configuration,
  app: RelyingParty,
  params: Record<string, string> = {},
): Promise<AuthorizationRequest> {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: app.callback,
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    ...params,
  });
  return { url, state, nonce, codeVerifier };
}

export interface BrowserFlow {
  idp: Latchkey;
  app: RelyingParty;
  client: TestClient;
  rp: oidc.Configuration;
  user: { id: string; email: string };
  context: BrowserContext & { cspViolations: string[] };
  page: Page;
  /** Where the app sends the browser to sign in; not visited yet. */
  request: AuthorizationRequest;
}

/**
 * What every browser test starts from: a Latchkey (with `env`), the app with its registered
 * client, a person with an account, a fresh context with one page, and the app's authorization
 * request (`params` added), all stopped or closed when the test ends.
 */
export async function arrangeBrowserFlow(
  t: TestContext,
  browser: Browser,
  options: {
    env?: Record<string, string>;
    appName?: string;
    user?: { email?: string; name?: string };
    context?: BrowserContextOptions;
    params?: Record<string, string>;
  } = {},
): Promise<BrowserFlow> {
  const idp = await startLatchkey(t, options.env);
  const app = await startRelyingParty(t);
  const { client, rp } = await registerApp(idp, app, options.appName);
  const user = await idp.users.create(options.user);
  const context = await newContext(t, browser, options.context);
  const page = await context.newPage();
  const request = await authorizationRequest(rp, app, options.params);
  return { idp, app, client, rp, user, context, page, request };
}

/** The query the relying party received, as its page shows it. */
export async function receivedQuery(page: Page): Promise<Record<string, string>> {
  return JSON.parse((await page.locator('#query').textContent()) ?? '{}') as Record<string, string>;
}

/** Finishes at the app's back end: trades the code in the callback URL for tokens, checking state, nonce and PKCE. */
export async function finishAtApp(rp: oidc.Configuration, request: AuthorizationRequest, callbackUrl: string) {
  return oidc.authorizationCodeGrant(rp, new URL(callbackUrl), {
    expectedState: request.state,
    expectedNonce: request.nonce,
    pkceCodeVerifier: request.codeVerifier,
    idTokenExpected: true,
  });
}

/** Waits until the browser is back at the app (any path of its origin). */
export async function backAtApp(page: Page, app: RelyingParty, path = '/callback') {
  await page.waitForURL((url) => url.origin === app.url && url.pathname === path);
}

/** Fills and submits the login page with the mouse-free defaults a person would use. */
export async function submitLogin(page: Page, email: string, password = PASSWORD) {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.locator('form[action$="/login"] button[type=submit]').click();
  await page.waitForLoadState();
}

export async function clickConsent(page: Page, decision: 'allow' | 'deny') {
  await page.locator(`form[action$="/consent"] button[value=${decision}]`).click();
  await page.waitForLoadState();
}

/** Which of our pages the browser shows: the action of its main form, or the error/logout page marker. */
export async function currentForm(page: Page): Promise<string | undefined> {
  return (
    (await page
      .locator('main form[method=post]')
      .first()
      .getAttribute('action')
      .catch(() => null)) ?? undefined
  );
}

/** Evaluates a DOM expression in the page. The test program has no DOM types, so expressions are strings. */
export async function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/** Whether the page scrolls sideways (content wider than the viewport). */
export async function overflowsHorizontally(page: Page): Promise<boolean> {
  return inPage<boolean>(page, 'document.documentElement.scrollWidth > window.innerWidth');
}

export interface AxeSummary {
  violations: Array<{ id: string; impact: string | null | undefined; nodes: number }>;
  passes: number;
}

/**
 * Runs axe-core (WCAG 2.x A/AA plus best practices) on the page as it is and asserts that nothing
 * serious or critical is found. The axe source is evaluated through the DevTools protocol, which
 * our CSP (script-src 'self', no inline scripts) does not govern, so the page runs under its real policy.
 */
export async function assertAccessible(page: Page, label: string): Promise<AxeSummary> {
  const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const results = await inPage<AxeResults>(
    page,
    `axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
    resultTypes: ['violations'],
  })`,
  );
  const summary: AxeSummary = {
    violations: results.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })),
    passes: results.passes.length,
  };
  const blocking = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(blocking, [], `${label}: axe found serious or critical violations`);
  return summary;
}
