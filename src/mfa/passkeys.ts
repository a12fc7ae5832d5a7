import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  VerifiedAuthenticationResponse,
  VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import type { AccountRow, AccountStore } from '../accounts/store.ts';
import { sha256 } from '../secret-box.ts';
import { type Amr, authenticationOf } from './acr.ts';
import type { ChallengePurpose, FactorStore, PasskeyRow } from './factor-store.ts';

/**
 * Passkeys (WebAuthn Level 2/3, @simplewebauthn/server): registration on the account page, sign-in
 * without a password, and the check a second-factor page calls after the password.
 *
 * Every ceremony starts with a challenge we make and keep (webauthn_challenges): bound to what asked
 * for it (a sign-in's interaction, an account page session: `bindingOf`), single use (one DELETE
 * consumes it before the signature is even looked at), valid for CHALLENGE_TTL_SECONDS. User
 * verification is required at registration and at every use, so a passkey alone is two factors
 * (possession and a PIN or biometric): amr hwk or swk, user, mfa; acr urn:latchkey:acr:mfa.
 */

/** How long a challenge can be answered: the sign-in page may wait for the autofill a while. */
const CHALLENGE_TTL_SECONDS = 600;
/** What the browser is told to wait (ms); the person picks a passkey and unlocks it within this. */
const CEREMONY_TIMEOUT_MS = 300_000;
/**
 * The signature algorithms a new passkey may use (COSE): EdDSA, ES256, RS256, what authenticators
 * ship. Named here rather than left to the library, whose default probes the runtime for ML-DSA
 * (an experimental Web Crypto feature that prints a warning on Node 24).
 */
const ALGORITHMS = [-8, -7, -257];
/** Longest name of a passkey we keep. */
export const MAX_PASSKEY_NAME = 100;

/**
 * Whether passkeys can work under this issuer: WebAuthn needs a domain as RP ID (localhost will do);
 * browsers refuse an IP address. Under one, the pages offer no passkeys rather than a broken button.
 */
export function passkeysPossible(issuer: string): boolean {
  return isIP(new URL(issuer).hostname.replace(/^\[|\]$/g, '')) === 0;
}

/** What a ceremony belongs to, as stored: a hash, so a dump holds no session or interaction id. */
export function bindingOf(kind: 'interaction' | 'account', id: string): string {
  return sha256(`${kind}:${id}`);
}

