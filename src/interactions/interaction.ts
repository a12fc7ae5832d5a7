import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { renderErrorPage } from '../http/responses.ts';
import type { Csrf } from './forms.ts';
import type { Views } from './views.ts';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/** Re-reads the interaction for this request; undefined (after rendering the expiry page) when it is gone. */
export async function loadInteraction(
  ctx: Context,
  provider: Provider,
  views: Views,
): Promise<InteractionDetails | undefined> {
  try {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    if (interaction.uid !== ctx.params.uid)
      throw new errors.SessionNotFound('interaction uid does not match its cookie');
    return interaction;
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      await renderExpired(ctx, views);
      return undefined;
    }
    throw err;
  }
}

/**
 * For a form posted to an interaction: the interaction and the form once its CSRF token checks out;
 * undefined after rendering the expiry page (interaction gone) or the forbidden page (bad token).
 */
export async function loadPostedInteraction(
  ctx: Context,
  provider: Provider,
  views: Views,
  csrf: Csrf,
): Promise<{ interaction: InteractionDetails; form: Record<string, string> } | undefined> {
  const interaction = await loadInteraction(ctx, provider, views);
  if (!interaction) return undefined;
  const form = ctx.request.form ?? {};
  if (!csrf.verify(interaction.uid, form.csrf)) {
    await renderForbidden(ctx, views);
    return undefined;
  }
  return { interaction, form };
}

/** The name our pages show for a client: its registered name, else its id (or `clientId` when it is gone). */
export function clientName(
  client: { clientId: string; clientName?: unknown } | undefined,
  clientId = client?.clientId ?? '',
): string {
  return typeof client?.clientName === 'string' && client.clientName ? client.clientName : clientId;
}

/** The display name of the client an interaction is for. */
export async function clientNameOf(provider: Provider, interaction: InteractionDetails): Promise<string> {
  const clientId = String(interaction.params.client_id);
  return clientName(await provider.Client.find(clientId), clientId);
}

/** The sign-in this page belongs to is gone (its cookie or its interaction expired): return to the app. */
export async function renderExpired(ctx: Context, views: Views) {
  const t = views.strings(ctx);
  await renderErrorPage(ctx, views, {
    status: 400,
    heading: t.error.expired,
    message: t.error.expiredMessage,
    code: 'interaction_expired',
  });
}

export async function renderForbidden(ctx: Context, views: Views) {
  const t = views.strings(ctx);
  await renderErrorPage(ctx, views, {
    status: 403,
    heading: t.error.forbidden,
    message: t.error.forbiddenMessage,
    code: 'csrf',
  });
}
