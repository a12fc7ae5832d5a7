import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { readFormBody } from '../http/form-body.ts';

/** Our forms are small: an email, a password, a token. Anything bigger is not ours. */
const MAX_FORM_BYTES = 16 * 1024;

declare module 'koa' {
  interface Request {
    form?: Record<string, string>;
  }
}

/**
 * Parses an application/x-www-form-urlencoded body into ctx.request.form. Mounted only on our
 * interaction POST routes: the engine parses its own bodies. Duplicate fields are refused.
 */
export async function parseForm(ctx: Context, next: Next) {
  const form: Record<string, string> = {};
  for (const [key, value] of await readFormBody(ctx, MAX_FORM_BYTES)) {
    if (key in form) ctx.throw(400, `duplicate form field ${key}`);
    form[key] = value;
  }
  ctx.request.form = form;
  await next();
}

/**
 * CSRF tokens for interaction forms: an HMAC of the interaction uid under a key every node shares.
 * A forged cross-site POST lacks it; the engine's interaction cookie (SameSite=Lax, scoped to the
 * interaction path) is the second check.
 */
export function createCsrf(secret: string) {
  // A KeyObject: node checks a Buffer key by throwing and catching errors on every HMAC.
  const key = createSecretKey(createHmac('sha256', 'latchkey/csrf').update(secret).digest());
  const tokenFor = (uid: string) => createHmac('sha256', key).update(uid).digest('base64url');
  return {
    tokenFor,
    verify(uid: string, token: unknown): boolean {
      if (typeof token !== 'string' || token.length > 100) return false;
      const expected = Buffer.from(tokenFor(uid));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
export type Csrf = ReturnType<typeof createCsrf>;
