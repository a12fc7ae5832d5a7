import Router from '@koa/router';
import { PAGE_ROUTES } from '../http/routes.ts';
import { bindingOf } from '../mfa/passkeys.ts';
import { jsonError, loadJsonInteraction, parseJson } from './json.ts';
import type { LoginDeps } from './login.ts';

/**
 * Passwordless sign-in with a passkey, the JSON half of the sign-in page (views/assets/passkeys.js):
 * POST …/passkey/options hands out a challenge bound to this interaction, POST …/passkey/login
 * checks the answer (mfa/passkeys.ts signIn: the account's disabled, lockout and sign-out rules as
 * for a password) and finishes the interaction as the password form does, answering with where the
 * browser goes next. Both need the interaction's cookie and the page's CSRF token.
 */
export function passkeyLoginRoutes(deps: LoginDeps): Router {
  return new Router()
    .post(PAGE_ROUTES.passkeyOptions, parseJson, async function passkeyOptions(ctx) {
      const { passkeys } = deps;
      if (!passkeys) return;
      const interaction = await loadJsonInteraction(ctx, deps);
      if (!interaction) return;
      ctx.body = await passkeys.authenticationOptions({ binding: bindingOf('interaction', interaction.uid) });
    })
    .post(PAGE_ROUTES.passkeyLogin, parseJson, async function passkeyLogin(ctx) {
      const { passkeys, audit, log } = deps;
      if (!passkeys) return;
      const interaction = await loadJsonInteraction(ctx, deps);
      if (!interaction) return;
      const t = deps.views.strings(ctx);
      const limit = await deps.allowLoginAttempt?.(ctx);
      if (limit && !limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return jsonError(ctx, 429, 'rate_limited', t.login.rateLimited);
      }
      const clientId = String(interaction.params.client_id);
      const result = await passkeys.signIn({
        binding: bindingOf('interaction', interaction.uid),
        response: ctx.request.json?.response,
        audit: { clientId, ip: ctx.ip },
      });
      if (!result.ok) {
        if (result.reason === 'invalid_input') return jsonError(ctx, 400, 'invalid_request', t.passkeys.refused);
        const { accountId, reason } = result;
        await audit.record({
          event: 'login.failed',
          accountId,
          clientId,
          ip: ctx.ip,
          details: { reason, method: 'passkey' },
        });
        log.info(
          { event: 'login.failed', reason, method: 'passkey', client_id: clientId, account_id: accountId },
          'passkey sign-in refused',
        );
        // The passkey proved whose account it is, so its state may be told, as after a right password.
        if (reason === 'disabled') return jsonError(ctx, 403, 'account_disabled', t.login.disabled);
        if (reason === 'locked') return jsonError(ctx, 403, 'account_locked', t.passkeys.locked);
        return jsonError(ctx, 401, 'passkey_refused', t.passkeys.refused);
      }
      // passkeys.signIn wrote the row with the success.
      audit.recordedElsewhere({
        event: 'login.success',
        accountId: result.accountId,
        clientId,
        ip: ctx.ip,
        details: { method: 'passkey', amr: result.amr },
      });
      log.info(
        { event: 'login.success', method: 'passkey', account_id: result.accountId, client_id: clientId },
        'signed in with a passkey',
      );
      const redirect = await deps.provider().interactionResult(
        ctx.req,
        ctx.res,
        {
          login: {
            accountId: result.accountId,
            ts: result.loginTs,
            amr: result.amr,
            acr: result.acr,
            remember: true,
          },
        },
        { mergeWithLastSubmission: false },
      );
      ctx.body = { redirect };
    });
}
