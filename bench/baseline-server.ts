import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import argon2 from 'argon2';
import Provider, { type Configuration, errors, type KoaContextWithOIDC } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

/**
 * The baseline: bare oidc-provider, configured like Latchkey's engine (src/oidc/provider.ts: same
 * features, algorithms, TTLs, refresh rotation, JWT access tokens for the API), with static
 * clients, a static account and the engine's in-memory adapter. No database, no
 * pages; one argon2id verification per sign-in: what the engine itself costs here. Its interaction route finishes login and
 * consent at once, without a form. The engine's memory adapter keeps at most ~2×1000 entries by
 * default, too few for the runs' codes and tokens, so it gets a larger store of the same kind.
 * Started by bench/run.ts with BASELINE_CONFIG; listens on 127.0.0.1 only.
 */
interface BaselineConfig {
  port: number;
  issuer: string;
  loginClients: Array<{ clientId: string; clientSecret: string }>;
  ccClient: { clientId: string; clientSecret: string };
  api: { identifier: string; scope: string };
  redirectUri: string;
}

const config = JSON.parse(process.env.BASELINE_CONFIG ?? '{}') as BaselineConfig;

function signingKey(alg: 'RS256' | 'ES256', kid: string) {
  const pair =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const store = new LRU({ maxSize: 500_000 });
const ttl = { accessToken: 3600, refreshToken: 14 * 24 * 3600, session: 14 * 24 * 3600 };

const configuration: Configuration = {
  adapter: (model: string) => new MemoryAdapter(model, store),
  clients: [
    ...config.loginClients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [config.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'] as Array<'code'>,
      token_endpoint_auth_method: 'client_secret_basic' as const,
    })),
    {
      client_id: config.ccClient.clientId,
      client_secret: config.ccClient.clientSecret,
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic' as const,
    },
  ],
  // Same shape as Latchkey's key set: an active and a next key per algorithm; the first of each alg signs.
  jwks: {
    keys: [
      signingKey('ES256', 'es-active'),
      signingKey('RS256', 'rs-active'),
      signingKey('ES256', 'es-next'),
      signingKey('RS256', 'rs-next'),
    ],
  } as Configuration['jwks'],
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  routes: {
    authorization: '/authorize',
    token: '/token',
    userinfo: '/userinfo',
    jwks: '/jwks',
    end_session: '/logout',
    revocation: '/revoke',
    introspection: '/introspect',
  },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'updated_at'],
    email: ['email', 'email_verified'],
  },
  conformIdTokenClaims: false,
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      claims: () => ({
        sub,
        name: 'Bench User',
        given_name: 'Bench',
        family_name: 'User',
        updated_at: 1_700_000_000,
        email: 'user@bench.example',
        email_verified: true,
      }),
    };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  clientDefaults: {
    grant_types: ['authorization_code'],
    id_token_signed_response_alg: 'RS256',
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  responseTypes: ['code'],
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  rotateRefreshToken: true,
  allowOmittingSingleRegisteredRedirectUri: false,
  ttl: {
    AccessToken: ttl.accessToken,
    AuthorizationCode: 60,
    ClientCredentials: ttl.accessToken,
    IdToken: 3600,
    Interaction: 3600,
    Session: ttl.session,
    Grant: ttl.refreshToken,
    RefreshToken: ttl.refreshToken,
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
      useGrantedResource: async () => false,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (resourceIndicator !== config.api.identifier) throw new errors.InvalidTarget();
        return {
          scope: 'read write',
          audience: config.api.identifier,
          accessTokenTTL: ttl.accessToken,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
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
};

const provider = new Provider(config.issuer, configuration);

// The bare engine with an argon2id login, as issue 17 measures it: each sign-in verifies one
// password against a hash of Latchkey's default parameters (19 MiB, t=2, one lane).
const PASSWORD = 'correct horse battery staple';
const passwordHash = await argon2.hash(PASSWORD, {
  type: argon2.argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

// The interaction "page": signs in a per-interaction account and approves what was asked, no form.
provider.use(async function autoInteraction(ctx: KoaContextWithOIDC, next: () => Promise<void>) {
  if (ctx.method !== 'GET' || !/^\/interaction\/[\w-]+$/.test(ctx.path)) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'login') {
    if (!(await argon2.verify(passwordHash, PASSWORD))) throw new Error('argon2 verify failed');
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId: `account-${details.uid}` } },
      { mergeWithLastSubmission: false },
    );
  } else {
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
      grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { consent: details.grantId ? {} : { grantId } },
      { mergeWithLastSubmission: true },
    );
  }
  ctx.respond = false;
});

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(config.port, '127.0.0.1');
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
