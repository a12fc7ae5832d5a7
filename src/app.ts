import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { emailChangeRoutes } from './account/email-change.ts';
import { type AccountPageDeps, accountRoutes } from './account/routes.ts';
import type { Config } from './config.ts';
import { isDatabaseUnavailable, isUnstorableInput, UNSTORABLE_DESCRIPTION } from './db/errors.ts';
import type { Pool } from './db/pool.ts';
import { renderErrorPage, unavailable } from './http/responses.ts';
import {
  type EngineGuard,
  engineRouteNames,
  isEngineRoute,
  type Method,
  methodsAt,
  type RouteName,
  readsInteraction,
  routeOf,
} from './http/routes.ts';
import { type InteractionDeps, interactionRoutes } from './interactions/routes.ts';
import { VIEWS_DIR, type Views } from './interactions/views.ts';
import { healthRoutes } from './observability/health.ts';
import type { Logger } from './observability/logger.ts';
import type { Outage } from './observability/outage.ts';
import { requestLog } from './observability/request-log.ts';
import { formRequestRoutes } from './oidc/form-requests.ts';
import { PUBLISHED_ROUTES, publishedDocuments } from './oidc/published-documents.ts';
import type { ReadAhead } from './oidc/read-ahead.ts';
import { type PlaygroundDeps, playgroundRoutes } from './playground/routes.ts';
import { frontChannelParameterLimit } from './security/request-limits.ts';
import { requireHttps } from './security/require-https.ts';

/**
 * The engine routes that find codes and tokens (by value, then their grant and session): each of
 * these requests gets a read-ahead of its own (oidc/read-ahead.ts); the others need none.
 */
const READS_TOKENS: RouteName[] = ['introspection', 'userinfo', 'revocation'];
/**
 * The engine routes whose saves are held and written together, in one statement and one commit,
 * when the engine is done and before the answer goes out: the token route's tokens, and the
 * resumed authorization's grant, code and session (three commits each otherwise).
 */
const HOLDS_SAVES: RouteName[] = ['token', 'resume'];
/** Back-channel endpoints: their callers are programs, so a failure is RFC 6749 JSON whatever they accept. */
const NO_PAGES = new Set<RouteName | undefined>([
  ...READS_TOKENS,
  'token',
  'registration',
  'device_authorization',
  'pushed_authorization_request',
]);

/** The engine's routes of dynamic client registration (RFC 7591/7592), served only with REGISTRATION_ENABLED. */
const REGISTRATION_ROUTES = new Set<RouteName>(['registration', 'client', 'client_update', 'client_delete']);

/** Holds the live engine; key rotation swaps in a new one without a restart. */
export interface ProviderRef {
  current: Provider;
}

export interface AppDeps {
  config: Config;
  pool: Pool;
  providerRef: ProviderRef;
  views: Views;
  log: Logger;
  /** Told of requests that meet an unreachable database, and of every status (it counts the 503s). */
  outage: Pick<Outage, 'unavailable' | 'answered'>;
  /** Each request gets its own read-ahead of stored codes and tokens (oidc/read-ahead.ts). */
  readAhead: ReadAhead;
  interactions: Omit<InteractionDeps, 'provider' | 'views' | 'log'>;
  /** The person's own page (/account); absent, it is not served. */
  account?: Omit<AccountPageDeps, 'provider' | 'views' | 'log'> | undefined;
  /** The playground (/playground); absent (PLAYGROUND_ENABLED off), it is not served: 404. */
  playground?: Omit<PlaygroundDeps, 'views' | 'log'> | undefined;
  /** Extra routers mounted before the engine (metrics, admin). */
  extraRoutes?: Router[];
  /** Told of every answered request with its status and duration (metrics). */
  observeRequest?: (ctx: Context, status: number, seconds: number) => void;
  /** Checks run just before the engine on the routes each names (the token rate limit, the device flow's). */
  engineGuards?: EngineGuard[];
}

/**
 * Names the request's route once (ctx.state.route), before any guard runs; every guard keys on
 * that name. Both routers in front of handlers are lenient: the engine's (lib/helpers/router.js)
 * folds case and drops one trailing slash, @koa/router too, so /token/ or /TOKEN would reach the
 * token endpoint under a path no guard compares equal. Such a spelling is refused here with 404
 * instead: the routers then only ever see a route as the table writes it, which is how our pages
 * and the engine's links (urlFor) spell it, and the name the guards see is the one that runs.
 */
function nameRoute(answersWrongMethod: (route: RouteName) => boolean) {
  return async function nameRoute(ctx: Context, next: Next) {
    const route = routeOf(ctx.method, ctx.path);
    if (route && !route.canonical) {
      ctx.status = 404;
      return;
    }
    // A served endpoint's own path with a method it does not have: 405 with the methods it has,
    // as that route answers its errors (NO_PAGES: JSON), not the 404 of a path that does not exist.
    const known = route ? undefined : methodsAt(ctx.path);
    if (known && answersWrongMethod(known.route)) {
      ctx.state.route = known.route;
      ctx.set('Allow', known.methods.join(', '));
      ctx.throw(405, `${ctx.method} is not allowed here; use ${known.methods.join(' or ')}`);
    }
    ctx.state.route = route?.name;
    await next();
  };
}

