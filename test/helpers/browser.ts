import { CookieJar } from 'tough-cookie';

/**
 * A minimal user agent for protocol tests without a real browser: a cookie jar (tough-cookie)
 * for the provider's origin, manual redirects, and form posts. Real-browser tests use Chromium (test/browser.*).
 */
export class UserAgent {
  private readonly jar = new CookieJar();
  protected readonly origin: string;
  constructor(origin: string) {
    this.origin = origin;
  }

  private cookieHeader(url: URL): string {
    return url.origin === this.origin ? this.jar.getCookieStringSync(url) : '';
  }

  private store(url: URL, response: Response) {
    if (url.origin !== this.origin) return;
    for (const header of response.headers.getSetCookie()) this.jar.setCookieSync(header, url, { ignoreError: true });
  }

  /** One request, no redirect following. */
  async request(input: string | URL, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input, this.origin);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, response);
    return response;
  }

  /**
   * Follows redirects while they stay on the provider; stops at a page (non-redirect) or at a
   * redirect that leaves the provider (the client's redirect URI), returned as `location`.
   */
  async navigate(
    input: string | URL,
    init: RequestInit = {},
  ): Promise<{ response: Response; url: URL; location?: URL; body: string }> {
    let url = new URL(input, this.origin);
    let response = await this.request(url, init);
    for (let hops = 0; hops < 10; hops += 1) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) break;
      const next = new URL(location, url);
      if (next.origin !== this.origin) return { response, url, location: next, body: await response.text() };
      url = next;
      response = await this.request(url);
    }
    return { response, url, body: await response.text() };
  }

  async submitForm(action: string | URL, fields: Record<string, string>) {
    return this.navigate(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** Every cookie held, whatever its path (tests check where such values end up). */
  cookies(): Array<{ name: string; value: string; path: string }> {
    return this.jar
      .getCookiesSync(this.origin, { allPaths: true })
      .map((c) => ({ name: c.key, value: c.value, path: c.path ?? '/' }));
  }

  hasCookie(name: string): boolean {
    return this.jar.getCookiesSync(this.origin, { allPaths: true }).some((c) => c.key === name);
  }
}

/** The value of a named hidden input in an HTML page. */
export function formField(html: string, name: string): string | undefined {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  return match?.[1];
}

/** The action of the first form whose action contains `fragment`. */
export function formAction(html: string, fragment: string): string | undefined {
  const match = new RegExp(`action="([^"]*${fragment}[^"]*)"`).exec(html);
  return match?.[1];
}
