import Router from '@koa/router';
import type { Context } from 'koa';
import { readFormBody } from '../http/form-body.ts';
import { PAGE_ROUTES } from '../http/routes.ts';

/**
 * Authorization and logout requests sent as a form POST. OpenID Connect Core §3.1.2.1 and
 * RP-Initiated Logout §2 require both endpoints to take POST as well as GET. The engine serves
 * POST only when the session cookie is SameSite=None (so that a cross-site POST carries it),
 * which would weaken that cookie everywhere; instead the request comes back as a GET to the same
 * endpoint (303, parameters in the query), a top-level navigation that carries SameSite=Lax
 * cookies. What a GET request could say, the form says; the GET's own checks then apply.
 */

/**
 * A form of at most this size: its parameters then fit a URL under Node's 16 KiB header limit,
 * cookies beside them. Honest requests are a few hundred bytes (an id_token_hint a couple of KiB).
 */
const MAX_FRONT_CHANNEL_FORM_BYTES = 8 * 1024;

async function asGet(ctx: Context): Promise<void> {
  // Parameters of the URL and of the form together, duplicates kept: the engine refuses those.
  const params = new URLSearchParams(ctx.querystring);
  for (const [key, value] of await readFormBody(ctx, MAX_FRONT_CHANNEL_FORM_BYTES)) params.append(key, value);
  const query = params.toString();
  ctx.status = 303;
  ctx.redirect(query ? `${ctx.path}?${query}` : ctx.path);
}

export function formRequestRoutes(): Router {
  return new Router().post(PAGE_ROUTES.authorizationForm, asGet).post(PAGE_ROUTES.endSessionForm, asGet);
}
