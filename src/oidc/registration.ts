import { randomBytes } from 'node:crypto';
import { type Adapter, type AdapterPayload, errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ClientInput, Clients } from '../clients/clients.ts';
import { REQUIRE_PKCE } from '../clients/pkce.ts';
import { redirectUriProblem } from '../clients/redirect-policy.ts';
import { API_SCOPES, OIDC_SCOPES } from '../clients/scopes.ts';
import { STRICT_AUTH_METHOD } from '../clients/strict-auth.ts';

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), off unless
 * REGISTRATION_ENABLED. The engine runs the protocol; this is what it leaves to us:
 * - initial access tokens, issued by `latchkey clients initial-access-token` and stored by the
 *   adapter like any engine token (by digest); every one carries our registration policy and
 *   what it allows beyond a plain sign-in client: API scopes and the client_credentials grant;
 * - the policy, run by the engine before its own validation on register and update;
 * - the write-through: the engine saves the client with the adapter's Client upsert, which lands
 *   here and goes into the clients table with the CLI's rules (secret sealed).
 */

/** The name of our registration policy (features.registration.policies). */
export const REGISTRATION_POLICY = 'latchkey';

/** Default lifetime of an initial access token: a day to hand it to the app's developer. */
const INITIAL_ACCESS_TOKEN_TTL = 24 * 3600;
/** How long an operator may let an initial access token live: a minute to a year (366 days). */
const INITIAL_ACCESS_TOKEN_TTL_RANGE = { min: 60, max: 366 * 86400 };

/** Metadata with a column of its own or a known key; the rest of what the engine validated is kept verbatim. */
const MAPPED = new Set([
  'client_id',
  'client_secret',
  'client_name',
  'application_type',
  'redirect_uris',
  'post_logout_redirect_uris',
  'grant_types',
  'response_types',
  'token_endpoint_auth_method',
  'scope',
  'first_party',
  STRICT_AUTH_METHOD,
  API_SCOPES,
  REQUIRE_PKCE,
  'jwks',
  'jwks_uri',
  'backchannel_logout_uri',
  'backchannel_logout_session_required',
  'require_pushed_authorization_requests',
]);

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * What a client registered with an initial access token may have beyond signing people in: the API
 * scopes it may get and the grants that need an operator's leave (client_credentials: machine
 * tokens nobody consents to). An initial access token issued without them allows neither.
 */
export interface RegistrationAllowance {
  apiScopes: string[];
  grantTypes: string[];
}

/** Grants a registrant may use only when its initial access token allows them. */
const GATED_GRANTS = ['client_credentials'];

/** Where an initial access token's payload holds its allowance (the engine's model ignores the field). */
const ALLOWANCE = 'allowance';

function allowanceOf(payload: AdapterPayload | undefined): RegistrationAllowance {
  const stored = payload?.[ALLOWANCE] as { api_scopes?: unknown; grant_types?: unknown } | undefined;
  return { apiScopes: strings(stored?.api_scopes), grantTypes: strings(stored?.grant_types) };
}

/**
 * The registration policy, run by the engine on every registration (with the initial access
 * token's allowance) and every update by the client (with what the client has now, which an
 * operator may have changed). Redirect URIs follow the same rules as the CLI's (https, or loopback
 * http; no wildcards or fragments), reported with the registration error codes.
 */
export function createRegistrationPolicy(initialAccessTokens: Pick<Adapter, 'find'>) {
  return async function registrationPolicy(
    ctx: KoaContextWithOIDC,
    properties: Record<string, unknown>,
  ): Promise<void> {
    const initial = ctx.oidc.entities.InitialAccessToken;
    const current = ctx.oidc.client;
    let apiScopes: string[] | undefined;
    let grantTypes: string[];
    if (initial) {
      ({ apiScopes, grantTypes } = allowanceOf((await initialAccessTokens.find(initial.jti)) ?? undefined));
    } else {
      const listed = current?.[API_SCOPES];
      apiScopes = typeof listed === 'string' ? listed.split(' ').filter(Boolean) : undefined;
      grantTypes = [...(current?.grantTypes ?? [])];
    }
    checkProperties(properties);
    // A client an operator opened to every scope (`clients update --scope ''`, an empty list) keeps
    // that: its scope list can hold OpenID and API scopes only together (toClientInput), so the
    // OpenID scopes it names would otherwise become a list that allows no API scope.
    if (!initial && apiScopes === undefined) delete properties.scope;
    for (const grant of strings(properties.grant_types)) {
      if (GATED_GRANTS.includes(grant) && !grantTypes.includes(grant)) {
        throw new errors.InvalidClientMetadata(
          `grant_types: ${grant} is not allowed for this client (ask the operator for an initial access token that allows it)`,
        );
      }
    }
    if (apiScopes) apiScopes = apiScopesNamed(properties, apiScopes);
    if (apiScopes) properties[API_SCOPES] = apiScopes.join(' ');
  };
}

