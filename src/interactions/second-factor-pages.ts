import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore } from '../accounts/store.ts';
import type { AuditStore } from '../audit/store.ts';
import { PAGE_ROUTES } from '../http/routes.ts';
import type { Amr } from '../mfa/acr.ts';
import type { Passkeys } from '../mfa/passkeys.ts';
import { recoveryCodesText } from '../mfa/recovery-codes.ts';
import type { SecondFactors, TotpSetup } from '../mfa/second-factors.ts';
import type { Logger } from '../observability/logger.ts';
import type { SecondFactorPolicy } from '../oidc/provider.ts';
import type { Csrf } from './forms.ts';
import { clientNameOf, type InteractionDetails } from './interaction.ts';
import { PASSKEY_SCRIPTS, type Views } from './views.ts';

/**
 * The pages of a sign-in's second step (second-factor.ts decides which): the code page, the
 * authenticator app setup and the recovery codes; and the state they share, kept on the engine's
 * Interaction (its `result`, which the engine stores with it and interactionFinished replaces).
 */
export interface SecondFactorDeps {
  provider: () => Provider;
  accountStore: AccountStore;
  audit: AuditStore;
  views: Views;
  csrf: Csrf;
  log: Logger;
  secondFactors: SecondFactors;
  secondFactorPolicy: SecondFactorPolicy;
  /** Per-IP limiter (the sign-in page's): wrong codes count as sign-in attempts. */
  allowLoginAttempt?: (ctx: Context) => Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
  /** Passkeys as a second factor (mfa/passkeys.ts); absent where the issuer cannot have passkeys. */
  passkeys?: Pick<Passkeys, 'authenticationOptions' | 'verifyPasskeyAssertion'> | undefined;
}

/** A sign-in waiting for its second factor: `verify` asks for it, `enrol` sets one up, `enrolled` shows the recovery codes. */
export interface PendingSecondFactor {
  accountId: string;
  /** The login time of the password step (epoch seconds), or of the step-up. */
  loginTs: number;
  /** Methods already used (RFC 8176): ['pwd'] after the password. */
  amr: Amr[];
  stage: 'verify' | 'enrol' | 'enrolled';
  /** The authenticator app being set up (stage enrol). */
  factorId?: string | undefined;
}

const PENDING = 'latchkey_second_factor';

export function pendingOf(interaction: InteractionDetails): PendingSecondFactor | undefined {
  const pending = (interaction.result as Record<string, unknown> | undefined)?.[PENDING];
  return pending && typeof pending === 'object' ? (pending as PendingSecondFactor) : undefined;
}

/** Stores the pending state with the interaction, for the rest of its lifetime. */
export async function savePending(interaction: InteractionDetails, pending: PendingSecondFactor): Promise<void> {
  interaction.result = { [PENDING]: pending } as unknown as InteractionDetails['result'];
  await interaction.save((interaction.exp ?? 0) - Math.floor(Date.now() / 1000));
}

const interactionPath = (uid: string) => `/interaction/${uid}`;
export const see = (ctx: Context, uid: string) => {
  ctx.status = 303;
  ctx.redirect(interactionPath(uid));
};

export async function renderVerify(
  ctx: Context,
  deps: SecondFactorDeps,
  interaction: InteractionDetails,
  pending: PendingSecondFactor,
  options: { error?: string | undefined; method?: 'totp' | 'recovery'; status?: number } = {},
) {
  const t = deps.views.strings(ctx);
  const summary = await deps.secondFactors.summary(pending.accountId);
  const withPasskey = deps.passkeys !== undefined && summary.passkeys > 0;
  await deps.views.render(
    ctx,
    'second-factor',
    {
      title: t.mfa.secondFactorTitle,
      uid: interaction.uid,
      csrf: deps.csrf.tokenFor(interaction.uid),
      clientName: await clientNameOf(deps.provider(), interaction),
      totp: summary.totp,
      recovery: summary.recoveryCodes > 0,
      // The person's passkeys, asked for by views/assets/passkeys.js through these JSON routes.
      passkey: withPasskey
        ? {
            options: PAGE_ROUTES.secondFactorPasskeyOptions.replace(':uid', interaction.uid),
            login: PAGE_ROUTES.secondFactorPasskey.replace(':uid', interaction.uid),
          }
        : undefined,
      scripts: withPasskey ? PASSKEY_SCRIPTS : undefined,
      error: options.error,
      method: options.method ?? (summary.totp ? 'totp' : 'recovery'),
    },
    options.status ?? 200,
  );
}

export async function renderEnrol(
  ctx: Context,
  deps: SecondFactorDeps,
  interaction: InteractionDetails,
  pending: PendingSecondFactor,
  options: { error?: string | undefined; status?: number } = {},
) {
  const account = await deps.accountStore.findById(pending.accountId);
  if (!account) throw new Error('the second-factor setup has no account');
  let setup: TotpSetup | undefined = pending.factorId
    ? await deps.secondFactors.pendingTotp(account, pending.factorId)
    : undefined;
  if (!setup) {
    setup = await deps.secondFactors.startTotp(account);
    await savePending(interaction, { ...pending, factorId: setup.factorId });
  }
  const t = deps.views.strings(ctx);
  const clientName = await clientNameOf(deps.provider(), interaction);
  await deps.views.render(
    ctx,
    'totp-setup',
    {
      title: t.mfa.setupTitle,
      lede: t.mfa.setupRequiredLede(clientName),
      setup,
      action: `${interactionPath(interaction.uid)}/enrol`,
      csrf: deps.csrf.tokenFor(interaction.uid),
      fields: {},
      error: options.error,
      cancel: { action: `${interactionPath(interaction.uid)}/abort`, label: t.login.cancel(clientName) },
      backHref: undefined,
    },
    options.status ?? 200,
  );
}

/** The codes of a first setup, shown once; then "continue" finishes the sign-in. */
export async function renderRecoveryCodes(
  ctx: Context,
  deps: SecondFactorDeps,
  interaction: InteractionDetails,
  codes: string[] | undefined,
) {
  const t = deps.views.strings(ctx);
  await deps.views.render(ctx, 'recovery-codes', {
    title: t.mfa.recoveryTitle,
    codes,
    download: codes ? recoveryCodesDownload(codes, t.mfa.downloadHeading) : undefined,
    continueForm: {
      action: `${interactionPath(interaction.uid)}/enrol`,
      csrf: deps.csrf.tokenFor(interaction.uid),
      fields: { action: 'continue' },
      label: t.mfa.continue,
    },
    backHref: undefined,
  });
}

/** The codes as a text file, for a download link on the page that shows them (no request keeps them). */
export function recoveryCodesDownload(codes: string[], heading: string): string {
  return `data:text/plain;charset=utf-8,${encodeURIComponent(recoveryCodesText(codes, heading))}`;
}
