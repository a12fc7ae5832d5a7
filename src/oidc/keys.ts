import { createHash, generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { JWK } from 'jose';
import { ADVISORY_LOCKS } from '../db/locks.ts';
import { type Pool, type PoolClient, withTransaction } from '../db/pool.ts';
import type { SecretBox } from '../secret-box.ts';
import { type CookieSigner, createCookieSigner } from '../security/cookie-signer.ts';
import { createKeyStore, type KeyStore } from './key-store.ts';

/**
 * Signing keys and cookie keys, shared by every node through PostgreSQL, private parts sealed.
 *
 * A signing key moves next -> active -> retired. `next` is published in /jwks but signs nothing,
 * so verifiers have cached it by the time it becomes `active`; a `retired` key stays published
 * until every token it signed has expired. Each algorithm always has one active and one next key.
 */
const SIGNING_ALGS = ['ES256', 'RS256'] as const;

const generate = promisify(generateKeyPair);

/** The members of a public JWK that its RFC 7638 thumbprint covers, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url), as jose's calculateJwkThumbprint computes it: here
 * so that the cluster's preparing child, which creates the first keys, starts without jose (~13 MiB).
 */
function jwkThumbprint(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty ?? ''];
  if (!members) throw new Error(`no thumbprint for key type ${jwk.kty}`);
  const canonical = JSON.stringify(Object.fromEntries(members.map((name) => [name, jwk[name as keyof JWK]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

async function generateSigningJwk(alg: string): Promise<{ kid: string; privateJwk: JWK; publicJwk: JWK }> {
  // A thumbprint starting with '-' (1 in 64) would read as an option in `latchkey keys retire <kid>`,
  // so such a pair is set aside for another: the kid stays the key's RFC 7638 thumbprint.
  for (;;) {
    const pair =
      alg === 'RS256' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ec', { namedCurve: 'P-256' });
    const publicJwk = pair.publicKey.export({ format: 'jwk' }) as JWK;
    const kid = jwkThumbprint(publicJwk);
    if (kid.startsWith('-')) continue;
    const privateJwk = pair.privateKey.export({ format: 'jwk' }) as JWK;
    return {
      kid,
      privateJwk: { ...privateJwk, kid, alg, use: 'sig' },
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    };
  }
}

async function insertKey(keys: KeyStore, box: SecretBox, alg: string, state: 'next' | 'active') {
  const { kid, privateJwk, publicJwk } = await generateSigningJwk(alg);
  await keys.insert({ kid, alg, state, publicJwk, privateJwkSealed: box.seal(JSON.stringify(privateJwk)) });
  return kid;
}

/**
 * Creates what is missing on a fresh database: an active and a next key per algorithm and a
 * cookie key. Under an advisory lock, so nodes starting together create one set, not two.
 */
export async function ensureKeys(pool: Pool, box: SecretBox): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.keys]);
    const keys = createKeyStore(client);
    const existing = await keys.listPublished();
    for (const alg of SIGNING_ALGS) {
      if (!existing.some((key) => key.alg === alg && key.state === 'active')) await insertKey(keys, box, alg, 'active');
      if (!existing.some((key) => key.alg === alg && key.state === 'next')) await insertKey(keys, box, alg, 'next');
    }
    if ((await keys.listCookieKeys()).length === 0)
      await keys.insertCookieKey(box.seal(randomBytes(32).toString('base64url')));
  });
}

export interface KeyMaterial {
  /** Private JWKs for oidc-provider: active keys first (they sign), then next and retired (published only). */
  jwks: { keys: JWK[] };
  /** Cookie signing keys, newest first: the first signs, all verify. */
  cookieKeys: string[];
  /** Signs and checks cookies with those keys (the engine's and the app's cookies alike). */
  cookieSigner: CookieSigner;
  /** Identifies this set, to notice when another node changed it. */
  fingerprint: string;
  /** When the longest-serving active key started signing: scheduled rotation is due from this. */
  oldestActivation: Date;
}

export async function loadKeyMaterial(
  keys: KeyStore,
  box: SecretBox,
  cookieKeysOverride?: string[],
): Promise<KeyMaterial> {
  const [signing, cookies] = await Promise.all([keys.listPublished(), keys.listCookieKeys()]);
  if (!SIGNING_ALGS.every((alg) => signing.some((key) => key.alg === alg && key.state === 'active'))) {
    throw new Error('no active signing key in the database: run migrations and start the server once');
  }
  const jwks = { keys: signing.map((key) => JSON.parse(box.open(key.private_jwk_sealed)) as JWK) };
  const cookieKeys = cookieKeysOverride ?? cookies.map((row) => box.open(row.key_sealed));
  const fingerprint = [...signing.map((key) => `${key.kid}:${key.state}`), ...cookies.map((row) => row.id)].join(',');
  const activations = signing
    .filter((key) => key.state === 'active')
    .map((key) => (key.activated_at ?? key.created_at).getTime());
  return {
    jwks,
    cookieKeys,
    cookieSigner: createCookieSigner(cookieKeys),
    fingerprint,
    oldestActivation: new Date(Math.min(...activations)),
  };
}

