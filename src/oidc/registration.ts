import { randomBytes } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { ClientInput, Clients } from '../clients/clients.ts';
import { REQUIRE_PKCE } from '../clients/pkce.ts';
import { redirectUriProblem } from '../clients/redirect-policy.ts';
import { STRICT_AUTH_METHOD } from '../clients/strict-auth.ts';
import { API_SCOPES } from './scopes.ts';

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), off unless
 * REGISTRATION_ENABLED. The engine runs the protocol; this is what it leaves to us:
 * - initial access tokens, issued by `latchkey clients initial-access-token` and stored by the
 *   adapter like any engine token (by digest); every one carries our registration policy;
 * - the policy, run by the engine before its own validation on register and update;
 * - the write-through: the engine saves the client with the adapter's Client upsert, which lands
 *   here and goes into the clients table with the CLI's rules (secret sealed).
 */

/** The name of our registration policy (features.registration.policies). */
export const REGISTRATION_POLICY = 'latchkey';

/** Default lifetime of an initial access token: a day to hand it to the app's developer. */
export const INITIAL_ACCESS_TOKEN_TTL = 24 * 3600;

/** Metadata with a column of its own or a known key; the rest of what the engine validated is kept verbatim. */
const MAPPED = new Set(['client_id', 'client_secret', 'client_name', 'application_type', 'redirect_uris',
  'post_logout_redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'scope', 'first_party',
  STRICT_AUTH_METHOD, API_SCOPES, REQUIRE_PKCE, 'jwks', 'jwks_uri', 'backchannel_logout_uri', 'require_pushed_authorization_requests']);

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * Runs on every registration and update. Redirect URIs follow the same rules as the CLI's
 * (https, or loopback http; no wildcards or fragments), reported with the registration error codes.
 */
export function registrationPolicy(_ctx: unknown, properties: Record<string, unknown>): void {
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
export function toClientInput(metadata: AdapterPayload): { input: ClientInput; secret: string | undefined; extra: Record<string, unknown> } {
  const authMethod = String(metadata.token_endpoint_auth_method ?? 'client_secret_basic');
  const input: ClientInput = {
    name: typeof metadata.client_name === 'string' && metadata.client_name.trim() ? metadata.client_name : String(metadata.client_id),
    type: authMethod === 'none' ? 'public' : 'confidential',
    applicationType: metadata.application_type === 'native' ? 'native' : 'web',
    redirectUris: strings(metadata.redirect_uris),
    postLogoutRedirectUris: strings(metadata.post_logout_redirect_uris),
    grantTypes: strings(metadata.grant_types),
    scope: typeof metadata.scope === 'string' ? metadata.scope : undefined,
    tokenEndpointAuthMethod: authMethod,
  };
  const registered = Object.fromEntries(Object.entries(metadata).filter(([key]) => !MAPPED.has(key)));
  const extra: Record<string, unknown> = {
    registered_metadata: registered,
    ...(metadata.jwks ? { jwks: metadata.jwks } : {}),
    ...(typeof metadata.jwks_uri === 'string' ? { jwks_uri: metadata.jwks_uri } : {}),
    ...(typeof metadata.backchannel_logout_uri === 'string' ? { backchannel_logout_uri: metadata.backchannel_logout_uri } : {}),
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

/**
 * A new initial access token (RFC 7591 §3), stored through the engine's adapter as its
 * InitialAccessToken model. It may register any number of clients until it expires.
 */
export async function issueInitialAccessToken(adapter: Adapter, ttlSeconds = INITIAL_ACCESS_TOKEN_TTL): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + ttlSeconds;
  await adapter.upsert(token, { jti: token, kind: 'InitialAccessToken', iat, exp, policies: [REGISTRATION_POLICY] }, ttlSeconds);
  return { token, expiresAt: new Date(exp * 1000) };
}