/** The challenge a response answers, from its clientDataJSON; undefined when that is not readable. */
function challengeOf(clientDataJSON: string): string | undefined {
  try {
    const data: unknown = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
    const challenge = (data as { challenge?: unknown } | null)?.challenge;
    return typeof challenge === 'string' && challenge.length <= 200 && /^[A-Za-z0-9_-]+$/.test(challenge)
      ? challenge
      : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 8176: a passkey that is synced or backed up is a software key, one bound to its device a hardware key. */
function keyMethod(use: { backedUp: boolean; deviceType: string }): 'hwk' | 'swk' {
  return use.backedUp || use.deviceType === 'multiDevice' ? 'swk' : 'hwk';
}

/** Why a passkey answer was refused. `invalid_input` is the request's fault (400); the rest are refusals. */
type PasskeyRefusal =
  | 'invalid_input'
  /** Not a challenge we handed out here, used already, expired, or for another account. */
  | 'challenge'
  /** No passkey with this credential id (removed, or never ours), or not the account's. */
  | 'unknown_credential'
  /** The signature, origin, RP ID, user verification or attestation did not check out. */
  | 'not_verified'
  /** A counter that did not increase: a cloned authenticator, or the same assertion twice. */
  | 'counter';

export type PasskeyAssertion =
  | {
      ok: true;
      accountId: string;
      passkeyId: string;
      /** The RFC 8176 methods this use proves, for authenticationOf(): hwk or swk, and user. */
      methods: Amr[];
    }
  | { ok: false; reason: PasskeyRefusal; accountId?: string | undefined };

export type PasskeySignIn =
  | { ok: true; accountId: string; loginTs: number; amr: Amr[]; acr: string }
  | { ok: false; reason: PasskeyRefusal; accountId?: string | undefined }
  | { ok: false; reason: 'disabled' | 'locked'; accountId: string };

export type PasskeyRegistration =
  | { ok: true; passkey: PasskeyRow }
  | { ok: false; reason: 'invalid_input' | 'challenge' | 'not_verified' | 'already_registered' };

export interface PasskeysDeps {
  factors: FactorStore;
  accounts: Pick<AccountStore, 'findById' | 'recordSuccess'>;
  /** The relying party: RP ID = the issuer's host, the origin pages run on, and the brand name. */
  rp: { id: string; origin: string; name: string };
}

export function createPasskeys(deps: PasskeysDeps) {
  const { factors, accounts, rp } = deps;
  // The library and the answers' schemas, loaded by the first ceremony (webauthn.ts says why).
  let loading: Promise<typeof import('./webauthn.ts')> | undefined;
  const webauthn = () => (loading ??= import('./webauthn.ts'));

  async function newChallenge(
    purpose: ChallengePurpose,
    binding: string,
    accountId?: string,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = randomBytes(32);
    await factors.issueChallenge({
      challenge: bytes.toString('base64url'),
      purpose,
      binding,
      accountId,
      ttlSeconds: CHALLENGE_TTL_SECONDS,
    });
    return new Uint8Array(bytes);
  }

  /**
   * Consumes the challenge the response answers: it must be one we handed out for this binding and
   * purpose, unused, unexpired, and (when it was made for an account) for `accountId`.
   */
  async function consume(
    clientDataJSON: string,
    binding: string,
    purpose: ChallengePurpose,
    accountId: string | undefined,
  ): Promise<string | undefined> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return undefined;
    const stored = await factors.consumeChallenge(challenge, binding, purpose);
    if (!stored?.fresh) return undefined;
    return (stored.accountId ?? undefined) === accountId ? challenge : undefined;
  }

  /**
   * Checks a passkey's answer to a challenge handed out by `authenticationOptions` for `binding`.
   * With `accountId` (a second factor after the password) only that account's passkeys count; without
   * it (passwordless) the passkey names the account. A success records the use: the counter (refused
   * in the same UPDATE when it did not increase), the backup flags, the time.
   */
  async function verifyPasskeyAssertion(input: {
    binding: string;
    accountId?: string | undefined;
    response: unknown;
  }): Promise<PasskeyAssertion> {
    const { parseAssertion, verifyAuthenticationResponse } = await webauthn();
    const response = parseAssertion(input.response);
    if (!response) return { ok: false, reason: 'invalid_input' };
    const challenge = await consume(response.response.clientDataJSON, input.binding, 'authenticate', input.accountId);
    if (!challenge) return { ok: false, reason: 'challenge', accountId: input.accountId };
    const passkey = await factors.passkeyByCredential(Buffer.from(response.rawId, 'base64url'));
    if (!passkey || (input.accountId !== undefined && passkey.account_id !== input.accountId))
      return { ok: false, reason: 'unknown_credential', accountId: input.accountId };
    // A discoverable passkey also says whose it is: it must be the account that registered it.
    const handle = response.response.userHandle;
    if (handle && handle !== Buffer.from(passkey.account_id).toString('base64url'))
      return { ok: false, reason: 'unknown_credential', accountId: passkey.account_id };
    let verified: VerifiedAuthenticationResponse;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: rp.origin,
        expectedRPID: rp.id,
        expectedType: 'webauthn.get',
        requireUserVerification: true,
        credential: {
          id: Buffer.from(passkey.credential_id).toString('base64url'),
          publicKey: new Uint8Array(passkey.public_key),
          counter: passkey.sign_count,
          transports: passkey.transports ?? undefined,
        },
      });
    } catch {
      // The library throws for every way an answer is wrong (bad CBOR, wrong origin, bad signature, a
      // counter that went back); none of them is our failure. Ours (the database) happen outside this.
      return { ok: false, reason: 'not_verified', accountId: passkey.account_id };
    }
    const info = verified.authenticationInfo;
    if (!verified.verified || !info.userVerified)
      return { ok: false, reason: 'not_verified', accountId: passkey.account_id };
    const use = {
      signCount: info.newCounter,
      backedUp: info.credentialBackedUp,
      deviceType: info.credentialDeviceType,
    };
    const used = await factors.usePasskey(passkey.id, use);
    if (!used) return { ok: false, reason: 'counter', accountId: passkey.account_id };
    return { ok: true, accountId: passkey.account_id, passkeyId: passkey.id, methods: [keyMethod(use), 'user'] };
  }

  return {
    verifyPasskeyAssertion,

    /** The account's passkeys, oldest first. */
    list: (accountId: string) => factors.passkeysOf(accountId),

    /** Whether the account has a passkey (a second-factor page offers it: `passkeyAvailable`). */
    async has(accountId: string): Promise<boolean> {
      return (await factors.passkeysOf(accountId)).length > 0;
    },

    /** Removes one of the account's passkeys; its name, or undefined when there was no such passkey. */
    remove: (accountId: string, passkeyId: string) => factors.removePasskey(passkeyId, accountId),

    /**
     * Options for navigator.credentials.create(): a discoverable credential (so it can sign in
     * without an email), user verification required, none of the account's passkeys again.
     */
    async registrationOptions(
      account: Pick<AccountRow, 'id' | 'email' | 'name'>,
      binding: string,
    ): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const { generateRegistrationOptions } = await webauthn();
      const existing = await factors.passkeysOf(account.id);
      return generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userName: account.email,
        userDisplayName: account.name,
        userID: new TextEncoder().encode(account.id),
        challenge: await newChallenge('register', binding, account.id),
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: 'none',
        supportedAlgorithmIDs: ALGORITHMS,
        excludeCredentials: existing.map((passkey) => ({
          id: Buffer.from(passkey.credential_id).toString('base64url'),
          transports: passkey.transports ?? undefined,
        })),
        authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
      });
    },

    /** Verifies a new passkey against the challenge `registrationOptions` handed out, and stores it. */
    async register(input: {
      accountId: string;
      binding: string;
      name: string;
      response: unknown;
    }): Promise<PasskeyRegistration> {
      const { parseAttestation, verifyRegistrationResponse } = await webauthn();
      const response = parseAttestation(input.response);
      const name = input.name.trim();
      if (!response || !name || name.length > MAX_PASSKEY_NAME) return { ok: false, reason: 'invalid_input' };
      const challenge = await consume(response.response.clientDataJSON, input.binding, 'register', input.accountId);
      if (!challenge) return { ok: false, reason: 'challenge' };
      let verified: VerifiedRegistrationResponse;
      try {
        verified = await verifyRegistrationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          expectedType: 'webauthn.create',
          requireUserVerification: true,
          supportedAlgorithmIDs: ALGORITHMS,
        });
      } catch {
        return { ok: false, reason: 'not_verified' };
      }
      if (!verified.verified || !verified.registrationInfo.userVerified) return { ok: false, reason: 'not_verified' };
      const info = verified.registrationInfo;
      const passkey = await factors.insertPasskey({
        id: randomUUID(),
        accountId: input.accountId,
        name,
        credentialId: Buffer.from(info.credential.id, 'base64url'),
        publicKey: Buffer.from(info.credential.publicKey),
        signCount: info.credential.counter,
        transports: (info.credential.transports ?? []).slice(0, 10),
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
      });
      return passkey ? { ok: true, passkey } : { ok: false, reason: 'already_registered' };
    },

    /**
     * Options for navigator.credentials.get(). Without `accountId` (passwordless, the autofill) any
     * discoverable passkey may answer; with it (a second factor) only that account's.
     */
    async authenticationOptions(input: {
      binding: string;
      accountId?: string | undefined;
    }): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const { generateAuthenticationOptions } = await webauthn();
      const allowed = input.accountId ? await factors.passkeysOf(input.accountId) : [];
      return generateAuthenticationOptions({
        rpID: rp.id,
        challenge: await newChallenge('authenticate', input.binding, input.accountId),
        timeout: CEREMONY_TIMEOUT_MS,
        userVerification: 'required',
        allowCredentials: allowed.map((passkey) => ({
          id: Buffer.from(passkey.credential_id).toString('base64url'),
          transports: passkey.transports ?? undefined,
        })),
      });
    },

    /**
     * Passwordless sign-in: the passkey's answer, then the account as password sign-in checks it
     * (accounts.ts signIn): a disabled account is refused, a locked one too (the lock stops every
     * way in until it lapses), and the session's login time comes from store.recordSuccess, so it
     * falls after any sign-out cut-off. A user-verified passkey is multi-factor on its own. The
     * `login.success` row (client and address from `audit`) is written by the success's own statement.
     */
    async signIn(input: {
      binding: string;
      response: unknown;
      audit: { clientId: string; ip: string };
    }): Promise<PasskeySignIn> {
      const assertion = await verifyPasskeyAssertion({ binding: input.binding, response: input.response });
      if (!assertion.ok) return assertion;
      const account = await accounts.findById(assertion.accountId);
      if (!account) return { ok: false, reason: 'unknown_credential' };
      if (account.disabled) return { ok: false, reason: 'disabled', accountId: account.id };
      if (account.locked_until && account.locked_until > new Date())
        return { ok: false, reason: 'locked', accountId: account.id };
      const authentication = authenticationOf(assertion.methods);
      const audited = {
        event: 'login.success',
        ...input.audit,
        details: { method: 'passkey', amr: authentication.amr },
      };
      const loginTs = await accounts.recordSuccess(account, undefined, { resetCount: true, audited });
      if (loginTs === undefined) return { ok: false, reason: 'not_verified', accountId: account.id };
      return { ok: true, accountId: account.id, loginTs, ...authentication };
    },
  };
}
export type Passkeys = ReturnType<typeof createPasskeys>;
