import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

/** What Koa's cookies (and so the engine's) call to sign and check `.sig` cookies: keygrip's interface. */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  /** Which key signed `data` (0 is the current one, to re-sign otherwise), or -1. */
  index(data: string, digest: string): number;
}

/**
 * Signs cookies exactly as keygrip does (HMAC-SHA1, base64url without padding, the first key
 * signs, any key verifies), so cookies already issued stay valid. The keys are KeyObjects made
 * once: for a string key node throws and catches two errors, stack traces included, on every
 * HMAC, and keygrip's comparison HMACs both sides again under a fresh random key. Here digests
 * are compared with timingSafeEqual.
 */
export function createCookieSigner(keys: readonly string[]): CookieSigner {
  if (keys.length === 0) throw new Error('cookie signing needs at least one key');
  const secrets = keys.map((key) => createSecretKey(Buffer.from(key, 'utf8')));
  const signWith = (index: number, data: string) =>
    createHmac('sha1', secrets[index]!).update(data).digest('base64url');
  const signer: CookieSigner = {
    sign: (data) => signWith(0, data),
    verify: (data, digest) => signer.index(data, digest) > -1,
    index(data, digest) {
      if (typeof digest !== 'string') return -1;
      const given = Buffer.from(digest);
      for (let i = 0; i < secrets.length; i += 1) {
        const expected = Buffer.from(signWith(i, data));
        if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
      }
      return -1;
    },
  };
  return signer;
}
