import { createHash, randomBytes } from 'node:crypto';

/**
 * A browser-less authorization-code flow as a state machine, driven either by autocannon (one
 * request per step, see load.ts) or by fetch (prepare.ts). Each response decides the next request:
 * a redirect inside the provider is followed, our login page is answered with the account's
 * password, a consent page with "allow", the redirect to the client yields the code, and (when
 * asked) the code is exchanged at /token. Cookies are kept by name (the flow is sequential, so the
 * newest cookie of a name is the right one).
 */

export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

export interface BenchClient {
  clientId: string;
  clientSecret: string;
}

export interface NextRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface FlowOptions {
  client: BenchClient;
  email: string;
  password: string;
  scope: string;
  prompt?: string;
  /** Exchange the code at /token (otherwise stop at the code). */
  exchange: boolean;
  /** An existing session's cookies: /authorize then returns a code at once. */
  cookies?: Map<string, string>;
}

export interface FlowState {
  options: FlowOptions;
  jar: Map<string, string>;
  next: NextRequest | undefined;
  steps: number;
  code?: string;
  tokens?: { access_token: string; refresh_token?: string; id_token?: string };
  failure?: string;
  startedAt: number;
}

// One PKCE pair for the whole run: the server's cost is the same as with a fresh pair per flow.
export const CODE_VERIFIER = randomBytes(32).toString('base64url');
const CODE_CHALLENGE = createHash('sha256').update(CODE_VERIFIER).digest('base64url');

function basicAuth(client: BenchClient): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
}

export function authorizePath(options: FlowOptions): string {
  const params = new URLSearchParams({
    client_id: options.client.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: options.scope,
    state: randomBytes(12).toString('base64url'),
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: CODE_CHALLENGE,
    code_challenge_method: 'S256',
    ...(options.prompt ? { prompt: options.prompt } : {}),
  });
  return `/authorize?${params}`;
}

export function startFlow(options: FlowOptions): FlowState {
  const jar = new Map(options.cookies ?? []);
  const state: FlowState = { options, jar, next: undefined, steps: 0, startedAt: performance.now() };
  state.next = withCookies(state, { method: 'GET', path: authorizePath(options), headers: {} });
  return state;
}

export function tokenRequest(client: BenchClient, fields: Record<string, string>): NextRequest {
  return {
    method: 'POST',
    path: '/token',
    headers: {
      authorization: basicAuth(client),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams(fields).toString(),
  };
}

function withCookies(state: FlowState, request: NextRequest): NextRequest {
  if (state.jar.size === 0) return request;
  const cookie = [...state.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  return { ...request, headers: { ...request.headers, cookie } };
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string[] {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value === undefined ? [] : Array.isArray(value) ? value : [value];
  }
  return [];
}

function storeCookies(state: FlowState, setCookies: string[]) {
  for (const line of setCookies) {
    const [pair = ''] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!value || /expires=thu, 01 jan 1970/i.test(line)) state.jar.delete(name);
    else state.jar.set(name, value);
  }
}

function formField(html: string, name: string): string | undefined {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

function formAction(html: string, suffix: string): string | undefined {
  return new RegExp(`action="([^"]*/${suffix})"`).exec(html)?.[1];
}

function fail(state: FlowState, why: string) {
  state.failure ??= why;
  state.next = undefined;
}

/** Feeds one response into the flow; sets `next`, or leaves it undefined when done or failed. */
export function onFlowResponse(
  state: FlowState,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
) {
  state.steps += 1;
  storeCookies(state, header(headers, 'set-cookie'));
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  if (status >= 300 && status < 400) {
    const location = header(headers, 'location')[0];
    if (!location) return fail(state, `${status} without location`);
    if (location.startsWith(REDIRECT_URI)) {
      const params = new URL(location).searchParams;
      const code = params.get('code');
      if (!code) return fail(state, `back to the client with ${params.get('error') ?? 'no code'}`);
      state.code = code;
      state.next = state.options.exchange
        ? tokenRequest(state.options.client, {
            grant_type: 'authorization_code',
            code,
            redirect_uri: REDIRECT_URI,
            code_verifier: CODE_VERIFIER,
          })
        : undefined;
      return;
    }
    const url = new URL(location, 'http://provider.invalid');
    if (url.origin !== 'http://provider.invalid' && !/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(location))
      return fail(state, `redirect to ${url.origin}`);
    state.next = withCookies(state, { method: 'GET', path: `${url.pathname}${url.search}`, headers: {} });
    return;
  }
  if (status === 200 && body.startsWith('{')) {
    const json = JSON.parse(body) as { access_token?: string; refresh_token?: string; id_token?: string };
    if (!json.access_token) return fail(state, 'token response without access_token');
    state.tokens = { access_token: json.access_token, refresh_token: json.refresh_token, id_token: json.id_token };
    state.next = undefined;
    return;
  }
  if (status === 200) {
    const csrf = formField(body, 'csrf');
    const login = formAction(body, 'login');
    const consent = formAction(body, 'consent');
    if (csrf && login) {
      state.next = withCookies(state, {
        method: 'POST',
        path: login,
        headers: form,
        body: new URLSearchParams({ csrf, email: state.options.email, password: state.options.password }).toString(),
      });
      return;
    }
    if (csrf && consent) {
      state.next = withCookies(state, {
        method: 'POST',
        path: consent,
        headers: form,
        body: new URLSearchParams({ csrf, decision: 'allow' }).toString(),
      });
      return;
    }
    return fail(state, 'a page without a login or consent form');
  }
  const text = (/<main[\s\S]*?<\/main>/.exec(body)?.[0] ?? body)
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return fail(state, `status ${status}: ${text.slice(0, 160)}`);
}

/** Runs a whole flow with fetch (for preparation, not measurement). */
export async function runFlow(issuer: string, options: FlowOptions, maxSteps = 12): Promise<FlowState> {
  const state = startFlow(options);
  while (state.next && state.steps < maxSteps) {
    const request = state.next;
    const response = await fetch(`${issuer}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    const headers: Record<string, string | string[]> = {};
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    headers['set-cookie'] = response.headers.getSetCookie();
    onFlowResponse(state, response.status, headers, await response.text());
  }
  if (state.next) fail(state, `more than ${maxSteps} steps`);
  return state;
}