/**
 * Security headers on every response (RFC 9700 §4.16, OWASP ASVS V14). No `form-action`: Chromium
 * applies it to the redirect that follows a form POST, which would block the return to the client
 * after consent. The engine adds a hash to script-src for its own auto-submitting form_post page.
 */
function securityHeaders(config: Config) {
  // Built once: the same headers on every response.
  const headers: Array<[string, string]> = [
    [
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; " +
        "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    ],
    ['X-Content-Type-Options', 'nosniff'],
    ['X-Frame-Options', 'DENY'],
    ['Referrer-Policy', 'no-referrer'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()'],
    ...(config.issuer.startsWith('https://')
      ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as [string, string]]
      : []),
  ];
  return function setSecurityHeaders(ctx: Context, next: Next) {
    for (const [name, value] of headers) ctx.res.setHeader(name, value);
    return next();
  };
}

/**
 * Failures in our own routes become our error page (HTML) or an RFC 6749-shaped JSON body; never
 * a stack trace. Client mistakes (4xx from ctx.throw) keep their status.
 */
function errorPages(views: Views, outage: Pick<Outage, 'unavailable'>) {
  return async function renderFailures(ctx: Context, next: Next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) {
        const t = views.strings(ctx);
        await renderErrorPage(ctx, views, { status: 404, heading: t.error.notFound, message: t.error.notFoundMessage });
      }
    } catch (err) {
      // An unreachable database is an outage the client may retry (503), not a bug (500); text the
      // database cannot store (a NUL character) is the request's fault (400).
      const unstorable = isUnstorableInput(err);
      const unavailableNow = isDatabaseUnavailable(err);
      const status = unstorable ? 400 : ((err as { status?: number }).status ?? 500);
      const publicMessage = unstorable ? UNSTORABLE_DESCRIPTION : (err as Error).message;
      const expose = status < 500;
      // A known outage is logged once, by the tracker; a bug with its stack, every time.
      if (unavailableNow) outage.unavailable(err);
      else if (!expose) ctx.state.log.error({ event: 'server_error', err }, 'request failed');
      if (ctx.headerSent || ctx.respond === false) return;
      if (unavailableNow) return unavailable(ctx, views);
      const t = views.strings(ctx);
      if (!ctx.accepts('html') || NO_PAGES.has(ctx.state.route)) {
        ctx.status = status;
        ctx.body = {
          error: expose ? 'invalid_request' : 'server_error',
          error_description: expose ? publicMessage : t.error.serverMessage,
        };
        return;
      }
      const [heading, message] =
        status === 429
          ? [t.error.tooMany, t.error.tooManyMessage]
          : expose
            ? [t.error.badRequest, publicMessage]
            : [t.error.server, t.error.serverMessage];
      await renderErrorPage(ctx, views, { status, heading, message, code: expose ? status : null });
    }
  };
}

/**
 * @simplewebauthn/browser's UMD bundle (the global SimpleWebAuthnBrowser), served from our own
 * origin under script-src 'self' as /assets/simplewebauthn-browser.js: no CDN. The package exports
 * only its entry points, so the bundle is found beside them.
 */
const WEBAUTHN_BROWSER_BUNDLE = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@simplewebauthn/browser')),
  '..',
  'dist',
  'bundle',
  'index.umd.min.js',
);

function assetRoutes(views: Views): Router {
  const cache = new Map<string, Promise<string>>();
  /** A file read once per process (a failed read is tried again next time), with a short cache lifetime. */
  const serveFile = (file: string, type: string) =>
    async function staticFile(ctx: Context) {
      let text = cache.get(file);
      if (!text) {
        text = readFile(file, 'utf8');
        text.catch(() => cache.delete(file));
        cache.set(file, text);
      }
      ctx.type = type;
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = await text;
    };
  const asset = (name: string, type: string) => serveFile(path.join(VIEWS_DIR, 'assets', name), type);
  return (
    new Router()
      .get('/assets/theme.css', function themeCss(ctx) {
        ctx.type = 'text/css';
        ctx.set('Cache-Control', 'public, max-age=300');
        ctx.body = views.themeCss;
      })
      .get('/assets/latchkey.css', asset('latchkey.css', 'text/css'))
      .get('/assets/favicon.svg', asset('favicon.svg', 'image/svg+xml'))
      // Browsers ask for /favicon.ico whatever the page links to; they read an SVG served there.
      .get('/favicon.ico', asset('favicon.svg', 'image/svg+xml'))
      // The passkey scripts: the WebAuthn helper library and ours, for the sign-in and account pages.
      .get('/assets/simplewebauthn-browser.js', serveFile(WEBAUTHN_BROWSER_BUNDLE, 'text/javascript'))
      .get('/assets/passkeys.js', asset('passkeys.js', 'text/javascript'))
  );
}

