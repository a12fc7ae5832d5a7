import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  hash,
  randomBytes,
} from 'node:crypto';

/**
 * Authenticated encryption (AES-256-GCM) for values kept at rest: private JWKs, cookie keys,
 * client secrets. The key is derived from LATCHKEY_SECRET_KEY, which never enters the database,
 * so a dump or a replica holds only ciphertext. Format: v1.<iv>.<tag>.<ciphertext> (base64url).
 */
export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
  /**
   * HMAC-SHA-256 (base64url) under a key derived from LATCHKEY_SECRET_KEY: how a guessable secret
   * is keyed at rest. A plain digest of a short value (a device's 8-letter user code, ~34 bits)
   * is reversed by trying every value; without the key a dump gives nothing to try them against.
   */
  digest(value: string): string;
}

export function createSecretBox(secretKey: string): SecretBox {
  // A KeyObject, not a Buffer: node checks a Buffer key by throwing and catching two errors
  // (with stack traces) on every cipher it creates.
  const key = createSecretKey(createHash('sha256').update(`latchkey/secret-box/v1\0${secretKey}`).digest());
  // Its own key, so a digest never shares key material with the cipher.
  const macKey = createSecretKey(createHash('sha256').update(`latchkey/keyed-digest/v1\0${secretKey}`).digest());
  return {
    digest(value) {
      return createHmac('sha256', macKey).update(value).digest('base64url');
    },
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [
        'v1',
        iv.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
        body.toString('base64url'),
      ].join('.');
    },
    open(sealed) {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('sealed value has an unknown format');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
      } catch (err) {
        throw new Error('sealed value could not be decrypted: is LATCHKEY_SECRET_KEY the one it was sealed with?', {
          cause: err,
        });
      }
    },
  };
}

/** SHA-256, base64url: how bearer values are keyed at rest (one-shot: a request digests several). */
export function sha256(value: string): string {
  return hash('sha256', value, 'base64url');
}
