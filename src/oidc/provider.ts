import { decodeJwt } from 'jose';
import Provider, {
  type Client,
  type Configuration,
  errors,
  interactionPolicy,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import { claimsFor } from '../accounts/accounts.ts';
import { type AccountRow, type AccountStore, isSignedOut } from '../accounts/store.ts';
import { generateClientId, generateClientSecret } from '../clients/clients.ts';
import { REQUIRE_PKCE } from '../clients/pkce.ts';
import { REQUIRE_MFA } from '../clients/require-mfa.ts';
import { API_SCOPES, OIDC_SCOPES } from '../clients/scopes.ts';
import { STRICT_AUTH_METHOD, strictClientAuth } from '../clients/strict-auth.ts';
import { REQUIRE_VERIFIED_EMAIL } from '../clients/verified-email.ts';
import type { Config } from '../config.ts';
import { ROUTES } from '../http/routes.ts';
import type { Logger } from '../observability/logger.ts';
import type { ApiResourceStore } from './api-resource-store.ts';
import { defaultApiTokenTtl } from './api-resources.ts';
import { createOutboundFetch } from './backchannel.ts';
import { applyConsent, type ConsentStore, type RememberedConsent } from './consent-store.ts';
import type { KeyMaterial } from './keys.ts';
import { createRegistrationPolicy, REGISTRATION_POLICY } from './registration.ts';

/** What the engine calls back into: our pages for errors and logout, built in interactions/. */
export interface ProviderPages {
  renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error: Error): Promise<void>;
  logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void>;
}

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;
/** The device flow's pages (RFC 8628), built in interactions/device.ts. */
export type DeviceFlowPages = Required<
  Pick<DeviceFlowFeature, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'>
>;

export interface ProviderDeps {
  config: Config;
  adapter: (model: string) => NonNullable<ReturnType<Extract<Configuration['adapter'], (name: string) => unknown>>>;
  keys: KeyMaterial;
  accounts: Pick<AccountStore, 'findById'>;
  /** The account a token read ahead in this request belongs to (oidc/read-ahead.ts), if any. */
  accountReadAhead?: (id: string) => AccountRow | undefined;
  /** Undoes this request's consume of a code or refresh token (oidc/read-ahead.ts restoreConsumed). */
  restoreConsumed?: () => Promise<void>;
  apis: ApiResourceStore;
  consents: Pick<ConsentStore, 'find' | 'rememberImplied'>;
  pages: ProviderPages;
  device: DeviceFlowPages;
  log: Logger;
  /** Second factors: the acr values offered and when an authorization needs two factors (mfa/policy.ts). */
  secondFactor: SecondFactorPolicy;
}

/**
 * The account page's own client (account/routes.ts): a static, first-party, public client whose
 * only redirect URI is the page's callback, so that the page signs people in through the same
 * /authorize and sign-in page as every app. It never redeems its codes (the callback destroys them).
 */
export const ACCOUNT_CLIENT_ID = 'latchkey-account';
export const accountCallbackUri = (issuer: string) => `${issuer}/account/callback`;

/**
 * Error codes the engine gives where RFC 6749 §5.2 names another; every other response is left alone.
 * - A client using a grant type it is not registered for gets unauthorized_client (and RFC 8628
 *   §3.2); the engine says invalid_request after authenticating it (actions/token.js
 *   allowedGrantTypeCheck, actions/authorization/client.js checkClientGrantType).
 * - A request with no client authentication at all gets invalid_client, 401, with the scheme to
 *   use (RFC 6749 §5.2 "no client authentication included", RFC 9110 §11.6.1); the engine says
 *   invalid_request (lib/shared/client_auth.js). A malformed credential stays invalid_request.
 */
const GRANT_CHECK_ROUTES = new Set(['token', 'device_authorization']);
const GRANT_NOT_ALLOWED = / is not allowed for this client$/;
const CLIENT_AUTH_ROUTES = new Set([
  'token',
  'introspection',
  'revocation',
  'device_authorization',
  'pushed_authorization_request',
]);
const NO_CLIENT_AUTH = 'no client authentication mechanism provided';
function correctErrorCodes(ctx: KoaContextWithOIDC, next: () => Promise<unknown>) {
  // Every such route is a POST: the rest (discovery, /jwks, /authorize's GET) pass straight through.
  return ctx.method === 'POST' ? correctErrorCode(ctx, next) : next();
}

