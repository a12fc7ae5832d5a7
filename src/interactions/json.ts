import type { Context, Next } from 'koa';

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
