import { randomBytes } from 'node:crypto';
import type { AdapterPayload, ClientAuthMethod } from 'oidc-provider';
import type { SecretBox } from '../secret-box.ts';
import { REQUIRE_PKCE } from './pkce.ts';
import { redirectUriProblem } from './redirect-policy.ts';
import { REQUIRE_MFA } from './require-mfa.ts';
import { API_SCOPES, OIDC_SCOPES } from './scopes.ts';
import type { ClientRow, ClientStore } from './store.ts';
import { STRICT_AUTH_METHOD } from './strict-auth.ts';
import { REQUIRE_VERIFIED_EMAIL } from './verified-email.ts';

const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:device_code',
] as const;
const GRANT_ALIASES: Record<string, string> = { device_code: 'urn:ietf:params:oauth:grant-type:device_code' };
const CONFIDENTIAL_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

export interface ClientInput {
  name: string;
  type: 'confidential' | 'public';
  applicationType?: 'web' | 'native' | undefined;
  redirectUris: string[];
  postLogoutRedirectUris?: string[] | undefined;
  grantTypes?: string[] | undefined;
  /** Space-separated scopes the client may request; empty means any scope we serve. */
  scope?: string | undefined;
  firstParty?: boolean | undefined;
  tokenEndpointAuthMethod?: string | undefined;
  /**
   * Whether a confidential client must send PKCE (S256). Default true (OAuth 2.1, RFC 9700
   * §2.1.1); false only for a relying party that cannot send it. Public clients always must.
   */
  requirePkce?: boolean | undefined;
  /** Sign-in for this app needs a verified email address (a "verify your email" page until then). Default false. */
  requireVerifiedEmail?: boolean | undefined;
  /** Sign-in for this app needs a second factor (set up during sign-in when the person has none). Default false. */
  requireMfa?: boolean | undefined;
}

export type ClientResult =
  | { ok: true; client: ClientRow; clientSecret?: string | undefined }
  | { ok: false; problems: string[] };

/** Client secrets are random and high-entropy: 256 bits, shown once, stored sealed. */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Client ids: 128 random bits in base64url, for the CLI and dynamic registration alike. An id
 * never starts with `-` or `_`: base64url gives one in 32 of them, and a leading `-` reads as an
 * option on the command line (`latchkey clients show -sX…`). Redrawing keeps every id uniform
 * over the ids that are left.
 */
export function generateClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

export function normaliseGrantType(grant: string): string {
  return GRANT_ALIASES[grant] ?? grant;
}

interface Validated {
  problems: string[];
  grantTypes: string[];
  applicationType: 'web' | 'native';
  authMethod: string;
  requirePkce: boolean;
}

function validate(input: ClientInput): Validated {
  const problems: string[] = [];
  const applicationType = input.applicationType ?? 'web';
  const grantTypes = [
    ...new Set(
      (input.grantTypes?.length ? input.grantTypes : ['authorization_code', 'refresh_token']).map(normaliseGrantType),
    ),
  ];
  if (!input.name.trim()) problems.push('name must not be empty');
  if (input.name.length > 200) problems.push('name must be at most 200 characters');
  for (const grant of grantTypes) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant))
      problems.push(`grant ${grant} is not supported (use one of ${GRANT_TYPES.join(', ')}, or device_code)`);
  }
  if (input.type === 'public' && grantTypes.includes('client_credentials'))
    problems.push('a public client cannot use client_credentials: it has no secret');
  const needsRedirect = grantTypes.includes('authorization_code');
  if (needsRedirect && input.redirectUris.length === 0)
    problems.push('at least one --redirect-uri is required for the authorization_code grant');
  for (const uri of input.redirectUris) {
    const problem = redirectUriProblem(uri, applicationType);
    if (problem) problems.push(problem);
  }
  for (const uri of input.postLogoutRedirectUris ?? []) {
    const problem = redirectUriProblem(uri, applicationType, 'post-logout redirect URI');
    if (problem) problems.push(problem);
  }
  let authMethod = input.type === 'public' ? 'none' : 'client_secret_basic';
  if (input.tokenEndpointAuthMethod) {
    if (input.type === 'public' && input.tokenEndpointAuthMethod !== 'none')
      problems.push('a public client authenticates with none');
    else if (
      input.type === 'confidential' &&
      !(CONFIDENTIAL_AUTH_METHODS as readonly string[]).includes(input.tokenEndpointAuthMethod)
    ) {
      problems.push(`auth method must be one of ${CONFIDENTIAL_AUTH_METHODS.join(', ')}`);
    } else authMethod = input.tokenEndpointAuthMethod;
  }
  if (input.type === 'public' && input.requirePkce === false)
    problems.push('a public client always uses PKCE: it has no secret to prove the code is its own');
  return {
    problems,
    grantTypes,
    applicationType,
    authMethod,
    requirePkce: input.type === 'public' || (input.requirePkce ?? true),
  };
}

