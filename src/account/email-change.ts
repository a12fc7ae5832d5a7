import Router from '@koa/router';
import { PAGE_ROUTES } from '../http/routes.ts';
import { formToken, localeOf, postedForm, renderInvalidLink } from '../interactions/flow-pages.ts';
import { parseForm } from '../interactions/forms.ts';
import type { AccountPageDeps } from './routes.ts';

/**
 * The link mailed to a new address (/account/email/confirm): GET shows the address and a button,
 * POST applies the change, so a mail scanner that fetches links changes nothing. It works in any
 * browser, signed in or not: the link is the proof that the address is the person's, as for the
 * other mailed links, and its form's CSRF token is bound to a cookie of the browser (flow-pages.ts),
 * not to a session. The request itself is a form of the account page (routes.ts).
 */
export function emailChangeRoutes(
  deps: Pick<AccountPageDeps, 'selfService' | 'audit' | 'views' | 'csrf' | 'log'>,
): Router {
  const { selfService, audit, views, csrf, log } = deps;
  return new Router()
    .get(PAGE_ROUTES.account_email_confirm, async function showEmailChange(ctx) {
      const t = views.strings(ctx);
      const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
      const email = await selfService.emailChangeLink(token);
      if (!email) return renderInvalidLink(ctx, views, { href: PAGE_ROUTES.account, label: t.account.backToAccount });
      await views.render(ctx, 'confirm-email-change', {
        title: t.account.emailConfirmTitle,
        csrf: formToken(ctx, csrf),
        token,
        email,
      });
    })
    .post(PAGE_ROUTES.account_email_confirm, parseForm, async function confirmEmailChange(ctx) {
      const form = await postedForm(ctx, { views, csrf });
      if (!form) return;
      const t = views.strings(ctx);
      const token = form.token ?? '';
      const result = await selfService.confirmEmailChange(token, { locale: localeOf(ctx, views) });
      const back = [{ href: PAGE_ROUTES.account, label: t.account.backToAccount }];
      if (!result.ok && result.reason === 'invalid_link') return renderInvalidLink(ctx, views, back[0]);
      if (!result.ok) {
        await audit.record({
          event: 'user.email_change_refused',
          accountId: result.accountId,
          ip: ctx.ip,
          details: { reason: result.reason },
        });
        return views.render(
          ctx,
          'notice',
          {
            title: t.account.emailTakenTitle,
            heading: t.account.emailTakenTitle,
            message: t.account.emailTakenMessage,
            icon: 'danger',
            links: back,
          },
          409,
        );
      }
      await audit.record({ event: 'user.email_changed', accountId: result.accountId, ip: ctx.ip });
      log.info({ event: 'user.email_changed', account_id: result.accountId }, 'email address changed');
      await views.render(ctx, 'notice', {
        title: t.account.emailChangedTitle,
        heading: t.account.emailChangedTitle,
        message: t.account.emailChangedMessage(result.email),
        icon: 'success',
        links: back,
      });
    });
}
