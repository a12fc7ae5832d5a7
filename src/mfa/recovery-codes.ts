import { randomInt } from 'node:crypto';
import type { SecretBox } from '../secret-box.ts';

/** How many codes a set has. */
const RECOVERY_CODE_COUNT = 10;
/**
 * Letters and digits that cannot be read one for another (no 0/o, 1/l/i): 31 symbols, 10 per code,
 * about 50 bits each: far beyond guessing within the lockout, and short enough to type.
 */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 10;

/** A new set of codes as shown to the person: `xxxxx-xxxxx`. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const chars = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

/** A code as typed: case, spaces and dashes do not matter. Undefined when it cannot be one of ours. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const code = input.toLowerCase().replace(/[\s-]/g, '');
  return code.length === LENGTH && [...code].every((char) => ALPHABET.includes(char)) ? code : undefined;
}

/**
 * How a code is kept: a keyed digest (HMAC under the secret key), so a dump holds nothing to try
 * codes against. Codes are random and long: no slow hash is needed.
 */
export function recoveryCodeDigest(box: Pick<SecretBox, 'digest'>, normalized: string): string {
  return box.digest(`recovery-code\0${normalized}`);
}

/** The codes as a text file the person keeps (the download on the page that shows them). */
export function recoveryCodesText(codes: readonly string[], heading: string): string {
  return `${heading}\n\n${codes.join('\n')}\n`;
}
