import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Csrf } from './forms.ts';
import type { InteractionDetails } from './interaction.ts';
import type { Views } from './views.ts';

/**
 * JSON endpoints of our pages (the passkey ceremonies, driven by views/assets/passkeys.js). They
 * answer JSON whatever happens: a bad request is a 4xx with `error` and `error_description`, never
 * an HTML page or a 500. CSRF as on our forms: the page's token in the body (`csrf`); a cross-site
 * page cannot send application/json without a CORS preflight we never answer, a second guard.
 */

/** A passkey's answer is a few KB (a post-quantum signature some 3 KB); anything larger is not ours. */
const MAX_JSON_BYTES = 64 * 1024;

declare module 'koa' {
  interface Request {
    json?: Record<string, unknown>;
  }
}

/** Answers with a JSON error; `description` is shown to the person, so it is in their language. */
export function jsonError(ctx: Context, status: number, error: string, description: string) {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

/** Parses an application/json object body into ctx.request.json, or answers 4xx JSON. */
export async function parseJson(ctx: Context, next: Next) {
  if (!ctx.is('application/json')) return jsonError(ctx, 415, 'invalid_request', 'expected application/json');
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > MAX_JSON_BYTES) return jsonError(ctx, 413, 'invalid_request', 'request body too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) return jsonError(ctx, 413, 'invalid_request', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return jsonError(ctx, 400, 'invalid_request', 'the body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return jsonError(ctx, 400, 'invalid_request', 'expected a JSON object');
  ctx.request.json = body as Record<string, unknown>;
  ctx.set('Cache-Control', 'no-store');
  await next();
}

/** A string field of the JSON body; undefined when it is absent, not a string, or holds a NUL. */
export function stringField(body: Record<string, unknown>, key: string, max: number): string | undefined {
  const value = body[key];
  return typeof value === 'string' && value.length <= max && !value.includes('\0') ? value : undefined;
}

/**
 * The interaction of a JSON request from a sign-in page, once its CSRF token checks out; undefined
 * after answering 4xx, or `{ redirect }` when the sign-in has moved past its login prompt.
 */
export async function loadJsonInteraction(
  ctx: Context,
  deps: { provider: () => Provider; views: Views; csrf: Csrf },
): Promise<InteractionDetails | undefined> {
  const t = deps.views.strings(ctx);
  let interaction: InteractionDetails;
  try {
    interaction = await deps.provider().interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      jsonError(ctx, 400, 'interaction_expired', t.passkeys.expired);
      return undefined;
    }
    throw err;
  }
  if (interaction.uid !== ctx.params.uid) {
    jsonError(ctx, 400, 'interaction_expired', t.passkeys.expired);
    return undefined;
  }
  if (!deps.csrf.verify(interaction.uid, ctx.request.json?.csrf)) {
    jsonError(ctx, 403, 'csrf', t.error.forbiddenMessage);
    return undefined;
  }
  if (interaction.prompt.name !== 'login') {
    // The sign-in moved on (consent, say): the page to show is the interaction's own.
    ctx.body = { redirect: `/interaction/${interaction.uid}` };
    return undefined;
  }
  return interaction;
}
