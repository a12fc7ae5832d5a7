import { randomBytes } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import * as oidc from 'openid-client';
import { apiResultPage, problemPage, STYLESHEET, signedInPage, signedOutPage } from './html.ts';

/**
 * "KS Connect", a confidential web app (a backend with a client secret) that signs people in with
 * Latchkey and calls the KS Connect API on their behalf. Tokens never reach the browser: it holds
 * only a random session cookie; the tokens stay in this process's memory.
 */
export interface WebClientOptions {
  /** Latchkey's issuer URL. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where the app is called back after sign-in; must be registered with the client. */
  redirectUri: string;
  /** Where Latchkey sends the browser after sign-out; must be registered. Default: the app's home page. */
  postLogoutRedirectUri?: string | undefined;
  /** Base URL of the KS Connect API. */
  apiUrl: string;
  /** The API's identifier (`latchkey apis create --identifier`), sent as `resource` (RFC 8707). */
  apiAudience: string;
}

/** Scopes the app asks for: OpenID Connect ones, a refresh token, and the API's `read`. */
const SCOPE = 'openid profile email offline_access read';

const COOKIE = 'ks_web_session';
const SESSION_TTL_MS = 8 * 3600 * 1000;
const PENDING_TTL_MS = 10 * 60 * 1000;
const MAX_SESSIONS = 10_000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

interface Tokens {
  idToken: string;
  accessToken: string;
  refreshToken: string | undefined;
  accessTokenExpiresAt: Date | undefined;
  scope: string | undefined;
  claims: Record<string, unknown>;
}

interface Session {
  expiresAt: number;
  /** An authorization request in flight: what the callback must match. */
  pending?: { state: string; nonce: string; codeVerifier: string; expiresAt: number } | undefined;
  tokens?: Tokens | undefined;
  /** A one-time message for the next page. */
  notice?: string | undefined;
}

type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  session: { id: string | undefined; data: Session | undefined },
) => Promise<void>;

