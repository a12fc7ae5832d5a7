import type { Context, Next } from 'koa';

/**
 * Every route a guard keys on, by name, from one table: the engine's endpoints (with the engine's
 * own route names, as ctx.oidc.route reports them) and our interaction pages. Guards ask which
 * route a request is (ctx.state.route, named once per request in app.ts), never compare paths.
 */

/** Paths of the engine's endpoints, as DESIGN.md's runtime contract names them (the engine's `routes` option). */
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

/** Our interaction pages (interactions/), mounted on @koa/router with these paths. */
export const PAGE_ROUTES = {
  interaction: '/interaction/:uid',
  login: '/interaction/:uid/login',
  abort: '/interaction/:uid/abort',
  /** Passwordless sign-in (JSON, views/assets/passkeys.js): a challenge for this sign-in, then its answer. */
  passkeyOptions: '/interaction/:uid/passkey/options',
  passkeyLogin: '/interaction/:uid/passkey/login',
  consent: '/interaction/:uid/consent',
  /** The second step of a sign-in: a code from an authenticator app or a recovery code. */
  secondFactor: '/interaction/:uid/second-factor',
  /** Setting up an authenticator app during sign-in (an app or the operator requires two factors). */
  secondFactorEnrol: '/interaction/:uid/enrol',
  /** A passkey as the second factor (JSON, views/assets/passkeys.js): a challenge for the account, then its answer. */
  secondFactorPasskeyOptions: '/interaction/:uid/second-factor/passkey/options',
  secondFactorPasskey: '/interaction/:uid/second-factor/passkey',
  /** Authorization and logout requests sent as a form (oidc/form-requests.ts): the engine's own paths, POST. */
  authorizationForm: ROUTES.authorization,
  endSessionForm: ROUTES.end_session,
  account: '/account',
  account_callback: '/account/callback',
  account_profile: '/account/profile',
  account_password: '/account/password',
  account_app_remove: '/account/apps/remove',
  account_session_end: '/account/sessions/end',
  account_sessions_end_others: '/account/sessions/end-others',
  account_delete: '/account/delete',
  account_email: '/account/email',
  /** Second factors on the account page: start and confirm an authenticator app, remove it, new recovery codes. */
  account_totp: '/account/mfa/totp',
  account_totp_confirm: '/account/mfa/totp/confirm',
  account_totp_remove: '/account/mfa/totp/remove',
  account_recovery_codes: '/account/mfa/recovery-codes',
  /** Passkeys on the account page: a registration challenge (JSON, asks the password), the new passkey (JSON), removal (form). */
  account_passkey_options: '/account/passkeys/options',
  account_passkey_add: '/account/passkeys/add',
  account_passkey_remove: '/account/passkeys/remove',
  /** The link mailed to a new address: GET shows a button, POST applies the change (signed in or not). */
  account_email_confirm: '/account/email/confirm',
  /** Sign-in stopped until the address is verified: "send again". */
  verifyEmailResend: '/interaction/:uid/verify-email',
  // The person's own flows by mail (interactions/self-service/): not tied to one interaction, as a
  // mailed link opens anywhere; the sign-in they came from rides along as ?interaction=<uid>.
  forgotPassword: '/forgot-password',
  resetPassword: '/reset-password',
  acceptInvitation: '/accept-invitation',
  verifyEmail: '/verify-email',
  signUp: '/sign-up',
  // The playground (playground/): served only when PLAYGROUND_ENABLED (development by default).
  playground: '/playground',
  playground_start: '/playground/start',
  playground_callback: '/playground/callback/:type',
  playground_action: '/playground/action',
} as const;

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
interface Entry {
  name: string;
  path: string;
  methods: readonly Method[];
  engine: boolean;
  /**
   * A page of a sign-in that reads its interaction (and session) through the engine's
   * interactionDetails and again in interactionFinished: app.ts gives it a read-ahead scope.
   */
  interaction?: true;
}

