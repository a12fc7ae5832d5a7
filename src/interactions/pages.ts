import type { KoaContextWithOIDC } from 'oidc-provider';
import { renderErrorPage } from '../http/responses.ts';
import type { ProviderPages } from '../oidc/provider.ts';
import { clientName } from './interaction.ts';
import type { Views } from './views.ts';

/**
 * The engine's own pages in our look: its error page (for requests it cannot redirect back,
 * such as an unregistered redirect_uri), the logout confirmation and the signed-out page.
 * Error details go to logs through the engine's events; the page shows the public half only.
 */
export function createProviderPages(views: Views): ProviderPages {
  return {
    async renderError(ctx, out) {
      const t = views.strings(ctx);
      const status = Math.max(ctx.status, 400);
      const isServer = status >= 500;
      // A return address the app did not register (not a missing one: that is the app's request at fault).
      const isRedirect =
        out.error === 'invalid_redirect_uri' || /redirect_uri not registered/.test(out.error_description ?? '');
      await renderErrorPage(ctx, views, {
        status,
        heading: isServer ? t.error.server : t.error.badRequest,
        message: isServer ? t.error.serverMessage : isRedirect ? t.error.redirectMessage : t.error.badRequestMessage,
        // The engine's public description is English and technical: for the app's developer, below the person's message.
        detail: isServer || isRedirect ? undefined : out.error_description,
        code: out.error,
      });
    },
    async logoutSource(ctx: KoaContextWithOIDC, form: string) {
      const t = views.strings(ctx);
      const client = ctx.oidc.client;
      await views.render(ctx, 'logout', {
        title: t.logout.title,
        form,
        clientName: client ? clientName(client) : null,
      });
    },
    async postLogoutSuccessSource(ctx: KoaContextWithOIDC) {
      const t = views.strings(ctx);
      await views.render(ctx, 'logged-out', { title: t.loggedOut.title });
    },
  };
}
