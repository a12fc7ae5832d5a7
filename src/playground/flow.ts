import { createHash, randomBytes } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { type PlaygroundClient, playgroundUri } from './clients.ts';
import { basicAuth, type Exchange, jsonOf, type Outgoing, prepare, send } from './exchange.ts';
import type { AppType } from './store.ts';
import { type DecodedToken, decodeToken, isJwt } from './tokens.ts';

/** What the person chose before step 1. */
export interface Options {
  offline: boolean;
  /** An API's identifier (`apis list`), sent as `resource` (RFC 8707). */
  resource?: string | undefined;
  /** The API's scopes, asked for with it. */
  resourceScopes?: string[] | undefined;
  consent: boolean;
  acr?: string | undefined;
}

/** One browser's run of the flow, kept between steps (sealed in playground_runs). */
export interface Run {
  appType: AppType;
  clientId: string;
  options: Options;
  authorization: {
    params: Array<[string, string]>;
    url: string;
    verifier: string;
    state: string;
    nonce: string;
  };
  callback?: {
    url: string;
    code?: string | undefined;
    error?: string | undefined;
    errorDescription?: string | undefined;
    stateOk: boolean;
    iss?: string | undefined;
    issOk: boolean;
  };
  /** Back-channel requests in the order they were sent. */
  exchanges: Exchange[];
  tokens?: {
    access_token?: string | undefined;
    id_token?: string | undefined;
    refresh_token?: string | undefined;
    /** The refresh token a refresh replaced: using it again is reuse. */
    previous_refresh_token?: string | undefined;
  };
  decoded?: DecodedToken[] | undefined;
  logout?: { state: string; done: boolean } | undefined;
}

/** PKCE (RFC 7636 §4.1-4.2): a 256-bit verifier; the challenge is BASE64URL(SHA-256(verifier)). */
function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Step 1: the authorization request, parameter by parameter, in the order the page explains them. */
export function startRun(issuer: string, appType: AppType, client: PlaygroundClient, options: Options): Run {
  const { verifier, challenge } = pkce();
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const scope = ['openid', 'profile', 'email', ...(options.offline ? ['offline_access'] : [])];
  if (options.resource) scope.push(...(options.resourceScopes ?? []));
  const params: Array<[string, string]> = [
    ['response_type', 'code'],
    ['client_id', client.clientId],
    ['redirect_uri', client.redirectUri],
    ['scope', scope.join(' ')],
    ['state', state],
    ['nonce', nonce],
    ['code_challenge', challenge],
    ['code_challenge_method', 'S256'],
  ];
  if (options.resource) params.push(['resource', options.resource]);
  // offline_access counts only with prompt=consent (OpenID Connect Core §11): the engine drops it otherwise.
  if (options.consent || options.offline) params.push(['prompt', 'consent']);
  if (options.acr) params.push(['acr_values', options.acr]);
  return {
    appType,
    clientId: client.clientId,
    options,
    authorization: {
      params,
      url: `${issuer}/authorize?${new URLSearchParams(params)}`,
      verifier,
      state,
      nonce,
    },
    exchanges: [],
  };
}

/** Step 3: what came back to the callback, checked (state against ours, iss against the issuer, RFC 9207). */
export function receiveCallback(run: Run, issuer: string, url: string, query: Record<string, unknown>): Run {
  const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
  return {
    ...run,
    callback: {
      url,
      code: text('code'),
      error: text('error'),
      errorDescription: text('error_description'),
      stateOk: text('state') === run.authorization.state,
      iss: text('iss'),
      issOk: text('iss') === issuer,
    },
  };
}

/** How this client authenticates at /token, /introspect and /revoke. */
function clientAuth(run: Run, client: PlaygroundClient): Pick<Outgoing, 'headers'> & { form: Record<string, string> } {
  if (run.appType === 'web' && client.secret) {
    return { headers: [['Authorization', basicAuth(client.clientId, client.secret)]], form: {} };
  }
  // A public client has no secret: it names itself, and PKCE proves the code is its own.
  return { form: { client_id: client.clientId } };
}

function post(
  issuer: string,
  kind: string,
  path: string,
  run: Run,
  client: PlaygroundClient,
  form: Record<string, string>,
) {
  const auth = clientAuth(run, client);
  return prepare(issuer, kind, { method: 'POST', path, headers: auth.headers, form: { ...form, ...auth.form } });
}