/**
 * Awaits a request whose saves were held. When writing them fails, the engine's answer is withdrawn
 * before the failure is rendered: its redirect would carry a code that was never stored, and its
 * cookies a session that was not.
 */
async function writingHeldSaves(ctx: Context, request: Promise<void>): Promise<void> {
  try {
    await request;
  } catch (err) {
    ctx.remove('Location');
    ctx.remove('Set-Cookie');
    throw err;
  }
}

export function createApp(deps: AppDeps): Koa {
  const { config, pool, providerRef, views, log } = deps;
  // maxIpsCount: only the X-Forwarded-For entries our own proxies appended name the client.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: config.trustProxyHops });
  app.silent = true; // errors are logged by our middleware, with context
  // The engine's middleware run on this request's context, as koa-mount does, not through its
  // callback(): one context and one response per request, not two.
  const engines = new WeakMap<Provider, (ctx: Context) => Promise<void>>();
  const currentEngine = () => {
    let engine = engines.get(providerRef.current);
    if (!engine) {
      engine = compose(providerRef.current.middleware);
      engines.set(providerRef.current, engine);
    }
    return engine;
  };

  const routers = [
    healthRoutes({ pool, keysLoaded: () => providerRef.current !== undefined, outage: deps.outage }),
    assetRoutes(views),
    interactionRoutes({ ...deps.interactions, provider: () => providerRef.current, views, log }),
    formRequestRoutes(),
    ...(deps.account
      ? [
          accountRoutes({ ...deps.account, provider: () => providerRef.current, views, log }),
          emailChangeRoutes({ ...deps.account, views, log }),
        ]
      : []),
    ...(deps.playground ? [playgroundRoutes({ ...deps.playground, views, log })] : []),
    ...(deps.extraRoutes ?? []),
  ];
  // Each engine route's chain, composed once: parameter limits and rate limits first, a read-ahead
  // (an AsyncLocalStorage scope) where the engine finds codes and tokens, then the engine, which sets
  // the response (its cookies are signed with the same keys as ours). Discovery and /jwks pass no
  // check: each engine's document is served from its first answer.
  const runEngine = (ctx: Context) => currentEngine()(ctx);
  const guards: EngineGuard[] = [
    frontChannelParameterLimit,
    // RFC 6749 §5.1: beside the engine's Cache-Control: no-store, Pragma: no-cache for HTTP/1.0 caches.
    {
      routes: ['token'],
      check: (ctx, next) => {
        ctx.set('Pragma', 'no-cache');
        return next();
      },
    },
    ...(deps.engineGuards ?? []),
    { routes: READS_TOKENS, check: (_ctx, next) => deps.readAhead.run(next) },
    { routes: HOLDS_SAVES, check: (ctx, next) => writingHeldSaves(ctx, deps.readAhead.runHoldingSaves(next)) },
    { routes: PUBLISHED_ROUTES, methods: ['GET'], check: publishedDocuments(() => providerRef.current) },
  ];
  const engineChains = new Map<RouteName | undefined, (ctx: Context) => Promise<void>>();
  for (const route of engineRouteNames()) {
    const checks = guards
      .filter((guard) => guard.routes.includes(route))
      .map(({ methods, check }) =>
        methods
          ? (ctx: Context, next: Next) => (methods.includes(ctx.method as Method) ? check(ctx, next) : next())
          : check,
      );
    engineChains.set(route, checks.length > 0 ? compose<Context>([...checks, runEngine]) : runEngine);
  }

  app.use(requestLog(log, { outage: deps.outage, observe: deps.observeRequest }));
  app.use(securityHeaders(config));
  app.use(errorPages(views, deps.outage));
  // 405 where the engine serves the path (registration only while it is on); elsewhere (our pages,
  // a feature switched off) a wrong method stays 404 and tells nothing about what is not served.
  app.use(
    nameRoute((route) => isEngineRoute(route) && (config.registrationEnabled || !REGISTRATION_ROUTES.has(route))),
  );
  const httpsOnly = requireHttps({ issuer: config.issuer, trustProxy: config.trustProxy });
  if (httpsOnly) app.use(httpsOnly);
  // Each route belongs either to the engine or to our routers: the token route skips ours.
  app.use(function engineOrOurRoutes(ctx, next) {
    const engineChain = engineChains.get(ctx.state.route);
    if (engineChain) return engineChain(ctx);
    // A sign-in page reads its interaction twice: in a read-ahead scope the second is the first's.
    return readsInteraction(ctx.state.route) ? deps.readAhead.run(next) : next();
  });
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  return app;
}
