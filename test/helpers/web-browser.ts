import { CookieJar } from 'tough-cookie';
import { formField } from './browser.ts';

/**
 * A cookie-jar user agent that crosses origins, for flows that involve several servers (an app,
 * Latchkey, an API): it follows redirects wherever they go, as a browser does, keeps cookies per
 * host as a browser does (tough-cookie: the port is ignored, Path, expiry and deletion honoured),
 * and sends Origin on form posts. Protocol tests that only talk to Latchkey use UserAgent (browser.ts) instead.
 */
export interface Page {
  response: Response;
  /** The URL of the page (after redirects). */
  url: URL;
  body: string;
  /** Set when navigation stopped at a redirect because `stopAt` matched its target. */
  location?: URL;
}

const MAX_REDIRECTS = 20;

export class Browser {
  private readonly jar = new CookieJar();

  private cookieHeader(url: URL): string {
    return this.jar.getCookieStringSync(url);
  }

  private store(url: URL, response: Response) {
    for (const header of response.headers.getSetCookie()) this.jar.setCookieSync(header, url, { ignoreError: true });
  }

  /** One request, no redirect following. */
  async request(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    this.store(url, response);
    return response;
  }

  /**
   * Loads a URL and follows redirects (at most 20) until a page, or until a redirect whose target
   * `stopAt` accepts (a client's redirect URI that nothing serves, say), returned as `location`.
   */
  async navigate(input: string | URL, init: RequestInit = {}, stopAt?: (target: URL) => boolean): Promise<Page> {
    let url = new URL(input);
    let response = await this.request(url, init);
    for (let hops = 0; hops < MAX_REDIRECTS; hops += 1) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location)
        return { response, url, body: await response.text() };
      const next = new URL(location, url);
      if (stopAt?.(next)) return { response, url, location: next, body: await response.text() };
      await response.body?.cancel();
      url = next;
      response = await this.request(url);
    }
    throw new Error(`more than ${MAX_REDIRECTS} redirects from ${String(input)}`);
  }

  /** Posts a form as a browser does from a page of the action's own origin. */
  async submitForm(
    action: string | URL,
    fields: Record<string, string>,
    stopAt?: (target: URL) => boolean,
  ): Promise<Page> {
    const url = new URL(action);
    return this.navigate(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url.origin },
        body: new URLSearchParams(fields).toString(),
      },
      stopAt,
    );
  }

  /** Every cookie held for a host, whatever its path. */
  private cookiesOf(host: string) {
    return this.jar.getCookiesSync(`http://${host}/`, { allPaths: true });
  }

  /** The value of a cookie this browser holds for a host (tests check where such values end up). */
  cookie(host: string, name: string): string | undefined {
    return this.cookiesOf(host).find((c) => c.key === name)?.value;
  }

  /** Every cookie value held for a host. */
  cookieValues(host: string): string[] {
    return this.cookiesOf(host).map((c) => c.value);
  }
}

export interface SignInOptions {
  email: string;
  password: string;
  /** Decision on the consent page when it shows: allow (default) or deny. */
  consent?: 'allow' | 'deny';
  stopAt?: (target: URL) => boolean;
}

/**
 * Given a page of Latchkey's sign-in (login or consent), fills it in as a person would and
 * continues until the browser leaves Latchkey's pages. Returns the last page and what was shown.
 */
export async function passLatchkeyPages(browser: Browser, issuer: string, page: Page, options: SignInOptions) {
  let sawLogin = false;
  let sawConsent = false;
  let consentPage: string | undefined;
  for (let i = 0; i < 4 && !page.location && page.url.origin === new URL(issuer).origin; i += 1) {
    const csrf = formField(page.body, 'csrf');
    if (page.body.includes('/login"') && csrf) {
      sawLogin = true;
      page = await browser.submitForm(
        new URL(`${page.url.pathname}/login`, issuer),
        { csrf, email: options.email, password: options.password },
        options.stopAt,
      );
    } else if (page.body.includes('/consent"') && csrf) {
      sawConsent = true;
      consentPage = page.body;
      page = await browser.submitForm(
        new URL(`${page.url.pathname}/consent`, issuer),
        { csrf, decision: options.consent ?? 'allow' },
        options.stopAt,
      );
    } else {
      break;
    }
  }
  return { page, sawLogin, sawConsent, consentPage };
}