async function correctErrorCode(ctx: KoaContextWithOIDC, next: () => Promise<unknown>) {
  await next();
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (ctx.status !== 400 || body?.error !== 'invalid_request' || typeof body.error_description !== 'string') return;
  const route = ctx.oidc?.route;
  if (GRANT_CHECK_ROUTES.has(route) && GRANT_NOT_ALLOWED.test(body.error_description)) {
    ctx.body = { ...body, error: 'unauthorized_client' };
  } else if (CLIENT_AUTH_ROUTES.has(route) && body.error_description === NO_CLIENT_AUTH) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', `Basic realm="${ctx.oidc.issuer}"`);
    ctx.body = { error: 'invalid_client', error_description: 'client authentication is required' };
  }
}

/**
 * RFC 8707 §2: a token request for a resource it may not have is refused with invalid_target, an
 * error in the request like any other of RFC 6749 §5.2. The engine consumes the code or refresh
 * token before it resolves the resource (lib/actions/grants/*: consume, then resolveResource and
 * getResourceServerInfo), so that refusal would spend it: the client's corrected retry would be
 * taken for a replay and revoke the grant. The consume is undone instead, and the tokens the
 * request made before it was refused (a rotated refresh token) are not written. Meanwhile a
 * simultaneous use of the same code or token sees it consumed: a replay, as two simultaneous uses
 * always are. With a refresh token reuse grace nothing is undone (adapter.ts consume): the grace
 * lets the corrected retry through.
 */
function keepGrantSourceOnInvalidTarget(restoreConsumed: () => Promise<void>) {
  return async function keepGrantSource(ctx: KoaContextWithOIDC, next: () => Promise<unknown>) {
    await next();
    const body = ctx.body as { error?: unknown } | undefined;
    if (ctx.oidc?.route === 'token' && ctx.status === 400 && body?.error === 'invalid_target') await restoreConsumed();
  };
}

/**
 * Introspection (RFC 7662) and revocation (RFC 7009) answer only the client the token was issued
 * to. The engine's defaults let any confidential client introspect any token, and answer another
 * client's revocation with an error, which confirms the token exists; here both answer as for an
 * unknown token. API access tokens are JWTs that APIs verify offline with /jwks; the engine
 * refuses to introspect or revoke those (unsupported_token_type), so no API needs a credential here.
 */
async function ownTokenOnly(
  _ctx: KoaContextWithOIDC,
  client: Client,
  token: { clientId?: string | undefined },
): Promise<boolean> {
  return token.clientId === client.clientId;
}

/**
 * Second factors as the engine sees them (built in mfa/policy.ts, which owns the acr values):
 * what discovery lists as acr_values_supported, whether an authorization needs two factors, and
 * whether a session's acr already says two were used.
 */
export interface SecondFactorPolicy {
  acrValues: string[];
  required(request: { acrValues: unknown; clientRequiresMfa: boolean }): boolean;
  satisfiedBy(sessionAcr: string | undefined): boolean;
}

/**
 * The login prompt's reason when the authorization needs a second factor and the session has had
 * only one (a step-up: our page then asks the session's account for its second factor, or to set
 * one up, without the password again; interactions/second-factor.ts).
 */
export const SECOND_FACTOR_REQUIRED = 'second_factor_required';

/** The login prompt's reason when a verified address is needed and the account has none. */
export const EMAIL_NOT_VERIFIED = 'email_not_verified';
/**
 * The reason of a sign-in asked for again because the person signed in as someone other than the
 * app's id_token_hint names (the sign-in page says so).
 */
export const OTHER_ACCOUNT_THAN_HINTED = 'id_token_hint_other_account';

/** The subject an id_token_hint names: the engine verified its signature at /authorize. */
function hintedSubject(hint: string): string | undefined {
  try {
    const { sub } = decodeJwt(hint);
    return sub;
  } catch {
    return undefined;
  }
}

/** What findAccount adds to the engine's account for the login checks below. */
interface FoundAccount {
  emailVerified: boolean;
  /** Signed up while SIGNUP_REQUIRE_VERIFIED_EMAIL is on: no sign-in completes until the address is verified. */
  mustVerifyEmail: boolean;
}

