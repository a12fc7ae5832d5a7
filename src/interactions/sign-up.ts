import Router from '@koa/router';
import type { Context } from 'koa';
import { isValidEmail } from '../accounts/accounts.ts';
import { interactionOf } from '../accounts/self-service.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { type FlowDeps, field, formToken, localeOf, notBefore, postedForm } from './flow-pages.ts';
import { parseForm } from './forms.ts';

/**
 * How long the "check your email" answer takes at least, whether or not the address had an
 * account. The password is hashed either way (argon2, tens of milliseconds); the floor covers that
 * and the transaction that follows many times over, and stays below what a person notices.
 */
const SIGN_UP_FLOOR_MS = 600;
/** Longest name we keep (as the account page's profile). */
const MAX_NAME = 200;

interface SignUpForm {
  name: string;
  email: string;
  interaction: string | undefined;
}

/**
 * "Create account" (SIGNUP_ENABLED): name, email and password. Whether the address already has an
 * account is never shown: the answer is the same "check your email" page, with the same status and
 * in the same time; a new account gets a verification link, an existing one's owner a mail saying
 * someone tried. Until the link is followed, a signed-up account cannot complete a sign-in
 * (SIGNUP_REQUIRE_VERIFIED_EMAIL; oidc/provider.ts).
 */
export function signUpRoutes(deps: FlowDeps): Router {
  const { views, csrf } = deps;

  async function renderSignUp(
    ctx: Context,
    form: SignUpForm,
    options: { error?: string; invalid?: 'name' | 'email' | 'password'; status?: number } = {},
  ) {
    const t = views.strings(ctx);
    await views.render(
      ctx,
      'sign-up',
      {
        title: t.flows.signUpTitle,
        csrf: formToken(ctx, csrf),
        name: form.name,
        email: form.email,
        interaction: form.interaction ?? '',
        error: options.error,
        invalid: options.invalid,
        minLength: deps.selfService.passwordMinLength,
      },
      options.status ?? 200,
    );
  }

  return new Router()
    .get(PAGE_ROUTES.signUp, async function showSignUp(ctx) {
      if (!deps.flows.signUpEnabled) return;
      await renderSignUp(ctx, { name: '', email: '', interaction: interactionOf(ctx.query.interaction) });
    })
    .post(PAGE_ROUTES.signUp, parseForm, async function signUp(ctx) {
      if (!deps.flows.signUpEnabled) return;
      const posted = await postedForm(ctx, deps);
      if (!posted) return;
      const t = views.strings(ctx);
      const form: SignUpForm = {
        name: field(posted, 'name', MAX_NAME),
        email: field(posted, 'email'),
        interaction: interactionOf(posted.interaction),
      };
      const password = posted.password ?? '';
      if (!form.name || form.name.length > MAX_NAME)
        return renderSignUp(ctx, form, { error: t.flows.nameInvalid, invalid: 'name', status: 400 });
      if (!form.email || !isValidEmail(form.email))
        return renderSignUp(
          ctx,
          { ...form, email: form.email.slice(0, 254) },
          {
            error: t.flows.emailInvalid,
            invalid: 'email',
            status: 400,
          },
        );
      if (!password)
        return renderSignUp(ctx, form, { error: t.flows.passwordMissing, invalid: 'password', status: 400 });
      const limit = await deps.mailLimits.allowRequest(ctx.ip);
      if (!limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return renderSignUp(ctx, form, { error: t.flows.tooMany, status: 429 });
      }

      const started = performance.now();
      const result = await deps.selfService.signUp(
        { name: form.name, email: form.email, password },
        { locale: localeOf(ctx, views), interaction: form.interaction },
        async (owner) => (await deps.mailLimits.allowRecipient(owner)).allowed,
      );
      if (!result.ok) {
        // The password rules do not depend on the address: saying why tells nothing about accounts.
        const error =
          result.reason === 'invalid_email'
            ? t.flows.emailInvalid
            : t.account.passwordProblems[result.reason](deps.selfService.passwordMinLength);
        return renderSignUp(ctx, form, {
          error,
          invalid: result.reason === 'invalid_email' ? 'email' : 'password',
          status: 400,
        });
      }
      if (result.accountId)
        await deps.audit.record({
          event: result.created ? 'user.signed_up' : 'user.sign_up_existing',
          accountId: result.accountId,
          ip: ctx.ip,
        });
      deps.log.info(
        { event: 'sign_up.requested', ...(result.created ? { account_id: result.accountId } : {}) },
        'sign-up requested',
      );
      await notBefore(started, SIGN_UP_FLOOR_MS);
      await views.render(ctx, 'notice', {
        title: t.flows.checkEmail,
        heading: t.flows.checkEmail,
        message: t.flows.signUpSentMessage,
        icon: 'mail',
        links: form.interaction ? [{ href: `/interaction/${form.interaction}`, label: t.flows.backToSignIn }] : [],
      });
    });
}