/**
 * What is wrong with the metadata an operator gives beyond our columns (`extra` of create and
 * update), the first problem only; `privateKeyJwt`: the client authenticates with private_key_jwt,
 * so it needs keys to be checked against.
 */
function extraProblem(extra: Record<string, unknown>, privateKeyJwt: boolean): string | undefined {
  if (extra.jwks !== undefined && !Array.isArray((extra.jwks as { keys?: unknown } | null)?.keys))
    return '--jwks is not a JWK Set: no "keys" array';
  if (extra.jwks_uri !== undefined && !URL.parse(String(extra.jwks_uri))) return '--jwks-uri must be an absolute URL';
  if (extra.backchannel_logout_uri !== undefined) {
    const url = URL.parse(String(extra.backchannel_logout_uri));
    if (!url || !['https:', 'http:'].includes(url.protocol) || url.hash)
      return '--backchannel-logout-uri must be an http(s) URL without a fragment';
  }
  if (privateKeyJwt && !extra.jwks && !extra.jwks_uri) return 'private_key_jwt needs --jwks or --jwks-uri';
  return undefined;
}

export function createClients(deps: { store: ClientStore; box: SecretBox }) {
  const { store, box } = deps;
  return {
    store,

    /** `extra`: metadata kept as is (jwks, jwks_uri, backchannel_logout_uri and _session_required, require_pushed_authorization_requests). */
    async create(input: ClientInput, extra: Record<string, unknown> = {}): Promise<ClientResult> {
      const problem = extraProblem(extra, input.tokenEndpointAuthMethod === 'private_key_jwt');
      if (problem) return { ok: false, problems: [problem] };
      const { problems, grantTypes, applicationType, authMethod, requirePkce } = validate(input);
      if (problems.length) return { ok: false, problems };
      const clientSecret =
        input.type === 'confidential' && authMethod !== 'private_key_jwt' ? generateClientSecret() : undefined;
      const client = await store.insert({
        client_id: generateClientId(),
        name: input.name.trim(),
        type: input.type,
        application_type: applicationType,
        secret_sealed: clientSecret ? box.seal(clientSecret) : null,
        token_endpoint_auth_method: authMethod,
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
        grant_types: grantTypes,
        scope: input.scope?.trim() ?? '',
        first_party: input.firstParty ?? false,
        require_pkce: requirePkce,
        require_verified_email: input.requireVerifiedEmail ?? false,
        require_mfa: input.requireMfa ?? false,
        // An explicitly chosen basic/post method is enforced strictly; the default accepts both.
        metadata: { ...extra, ...(input.tokenEndpointAuthMethod ? { [STRICT_AUTH_METHOD]: true } : {}) },
      });
      return { ok: true, client, clientSecret };
    },

    async update(
      clientId: string,
      changes: Partial<ClientInput>,
      extra: Record<string, unknown> = {},
    ): Promise<ClientResult | undefined> {
      const problem = extraProblem(extra, false);
      if (problem) return { ok: false, problems: [problem] };
      const current = await store.findById(clientId);
      if (!current) return undefined;
      const merged: ClientInput = {
        name: changes.name ?? current.name,
        type: current.type,
        applicationType: changes.applicationType ?? current.application_type,
        redirectUris: changes.redirectUris ?? current.redirect_uris,
        postLogoutRedirectUris: changes.postLogoutRedirectUris ?? current.post_logout_redirect_uris,
        grantTypes: changes.grantTypes ?? current.grant_types,
        scope: changes.scope ?? current.scope,
        firstParty: changes.firstParty ?? current.first_party,
        tokenEndpointAuthMethod: changes.tokenEndpointAuthMethod ?? current.token_endpoint_auth_method,
        requirePkce: changes.requirePkce ?? current.require_pkce,
      };
      const { problems, grantTypes, applicationType, authMethod, requirePkce } = validate(merged);
      if (problems.length) return { ok: false, problems };
      const client = await store.update({
        ...current,
        name: merged.name,
        application_type: applicationType,
        token_endpoint_auth_method: authMethod,
        redirect_uris: merged.redirectUris,
        post_logout_redirect_uris: merged.postLogoutRedirectUris ?? [],
        grant_types: grantTypes,
        scope: merged.scope ?? '',
        first_party: merged.firstParty ?? false,
        require_pkce: requirePkce,
        require_verified_email: changes.requireVerifiedEmail ?? current.require_verified_email,
        require_mfa: changes.requireMfa ?? current.require_mfa,
        metadata: {
          ...current.metadata,
          ...extra,
          ...(changes.tokenEndpointAuthMethod ? { [STRICT_AUTH_METHOD]: true } : {}),
        },
      });
      return client ? { ok: true, client } : undefined;
    },

    async rotateSecret(clientId: string): Promise<string | undefined> {
      const current = await store.findById(clientId);
      if (current?.type !== 'confidential' || current.token_endpoint_auth_method === 'private_key_jwt')
        return undefined;
      const secret = generateClientSecret();
      return (await store.setSecret(clientId, box.seal(secret))) ? secret : undefined;
    },

    /**
     * A client written by dynamic registration (RFC 7591/7592, through the engine's adapter): the
     * engine chose its id and secret and has told the registrant; the rules are the CLI's. Only an
     * operator makes an app first-party (`clients update --first-party`) or lets it skip PKCE
     * (`--allow-no-pkce`); the client's own updates keep those and cannot set them.
     */
    async saveRegistered(
      clientId: string,
      clientSecret: string | undefined,
      input: ClientInput,
      extra: Record<string, unknown>,
    ): Promise<ClientResult> {
      const current = await store.findById(clientId);
      const { problems, grantTypes, applicationType, authMethod, requirePkce } = validate({
        ...input,
        requirePkce: current?.require_pkce,
      });
      if (current && current.type !== input.type) problems.push(`a ${current.type} client cannot become ${input.type}`);
      if (problems.length) return { ok: false, problems };
      const fields = {
        name: input.name.trim(),
        application_type: applicationType,
        token_endpoint_auth_method: authMethod,
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
        grant_types: grantTypes,
        scope: input.scope?.trim() ?? '',
        metadata: extra,
      };
      const client = current
        ? await store.update({ ...current, ...fields })
        : await store.insert({
            client_id: clientId,
            type: input.type,
            secret_sealed: clientSecret ? box.seal(clientSecret) : null,
            first_party: false,
            require_pkce: requirePkce,
            require_verified_email: false,
            require_mfa: false,
            ...fields,
          });
      return client
        ? { ok: true, client }
        : { ok: false, problems: [`client ${clientId} was deleted during the update`] };
    },

    /** The client as oidc-provider reads it: the only place the secret is unsealed. */
    async findMetadata(clientId: string): Promise<AdapterPayload | undefined> {
      if (clientId.length > 200) return undefined;
      const row = await store.findById(clientId);
      return row ? toProviderMetadata(row, box) : undefined;
    },
  };
}
export type Clients = ReturnType<typeof createClients>;

