import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { MAX_PASSWORD_LENGTH } from './passwords.ts';

/**
 * The 100,000 most common passwords (and a few recent ones), shipped with Latchkey: the file's header
 * says where they come from; scripts/common-passwords.ts makes it.
 */
const COMMON_PASSWORDS_FILE = fileURLToPath(new URL('../../data/common-passwords.txt', import.meta.url));

/** Why a new password is refused; each has a message on the pages (locales) and in the CLI. */
export type PasswordProblem = 'password_too_short' | 'password_too_long' | 'password_common';

/**
 * NIST SP 800-63B 5.1.1.2 for every new password (CLI, account page, and the reset, sign-up and
 * invitation forms): at least `minLength` characters (PASSWORD_MIN_LENGTH; each Unicode character
 * counts once), at most 1024 (argon2 work stays bounded), no composition rules, and none of the most
 * common passwords, compared case-insensitively ("Password1" is as guessable as "password1").
 */
export function createPasswordRules(options: { minLength: number; commonPasswordsFile?: string }) {
  const file = options.commonPasswordsFile ?? COMMON_PASSWORDS_FILE;
  // Read once, on the first check (0.8 MB: about 50 ms on an idle core, 6 MB of heap for the Set);
  // a failed read is retried at the next check rather than cached.
  let common: Promise<Set<string>> | undefined;
  const loadCommon = () => {
    common ??= readFile(file, 'utf8').then((text) => {
      const set = new Set<string>();
      for (const line of text.split('\n')) {
        const password = line.trim().toLowerCase();
        if (password !== '' && !password.startsWith('#')) set.add(password);
      }
      return set;
    });
    common.catch(() => {
      common = undefined;
    });
    return common;
  };
  return {
    minLength: options.minLength,
    maxLength: MAX_PASSWORD_LENGTH,
    async check(password: string): Promise<PasswordProblem | undefined> {
      if (password.length > MAX_PASSWORD_LENGTH) return 'password_too_long';
      if ([...password].length < options.minLength) return 'password_too_short';
      if ((await loadCommon()).has(password.trim().toLowerCase())) return 'password_common';
      return undefined;
    },
  };
}
export type PasswordRules = ReturnType<typeof createPasswordRules>;