/** Step 4: the token request, as it will be sent (the page shows it before the button sends it). */
export function tokenRequest(issuer: string, run: Run, client: PlaygroundClient): Exchange {
  return post(issuer, 'token', '/token', run, client, {
    grant_type: 'authorization_code',
    code: run.callback?.code ?? '',
    redirect_uri: client.redirectUri,
    code_verifier: run.authorization.verifier,
    // The API again: the token endpoint issues an access token for the resource it names (RFC 8707 §2.2).
    ...(run.options.resource ? { resource: run.options.resource } : {}),
  });
}

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** What the tokens are good for: userinfo, introspection, and the JWTs decoded against /jwks. */
async function inspect(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const exchanges: Exchange[] = [];
  const tokens = run.tokens ?? {};
  const jwks = await send(prepare(issuer, 'jwks', { method: 'GET', path: '/jwks' }));
  exchanges.push(jwks);
  const keys = jsonOf(jwks) as JSONWebKeySet | undefined;
  const decoded: DecodedToken[] = [];
  if (keys?.keys) {
    if (tokens.id_token)
      decoded.push(await decodeToken('id_token', tokens.id_token, keys, { issuer, audience: client.clientId }));
    if (tokens.access_token && isJwt(tokens.access_token)) {
      decoded.push(
        await decodeToken('access_token', tokens.access_token, keys, {
          issuer,
          audience: run.options.resource ?? issuer,
        }),
      );
    }
  }
  if (tokens.access_token) {
    const bearer: Array<[string, string]> = [['Authorization', `Bearer ${tokens.access_token}`]];
    exchanges.push(await send(prepare(issuer, 'userinfo', { method: 'GET', path: '/userinfo', headers: bearer })));
    const api = run.options.resource && exampleApi(run.options.resource);
    if (isJwt(tokens.access_token)) {
      // An API verifies a JWT offline (the claims above are what it sees); the engine does not
      // introspect one. On this machine the example API (examples/api) may be running: call it.
      if (api) exchanges.push(await send(prepare(api, 'api', { method: 'GET', path: '/messages', headers: bearer })));
    } else {
      exchanges.push(
        await send(
          post(issuer, 'introspection', '/introspect', run, client, {
            token: tokens.access_token,
            token_type_hint: 'access_token',
          }),
        ),
      );
    }
  }
  return { ...run, decoded, exchanges: [...run.exchanges, ...exchanges] };
}

function tokensFrom(exchange: Exchange): Run['tokens'] | undefined {
  const json = jsonOf(exchange);
  if (!json || exchange.response?.status !== 200) return undefined;
  return { access_token: str(json.access_token), id_token: str(json.id_token), refresh_token: str(json.refresh_token) };
}

/** Step 4 sent, then step 5: the tokens decoded and used. */
export async function redeemCode(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const exchange = await send(tokenRequest(issuer, run, client));
  const tokens = tokensFrom(exchange);
  const next: Run = { ...run, exchanges: [...run.exchanges, exchange], tokens };
  return tokens ? inspect(issuer, next, client) : next;
}

/** Refresh: a new access token and a rotated refresh token; the old one is now spent. */
export async function refresh(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const old = run.tokens?.refresh_token;
  if (!old) return run;
  const exchange = await send(
    post(issuer, 'refresh', '/token', run, client, {
      grant_type: 'refresh_token',
      refresh_token: old,
      ...(run.options.resource ? { resource: run.options.resource } : {}),
    }),
  );
  const fresh = tokensFrom(exchange);
  const next: Run = {
    ...run,
    exchanges: [...run.exchanges, exchange],
    tokens: fresh
      ? { ...run.tokens, ...fresh, id_token: fresh.id_token ?? run.tokens?.id_token, previous_refresh_token: old }
      : run.tokens,
  };
  return fresh ? inspect(issuer, next, client) : next;
}

/** The spent refresh token again: refused, and (reuse detection) the whole grant is revoked. */
export async function reuseRefreshToken(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const old = run.tokens?.previous_refresh_token;
  if (!old) return run;
  const exchange = await send(
    post(issuer, 'reuse', '/token', run, client, { grant_type: 'refresh_token', refresh_token: old }),
  );
  return afterRevocation(issuer, { ...run, exchanges: [...run.exchanges, exchange] }, client);
}

/** The code again: refused (codes are single-use), and the tokens issued from it are revoked. */
export async function replayCode(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const exchange = await send({ ...tokenRequest(issuer, run, client), kind: 'replay' });
  return afterRevocation(issuer, { ...run, exchanges: [...run.exchanges, exchange] }, client);
}

/** Revocation (RFC 7009) of the access token, or of the refresh token when there is one (the grant goes with it). */
export async function revoke(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const refreshToken = run.tokens?.refresh_token;
  const token = refreshToken ?? run.tokens?.access_token;
  if (!token) return run;
  const exchange = await send(
    post(issuer, 'revoke', '/revoke', run, client, {
      token,
      token_type_hint: refreshToken ? 'refresh_token' : 'access_token',
    }),
  );
  return afterRevocation(issuer, { ...run, exchanges: [...run.exchanges, exchange] }, client);
}

/**
 * What is left after a revocation: the opaque access token introspected (inactive once revoked). A
 * JWT access token cannot be asked about (its API accepts it offline until it expires), so the
 * refresh token is, when there is one.
 */
async function afterRevocation(issuer: string, run: Run, client: PlaygroundClient): Promise<Run> {
  const access = run.tokens?.access_token;
  const [kind, token, hint] =
    access && !isJwt(access)
      ? ['check', access, 'access_token']
      : ['check_refresh', run.tokens?.refresh_token, 'refresh_token'];
  if (!token) return run;
  const check = await send(post(issuer, kind, '/introspect', run, client, { token, token_type_hint: hint }));
  return { ...run, exchanges: [...run.exchanges, check] };
}

/**
 * The example API's base URL when the chosen API is one on this machine (its identifier is its URL,
 * as examples/api's default http://localhost:4000): only loopback, never a request to elsewhere.
 */
function exampleApi(identifier: string): string | undefined {
  const url = URL.parse(identifier);
  if (url?.protocol !== 'http:' || !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return undefined;
  return url.origin;
}

/** RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), back to the playground. */
export function logoutUrl(issuer: string, run: Run, client: PlaygroundClient, state: string): string {
  const params = new URLSearchParams({
    client_id: client.clientId,
    post_logout_redirect_uri: playgroundUri(issuer),
    state,
  });
  if (run.tokens?.id_token) params.set('id_token_hint', run.tokens.id_token);
  return `${issuer}/logout?${params}`;
}
