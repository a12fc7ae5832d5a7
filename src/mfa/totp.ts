import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/**
 * Authenticator apps (RFC 6238) as every app supports them: HMAC-SHA-1, 6 digits, 30-second steps.
 * A code is accepted for the current step and one step either side (clock drift); which step it
 * was is returned, so that the store can accept each step once (factor-store.ts totp_use_step).
 */
const ALGORITHM = 'SHA1';
const DIGITS = 6;
const PERIOD = 30;
/** Steps of drift accepted on either side of now. */
const WINDOW = 1;
/** 160 bits, the size of a SHA-1 key (RFC 4226 §4 recommends it). */
const SECRET_BYTES = 20;

const totpOf = (secretBase32: string, issuer = '', label = '') =>
  new TOTP({
    issuer,
    label,
    secret: Secret.fromBase32(secretBase32),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD,
  });

/** A new secret, in base32 (what apps take by hand). */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** What the setup page shows: the otpauth:// URI (as text and as a QR code in an SVG data: URI). */
export async function totpSetupOf(
  secretBase32: string,
  who: { issuer: string; label: string },
): Promise<{ secret: string; uri: string; qrDataUri: string }> {
  const uri = totpOf(secretBase32, who.issuer, who.label).toString();
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2, width: 192 });
  return { secret: secretBase32, uri, qrDataUri: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` };
}

/** A code as a person types it: digits only, spaces allowed. Undefined when it cannot be a code. */
export function normalizeTotpCode(input: string): string | undefined {
  const code = input.replace(/\s/g, '');
  return new RegExp(`^\\d{${DIGITS}}$`).test(code) ? code : undefined;
}

/**
 * The time step the code belongs to (now, or one step either side), or undefined when it matches
 * none. `now` in milliseconds.
 */
export function totpStepOf(secretBase32: string, code: string, now = Date.now()): number | undefined {
  const totp = totpOf(secretBase32);
  const delta = totp.validate({ token: code, timestamp: now, window: WINDOW });
  return delta === null ? undefined : totp.counter({ timestamp: now }) + delta;
}
