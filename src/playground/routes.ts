import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { PAGE_ROUTES } from '../http/routes.ts';
import { type Csrf, parseForm } from '../interactions/forms.ts';
import { renderForbidden } from '../interactions/interaction.ts';
import type { Views } from '../interactions/views.ts';
import type { Logger } from '../observability/logger.ts';
import type { PlaygroundClients } from './clients.ts';
import {
  logoutUrl,
  type Options,
  type Run,
  receiveCallback,
  redeemCode,
  refresh,
  replayCode,
  reuseRefreshToken,
  revoke,
  startRun,
  tokenRequest,
} from './flow.ts';
import { causeOf, failed, formFields, requestText, responseText } from './present.ts';
import { APP_TYPES, type AppType, type PlaygroundStore } from './store.ts';

export interface PlaygroundDeps {
  clients: PlaygroundClients;
  store: PlaygroundStore;
  /** The APIs an authorization may name as `resource` (`apis list`). */
  apis: { list(): Promise<Array<{ identifier: string; scopes: string[] }>> };
  views: Views;
  csrf: Csrf;
  log: Logger;
  issuer: string;
}

/** The browser's playground cookie: a random id (the run's key is its SHA-256), scoped to /playground. */
const COOKIE = 'latchkey.playground';
const COOKIE_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** A run lasts an hour from its last step; the janitor sweeps it after. */
const RUN_TTL_SECONDS = 3600;
/** The acr values of the second-factor policy (mfa/): a plain select, effective once factors are on. */
const ACR_VALUES = ['urn:latchkey:acr:pwd', 'urn:latchkey:acr:mfa'];
const ACTIONS = ['token', 'refresh', 'reuse', 'replay', 'revoke', 'logout', 'reset'] as const;
type Action = (typeof ACTIONS)[number];

const INSPECTION = new Set(['jwks', 'userinfo', 'introspection', 'api']);

/** Step 5's requests: those that followed the latest tokens (of the code, or of a refresh). */
function inspection(run: Run | undefined): Run['exchanges'] {
  const exchanges = run?.exchanges ?? [];
  const latest = exchanges.findLastIndex(
    (e) => (e.kind === 'token' || e.kind === 'refresh') && e.response?.status === 200,
  );
  if (latest < 0) return [];
  const after = exchanges.slice(latest + 1);
  const end = after.findIndex((e) => !INSPECTION.has(e.kind));
  return end < 0 ? after : after.slice(0, end);
}

const isAppType = (value: unknown): value is AppType => APP_TYPES.includes(value as AppType);

/**
 * /playground: the authorization code flow run step by step against this server, every message
 * shown as it went. Server-rendered forms only (no script), state in PostgreSQL bound to the
 * browser by an HttpOnly cookie; the back channel is real HTTP to the issuer (flow.ts).
 */