/**
 * The engine's routes as lib/helpers/initialize_app.js mounts them with our features, and ours.
 * OPTIONS is the engine's CORS preflight of the same path. Order matters as in the engine's router:
 * an exact path wins over one with a parameter for its methods only, so GET /device/auth is the
 * device resume path with uid "auth" (the device authorization endpoint is POST only).
 */
const TABLE = [
  { name: 'authorization', path: ROUTES.authorization, methods: ['GET'], engine: true },
  { name: 'token', path: ROUTES.token, methods: ['POST', 'OPTIONS'], engine: true },
  { name: 'userinfo', path: ROUTES.userinfo, methods: ['GET', 'POST', 'OPTIONS'], engine: true },
  { name: 'jwks', path: ROUTES.jwks, methods: ['GET', 'OPTIONS'], engine: true },
  { name: 'discovery', path: '/.well-known/openid-configuration', methods: ['GET', 'OPTIONS'], engine: true },
  { name: 'discovery', path: '/.well-known/oauth-authorization-server', methods: ['GET', 'OPTIONS'], engine: true },
  { name: 'end_session', path: ROUTES.end_session, methods: ['GET'], engine: true },
  { name: 'end_session_confirm', path: `${ROUTES.end_session}/confirm`, methods: ['POST'], engine: true },
  { name: 'end_session_success', path: `${ROUTES.end_session}/success`, methods: ['GET'], engine: true },
  { name: 'revocation', path: ROUTES.revocation, methods: ['POST', 'OPTIONS'], engine: true },
  { name: 'introspection', path: ROUTES.introspection, methods: ['POST', 'OPTIONS'], engine: true },
  { name: 'code_verification', path: ROUTES.code_verification, methods: ['GET', 'POST'], engine: true },
  { name: 'device_authorization', path: ROUTES.device_authorization, methods: ['POST', 'OPTIONS'], engine: true },
  {
    name: 'pushed_authorization_request',
    path: ROUTES.pushed_authorization_request,
    methods: ['POST', 'OPTIONS'],
    engine: true,
  },
  { name: 'registration', path: ROUTES.registration, methods: ['POST'], engine: true },
  { name: 'resume', path: `${ROUTES.authorization}/:uid`, methods: ['GET'], engine: true },
  { name: 'device_resume', path: `${ROUTES.code_verification}/:uid`, methods: ['GET'], engine: true },
  { name: 'client', path: `${ROUTES.registration}/:clientId`, methods: ['GET'], engine: true },
  { name: 'client_update', path: `${ROUTES.registration}/:clientId`, methods: ['PUT'], engine: true },
  { name: 'client_delete', path: `${ROUTES.registration}/:clientId`, methods: ['DELETE'], engine: true },
  { name: 'interaction', path: PAGE_ROUTES.interaction, methods: ['GET'], engine: false, interaction: true },
  { name: 'login', path: PAGE_ROUTES.login, methods: ['POST'], engine: false, interaction: true },
  { name: 'abort', path: PAGE_ROUTES.abort, methods: ['POST'], engine: false, interaction: true },
  { name: 'passkey_options', path: PAGE_ROUTES.passkeyOptions, methods: ['POST'], engine: false, interaction: true },
  { name: 'passkey_login', path: PAGE_ROUTES.passkeyLogin, methods: ['POST'], engine: false, interaction: true },
  { name: 'consent', path: PAGE_ROUTES.consent, methods: ['POST'], engine: false, interaction: true },
  { name: 'second_factor', path: PAGE_ROUTES.secondFactor, methods: ['POST'], engine: false, interaction: true },
  {
    name: 'second_factor_enrol',
    path: PAGE_ROUTES.secondFactorEnrol,
    methods: ['POST'],
    engine: false,
    interaction: true,
  },
  {
    name: 'second_factor_passkey_options',
    path: PAGE_ROUTES.secondFactorPasskeyOptions,
    methods: ['POST'],
    engine: false,
    interaction: true,
  },
  {
    name: 'second_factor_passkey',
    path: PAGE_ROUTES.secondFactorPasskey,
    methods: ['POST'],
    engine: false,
    interaction: true,
  },
  { name: 'authorization_form', path: PAGE_ROUTES.authorizationForm, methods: ['POST'], engine: false },
  { name: 'end_session_form', path: PAGE_ROUTES.endSessionForm, methods: ['POST'], engine: false },
  { name: 'account', path: PAGE_ROUTES.account, methods: ['GET'], engine: false },
  { name: 'account_callback', path: PAGE_ROUTES.account_callback, methods: ['GET'], engine: false },
  { name: 'account_profile', path: PAGE_ROUTES.account_profile, methods: ['POST'], engine: false },
  { name: 'account_password', path: PAGE_ROUTES.account_password, methods: ['POST'], engine: false },
  { name: 'account_app_remove', path: PAGE_ROUTES.account_app_remove, methods: ['POST'], engine: false },
  { name: 'account_session_end', path: PAGE_ROUTES.account_session_end, methods: ['POST'], engine: false },
  {
    name: 'account_sessions_end_others',
    path: PAGE_ROUTES.account_sessions_end_others,
    methods: ['POST'],
    engine: false,
  },
  { name: 'account_delete', path: PAGE_ROUTES.account_delete, methods: ['POST'], engine: false },
  { name: 'account_email', path: PAGE_ROUTES.account_email, methods: ['POST'], engine: false },
  { name: 'account_totp', path: PAGE_ROUTES.account_totp, methods: ['POST'], engine: false },
  { name: 'account_totp_confirm', path: PAGE_ROUTES.account_totp_confirm, methods: ['POST'], engine: false },
  { name: 'account_totp_remove', path: PAGE_ROUTES.account_totp_remove, methods: ['POST'], engine: false },
  { name: 'account_recovery_codes', path: PAGE_ROUTES.account_recovery_codes, methods: ['POST'], engine: false },
  { name: 'account_passkey_options', path: PAGE_ROUTES.account_passkey_options, methods: ['POST'], engine: false },
  { name: 'account_passkey_add', path: PAGE_ROUTES.account_passkey_add, methods: ['POST'], engine: false },
  { name: 'account_passkey_remove', path: PAGE_ROUTES.account_passkey_remove, methods: ['POST'], engine: false },
  { name: 'account_email_confirm', path: PAGE_ROUTES.account_email_confirm, methods: ['GET', 'POST'], engine: false },
  {
    name: 'verify_email_resend',
    path: PAGE_ROUTES.verifyEmailResend,
    methods: ['POST'],
    engine: false,
    interaction: true,
  },
  { name: 'forgot_password', path: PAGE_ROUTES.forgotPassword, methods: ['GET', 'POST'], engine: false },
  { name: 'reset_password', path: PAGE_ROUTES.resetPassword, methods: ['GET', 'POST'], engine: false },
  { name: 'accept_invitation', path: PAGE_ROUTES.acceptInvitation, methods: ['GET', 'POST'], engine: false },
  { name: 'verify_email', path: PAGE_ROUTES.verifyEmail, methods: ['GET', 'POST'], engine: false },
  { name: 'sign_up', path: PAGE_ROUTES.signUp, methods: ['GET', 'POST'], engine: false },
  { name: 'playground', path: PAGE_ROUTES.playground, methods: ['GET'], engine: false },
  { name: 'playground_start', path: PAGE_ROUTES.playground_start, methods: ['POST'], engine: false },
  { name: 'playground_callback', path: PAGE_ROUTES.playground_callback, methods: ['GET'], engine: false },
  { name: 'playground_action', path: PAGE_ROUTES.playground_action, methods: ['POST'], engine: false },
] as const satisfies readonly Entry[];