export function createWebClient(options: WebClientOptions): RequestListener {
  const issuer = new URL(options.issuer);
  const redirectUri = new URL(options.redirectUri);
  const appOrigin = redirectUri.origin;
  const postLogoutRedirectUri = options.postLogoutRedirectUri ?? `${appOrigin}/`;
  const secureCookie = redirectUri.protocol === 'https:';
  const sessions = new Map<string, Session>();

  // Discovery runs on first use, so the app can start before Latchkey; a failure is retried next time.
  let discovered: Promise<oidc.Configuration> | undefined;
  function configuration(): Promise<oidc.Configuration> {
    // Plain http is allowed for a Latchkey on this machine only (development).
    const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
    discovered ??= oidc
      .discovery(
        issuer,
        options.clientId,
        undefined,
        oidc.ClientSecretBasic(options.clientSecret),
        insecure ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((err: unknown) => {
        discovered = undefined;
        throw err;
      });
    return discovered;
  }

  function newSession(res: ServerResponse, data: Session): string {
    const now = Date.now();
    for (const [id, session] of sessions) if (session.expiresAt < now) sessions.delete(id);
    if (sessions.size >= MAX_SESSIONS) throw new Error('too many sessions in memory');
    const id = randomBytes(32).toString('base64url');
    sessions.set(id, data);
    res.setHeader(
      'Set-Cookie',
      `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${secureCookie ? '; Secure' : ''}; Max-Age=${SESSION_TTL_MS / 1000}`,
    );
    return id;
  }

  function endSession(res: ServerResponse, id: string | undefined) {
    if (id) sessions.delete(id);
    res.setHeader(
      'Set-Cookie',
      `${COOKIE}=; Path=/; HttpOnly; SameSite=Lax${secureCookie ? '; Secure' : ''}; Max-Age=0`,
    );
  }

  const home: Handler = async (_req, res, { data }) => {
    const notice = data?.notice;
    if (data) data.notice = undefined;
    if (!data?.tokens) return sendHtml(res, 200, signedOutPage(notice));
    const { tokens } = data;
    sendHtml(
      res,
      200,
      signedInPage({
        claims: tokens.claims,
        scope: tokens.scope,
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
        hasRefreshToken: tokens.refreshToken !== undefined,
        notice,
      }),
    );
  };

  /** Sends the browser to Latchkey's /authorize with PKCE (S256), state and nonce. */
  const login: Handler = async (_req, res, { id, data }) => {
    const config = await configuration();
    const pending = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier: oidc.randomPKCECodeVerifier(),
      expiresAt: Date.now() + PENDING_TTL_MS,
    };
    if (id && data) data.pending = pending;
    else newSession(res, { expiresAt: Date.now() + SESSION_TTL_MS, pending });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri.href,
      scope: SCOPE,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      // offline_access is honoured only with prompt=consent (OpenID Connect Core §11).
      prompt: 'consent',
      // The API the access token is for (RFC 8707): its scopes (read) appear on the consent page.
      resource: options.apiAudience,
    });
    redirect(res, url.href);
  };

  /** Latchkey sent the browser back with a code: trade it for tokens on the back channel. */
  const callback: Handler = async (req, res, { id, data }) => {
    const pending = data?.pending;
    if (!data || !pending || pending.expiresAt < Date.now()) {
      return sendHtml(
        res,
        400,
        problemPage(
          'Sign-in expired',
          'No sign-in is in progress in this browser (or it took too long). Please sign in again.',
        ),
      );
    }
    data.pending = undefined; // one attempt per authorization request
    const config = await configuration();
    const currentUrl = new URL(redirectUri);
    currentUrl.search = new URL(req.url ?? '/', appOrigin).search;
    let response: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      response = await oidc.authorizationCodeGrant(
        config,
        currentUrl,
        {
          pkceCodeVerifier: pending.codeVerifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        },
        { resource: options.apiAudience },
      ); // so the access token is the API's JWT (RFC 9068)
    } catch (err) {
      const reason = signInFailure(err);
      if (!reason) throw err;
      return sendHtml(res, 400, problemPage('Sign-in failed', reason));
    }
    // A new session id after sign-in, so an id planted before it is worthless (session fixation).
    if (id) sessions.delete(id);
    newSession(res, {
      expiresAt: Date.now() + SESSION_TTL_MS,
      tokens: tokensFrom(response),
      notice: 'You are signed in.',
    });
    redirect(res, '/');
  };

  /** Calls GET /messages on the API with the user's access token and shows what came back. */
  const callApi: Handler = async (_req, res, { data }) => {
    if (!data?.tokens) return redirect(res, '/');
    const url = new URL('/messages', options.apiUrl);
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${data.tokens.accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    sendHtml(res, 200, apiResultPage({ url: url.href, status: response.status, body: await response.text() }));
  };

  /** Trades the refresh token for new tokens (Latchkey rotates it: the old one is now dead). */
  const refresh: Handler = async (_req, res, { id, data }) => {
    const tokens = data?.tokens;
    if (!data || !tokens) return redirect(res, '/');
    if (!tokens.refreshToken)
      return sendHtml(res, 400, problemPage('No refresh token', 'This sign-in did not return a refresh token.'));
    const config = await configuration();
    let response: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      response = await oidc.refreshTokenGrant(config, tokens.refreshToken, { resource: options.apiAudience });
    } catch (err) {
      if (!(err instanceof oidc.ResponseBodyError) || err.error !== 'invalid_grant') throw err;
      // Revoked, expired or reused elsewhere: the grant is gone, so is the sign-in.
      endSession(res, id);
      return sendHtml(
        res,
        400,
        problemPage(
          'Session ended',
          'Latchkey no longer accepts this sign-in (it was revoked or has expired). Please sign in again.',
        ),
      );
    }
    data.tokens = tokensFrom(response, tokens);
    data.notice = 'Tokens refreshed.';
    redirect(res, '/');
  };

  /** Signs out here, revokes the refresh token, then at Latchkey (RP-initiated logout). */
  const logout: Handler = async (_req, res, { id, data }) => {
    const tokens = data?.tokens;
    endSession(res, id);
    if (!tokens) return redirect(res, '/');
    const config = await configuration();
    // An offline_access grant outlives Latchkey's session on purpose; this app is done with it.
    if (tokens.refreshToken)
      await oidc.tokenRevocation(config, tokens.refreshToken, { token_type_hint: 'refresh_token' });
    redirect(
      res,
      oidc.buildEndSessionUrl(config, {
        id_token_hint: tokens.idToken,
        post_logout_redirect_uri: postLogoutRedirectUri,
      }).href,
    );
  };

  const routes: Record<string, Handler> = {
    'GET /': home,
    'GET /login': login,
    'GET /callback': callback,
    'GET /call-api': callApi,
    'POST /refresh': refresh,
    'POST /logout': logout,
  };

  return function ksConnectWeb(req, res) {
    const url = new URL(req.url ?? '/', appOrigin);
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // Not no-referrer: with it browsers send `Origin: null` on this app's own form posts.
    res.setHeader('Referrer-Policy', 'same-origin');
    if (req.method === 'GET' && url.pathname === '/style.css') {
      res.setHeader('Content-Type', 'text/css; charset=utf-8');
      res.end(STYLESHEET);
      return;
    }
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) return sendHtml(res, 404, problemPage('Not found', 'There is no such page.'));
    // SameSite=Lax already keeps the cookie off cross-site POSTs; a foreign Origin is refused outright.
    if (req.method === 'POST' && req.headers.origin && req.headers.origin !== appOrigin) {
      return sendHtml(res, 403, problemPage('Forbidden', 'This form must be sent from this app.'));
    }
    const id = readCookie(req, COOKIE);
    let data = id ? sessions.get(id) : undefined;
    if (data && data.expiresAt < Date.now()) {
      sessions.delete(id!);
      data = undefined;
    }
    handler(req, res, { id: data ? id : undefined, data }).catch((err: unknown) => {
      console.error('web-client: request failed', err);
      if (!res.headersSent)
        sendHtml(res, 500, problemPage('Something went wrong', 'The request failed; see the server log.'));
      else res.destroy();
    });
  };
}