function scopeMetadata(list: string): { scope?: string; [API_SCOPES]?: string } {
  const scopes = list.split(' ').filter(Boolean);
  if (!scopes.length) return {};
  const openid = scopes.filter((scope) => OIDC_SCOPES.includes(scope));
  return {
    ...(openid.length ? { scope: openid.join(' ') } : {}),
    [API_SCOPES]: scopes.filter((scope) => !OIDC_SCOPES.includes(scope)).join(' '),
  };
}

function toProviderMetadata(row: ClientRow, box: SecretBox): AdapterPayload {
  const extra = row.metadata as Record<string, unknown>;
  const registered = extra.registered_metadata;
  return {
    // What a dynamically registered client declared beyond our columns (id_token_signed_response_alg,
    // logo_uri, ...), as the engine validated it; our columns below take precedence.
    ...(registered && typeof registered === 'object' && !Array.isArray(registered)
      ? (registered as AdapterPayload)
      : {}),
    client_id: row.client_id,
    ...(row.secret_sealed ? { client_secret: box.open(row.secret_sealed) } : {}),
    client_name: row.name,
    application_type: row.application_type,
    redirect_uris: row.redirect_uris,
    post_logout_redirect_uris: row.post_logout_redirect_uris,
    grant_types: row.grant_types,
    response_types: row.grant_types.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: row.token_endpoint_auth_method as ClientAuthMethod,
    // The scope list restricts OpenID scopes through the engine's `scope` (which may hold only
    // those) and API scopes through ours; a list without OpenID scopes leaves those open.
    ...scopeMetadata(row.scope),
    first_party: row.first_party,
    [REQUIRE_PKCE]: row.type === 'public' || row.require_pkce,
    [REQUIRE_VERIFIED_EMAIL]: row.require_verified_email,
    [REQUIRE_MFA]: row.require_mfa,
    ...(extra[STRICT_AUTH_METHOD] === true ? { [STRICT_AUTH_METHOD]: true } : {}),
    ...(typeof extra.jwks === 'object' ? { jwks: extra.jwks as AdapterPayload['jwks'] } : {}),
    ...(typeof extra.jwks_uri === 'string' ? { jwks_uri: extra.jwks_uri } : {}),
    ...(typeof extra.backchannel_logout_uri === 'string'
      ? { backchannel_logout_uri: extra.backchannel_logout_uri }
      : {}),
    // The app wants `sid` in ID tokens and logout tokens (OIDC Back-Channel Logout 1.0 §2.2).
    ...(extra.backchannel_logout_session_required === true ? { backchannel_logout_session_required: true } : {}),
    ...(extra.require_pushed_authorization_requests === true ? { require_pushed_authorization_requests: true } : {}),
  };
}