export type RouteName = (typeof TABLE)[number]['name'];

declare module 'koa' {
  interface DefaultState {
    /** The route this request is (app.ts names it before any guard runs); undefined for other paths. */
    route?: RouteName | undefined;
  }
}

const compiled = TABLE.map((entry) => ({ ...entry, segments: entry.path.split('/') as readonly string[] }));
const ENGINE_NAMES = new Set<RouteName>(TABLE.filter((entry) => entry.engine).map((entry) => entry.name));
const INTERACTION_NAMES = new Set<RouteName>(
  TABLE.filter((entry) => 'interaction' in entry).map((entry) => entry.name),
);

function matches(segments: readonly string[], parts: readonly string[]): boolean {
  if (segments.length !== parts.length) return false;
  return segments.every((segment, i) => (segment.startsWith(':') ? parts[i] !== '' : segment === parts[i]));
}

/**
 * A path as loosely as anything in front of a handler could read it: both routers fold ASCII case
 * and accept one trailing slash (the engine's lib/helpers/router.js; @koa/router, not strict and
 * not sensitive), and a proxy may decode escapes or merge slashes. Only ASCII is folded: neither
 * router folds another character into an ASCII letter.
 */
function looseParts(path: string): string[] {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape stays as written.
  }
  const folded = decoded.replace(/[A-Z]/g, (letter) => letter.toLowerCase()).replace(/\/{2,}/g, '/');
  return (folded.length > 1 ? folded.replace(/\/+$/, '') : folded).split('/');
}

