import type { Context, Next } from 'koa';
import type { RouteName } from '../http/routes.ts';

/**
 * The browser-facing routes, where the engine and our pages set cookies: the authorization
 * endpoint and its resume path, logout, the device flow's pages, our interaction pages, the account
 * page and the pages of the flows by mail (forgot password, invitations, verification).
 */
const BROWSER_FACING = new Set<RouteName | undefined>([
  'authorization',
  'resume',
  'end_session',
  'end_session_confirm',
  'end_session_success',
  'code_verification',
  'device_resume',
  'interaction',
  'login',
  'abort',
  'consent',
  'account',
  'account_callback',
  'account_profile',
  'account_password',
  'account_app_remove',
  'account_session_end',
  'account_sessions_end_others',
  'account_delete',
  'account_email',
  'account_email_confirm',
  'verify_email_resend',
  'forgot_password',
  'reset_password',
  'accept_invitation',
  'verify_email',
  'sign_up',
]);

/**
 * With an https issuer every cookie is Secure, and Koa refuses to set a Secure cookie on a request
 * it believes arrived over plain http: without this check, a browser request that bypassed the TLS
 * proxy (or a proxy deployment without TRUST_PROXY=true) would get a 500 from deep inside the
 * engine. Such a request gets a 400 that says what is wrong; operators get a log line that says why.
 * Only browser-facing routes are checked: discovery, /jwks, /token and the other back-channel
 * endpoints set no cookies, and services inside the network may call them over plain http.
 * Undefined for a plain http issuer: there is nothing to check.
 */
export function requireHttps(options: {
  issuer: string;
  trustProxy: boolean;
}): ((ctx: Context, next: Next) => Promise<void>) | undefined {
  if (!options.issuer.startsWith('https://')) return undefined;
  return async function rejectPlainHttp(ctx: Context, next: Next): Promise<void> {
    if (!ctx.secure && BROWSER_FACING.has(ctx.state.route)) {
      ctx.state.log.warn(
        { event: 'http.not_https', trust_proxy: options.trustProxy },
        options.trustProxy
          ? 'request without X-Forwarded-Proto: https on an https issuer: does it bypass the TLS proxy?'
          : 'plain http request on an https issuer: behind a TLS-terminating proxy, set TRUST_PROXY=true',
      );
      ctx.throw(400, 'This server accepts only https requests.');
    }
    await next();
  };
}
