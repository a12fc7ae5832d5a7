import Router from '@koa/router';
import { PAGE_ROUTES } from '../http/routes.ts';
import { EMAIL_NOT_VERIFIED, OTHER_ACCOUNT_THAN_HINTED } from '../oidc/provider.ts';
import { type ConsentDeps, consentRoutes, showConsent } from './consent.ts';
import { emailVerificationRoutes, showVerifyRequired } from './email-verification.ts';
import type { FlowDeps } from './flow-pages.ts';
import { loadInteraction } from './interaction.ts';
import { type LoginDeps, loginRoutes, renderLogin } from './login.ts';
import { passkeyLoginRoutes } from './passkey-login.ts';
import { passwordResetRoutes } from './password-reset.ts';
import { secondFactorRoutes, showSecondStep } from './second-factor.ts';
import type { SecondFactorDeps } from './second-factor-pages.ts';
import { signUpRoutes } from './sign-up.ts';

export type InteractionDeps = LoginDeps & Omit<ConsentDeps, 'accounts'> & FlowDeps & SecondFactorDeps;

/** GET /interaction/:uid shows the page for the pending prompt; the POST routes live with their prompt. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const consentDeps: ConsentDeps = { ...deps, accounts: deps.accountStore };
  const router = new Router();
  router.get(PAGE_ROUTES.interaction, async function showInteraction(ctx) {
    const interaction = await loadInteraction(ctx, deps.provider(), deps.views);
    if (!interaction) return;
    // A sign-in at its second step (after the password), or a step-up asked for in a session.
    if (await showSecondStep(ctx, deps, interaction)) return;
    if (
      interaction.prompt.name === 'login' &&
      interaction.prompt.reasons.includes(EMAIL_NOT_VERIFIED) &&
      interaction.session?.accountId
    ) {
      return showVerifyRequired(ctx, deps, interaction);
    }
    if (interaction.prompt.name === 'login' && interaction.prompt.reasons.includes(OTHER_ACCOUNT_THAN_HINTED)) {
      return renderLogin(ctx, deps, interaction, { error: deps.views.strings(ctx).login.otherAccount });
    }
    if (interaction.prompt.name === 'login') {
      // Signing in again within a session (max_age, prompt=login): the session's person, as Keycloak
      // shows it, unless the app named someone (login_hint).
      const sessionAccount = interaction.session?.accountId;
      const email =
        sessionAccount && typeof interaction.params.login_hint !== 'string'
          ? (await deps.accountStore.findById(sessionAccount))?.email
          : undefined;
      return renderLogin(ctx, deps, interaction, { email });
    }
    if (interaction.prompt.name === 'consent') return showConsent(ctx, consentDeps, interaction);
    throw new Error(`interaction prompt ${interaction.prompt.name} has no page`);
  });
  router.use(loginRoutes(deps).routes());
  router.use(secondFactorRoutes(deps).routes());
  router.use(passkeyLoginRoutes(deps).routes());
  router.use(consentRoutes(consentDeps).routes());
  router.use(passwordResetRoutes(deps).routes());
  router.use(emailVerificationRoutes(deps).routes());
  router.use(signUpRoutes(deps).routes());
  return router;
}