function tokensFrom(
  response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  previous?: Tokens,
): Tokens {
  const claims = response.claims();
  const idToken = response.id_token ?? previous?.idToken;
  if (!idToken || !(claims ?? previous?.claims)) throw new Error('the token response has no ID token');
  const expiresIn = response.expiresIn();
  return {
    idToken,
    accessToken: response.access_token,
    // Latchkey rotates refresh tokens; keep the old one only if none came back.
    refreshToken: response.refresh_token ?? previous?.refreshToken,
    accessTokenExpiresAt: expiresIn === undefined ? undefined : new Date(Date.now() + expiresIn * 1000),
    scope: response.scope,
    claims: { ...(claims ?? previous!.claims) },
  };
}

/** A sign-in that failed for a reason to show the person (denied, expired code, mismatched state); undefined otherwise. */
function signInFailure(err: unknown): string | undefined {
  if (err instanceof oidc.AuthorizationResponseError || err instanceof oidc.ResponseBodyError) {
    return err.error === 'access_denied'
      ? 'You declined the request.'
      : `Latchkey answered ${err.error}: ${err.error_description ?? ''}`;
  }
  if (err instanceof oidc.ClientError) return `The response did not pass the checks: ${err.message}`;
  return undefined;
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function redirect(res: ServerResponse, location: string) {
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Cache-Control', 'no-store');
  res.end();
}

function sendHtml(res: ServerResponse, status: number, body: string) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}