/**
 * A registrant may name API scopes in `scope` (RFC 7591 §2): those it names, of what it may have,
 * become its API scope list, and a named one it may not have is refused. The engine's `scope`
 * metadata holds OpenID scopes only, so the API scopes leave it (the response lists them in
 * api_scopes). Naming none keeps all it may have, as before.
 */
function apiScopesNamed(properties: Record<string, unknown>, allowed: string[]): string[] {
  if (typeof properties.scope !== 'string') return allowed;
  const named = properties.scope.split(' ').filter(Boolean);
  const api = named.filter((scope) => !OIDC_SCOPES.includes(scope));
  if (api.length === 0) return allowed;
  const refused = api.filter((scope) => !allowed.includes(scope));
  if (refused.length > 0) {
    throw new errors.InvalidClientMetadata(
      `scope: ${refused.join(' ')} is not allowed for this client (ask the operator for an initial access token that allows it)`,
    );
  }
  const openid = named.filter((scope) => OIDC_SCOPES.includes(scope));
  if (openid.length > 0) properties.scope = openid.join(' ');
  else delete properties.scope;
  return [...new Set(api)];
}

function checkProperties(properties: Record<string, unknown>): void {
  // Only an operator may make an app first-party (no consent page), set its API scope list or let
  // it skip PKCE.
  delete properties.first_party;
  delete properties[API_SCOPES];
  delete properties[REQUIRE_PKCE];
  const applicationType = properties.application_type === 'native' ? 'native' : 'web';
  for (const uri of strings(properties.redirect_uris)) {
    const problem = redirectUriProblem(uri, applicationType);
    if (problem) throw new errors.InvalidRedirectUri(problem);
  }
  for (const uri of strings(properties.post_logout_redirect_uris)) {
    const problem = redirectUriProblem(uri, applicationType, 'post-logout redirect URI');
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }
  if (Array.isArray(properties.grant_types) && properties.grant_types.length === 0) {
    throw new errors.InvalidClientMetadata('grant_types must not be empty');
  }
}

/** Maps the engine's validated client metadata to our client model. */
function toClientInput(metadata: AdapterPayload): {
  input: ClientInput;
  secret: string | undefined;
  extra: Record<string, unknown>;
} {
  const authMethod = String(metadata.token_endpoint_auth_method ?? 'client_secret_basic');
  // The client's scope list (clients.scope) holds OpenID and API scopes together; a list without
  // OpenID scopes leaves those open and an empty list leaves everything open (clients.ts), so the
  // API scopes a registration allowed are listed with the OpenID scopes it asked for, or all of them.
  const requested = typeof metadata.scope === 'string' ? metadata.scope.split(' ').filter(Boolean) : [];
  const apiScopes =
    typeof metadata[API_SCOPES] === 'string' ? metadata[API_SCOPES].split(' ').filter(Boolean) : undefined;
  const scope = apiScopes
    ? [...(requested.length ? requested : OIDC_SCOPES), ...apiScopes].join(' ')
    : requested.join(' ');
  const input: ClientInput = {
    name:
      typeof metadata.client_name === 'string' && metadata.client_name.trim()
        ? metadata.client_name
        : String(metadata.client_id),
    type: authMethod === 'none' ? 'public' : 'confidential',
    applicationType: metadata.application_type === 'native' ? 'native' : 'web',
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    grantTypes: strings(metadata.grant_types),
    scope,
    tokenEndpointAuthMethod: authMethod,
  };
  const registered = Object.fromEntries(Object.entries(metadata).filter(([key]) => !MAPPED.has(key)));
  const extra: Record<string, unknown> = {
    registered_metadata: registered,
    ...(metadata.jwks ? { jwks: metadata.jwks } : {}),
    ...(typeof metadata.jwks_uri === 'string' ? { jwks_uri: metadata.jwks_uri } : {}),
    ...(typeof metadata.backchannel_logout_uri === 'string'
      ? { backchannel_logout_uri: metadata.backchannel_logout_uri }
      : {}),
    ...(metadata.backchannel_logout_session_required === true ? { backchannel_logout_session_required: true } : {}),
    ...(metadata.require_pushed_authorization_requests === true ? { require_pushed_authorization_requests: true } : {}),
    ...(metadata[STRICT_AUTH_METHOD] === true ? { [STRICT_AUTH_METHOD]: true } : {}),
  };
  const secret = typeof metadata.client_secret === 'string' ? metadata.client_secret : undefined;
  return { input, secret, extra };
}

