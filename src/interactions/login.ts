import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/accounts.ts';
import type { AuditStore } from '../audit/store.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { authenticationOf } from '../mfa/acr.ts';
import type { Passkeys } from '../mfa/passkeys.ts';
import type { Logger } from '../observability/logger.ts';
import { type Csrf, parseForm } from './forms.ts';
import { clientNameOf, type InteractionDetails, loadPostedInteraction } from './interaction.ts';
import { secondStepAfterPassword, startSecondStep } from './second-factor.ts';
import type { SecondFactorDeps } from './second-factor-pages.ts';
import { PASSKEY_SCRIPTS, type Views } from './views.ts';

export interface LoginDeps {
  provider: () => Provider;
  accounts: Accounts;
  audit: AuditStore;
  views: Views;
  csrf: Csrf;
  log: Logger;
  /** Which of the person's own flows the sign-in page links to (forgot password, create account). */
  flows?: { resetEnabled: boolean; signUpEnabled: boolean } | undefined;
  /** Passwordless sign-in with a passkey (passkey-login.ts); absent, the page offers none. */
  passkeys?: Pick<Passkeys, 'authenticationOptions' | 'signIn'> | undefined;
  /** Per-IP limiter for login attempts; false when the caller must wait. */
  allowLoginAttempt?: (ctx: Context) => Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
}

const withInteraction = (path: string, uid: string) => `${path}?interaction=${encodeURIComponent(uid)}`;

export async function renderLogin(
  ctx: Context,
  deps: Pick<LoginDeps, 'provider' | 'views' | 'csrf' | 'flows' | 'passkeys'>,
  interaction: InteractionDetails,
  options: { error?: string | undefined; email?: string | undefined; status?: number | undefined } = {},
) {
  const t = deps.views.strings(ctx);
  const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 254) : '';
  await deps.views.render(
    ctx,
    'login',
    {
      title: t.login.title,
      uid: interaction.uid,
      csrf: deps.csrf.tokenFor(interaction.uid),
      clientName: await clientNameOf(deps.provider(), interaction),
      email: options.email ?? hint,
      error: options.error,
      // The sign-in rides along, so the flow can offer to come back to it.
      forgotHref: deps.flows?.resetEnabled ? withInteraction(PAGE_ROUTES.forgotPassword, interaction.uid) : undefined,
      signUpHref: deps.flows?.signUpEnabled ? withInteraction(PAGE_ROUTES.signUp, interaction.uid) : undefined,
      // The passkey button and the autofill (views/assets/passkeys.js), which JSON routes they use.
      passkey: deps.passkeys
        ? {
            options: PAGE_ROUTES.passkeyOptions.replace(':uid', interaction.uid),
            login: PAGE_ROUTES.passkeyLogin.replace(':uid', interaction.uid),
          }
        : undefined,
      scripts: deps.passkeys ? PASSKEY_SCRIPTS : undefined,
    },
    options.status ?? 200,
  );
}

/** POST /interaction/:uid/login and /abort: check the password, then let the engine resume the authorization. */
export function loginRoutes(deps: LoginDeps & SecondFactorDeps): Router {
  const { accounts, audit, views, csrf, log } = deps;
  return new Router()
    .post(PAGE_ROUTES.login, parseForm, async function submitLogin(ctx) {
      const provider = deps.provider();
      const posted = await loadPostedInteraction(ctx, provider, views, csrf);
      if (!posted) return;
      const { interaction, form } = posted;
      if (interaction.prompt.name !== 'login') return ctx.redirect(`/interaction/${interaction.uid}`);
      const t = views.strings(ctx);
      const email = (form.email ?? '').trim().slice(0, 254);
      const password = form.password ?? '';
      if (!email || !password)
        return renderLogin(ctx, deps, interaction, { error: t.login.missing, email, status: 400 });

      const limit = await deps.allowLoginAttempt?.(ctx);
      if (limit && !limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return renderLogin(ctx, deps, interaction, { error: t.login.rateLimited, email, status: 429 });
      }

      const clientId = String(interaction.params.client_id);
      // A person with a factor is asked for it next: until it is given, the failed attempts stay
      // counted, so guesses at the code cannot be reset by typing the password again. Without a
      // second step, the sign-in's login.success row is written with the account's success.
      let secondStep: 'verify' | 'enrol' | undefined;
      const result = await accounts.signIn(email, password, {
        secondStep: async (hasSecondFactor) => {
          secondStep = await secondStepAfterPassword(deps, interaction, hasSecondFactor);
          return secondStep;
        },
        audit: { clientId, ip: ctx.ip },
      });
      if (!result.ok) {
        const accountId = result.accountId;
        const event = result.reason === 'locked' && result.lockedNow ? 'login.locked' : 'login.failed';
        await audit.record({ event, accountId, clientId, ip: ctx.ip, details: { reason: result.reason } });
        log.info({ event, reason: result.reason, client_id: clientId, account_id: accountId }, 'sign-in refused');
        // A locked account reads like a wrong password (as in Keycloak): a message of its own would
        // tell a guesser, after a few tries, that the email has an account. "Disabled" is only ever
        // shown after the right password.
        const message = result.reason === 'disabled' ? t.login.disabled : t.login.invalid;
        return renderLogin(ctx, deps, interaction, { error: message, email, status: 401 });
      }
      // A person with a second factor (or one an app requires) goes on to the second step;
      // the sign-in is recorded as a success there.
      if (secondStep) {
        await startSecondStep(ctx, interaction, result, secondStep);
        log.info(
          { event: 'login.password_ok', account_id: result.accountId, client_id: clientId },
          'password right: second step',
        );
        return;
      }
      const success = { event: 'login.success', accountId: result.accountId, clientId, ip: ctx.ip };
      if (result.audited) audit.recordedElsewhere(success);
      else await audit.record(success);
      log.info({ event: 'login.success', account_id: result.accountId, client_id: clientId }, 'signed in');
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { login: { accountId: result.accountId, ts: result.loginTs, ...authenticationOf(['pwd']), remember: true } },
        { mergeWithLastSubmission: false },
      );
      ctx.respond = false;
    })
    .post(PAGE_ROUTES.abort, parseForm, async function abortInteraction(ctx) {
      const provider = deps.provider();
      if (!(await loadPostedInteraction(ctx, provider, views, csrf))) return;
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      ctx.respond = false;
    });
}
