import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.ts';
import { claimsFor } from '../accounts/accounts.ts';
import type { AccountStore } from '../accounts/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApiResourceStore } from './api-resource-store.ts';
import type { GrantStore } from './payload-store.ts';
import type { KeyMaterial } from './keys.ts';

/** What the engine calls back into: our pages for errors and logout, built in interactions/. */
export interface ProviderPages {
  renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error: Error): Promise<void>;
  logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void>;
}

export interface ProviderDeps {
  config: Config;
  adapter: (model: string) => NonNullable<ReturnType<Extract<Configuration['adapter'], (name: string) => unknown>>>;
  keys: KeyMaterial;
  accounts: AccountStore;
  apis: ApiResourceStore;
  grants: GrantStore;
  pages: ProviderPages;
  log: Logger;
}

/** Paths of the endpoints, as DESIGN.md's runtime contract names them. */
export const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  jwks: '/jwks',
  end_session: '/logout',
  revocation: '/revoke',
  introspection: '/introspect',
  code_verification: '/device',
  device_authorization: '/device/auth',
  pushed_authorization_request: '/par',
  registration: '/register',
} as const;

export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/**
 * The engine's configuration. Every `@important` option of oidc-provider is set here: adapter,
 * keys, cookie keys, findAccount, interactions, resource servers, TTLs. Protocol checks (PKCE,
 * redirect URI matching, scope handling) are the engine's; we only choose the policy.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, keys, accounts, apis, grants, pages, log } = deps;
  const secure = config.issuer.startsWith('https://');
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, signed: true, overwrite: true, secure };

  const configuration: Configuration = {
    adapter: deps.adapter,
    clients: [],
    jwks: keys.jwks as Configuration['jwks'],
    cookies: { keys: keys.cookieKeys, long: cookieOptions, short: cookieOptions },
    routes: ROUTES,
    scopes: OIDC_SCOPES,
    claims: {
      openid: ['sub'],
      profile: ['name', 'given_name', 'family_name', 'updated_at'],
      email: ['email', 'email_verified'],
    },
    // Keycloak and Auth0 put the scope's claims in the ID token too; apps expect to find them there.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const account = await accounts.findById(sub);
      // A disabled account gets no new tokens, not even by refresh.
      if (!account || account.disabled) return undefined;
      return { accountId: account.id, claims: (_use, scope) => claimsFor(account, scope) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async loadExistingGrant(ctx) {
      const client = ctx.oidc.client!;
      const session = ctx.oidc.session!;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      // Consent is remembered per person and app, not per browser session (as Keycloak does).
      if (!session.accountId) return undefined;
      const remembered = await grants.latestGrantId(session.accountId, client.clientId);
      const grant = remembered ? await ctx.oidc.provider.Grant.find(remembered) : undefined;
      return grant?.accountId === session.accountId ? grant : undefined;
    },
    extraClientMetadata: {
      properties: ['first_party'],
      validator(_ctx, key, value) {
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
      },
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    responseTypes: ['code'],
    // Public clients must use PKCE (S256 is the only method the engine accepts); confidential
    // clients may, and the engine verifies it whenever a challenge was sent.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    // Rotate every refresh token on use; a rotated one presented again revokes the whole grant.
    rotateRefreshToken: true,
    allowOmittingSingleRegisteredRedirectUri: false,
    ttl: {
      AccessToken: config.ttl.accessToken,
      AuthorizationCode: config.ttl.authorizationCode,
      ClientCredentials: config.ttl.accessToken,
      DeviceCode: 600,
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      Grant: Math.max(config.ttl.refreshToken, config.ttl.session),
      RefreshToken(_ctx, token) {
        // A rotated token may not outlive the chain's first issue by more than a year.
        return token.totalLifetime() >= 365 * 24 * 3600 ? 1 : config.ttl.refreshToken;
      },
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logoutSource(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.postLogoutSuccessSource(ctx),
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, resourceIndicator) {
          const api = await apis.findByIdentifier(resourceIndicator);
          if (!api) throw new errors.InvalidTarget(`resource ${resourceIndicator} is not a registered API`);
          return {
            scope: api.scopes.join(' '),
            audience: api.identifier,
            accessTokenTTL: api.access_token_ttl ?? config.ttl.accessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: api.signing_alg as 'ES256' | 'RS256' } },
          };
        },
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
    },
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false,
    renderError: (ctx, out, error) => pages.renderError(ctx, out, error),
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  provider.on('server_error', (ctx, err) => log.error({ event: 'server_error', route: ctx.oidc?.route, err }, 'server error'));
  for (const event of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error'] as const) {
    (provider.on as (name: string, listener: (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError) => void) => Provider)(event, (ctx, err) => log.info({
      event, route: ctx.oidc?.route, client_id: ctx.oidc?.client?.clientId, error: err.error, error_detail: err.error_detail,
    }, err.error_description ?? err.message));
  }
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => log.debug({
    event: 'grant.success', client_id: ctx.oidc.client?.clientId, grant_type: ctx.oidc.params?.grant_type,
  }, 'token issued'));
  return provider;
}
