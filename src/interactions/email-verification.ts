import Router from '@koa/router';
import type { Context } from 'koa';
import { interactionOf } from '../accounts/self-service.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import { continueTo, type FlowDeps, formToken, localeOf, postedForm, renderInvalidLink } from './flow-pages.ts';
import { parseForm } from './forms.ts';
import { clientNameOf, type InteractionDetails, loadPostedInteraction } from './interaction.ts';

/**
 * Email verification: the mailed link (GET shows a button, POST verifies: a mail scanner that
 * fetches links verifies nothing), and the "verify your email" stop in a sign-in for an app that
 * needs a verified address (clients --require-verified-email), with "send again" and "continue".
 */

/** Lets the engine go on with the sign-in: the account now has a verified address. */
async function finishVerifiedLogin(ctx: Context, deps: Pick<FlowDeps, 'provider'>, interaction: InteractionDetails) {
  await deps.provider().interactionFinished(
    ctx.req,
    ctx.res,
    // The session's amr and acr stay as its sign-in set them (a second factor is not undone).
    {
      login: {
        accountId: interaction.session!.accountId,
        amr: interaction.session?.amr,
        acr: interaction.session?.acr,
      },
    },
    { mergeWithLastSubmission: true },
  );
  ctx.respond = false;
}

async function renderVerifyRequired(
  ctx: Context,
  deps: FlowDeps,
  interaction: InteractionDetails,
  email: string,
  message?: string,
) {
  const t = deps.views.strings(ctx);
  await deps.views.render(ctx, 'verify-required', {
    title: t.flows.verifyRequiredTitle,
    uid: interaction.uid,
    csrf: deps.csrf.tokenFor(interaction.uid),
    clientName: await clientNameOf(deps.provider(), interaction),
    email,
    message,
  });
}

/**
 * The login prompt stopped because the app needs a verified address. Shown by GET
 * /interaction/:uid; sends a link when none is pending; goes on when the address is verified.
 */
export async function showVerifyRequired(ctx: Context, deps: FlowDeps, interaction: InteractionDetails) {
  const accountId = interaction.session?.accountId;
  const account = accountId ? await deps.accountStore.findById(accountId) : undefined;
  if (!account) throw new Error('the verify-email stop has no account');
  if (account.email_verified) return finishVerifiedLogin(ctx, deps, interaction);
  if (
    !(await deps.selfService.hasPendingVerification(account.id)) &&
    (await deps.mailLimits.allowRecipient(account.email)).allowed
  ) {
    await deps.selfService.sendVerification(account.id, {
      locale: localeOf(ctx, deps.views),
      interaction: interaction.uid,
    });
  }
  await renderVerifyRequired(ctx, deps, interaction, account.email);
}

export function emailVerificationRoutes(deps: FlowDeps): Router {
  const { views, csrf } = deps;
  return new Router()
    .get(PAGE_ROUTES.verifyEmail, async function showConfirmEmail(ctx) {
      const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
      if (!(await deps.selfService.checkLink(token, 'verify'))) return renderInvalidLink(ctx, views, undefined);
      const t = views.strings(ctx);
      await views.render(ctx, 'confirm-email', {
        title: t.flows.verifyTitle,
        csrf: formToken(ctx, csrf),
        token,
        interaction: interactionOf(ctx.query.interaction) ?? '',
      });
    })
    .post(PAGE_ROUTES.verifyEmail, parseForm, async function confirmEmail(ctx) {
      const form = await postedForm(ctx, deps);
      if (!form) return;
      const result = await deps.selfService.verifyEmail(form.token ?? '');
      if (!result.ok) return renderInvalidLink(ctx, views, undefined);
      await deps.audit.record({ event: 'user.email_verified', accountId: result.accountId, ip: ctx.ip });
      deps.log.info({ event: 'user.email_verified', account_id: result.accountId }, 'email address verified');
      const t = views.strings(ctx);
      const next = await continueTo(deps.provider(), form.interaction);
      await views.render(ctx, 'notice', {
        title: t.flows.verified,
        heading: t.flows.verified,
        message: t.flows.verifiedMessage,
        icon: 'success',
        links: next ? [{ href: next.href, label: t.flows.continueTo(next.clientName) }] : [],
      });
    })
    .post(PAGE_ROUTES.verifyEmailResend, parseForm, async function continueOrResend(ctx) {
      const posted = await loadPostedInteraction(ctx, deps.provider(), views, csrf);
      if (!posted) return;
      const { interaction, form } = posted;
      const accountId = interaction.session?.accountId;
      if (interaction.prompt.name !== 'login' || !accountId) return ctx.redirect(`/interaction/${interaction.uid}`);
      const account = await deps.accountStore.findById(accountId);
      if (!account) return ctx.redirect(`/interaction/${interaction.uid}`);
      if (account.email_verified) return finishVerifiedLogin(ctx, deps, interaction);
      const t = views.strings(ctx);
      if (form.action !== 'resend')
        return renderVerifyRequired(ctx, deps, interaction, account.email, t.flows.verifyNotYet);
      if ((await deps.mailLimits.allowRecipient(account.email)).allowed) {
        await deps.selfService.sendVerification(account.id, {
          locale: localeOf(ctx, views),
          interaction: interaction.uid,
        });
      }
      await renderVerifyRequired(ctx, deps, interaction, account.email, t.flows.verifyResent);
    });
}
