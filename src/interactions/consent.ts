import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore } from '../accounts/store.ts';
import type { AuditStore } from '../audit/store.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import type { Logger } from '../observability/logger.ts';
import { applyConsent, type ConsentStore, consentOf } from '../oidc/consent-store.ts';
import { type Csrf, parseForm } from './forms.ts';
import { clientNameOf, type InteractionDetails, loadPostedInteraction } from './interaction.ts';
import type { Views } from './views.ts';

export interface ConsentDeps {
  provider: () => Provider;
  accounts: AccountStore;
  audit: AuditStore;
  views: Views;
  csrf: Csrf;
  log: Logger;
  consents: Pick<ConsentStore, 'find' | 'remember'>;
}

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/**
 * Records what the person approved in this authorization's Grant, and remembers it for this
 * person and app (each later authorization starts its own grant from it: provider.ts), then
 * resumes the authorization.
 */
async function grantConsent(
  ctx: Context,
  provider: Provider,
  consents: ConsentDeps['consents'],
  interaction: InteractionDetails,
): Promise<void> {
  const details = interaction.prompt.details as ConsentDetails;
  const accountId = interaction.session!.accountId;
  const clientId = String(interaction.params.client_id);
  let grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  if (interaction.grantId && !grant) throw new Error('the interaction names a grant that no longer exists');
  if (!grant) {
    // A new grant (one per offline authorization, saved only here: provider.ts loadExistingGrant)
    // starts from what was remembered; the prompt's details list only what that lacks.
    grant = new provider.Grant({ accountId, clientId });
    const remembered = await consents.find(accountId, clientId);
    if (remembered) applyConsent(grant, remembered);
  }
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await consents.remember(accountId, clientId, consentOf(grant));
  await provider.interactionFinished(
    ctx.req,
    ctx.res,
    { consent: interaction.grantId ? {} : { grantId } },
    { mergeWithLastSubmission: true },
  );
  ctx.respond = false;
}

export async function showConsent(ctx: Context, deps: ConsentDeps, interaction: InteractionDetails) {
  const provider = deps.provider();
  const client = await provider.Client.find(String(interaction.params.client_id));
  const accountId = interaction.session!.accountId;
  if (client?.first_party === true) {
    // First-party apps are the operator's own: approval is implied, as in Auth0 and Logto.
    // Recorded as provider.ts loadExistingGrant records the approvals it implies: same event, same fields.
    await grantConsent(ctx, provider, deps.consents, interaction);
    await deps.audit.record({ event: 'consent.implied', accountId, clientId: client.clientId });
    return;
  }
  const t = deps.views.strings(ctx);
  const account = await deps.accounts.findById(accountId);
  const details = interaction.prompt.details as ConsentDetails;
  const requested = String(interaction.params.scope ?? '')
    .split(' ')
    .filter(Boolean);
  const scopes = requested
    .filter((scope) => t.consent.scopes[scope])
    .map((scope) => {
      const [title, description] = t.consent.scopes[scope]!;
      return { title, description };
    });
  // Every API scope requested, not only the ones still missing: with prompt=consent the person
  // approves the whole request again, so the page must show all of it.
  const resources = [interaction.params.resource ?? []].flat().map(String);
  const apiScopes = new Map<string, Set<string>>();
  for (const [indicator, missing] of Object.entries(details.missingResourceScopes ?? {})) {
    apiScopes.set(indicator, new Set(missing));
  }
  for (const indicator of resources) {
    const set = apiScopes.get(indicator) ?? new Set<string>();
    for (const scope of requested) if (!t.consent.scopes[scope]) set.add(scope);
    apiScopes.set(indicator, set);
  }
  for (const [indicator, set] of apiScopes) {
    for (const scope of set) scopes.push({ title: t.consent.apiScope(scope, indicator), description: '' });
  }
  const clientName = await clientNameOf(provider, interaction);
  await deps.views.render(ctx, 'consent', {
    title: t.consent.title(clientName),
    uid: interaction.uid,
    csrf: deps.csrf.tokenFor(interaction.uid),
    clientName,
    accountName: account?.name ?? '',
    accountEmail: account?.email ?? '',
    scopes,
    offline: requested.includes('offline_access'),
  });
}

/** POST /interaction/:uid/consent: Allow records a Grant; Deny sends access_denied to the client. */
export function consentRoutes(deps: ConsentDeps): Router {
  const { audit, views, csrf, log } = deps;
  return new Router().post(PAGE_ROUTES.consent, parseForm, async function submitConsent(ctx) {
    const provider = deps.provider();
    const posted = await loadPostedInteraction(ctx, provider, views, csrf);
    if (!posted) return;
    const { interaction, form } = posted;
    if (interaction.prompt.name !== 'consent') return ctx.redirect(`/interaction/${interaction.uid}`);
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params.client_id);
    if (form.decision !== 'allow') {
      await audit.record({ event: 'consent.denied', accountId, clientId, ip: ctx.ip });
      log.info({ event: 'consent.denied', account_id: accountId, client_id: clientId }, 'consent denied');
      await provider.interactionFinished(
        ctx.req,
        ctx.res,
        { error: 'access_denied', error_description: 'End-User denied the authorization request' },
        { mergeWithLastSubmission: true },
      );
      ctx.respond = false;
      return;
    }
    await grantConsent(ctx, provider, deps.consents, interaction);
    await audit.record({
      event: 'consent.given',
      accountId,
      clientId,
      ip: ctx.ip,
      details: { scope: String(interaction.params.scope ?? '') },
    });
    log.info({ event: 'consent.given', account_id: accountId, client_id: clientId }, 'consent given');
  });
}