/** Where the adapter's Client upsert and destroy go (see adapter.ts clientAdapter). */
export interface ClientRegistrations {
  save(clientId: string, metadata: AdapterPayload): Promise<void>;
  remove(clientId: string): Promise<void>;
}

export function createClientRegistrations(clients: Pick<Clients, 'saveRegistered' | 'store'>): ClientRegistrations {
  return {
    async save(clientId, metadata) {
      const { input, secret, extra } = toClientInput(metadata);
      const result = await clients.saveRegistered(clientId, secret, input, extra);
      if (!result.ok) throw new errors.InvalidClientMetadata(result.problems.join('; '));
    },
    async remove(clientId) {
      await clients.store.delete(clientId);
    },
  };
}

export type IssuedInitialAccessToken =
  | { ok: true; token: string; expiresAt: Date }
  | { ok: false; reason: 'invalid_ttl' | 'not_allowed'; problems: string[] };

/**
 * A new initial access token (RFC 7591 §3), stored through the engine's adapter as its
 * InitialAccessToken model. It may register any number of clients until it expires; they get the
 * API scopes and gated grants of `allowed` and no others. `servedApiScopes`: the scopes of the
 * registered APIs, which are all `allowed.apiScopes` may name.
 */
export async function issueInitialAccessToken(
  adapter: Adapter,
  options: {
    ttlSeconds?: number | undefined;
    allowed?: RegistrationAllowance | undefined;
    servedApiScopes: string[];
  },
): Promise<IssuedInitialAccessToken> {
  const ttlSeconds = options.ttlSeconds ?? INITIAL_ACCESS_TOKEN_TTL;
  const { min, max } = INITIAL_ACCESS_TOKEN_TTL_RANGE;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < min || ttlSeconds > max) {
    return {
      ok: false,
      reason: 'invalid_ttl',
      problems: [`--ttl must be a number of seconds between ${min} and ${max}`],
    };
  }
  const allowed = options.allowed ?? { apiScopes: [], grantTypes: [] };
  const served = new Set(options.servedApiScopes);
  const problems = [
    ...allowed.grantTypes
      .filter((grant) => !GATED_GRANTS.includes(grant))
      .map((grant) => `grant ${grant} needs no allowing (only ${GATED_GRANTS.join(', ')} does)`),
    ...allowed.apiScopes
      .filter((scope) => !served.has(scope))
      .map((scope) => `scope ${scope} is not a scope of any registered API`),
  ];
  if (problems.length) return { ok: false, reason: 'not_allowed', problems };
  const token = randomBytes(32).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + ttlSeconds;
  await adapter.upsert(
    token,
    {
      jti: token,
      kind: 'InitialAccessToken',
      iat,
      exp,
      policies: [REGISTRATION_POLICY],
      [ALLOWANCE]: { api_scopes: [...new Set(allowed.apiScopes)], grant_types: [...new Set(allowed.grantTypes)] },
    },
    ttlSeconds,
  );
  return { ok: true, token, expiresAt: new Date(exp * 1000) };
}
