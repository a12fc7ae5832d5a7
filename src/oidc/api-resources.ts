import { randomUUID } from 'node:crypto';
import type { ApiResourceRow, ApiResourceStore } from './api-resource-store.ts';

export type CreateApi = { ok: true; api: ApiResourceRow } | { ok: false; problems: string[] };

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3 scope-token
const RESERVED_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email', 'address', 'phone']);

/**
 * The longest default lifetime of an API's access tokens, in seconds. They are JWTs that APIs
 * verify offline, so nothing ends one before it expires: not revocation, not disabling the user.
 * An operator who accepts longer sets `apis create --ttl`.
 */
const API_TOKEN_TTL_DEFAULT_MAX = 900;

/** The lifetime of an API's access tokens when `apis create` was given no --ttl. */
export function defaultApiTokenTtl(accessTokenTtl: number): number {
  return Math.min(accessTokenTtl, API_TOKEN_TTL_DEFAULT_MAX);
}

/**
 * APIs (resource servers, RFC 8707): the identifier is the audience of the JWT access tokens issued
 * for it. `accessTokenTtl`: ACCESS_TOKEN_TTL, of which an API without --ttl takes at most 900 s.
 */
export function createApiResources(store: ApiResourceStore, options: { accessTokenTtl?: number | undefined } = {}) {
  const defaultTtl = defaultApiTokenTtl(options.accessTokenTtl ?? API_TOKEN_TTL_DEFAULT_MAX);
  return {
    store,
    async create(input: {
      identifier: string;
      name?: string | undefined;
      scopes: string[];
      accessTokenTtl?: number | undefined;
      signingAlg?: string | undefined;
    }): Promise<CreateApi> {
      const problems: string[] = [];
      const url = URL.parse(input.identifier);
      if (!url) problems.push(`identifier ${input.identifier} must be an absolute URI (e.g. https://api.example.com)`);
      else if (url.hash) problems.push('identifier must not contain a fragment (RFC 8707 §2)');
      for (const scope of input.scopes) {
        if (!SCOPE_TOKEN.test(scope))
          problems.push(`scope ${JSON.stringify(scope)} has characters a scope cannot have`);
        if (RESERVED_SCOPES.has(scope)) problems.push(`scope ${scope} is an OpenID Connect scope, not an API scope`);
      }
      const signingAlg = input.signingAlg ?? 'ES256';
      if (!['ES256', 'RS256'].includes(signingAlg)) problems.push('signing algorithm must be ES256 or RS256');
      if (input.accessTokenTtl !== undefined && !(input.accessTokenTtl >= 60 && input.accessTokenTtl <= 86400)) {
        problems.push('access token TTL must be between 60 and 86400 seconds');
      }
      if (!problems.length && (await store.findByIdentifier(input.identifier)))
        problems.push(`an API with identifier ${input.identifier} already exists`);
      if (problems.length) return { ok: false, problems };
      const api = await store.insert({
        id: randomUUID(),
        identifier: input.identifier,
        name: input.name?.trim() || input.identifier,
        scopes: [...new Set(input.scopes)],
        access_token_ttl: input.accessTokenTtl ?? defaultTtl,
        signing_alg: signingAlg,
      });
      return { ok: true, api };
    },
  };
}
export type ApiResources = ReturnType<typeof createApiResources>;