/**
 * How long a retired key stays in /jwks: the longest lifetime of anything it may have signed
 * (ID tokens, access tokens, JWT access tokens of each API), plus a margin for clock skew and caches.
 */
export function retiredKeyPublishSeconds(
  ttl: { accessToken: number; idToken: number },
  apiTtls: Array<number | null>,
): number {
  return Math.max(ttl.accessToken, ttl.idToken, ...apiTtls.map((value) => value ?? 0)) + 600;
}

export interface RotateOptions {
  publishRetiredSeconds: number;
  cookieGraceSeconds: number;
  algs?: readonly string[];
  /**
   * Scheduled rotation: rotate only the algorithms whose active key has signed for at least this
   * long, judged inside the lock, so when several nodes find a rotation due only the first rotates.
   */
  ifActiveOlderThanSeconds?: number;
}

/**
 * Rotates now: for each algorithm the next key becomes active, the active key retires (published
 * for `publishRetiredSeconds` more) and a new next key is made. Cookie keys rotate too; the old
 * ones keep verifying for `cookieGraceSeconds`. Returns what rotated (empty when nothing was due).
 */
export async function rotateKeys(pool: Pool, box: SecretBox, options: RotateOptions) {
  return withTransaction(pool, async (client) => {
    await client.query('select pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.keys]);
    return rotateLocked(client, box, options);
  });
}

/** One rotation, by a caller holding the keys lock inside its transaction. */
async function rotateLocked(client: PoolClient, box: SecretBox, options: RotateOptions) {
  const keys = createKeyStore(client);
  const published = await keys.listPublished();
  const rotated: Array<{ alg: string; activated: string; next: string }> = [];
  const { ifActiveOlderThanSeconds: maxAge } = options;
  const due = (alg: string) =>
    maxAge === undefined ||
    published.some(
      (key) =>
        key.alg === alg &&
        key.state === 'active' &&
        Date.now() - (key.activated_at ?? key.created_at).getTime() >= maxAge * 1000,
    );
  for (const alg of (options.algs ?? SIGNING_ALGS).filter(due)) {
    let next = published.find((key) => key.alg === alg && key.state === 'next')?.kid;
    if (!next) next = await insertKey(keys, box, alg, 'next');
    await keys.retireActive(alg, options.publishRetiredSeconds);
    await keys.activate(next);
    rotated.push({ alg, activated: next, next: await insertKey(keys, box, alg, 'next') });
  }
  if (rotated.length === 0) return rotated;
  await keys.insertCookieKey(box.seal(randomBytes(32).toString('base64url')));
  const [newest] = await keys.listCookieKeys();
  if (newest) await keys.retireCookieKeysBefore(newest.id, options.cookieGraceSeconds);
  await keys.notifyChanged();
  return rotated;
}

export type RetireKey =
  | { ok: true }
  | { ok: false; reason: 'not_found' | 'already_retired' }
  /** The key is active and its algorithm has no next key to take over: retiring it would stop signing. */
  | { ok: false; reason: 'only_signing_key'; alg: string };

/**
 * Retires one key now; it stays published for `publishRetiredSeconds`. Retiring an active key
 * promotes the next key of its algorithm (a rotation of that algorithm), so signing never stops;
 * an active key without a next one is refused. Decided under the keys lock, as rotation is: two
 * retirements at once (the active key and the next one) cannot both see the other key still there
 * and leave the algorithm without an active key.
 */
export async function retireKey(
  pool: Pool,
  box: SecretBox,
  kid: string,
  options: Omit<RotateOptions, 'algs' | 'ifActiveOlderThanSeconds'>,
): Promise<RetireKey> {
  return withTransaction(pool, async (client): Promise<RetireKey> => {
    await client.query('select pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.keys]);
    const keys = createKeyStore(client);
    const all = await keys.listAll();
    const key = all.find((k) => k.kid === kid);
    if (!key) return { ok: false, reason: 'not_found' };
    if (key.state === 'retired') return { ok: false, reason: 'already_retired' };
    if (key.state === 'active') {
      if (!all.some((k) => k.alg === key.alg && k.state === 'next'))
        return { ok: false, reason: 'only_signing_key', alg: key.alg };
      await rotateLocked(client, box, { ...options, algs: [key.alg] });
      return { ok: true };
    }
    await keys.retire(kid, options.publishRetiredSeconds);
    await keys.notifyChanged();
    return { ok: true };
  });
}