export type RouteMatch = { name: RouteName; canonical: boolean };

/**
 * Which route a request is. `canonical: true` for the path as the table writes it (parameters
 * aside) with one of the route's methods (HEAD as GET). `canonical: false` for another spelling of
 * a route's path (case, trailing slash, escapes, doubled slashes), whatever the method: app.ts
 * refuses those with 404, so no router ever serves a route under a name the guards do not know.
 * Undefined for every other path, and for a route's own path with a method it does not have
 * (which nothing serves: the routers answer 404 or 405).
 */
export function routeOf(method: string, path: string): RouteMatch | undefined {
  const verb = method === 'HEAD' ? 'GET' : method;
  const parts = path.split('/');
  let known = false;
  for (const entry of compiled) {
    if (!matches(entry.segments, parts)) continue;
    if ((entry.methods as readonly string[]).includes(verb)) return { name: entry.name, canonical: true };
    known = true;
  }
  if (known) return undefined;
  const loose = looseParts(path);
  const variant = compiled.find((entry) => matches(entry.segments, loose));
  return variant ? { name: variant.name, canonical: false } : undefined;
}

/**
 * The methods the table has for this exact path (HEAD with GET) and the first route on it, or
 * undefined when no route has the path: a request with another method gets 405 and these methods
 * in `Allow` (RFC 9110 §15.5.6), answered as that route answers its errors (JSON or a page).
 */
export function methodsAt(path: string): { route: RouteName; methods: Method[] } | undefined {
  const parts = path.split('/');
  const methods = new Set<Method>();
  let route: RouteName | undefined;
  for (const entry of compiled) {
    if (!matches(entry.segments, parts)) continue;
    route ??= entry.name;
    for (const method of entry.methods) methods.add(method);
  }
  if (!route) return undefined;
  if (methods.has('GET')) methods.add('HEAD');
  return { route, methods: [...methods] };
}

/** Whether the engine serves this route (the rest of the table is our interaction pages). */
export function isEngineRoute(name: RouteName | undefined): boolean {
  return name !== undefined && ENGINE_NAMES.has(name);
}

/** The routes the engine serves. */
export function engineRouteNames(): RouteName[] {
  return [...ENGINE_NAMES];
}

/** Whether the route is a page of a sign-in that reads its interaction (Entry.interaction). */
export function readsInteraction(route: RouteName | undefined): boolean {
  return route !== undefined && INTERACTION_NAMES.has(route);
}

/**
 * A check that runs before the engine on the routes it names, and on no other: app.ts composes each
 * engine route's chain once, at start, so a request passes only the checks of its own route.
 */
export interface EngineGuard {
  routes: readonly RouteName[];
  /** Only requests with these methods pass the check (the others of its routes skip it); all when absent. */
  methods?: readonly Method[];
  check(ctx: Context, next: Next): Promise<void>;
}
