import type { Context, Next } from 'koa';
import type { EngineGuard } from '../http/routes.ts';

/**
 * The engine stores front-channel parameters (state, nonce, login_hint, ...) with the interaction
 * and echoes some back in the redirect to the client. Honest values are short (a state is a few
 * dozen characters; an id_token_hint a couple of KiB); a 4 KiB cap keeps rows small and Location
 * headers under what proxies accept, and stops the request before any database work.
 */
export const MAX_PARAMETER_LENGTH = 4096;
/** More parameters than any authorization or logout request has. */
const MAX_PARAMETERS = 64;

/**
 * Refuses an oversized front-channel request with a plain 400 page. No redirect: before the engine
 * has checked client_id and redirect_uri, the redirect_uri is not to be trusted. Only GET queries
 * are checked: a form POST to these endpoints comes back as a GET (oidc/form-requests.ts).
 */
export const frontChannelParameterLimit: EngineGuard = {
  routes: ['authorization', 'end_session'],
  methods: ['GET'],
  check: limitFrontChannelParameters,
};

async function limitFrontChannelParameters(ctx: Context, next: Next): Promise<void> {
  if (ctx.querystring) {
    const params = new URLSearchParams(ctx.querystring);
    let count = 0;
    for (const [key, value] of params) {
      count += 1;
      if (count > MAX_PARAMETERS) ctx.throw(400, 'This request has too many parameters.');
      if (key.length > 256 || value.length > MAX_PARAMETER_LENGTH)
        ctx.throw(400, 'A parameter of this request is too long.');
      // PostgreSQL cannot store a NUL character; no honest parameter has one.
      if (key.includes('\u0000') || value.includes('\u0000'))
        ctx.throw(400, 'A parameter of this request contains a NUL character.');
    }
  }
  await next();
}
