import Router from '@koa/router';
import type { Context } from 'koa';
import { isValidEmail } from '../accounts/accounts.ts';
import { interactionOf, type PasswordChange } from '../accounts/self-service.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import {
  continueTo,
  type FlowDeps,
  field,
  formToken,
  localeOf,
  notBefore,
  postedForm,
  renderInvalidLink,
} from './flow-pages.ts';
import { parseForm } from './forms.ts';

/**
 * How long the "check your email" answer takes at least, account or not. The floor is far above
 * the work for a real account (one transaction) and below what a person notices.
 */
const REQUEST_FLOOR_MS = 300;

type LinkKind = 'reset' | 'invite';

/**
 * Forgot password (request a link by mail), the reset form the link opens, and the invitation
 * form (the same form for a first password). The request page answers the same, with the same
 * status and in the same time, whether or not the address has an account.
 */
export function passwordResetRoutes(deps: FlowDeps): Router {
  const { views, csrf } = deps;

  async function renderForgot(
    ctx: Context,
    options: { email?: string; error?: string; interaction?: string | undefined; status?: number } = {},
  ) {
    const t = views.strings(ctx);
    await views.render(
      ctx,
      'forgot-password',
      {
        title: t.flows.forgotTitle,
        csrf: formToken(ctx, csrf),
        email: options.email ?? '',
        error: options.error,
        interaction: options.interaction ?? '',
      },
      options.status ?? 200,
    );
  }

  async function renderNewPassword(
    ctx: Context,
    kind: LinkKind,
    token: string,
    interaction: string | undefined,
    options: { error?: string; status?: number } = {},
  ) {
    const t = views.strings(ctx);
    const invite = kind === 'invite';
    await views.render(
      ctx,
      'new-password',
      {
        title: invite ? t.flows.inviteTitle : t.flows.resetTitle,
        lede: invite ? t.flows.inviteLede : t.flows.resetLede,
        submit: invite ? t.flows.inviteSubmit : t.flows.resetSubmit,
        action: invite ? PAGE_ROUTES.acceptInvitation : PAGE_ROUTES.resetPassword,
        csrf: formToken(ctx, csrf),
        token,
        interaction: interaction ?? '',
        error: options.error,
      },
      options.status ?? 200,
    );
  }

  const againLink = (ctx: Context, kind: LinkKind) => {
    const t = views.strings(ctx);
    return kind === 'reset' && deps.flows.resetEnabled
      ? { href: PAGE_ROUTES.forgotPassword, label: t.flows.requestAgain }
      : undefined;
  };

  const showForm = (kind: LinkKind) =>
    async function showNewPasswordForm(ctx: Context) {
      if (kind === 'reset' && !deps.flows.resetEnabled) return;
      const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
      if (!(await deps.selfService.checkLink(token, kind))) return renderInvalidLink(ctx, views, againLink(ctx, kind));
      await renderNewPassword(ctx, kind, token, interactionOf(ctx.query.interaction));
    };

  const submitForm = (kind: LinkKind) =>
    async function submitNewPassword(ctx: Context) {
      if (kind === 'reset' && !deps.flows.resetEnabled) return;
      const form = await postedForm(ctx, deps);
      if (!form) return;
      const t = views.strings(ctx);
      const token = form.token ?? '';
      const interaction = interactionOf(form.interaction);
      const password = form.password ?? '';
      if (!password)
        return renderNewPassword(ctx, kind, token, interaction, { error: t.flows.passwordMissing, status: 400 });
      const result: PasswordChange =
        kind === 'reset'
          ? await deps.selfService.resetPassword(token, password, { locale: localeOf(ctx, views), interaction })
          : await deps.selfService.acceptInvitation(token, password);
      if (!result.ok) {
        if (result.reason === 'invalid_link') return renderInvalidLink(ctx, views, againLink(ctx, kind));
        const error = t.account.passwordProblems[result.reason](deps.selfService.passwordMinLength);
        return renderNewPassword(ctx, kind, token, interaction, { error, status: 400 });
      }
      const event = kind === 'reset' ? 'user.password_reset' : 'user.invitation_accepted';
      await deps.audit.record({ event, accountId: result.accountId, ip: ctx.ip });
      deps.log.info(
        { event, account_id: result.accountId },
        kind === 'reset' ? 'password reset with a mailed link' : 'invitation accepted',
      );
      const next = await continueTo(deps.provider(), interaction);
      await views.render(ctx, 'notice', {
        title: kind === 'reset' ? t.flows.resetDone : t.flows.inviteDone,
        heading: kind === 'reset' ? t.flows.resetDone : t.flows.inviteDone,
        message: kind === 'reset' ? t.flows.resetDoneMessage : t.flows.inviteDoneMessage,
        icon: 'success',
        links: next ? [{ href: next.href, label: t.flows.continueTo(next.clientName) }] : [],
      });
    };

  return new Router()
    .get(PAGE_ROUTES.forgotPassword, async function showForgotPassword(ctx) {
      if (!deps.flows.resetEnabled) return;
      await renderForgot(ctx, { interaction: interactionOf(ctx.query.interaction) });
    })
    .post(PAGE_ROUTES.forgotPassword, parseForm, async function requestPasswordReset(ctx) {
      if (!deps.flows.resetEnabled) return;
      const form = await postedForm(ctx, deps);
      if (!form) return;
      const t = views.strings(ctx);
      const email = field(form, 'email');
      const interaction = interactionOf(form.interaction);
      if (!email || !isValidEmail(email))
        return renderForgot(ctx, { email: email.slice(0, 254), error: t.flows.emailInvalid, interaction, status: 400 });
      const limit = await deps.mailLimits.allowRequest(ctx.ip);
      if (!limit.allowed) {
        ctx.set('Retry-After', String(limit.retryAfterSeconds));
        return renderForgot(ctx, { email, error: t.flows.tooMany, interaction, status: 429 });
      }
      const started = performance.now();
      // Past the recipient's limit nothing is queued, and the page says the same.
      const recipient = await deps.mailLimits.allowRecipient(email);
      const result = recipient.allowed
        ? await deps.selfService.requestPasswordReset(email, { locale: localeOf(ctx, views), interaction })
        : { queued: false };
      if (result.accountId)
        await deps.audit.record({
          event: 'user.password_reset_requested',
          accountId: result.accountId,
          ip: ctx.ip,
          details: { queued: result.queued },
        });
      deps.log.info(
        { event: 'password_reset.requested', recipient_limited: !recipient.allowed },
        'password reset requested',
      );
      await notBefore(started, REQUEST_FLOOR_MS);
      await views.render(ctx, 'notice', {
        title: t.flows.checkEmail,
        heading: t.flows.checkEmail,
        message: t.flows.resetSentMessage,
        icon: 'mail',
        links: [],
      });
    })
    .get(PAGE_ROUTES.resetPassword, showForm('reset'))
    .post(PAGE_ROUTES.resetPassword, parseForm, submitForm('reset'))
    .get(PAGE_ROUTES.acceptInvitation, showForm('invite'))
    .post(PAGE_ROUTES.acceptInvitation, parseForm, submitForm('invite'));
}