export function playgroundRoutes(deps: PlaygroundDeps): Router {
  const { views, csrf, store, issuer, log } = deps;

  /** This browser's id, set on its first visit (HttpOnly, SameSite=Lax, signed, only for /playground). */
  function browserId(ctx: Context, create: boolean): string | undefined {
    const value = ctx.cookies.get(COOKIE, { signed: true });
    if (value && COOKIE_SHAPE.test(value)) return value;
    if (!create) return undefined;
    const id = randomBytes(32).toString('base64url');
    ctx.cookies.set(COOKIE, id, {
      httpOnly: true,
      sameSite: 'lax',
      secure: issuer.startsWith('https://'),
      path: '/playground',
      signed: true,
      overwrite: true,
    });
    return id;
  }
  const csrfSubject = (id: string) => `playground:${id}`;

  /** The posted form once the browser's cookie and the CSRF token check out (else 403). */
  async function posted(ctx: Context): Promise<{ id: string; form: Record<string, string> } | undefined> {
    const id = browserId(ctx, false);
    const form = ctx.request.form ?? {};
    if (!id || !csrf.verify(csrfSubject(id), form.csrf)) {
      await renderForbidden(ctx, views);
      return undefined;
    }
    return { id, form };
  }

  const seeOther = (ctx: Context, anchor = '') => {
    ctx.status = 303;
    ctx.redirect(`${PAGE_ROUTES.playground}${anchor}`);
  };

  async function render(ctx: Context, id: string, run: Run | undefined, status = 200) {
    const t = views.strings(ctx);
    const showSecret = ctx.query.secret === 'show';
    const apis = run ? [] : await deps.apis.list();
    const client = run ? await deps.clients.forType(run.appType) : undefined;
    const present = (exchange: Run['exchanges'][number]) => ({
      kind: exchange.kind,
      request: requestText(exchange, showSecret),
      fields: formFields(exchange),
      response: responseText(exchange),
      failed: failed(exchange),
      cause: causeOf(exchange, run?.options.resource),
      failure: exchange.failure,
    });
    const pending =
      // Only for a callback that checks out: a real app stops at a wrong state or iss.
      run?.callback?.code &&
      run.callback.stateOk &&
      run.callback.issOk &&
      client &&
      !run.exchanges.some((e) => e.kind === 'token')
        ? present(tokenRequest(issuer, run, client))
        : undefined;
    await views.render(
      ctx,
      'playground',
      {
        title: t.playground.title,
        wide: true,
        csrf: csrf.tokenFor(csrfSubject(id)),
        issuer,
        apis,
        acrValues: ACR_VALUES,
        appTypes: APP_TYPES,
        run,
        pending,
        showSecret,
        hasSecret: Boolean(client?.secret),
        exchanges: run?.exchanges.map(present) ?? [],
        inspection: inspection(run).map(present),
      },
      status,
    );
  }

  async function loadRun(id: string): Promise<Run | undefined> {
    return store.findRun<Run>(id);
  }

  return new Router()
    .get(PAGE_ROUTES.playground, async function showPlayground(ctx) {
      const id = browserId(ctx, true)!;
      let run = await loadRun(id);
      // Back from /logout: the state we sent with post_logout_redirect_uri.
      if (run?.logout && !run.logout.done && ctx.query.state === run.logout.state) {
        run = { ...run, logout: { ...run.logout, done: true } };
        await store.saveRun(id, run, RUN_TTL_SECONDS);
      }
      await render(ctx, id, run);
    })
    .post(PAGE_ROUTES.playground_start, parseForm, async function startPlayground(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const { form } = who;
      const t = views.strings(ctx);
      if (!isAppType(form.app_type)) return ctx.throw(400, t.playground.chooseType);
      const apis = await deps.apis.list();
      const api = form.resource ? apis.find((candidate) => candidate.identifier === form.resource) : undefined;
      if (form.resource && !api) ctx.throw(400, t.playground.unknownApi);
      if (form.acr && !ACR_VALUES.includes(form.acr)) ctx.throw(400, t.playground.unknownAcr);
      const options: Options = {
        offline: form.offline_access === 'yes',
        resource: api?.identifier,
        resourceScopes: api?.scopes,
        consent: form.prompt_consent === 'yes',
        acr: form.acr || undefined,
      };
      const client = await deps.clients.forType(form.app_type);
      await store.saveRun(who.id, startRun(issuer, form.app_type, client, options), RUN_TTL_SECONDS);
      log.info({ event: 'playground.started', client_id: client.clientId }, 'playground run started');
      seeOther(ctx, '#step-1');
    })
    .get(PAGE_ROUTES.playground_callback, async function playgroundCallback(ctx) {
      const appType = ctx.params.type;
      const id = browserId(ctx, false);
      const run = id ? await loadRun(id) : undefined;
      if (!id || !run || run.appType !== appType || run.callback) {
        return ctx.throw(400, views.strings(ctx).playground.noRun);
      }
      // The URL as the browser came back (the path is ours; the query is what the server sent).
      const url = `${issuer}${ctx.path}${ctx.querystring ? `?${ctx.querystring}` : ''}`;
      await store.saveRun(id, receiveCallback(run, issuer, url, ctx.query), RUN_TTL_SECONDS);
      seeOther(ctx, '#step-3');
    })
    .post(PAGE_ROUTES.playground_action, parseForm, async function playgroundAction(ctx) {
      const who = await posted(ctx);
      if (!who) return;
      const action = who.form.action as Action;
      if (!ACTIONS.includes(action)) ctx.throw(400, views.strings(ctx).playground.unknownAction);
      if (action === 'reset') {
        await store.removeRun(who.id);
        return seeOther(ctx);
      }
      const run = await loadRun(who.id);
      if (!run?.callback?.code || !run.callback.stateOk || !run.callback.issOk) {
        return ctx.throw(400, views.strings(ctx).playground.noRun);
      }
      const client = await deps.clients.forType(run.appType);
      const hasTokens = run.exchanges.some((e) => e.kind === 'token');
      if (action !== 'token' && !hasTokens) ctx.throw(400, views.strings(ctx).playground.noRun);
      let next: Run;
      switch (action) {
        case 'token':
          next = hasTokens ? run : await redeemCode(issuer, run, client);
          break;
        case 'refresh':
          next = await refresh(issuer, run, client);
          break;
        case 'reuse':
          next = await reuseRefreshToken(issuer, run, client);
          break;
        case 'replay':
          next = await replayCode(issuer, run, client);
          break;
        case 'revoke':
          next = await revoke(issuer, run, client);
          break;
        case 'logout': {
          const state = randomBytes(16).toString('base64url');
          await store.saveRun(who.id, { ...run, logout: { state, done: false } }, RUN_TTL_SECONDS);
          ctx.status = 303;
          return ctx.redirect(logoutUrl(issuer, run, client, state));
        }
      }
      await store.saveRun(who.id, next, RUN_TTL_SECONDS);
      seeOther(ctx, action === 'token' ? '#step-4' : '#more');
    });
}