/**
 * The engine's prompts plus one login check: a session whose account findAccount no longer finds
 * (disabled, deleted, or signed out everywhere since the session's login) must sign in again.
 * Without it the engine goes on to consent with no account and fails with server_error.
 */
function promptsWithAccountCheck(secondFactor: SecondFactorPolicy): interactionPolicy.DefaultPolicy {
  const { base, Check } = interactionPolicy;
  const policy = base();
  policy
    .get('login')!
    .checks.add(
      new Check('account_unavailable', 'End-User authentication is required', 'login_required', (ctx) =>
        ctx.oidc.session?.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
      ),
    );
  // An app that needs a verified address (clients --require-verified-email), or an account made on
  // the sign-up page while SIGNUP_REQUIRE_VERIFIED_EMAIL is on: sign-in stops at our "verify your
  // email" page (interactions/email-verification.ts), for a new sign-in and an existing session
  // alike, until the address is verified; with prompt=none the app gets login_required.
  policy.get('login')!.checks.add(
    new Check(EMAIL_NOT_VERIFIED, 'End-User email address is not verified', 'login_required', (ctx) => {
      const account = ctx.oidc.account as FoundAccount | undefined;
      return account?.emailVerified === false &&
        (account.mustVerifyEmail || ctx.oidc.client?.[REQUIRE_VERIFIED_EMAIL] === true)
        ? Check.REQUEST_PROMPT
        : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // OpenID Connect Core §3.1.2.1: with id_token_hint, only the End-User it names gets a positive
  // response. The engine compares the hint with the session at /authorize; once the person has
  // signed in (the resume) the hint is no longer read, so one who signed in as someone else is
  // asked to sign in again (with prompt=none the app gets login_required). Subjects are account
  // ids (no pairwise subjects).
  policy.get('login')!.checks.add(
    new Check(
      OTHER_ACCOUNT_THAN_HINTED,
      'id_token_hint and authenticated subject do not match',
      'login_required',
      (ctx) => {
        const hint = ctx.oidc.params?.id_token_hint;
        const accountId = ctx.oidc.session?.accountId;
        if (typeof hint !== 'string' || !accountId) return Check.NO_NEED_TO_PROMPT;
        return hintedSubject(hint) === accountId ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
      },
    ),
  );
  // An app that needs two factors (acr_values=urn:latchkey:acr:mfa, clients --require-mfa,
  // MFA_REQUIRED) and a session signed in with a password alone: the person is asked for a second
  // factor (or to set one up) inside the existing session; with prompt=none the app gets
  // login_required. max_age and prompt=login are the engine's own checks and still apply.
  policy.get('login')!.checks.add(
    new Check(SECOND_FACTOR_REQUIRED, 'a second authentication factor is required', 'login_required', (ctx) => {
      const session = ctx.oidc.session;
      if (!session?.accountId || !ctx.oidc.account) return Check.NO_NEED_TO_PROMPT;
      const needed = secondFactor.required({
        acrValues: ctx.oidc.params?.acr_values,
        clientRequiresMfa: ctx.oidc.client?.[REQUIRE_MFA] === true,
      });
      return needed && !secondFactor.satisfiedBy(session.acr) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

/**
 * What this authorization asks for that the grant lacks (of a new grant: all it asks for), or
 * undefined: the same three checks as the engine's consent prompt
 * (lib/helpers/interaction_policy/prompts/consent.js), OpenID scopes, claims and each API's scopes.
 */
function missingFrom(grant: InstanceType<Provider['Grant']>, ctx: KoaContextWithOIDC): RememberedConsent | undefined {
  const granted = new Set((grant.getOIDCScope() ?? '').split(' '));
  const grantedClaims = new Set(grant.getOIDCClaims());
  const missing: RememberedConsent = {
    scopes: [...ctx.oidc.requestParamOIDCScopes].filter((scope) => !granted.has(scope)),
    claims: [...ctx.oidc.requestParamClaims].filter((claim) => !grantedClaims.has(claim)),
    resources: {},
  };
  for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers ?? {})) {
    const encountered = new Set(grant.getResourceScopeEncountered(indicator).split(' '));
    const scopes = [...ctx.oidc.requestParamScopes].filter(
      (scope) => server.scopes.has(scope) && !encountered.has(scope),
    );
    if (scopes.length > 0) missing.resources[indicator] = scopes;
  }
  const nothing =
    missing.scopes.length === 0 && missing.claims.length === 0 && Object.keys(missing.resources).length === 0;
  return nothing ? undefined : missing;
}

/**
 * The engine's configuration. Every `@important` option of oidc-provider is set here: adapter,
 * keys, cookie keys, findAccount, interactions, resource servers, TTLs. Protocol checks (PKCE,
 * redirect URI matching, scope handling) are the engine's; we only choose the policy.
 */
export function createProvider(deps: ProviderDeps): Provider {
  const { config, keys, accounts, apis, consents, pages, device, log } = deps;
  const secure = config.issuer.startsWith('https://');
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, signed: true, overwrite: true, secure };

  const configuration: Configuration = {
    adapter: deps.adapter,
    clients: [
      {
        client_id: ACCOUNT_CLIENT_ID,
        client_name: 'Account',
        redirect_uris: [accountCallbackUri(config.issuer)],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        scope: 'openid',
        first_party: true,
      },
    ],
    jwks: keys.jwks as Configuration['jwks'],
    cookies: { keys: keys.cookieSigner, long: cookieOptions, short: cookieOptions },
    routes: ROUTES,
    scopes: OIDC_SCOPES,
    claims: {
      // acr and amr (RFC 8176, mfa/acr.ts) as the sign-in set them (interactions/login.ts,
      // second-factor.ts, passkey-login.ts): in every ID token, asked for or not, so an app can
      // tell a passkey or two factors from a password (userinfo has neither: not account claims).
      openid: ['sub', 'acr', 'amr'],
      profile: ['name', 'given_name', 'family_name', 'updated_at'],
      email: ['email', 'email_verified'],
    },
    // Keycloak and Auth0 put the scope's claims in the ID token too; apps expect to find them there.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub, token) {
      // On the token and userinfo endpoints the account came with the token's read (read-ahead.ts),
      // at the resume with the interaction's, a statement or two earlier in this request; elsewhere
      // it is read now.
      const account = deps.accountReadAhead?.(sub) ?? (await accounts.findById(sub));
      // A disabled account gets no new tokens, not even by refresh.
      if (!account || account.disabled) return undefined;
      // Signed out everywhere (users set-password, revoke-grants): the session, code or token
      // authenticated before that is refused, even one a request in flight saved again after the
      // rows were deleted. Codes, refresh and device codes carry the login's auth_time; access tokens their iat.
      const authTime = token
        ? 'authTime' in token && typeof token.authTime === 'number'
          ? token.authTime
          : token.iat
        : ctx.oidc?.session?.loginTs;
      if (isSignedOut(account, authTime)) return undefined;
      const found: FoundAccount = {
        emailVerified: account.email_verified,
        mustVerifyEmail: account.signed_up_at !== null && config.flows.signUpRequiresVerifiedEmail,
      };
      return {
        ...found,
        accountId: account.id,
        claims: (_use, scope) => claimsFor(account, scope),
      };
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: promptsWithAccountCheck(deps.secondFactor),
    },
    // acr_values_supported in discovery; the ID token's acr and amr are the session's (the login
    // result of interactions/second-factor.ts and login.ts, by mfa/acr.ts authenticationOf).
    acrValues: deps.secondFactor.acrValues,
    // A grant per authorization, started from the consent remembered for this person and app
    // (consent.ts writes it): reuse of a refresh token revokes its grant, and so ends that one
    // authorization's chain, not every device and browser the person uses the app on. Within
    // one browser session, authorizations without offline_access share the session's grant
    // (they carry no refresh token); each one with offline_access gets its own, saved only once
    // the person consents: the engine keeps offline_access only with prompt=consent, so the
    // consent page always follows and saves it (consent.ts), and an /authorize that is abandoned
    // (or that a page sends a signed-in browser to, again and again) leaves no grant behind.
    async loadExistingGrant(ctx) {
      const client = ctx.oidc.client!;
      const session = ctx.oidc.session!;
      const { Grant } = ctx.oidc.provider;
      const accountId = session.accountId;
      if (!accountId) return undefined;
      const ours = (grant: InstanceType<typeof Grant> | undefined) =>
        grant?.accountId === accountId && grant.clientId === client.clientId ? grant : undefined;
      // Resuming: the grant consent wrote, or the one this authorization began with.
      const resumed = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.entities.Interaction?.grantId;
      if (resumed) {
        const grant = ours(await Grant.find(resumed));
        if (grant) return grant;
      }
      const sessionGrantId = session.grantIdFor(client.clientId);
      const offline = String(ctx.oidc.params?.scope ?? '')
        .split(' ')
        .includes('offline_access');
      if (sessionGrantId && !offline) {
        const grant = ours(await Grant.find(sessionGrantId));
        if (grant) return grant;
      }
      // A first-party app's approval is implied (interactions/consent.ts): what it asks for is
      // granted here, so the sign-in returns to the app without a consent step and the round trip
      // through it. Not with offline_access or prompt=consent: those take the consent step, where
      // a first-party app's approval is implied too. What it asks for beyond what is remembered is
      // remembered and recorded (consent.implied) by the same statement that reads it.
      const implied = client.first_party === true && !offline && !ctx.oidc.prompts.has('consent');
      const grant = new Grant({ accountId, clientId: client.clientId });
      const asks = implied ? missingFrom(grant, ctx) : undefined;
      const consent = asks
        ? (await consents.rememberImplied(accountId, client.clientId, asks)).consent
        : await consents.find(accountId, client.clientId);
      if (!consent && !implied) return undefined;
      if (consent) applyConsent(grant, consent);
      // Without a consent prompt to come (a device's confirmation), the code or token is issued
      // in this request and names the grant: it must exist.
      if (!(offline && ctx.oidc.promptPending('consent'))) await grant.save();
      return grant;
    },
    extraClientMetadata: {
      properties: ['first_party', STRICT_AUTH_METHOD, API_SCOPES, REQUIRE_PKCE, REQUIRE_VERIFIED_EMAIL, REQUIRE_MFA],
      validator(_ctx, key, value) {
        if (key === API_SCOPES && value !== undefined && typeof value !== 'string') {
          throw new errors.InvalidClientMetadata(`${key} must be a string`);
        }
        if (
          (key === 'first_party' ||
            key === STRICT_AUTH_METHOD ||
            key === REQUIRE_PKCE ||
            key === REQUIRE_VERIFIED_EMAIL ||
            key === REQUIRE_MFA) &&
          value !== undefined &&
          typeof value !== 'boolean'
        ) {
          throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
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
    // PKCE (S256 only) is required of public clients and of confidential clients registered since
    // migration 0006 unless an operator allowed them to skip it (OAuth 2.1, RFC 9700 §2.1.1); the
    // engine verifies it whenever a challenge was sent.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' || client[REQUIRE_PKCE] === true },
    // Refresh tokens: issued only when the authorization asked for `offline_access` together with
    // `prompt=consent` (OpenID Connect Core 11) and the client has the refresh_token grant; without
    // prompt=consent the engine silently drops offline_access and no refresh token is issued.
    // Every use rotates the token, for confidential clients too; a rotated one presented again
    // revokes the whole grant (its newest refresh token and its access tokens included).
    rotateRefreshToken: true,
    allowOmittingSingleRegisteredRedirectUri: false,
    ttl: {
      // A token for an API lives as long as that API says (getResourceServerInfo below).
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      AuthorizationCode: config.ttl.authorizationCode,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      DeviceCode: 600,
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      // A grant's first lifetime; each refresh token written moves it up to that token's expiry
      // (payload-store.ts), so a chain in use lasts (up to its year) and an abandoned grant ends.
      Grant: Math.max(config.ttl.refreshToken, config.ttl.session),
      RefreshToken(_ctx, token) {
        // A rotated token may not outlive the chain's first issue by more than a year.
        return token.totalLifetime() >= 365 * 24 * 3600 ? 1 : config.ttl.refreshToken;
      },
    },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      introspection: { enabled: true, allowedPolicy: ownTokenOnly },
      revocation: { enabled: true, allowedPolicy: ownTokenOnly },
      // Confidential clients registered with the grant (a public client cannot have it: clients.ts).
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logoutSource(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.postLogoutSuccessSource(ctx),
      },
      // Logout tokens to each client of the session that registered a backchannel_logout_uri;
      // delivered in the background with retries (backchannel.ts), never holding up the person.
      backchannelLogout: { enabled: true },
      deviceFlow: {
        enabled: true,
        // 8 characters of 20 consonants: about 34 bits, with wrong entries rate limited (device.ts).
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: device.userCodeInputSource,
        userCodeConfirmSource: device.userCodeConfirmSource,
        successSource: device.successSource,
      },
      // Sender-constrained tokens (RFC 9449); proofs are single-use (ReplayDetection rows).
      dPoP: { enabled: true, allowReplay: false },
      // PAR (RFC 9126) for every client; a client registered with require_pushed_authorization_requests must use it.
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: false,
        allowUnregisteredRedirectUris: false,
      },
      registration: {
        enabled: config.registrationEnabled,
        // Registering needs an initial access token (`latchkey clients initial-access-token`).
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        policies: { [REGISTRATION_POLICY]: createRegistrationPolicy(deps.adapter('InitialAccessToken')) },
        // The same ids and 256-bit secrets as clients.ts generates for the CLI.
        idFactory: () => generateClientId(),
        secretFactory: async () => generateClientSecret(),
      },
      registrationManagement: { enabled: config.registrationEnabled, rotateRegistrationAccessToken: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx, resourceIndicator, client) {
          const api = await apis.findByIdentifier(resourceIndicator);
          if (!api) throw new errors.InvalidTarget(`resource ${resourceIndicator} is not a registered API`);
          // A client registered with a scope list gets only those of the API's scopes (the engine
          // checks a client's scope list against OpenID scopes only).
          const listed = client[API_SCOPES];
          const allowed = typeof listed === 'string' ? new Set(listed.split(' ')) : undefined;
          return {
            scope: (allowed ? api.scopes.filter((scope) => allowed.has(scope)) : api.scopes).join(' '),
            audience: api.identifier,
            accessTokenTTL: api.access_token_ttl ?? defaultApiTokenTtl(config.ttl.accessToken),
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: api.signing_alg as 'ES256' | 'RS256' } },
          };
        },
      },
    },
    // What clients.ts lets a client register; client_secret_jwt is not offered.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // Outgoing requests keep the engine's SSRF guard; loopback only with ALLOW_LOOPBACK_OUTBOUND.
    fetch: createOutboundFetch({ allowLoopback: config.allowLoopbackOutbound, log }),
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'Ed25519', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256', 'ES256'],
      userinfoSigningAlgValues: ['RS256', 'ES256'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
    },
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false,
    renderError: (ctx, out, error) => pages.renderError(ctx, out, error),
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  // A client registered with an explicit client_secret_basic/post may use only that one.
  provider.use(strictClientAuth());
  provider.use(correctErrorCodes);
  if (deps.restoreConsumed) provider.use(keepGrantSourceOnInvalidTarget(deps.restoreConsumed));
  // server_error is logged by guardEngine (security/engine-failures.ts), which tells an outage from a bug.
  for (const event of [
    'grant.error',
    'authorization.error',
    'introspection.error',
    'revocation.error',
    'userinfo.error',
    'end_session.error',
    'device_authorization.error',
    'code_verification.error',
    'device_resume.error',
    'pushed_authorization_request.error',
    'registration_create.error',
    'registration_read.error',
    'registration_update.error',
    'registration_delete.error',
  ] as const) {
    (
      provider.on as (
        name: string,
        listener: (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError) => void,
      ) => Provider
    )(event, (ctx, err) =>
      log.info(
        {
          event,
          route: ctx.oidc?.route,
          client_id: ctx.oidc?.client?.clientId,
          error: err.error,
          error_detail: err.error_detail,
        },
        err.error_description ?? err.message,
      ),
    );
  }
  provider.on('backchannel.error', (_ctx, err, client) =>
    log.warn({ event: 'backchannel.error', client_id: client.clientId, err }, 'logout token not sent'),
  );
  for (const event of ['registration_create.success', 'registration_update.success', 'registration_delete.success']) {
    (provider.on as (name: string, listener: (ctx: KoaContextWithOIDC, client: Client) => void) => Provider)(
      event,
      (_ctx, client) =>
        log.info(
          {
            event: event.replace('.success', ''),
            client_id: client.clientId,
          },
          'dynamically registered client changed',
        ),
    );
  }
  provider.on('grant.success', (ctx: KoaContextWithOIDC) =>
    log.debug(
      {
        event: 'grant.success',
        client_id: ctx.oidc.client?.clientId,
        grant_type: ctx.oidc.params?.grant_type,
      },
      'token issued',
    ),
  );
  return provider;
}
