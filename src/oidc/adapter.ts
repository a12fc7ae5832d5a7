import Provider, { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import type { ClientMetadataSource } from '../clients/cache.ts';
import { type SecretBox, sha256 } from '../secret-box.ts';
import {
  OPAQUE_TOKEN_MODELS,
  type PayloadStore,
  REUSED_IN_GRACE,
  ROTATED_FROM,
  SESSION_BROWSER,
  type SessionBrowser,
  type StoredRow,
} from './payload-store.ts';
import { type ReadAhead, type ReadAheadRows, readAheadKey, readAheadUidKey } from './read-ahead.ts';

/**
 * oidc-provider's storage contract over PostgreSQL (see the engine's example/my_adapter.js).
 *
 * No bearer value at rest: the id of a code, token, session or interaction *is* the credential,
 * so rows are keyed by its SHA-256 and the raw id (`jti`) is removed from the stored payload and
 * put back on find, when the caller has just handed it to us. grant_id, uid and user_code are
 * digests too (user_code a keyed one); lookups digest their argument the same way. An
 * Interaction's copy of its session's cookie value (`session.cookie`) is dropped: the engine
 * never reads it back. An Interaction's `returnTo` ends with its own id, stored without it and rebuilt on find; the ids of other models
 * it points at (`deviceCode`, `parJti`: a device code is what the device polls /token with) are sealed.
 *
 * Rows found by a secondary key (a Session by uid, a DeviceCode by user code) are saved again by
 * the engine under their raw id, which a digest cannot give back; for those the raw id is kept
 * sealed (AES-GCM under LATCHKEY_SECRET_KEY, which is never in the database) in `_sealed_jti`.
 * A DeviceCode's user code approves or cancels the device, so only its keyed digest (user_code,
 * HMAC under LATCHKEY_SECRET_KEY: the code is short enough to try every value of) is kept: the engine reads it back only after finding the row by it (findByUserCode), when the
 * caller has just handed it to us; the confirm page shows the code the person typed.
 *
 * Late replays: a consumed code or refresh token is found for REPLAY_GRACE_SECONDS past its
 * expiry (payload-store.ts) and handed to the engine as not yet expired. The engine checks
 * expiry before consumption (actions/grants/authorization_code.js, refresh_token.js): an expired
 * row would be refused as "expired" and revoke nothing; reported live and consumed, it meets the
 * engine's replay handling, which revokes the grant and what it issued.
 *
 * REFRESH_TOKEN_REUSE_GRACE_SECONDS: a refresh token consumed less than that long ago is found as
 * not consumed, once, so that a client whose response was lost can retry. The consume that
 * follows decides atomically (consumeWithGrace); the tokens of the first rotation carry the
 * rotated token's digest (`_rotated_from`) and are revoked when the retry rotates again.
 *
 * Within a request (read-ahead.ts) a code or token is read with its Grant, its Session and the
 * grant's account in one statement, and an opaque token value once for every opaque token model: the engine's next finds
 * (the grant, the session a token ends with, introspection trying each token kind) are answered
 * from that read instead of one round trip each. A token request's saves are held until the
 * engine is done and then written together (a resume's too: its grant, code and session, and the
 * end of its interaction); any other read or write writes them first.
 */

/** Models whose rows belong to a grant and go when it is revoked. */
const GRANT_BOUND = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'ClientCredentials',
]);
const isOpaqueToken = (model: string) => (OPAQUE_TOKEN_MODELS as readonly string[]).includes(model);

/** Writes of dynamic client registration (oidc/registration.ts); without it the engine cannot write clients. */
interface ClientWrites {
  save(clientId: string, metadata: AdapterPayload): Promise<void>;
  remove(clientId: string): Promise<void>;
}

export interface AdapterDeps {
  payloads: PayloadStore;
  clients: ClientMetadataSource;
  box: SecretBox;
  registrations?: ClientWrites | undefined;
  /** Per-request read-ahead; without it every find is its own round trip (the CLI). */
  readAhead?: ReadAhead | undefined;
  /** REFRESH_TOKEN_REUSE_GRACE_SECONDS; 0 or unset: a consumed refresh token is always a replay. */
  refreshReuseGraceSeconds?: number | undefined;
}

export function createAdapterFactory(deps: AdapterDeps): (model: string) => Adapter {
  return (model: string) =>
    model === 'Client' ? clientAdapter(deps.clients, deps.registrations) : payloadAdapter(model, deps);
}

const SEALED_JTI = '_sealed_jti';
const MAX_USER_AGENT_LENGTH = 512;
/**
 * A signed-in session's browser (SESSION_BROWSER in payload-store.ts), written with the session by
 * the engine request that saves it: its user agent, address and time, for the account page's list.
 */
function browserOfRequest(): SessionBrowser | undefined {
  const ctx = Provider.ctx;
  if (!ctx) return undefined;
  return { userAgent: ctx.get('user-agent').slice(0, MAX_USER_AGENT_LENGTH), ip: ctx.ip, seenAt: now() };
}
/** Lifetime of a replay claim until the engine saves the real expiry (proofs live minutes at most). */
const REPLAY_CLAIM_SECONDS = 600;
/** Set when `returnTo` was stored without its trailing own id. */
const RETURN_TO_WITHOUT_JTI = '_return_to_without_jti';
/** Fields of an Interaction holding another model's raw id. */
const SEALED_REFERENCES = ['deviceCode', 'parJti'] as const;

/**
 * Expiry reported for a consumed row found past its own (see "Late replays" above): far enough
 * ahead that the engine's expiry check, a moment later, still passes. The engine never saves a
 * consumed row again, so this value is not stored.
 */
const REPLAY_EXP_MARGIN_SECONDS = 60;
const now = () => Math.floor(Date.now() / 1000);

function restore(model: string, id: string, row: StoredRow | undefined, box: SecretBox): AdapterPayload | undefined {
  if (!row) return undefined;
  const {
    [SEALED_JTI]: _sealed,
    [RETURN_TO_WITHOUT_JTI]: returnToBase,
    [ROTATED_FROM]: _from,
    [REUSED_IN_GRACE]: _reused,
    [SESSION_BROWSER]: _browser,
    ...rest
  } = row.payload;
  const payload = { ...rest, jti: id } as AdapterPayload;
  if (row.consumed !== null && typeof payload.exp === 'number' && payload.exp <= now())
    payload.exp = now() + REPLAY_EXP_MARGIN_SECONDS;
  if (model === 'Interaction') {
    if (typeof returnToBase === 'string') payload.returnTo = `${returnToBase}${id}`;
    for (const field of SEALED_REFERENCES) {
      if (typeof payload[field] === 'string') payload[field] = box.open(payload[field]);
    }
  }
  if (row.consumed !== null) payload.consumed = row.consumed;
  return payload;
}

function forStorage(model: string, id: string, payload: AdapterPayload, box: SecretBox): Record<string, unknown> {
  const { jti, consumed: _consumed, ...rest } = payload;
  // A Grant's id is no credential (it authorizes nothing by itself) and remembered consent
  // looks grants up by account, so it stays readable.
  if (model === 'Grant') return { ...rest, jti };
  if (model === 'Interaction') {
    if (rest.session && typeof rest.session === 'object') {
      const { cookie: _cookie, ...session } = rest.session as Record<string, unknown>;
      rest.session = session;
    }
    if (typeof rest.returnTo === 'string' && rest.returnTo.endsWith(id)) {
      rest[RETURN_TO_WITHOUT_JTI] = rest.returnTo.slice(0, -id.length);
      delete rest.returnTo;
    }
    for (const field of SEALED_REFERENCES) {
      if (typeof rest[field] === 'string') rest[field] = box.seal(rest[field]);
    }
  }
  if (model === 'DeviceCode') {
    delete rest.userCode;
    return { ...rest, [SEALED_JTI]: box.seal(id) };
  }
  if (model === 'Session' && rest.accountId) {
    // Saved by every engine request that loads a signed-in session, so "last seen" is its last use.
    const browser = browserOfRequest();
    if (browser) rest[SESSION_BROWSER] = browser;
  }
  if (rest.uid) return { ...rest, [SEALED_JTI]: box.seal(id) };
  return rest;
}

/**
 * A row found again in the same request, as a read of its own would give it: the engine and our
 * pages change what a find returned (an interaction's result, a session's authorizations) in place.
 */
function copyOf(row: StoredRow | undefined): StoredRow | undefined {
  return row && { ...row, payload: structuredClone(row.payload) };
}

/** Keeps a row read in this request for its later finds; a failed read fails the finds that await it. */
function keep(rows: ReadAheadRows, key: string, row: Promise<StoredRow | undefined>): Promise<StoredRow | undefined> {
  row.catch(() => undefined);
  rows.set(key, row);
  return row;
}

/**
 * Reads a code or token (with its Grant and Session) into this request's read-ahead: an opaque
 * token value under every opaque token model, anything else under its own. Returns the row of `model`.
 */
function readToken(
  payloads: PayloadStore,
  readAhead: ReadAhead,
  rows: ReadAheadRows,
  model: string,
  digest: string,
): Promise<StoredRow | undefined> {
  const opaque = isOpaqueToken(model);
  const found = (opaque ? payloads.findOpaqueToken(digest) : payloads.findToken(model, digest)).then((result) => {
    if (result.grant) keep(rows, readAheadKey('Grant', result.grant.id), Promise.resolve(result.grant.row));
    if (result.session) keep(rows, readAheadUidKey('Session', result.session.uid), Promise.resolve(result.session.row));
    if (result.account) readAhead.noteAccount(result.account);
    return result.tokens;
  });
  for (const each of opaque ? OPAQUE_TOKEN_MODELS : [model])
    keep(
      rows,
      readAheadKey(each, digest),
      found.then((tokens) => tokens.get(each)),
    );
  return rows.get(readAheadKey(model, digest))!;
}

/** Reads an Interaction, keeping the account it is for in this request's read-ahead (for findAccount). */
async function readInteraction(
  payloads: PayloadStore,
  readAhead: ReadAhead,
  digest: string,
): Promise<StoredRow | undefined> {
  const found = await payloads.findInteraction(digest);
  if (found?.account) readAhead.noteAccount(found.account);
  return found?.row;
}

function payloadAdapter(model: string, deps: AdapterDeps): Adapter {
  const { payloads, box, readAhead } = deps;
  const reuseGrace = model === 'RefreshToken' ? (deps.refreshReuseGraceSeconds ?? 0) : 0;
  // Saving or deleting a code or token can touch its grant (a refresh token's save extends it):
  // such a write drops everything read ahead; an interaction's, a session's or a grant's only its own model.
  const writesAlone = GRANT_BOUND.has(model) ? undefined : model;
  /** A refresh token consumed within the reuse grace and not reused yet is found as not consumed. */
  const inReuseGrace = (row: StoredRow | undefined): row is StoredRow =>
    reuseGrace > 0 &&
    row !== undefined &&
    row.consumed !== null &&
    row.consumed > now() - reuseGrace &&
    row.payload[REUSED_IN_GRACE] === undefined &&
    typeof row.payload.exp === 'number' &&
    row.payload.exp > now();
  /** The refresh token whose first rotation this request is issuing tokens for, if any. */
  const rotatedFrom = () => {
    if (!(deps.refreshReuseGraceSeconds ?? 0) || (model !== 'RefreshToken' && model !== 'AccessToken'))
      return undefined;
    const rotation = readAhead?.rotation();
    return rotation && !rotation.again ? rotation.from : undefined;
  };
  const restoreSealed = (row: StoredRow | undefined) => {
    const sealed = row?.payload[SEALED_JTI];
    return typeof sealed === 'string' ? restore(model, box.open(sealed), row, box) : undefined;
  };
  /**
   * The row by id: read ahead already, read now with what it points at, or read alone. A row read
   * alone is kept for the rest of the request too (until a write): an interaction page reads its
   * interaction through the engine's interactionDetails, then again in interactionFinished.
   */
  const findRow = (digest: string): Promise<StoredRow | undefined> => {
    const rows = readAhead?.rows();
    if (!readAhead || !rows) return payloads.find(model, digest);
    const key = readAheadKey(model, digest);
    const ahead = rows.get(key);
    if (ahead) return GRANT_BOUND.has(model) ? ahead : ahead.then(copyOf);
    if (GRANT_BOUND.has(model)) return readToken(payloads, readAhead, rows, model, digest);
    if (model === 'Interaction') return keep(rows, key, readInteraction(payloads, readAhead, digest));
    return keep(rows, key, payloads.find(model, digest));
  };
  return {
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      readAhead?.forget(writesAlone);
      const from = rotatedFrom();
      const stored = forStorage(model, id, payload, box);
      const row = {
        model,
        id: sha256(id),
        payload: from === undefined ? stored : { ...stored, [ROTATED_FROM]: from },
        grantId: payload.grantId ? sha256(payload.grantId) : null,
        uid: payload.uid ? sha256(payload.uid) : null,
        userCode: payload.userCode ? box.digest(payload.userCode) : null,
        sessionUid: model !== 'Session' && typeof payload.sessionUid === 'string' ? sha256(payload.sessionUid) : null,
        expiresIn: typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.ceil(expiresIn) : null,
        rotatedFrom: from,
      };
      // A token request's or a resume's saves go out together at its end (read-ahead.ts
      // runHoldingSaves); the first rotation's tokens are checked against a retry as they are
      // written, so they go now.
      if (from === undefined && readAhead?.hold(() => payloads.upsert(row))) return;
      await readAhead?.release();
      await payloads.upsert(row);
    },

    async find(id: string) {
      await readAhead?.release();
      if (model === 'ReplayDetection') {
        // The engine's ReplayDetection.unique() is find-then-save: two requests with the same
        // DPoP proof or client assertion at the same moment would both see "not found". Here the
        // find claims the id atomically; the engine's save that follows fills in the expiry.
        readAhead?.forget();
        if (await payloads.claim(model, sha256(id), REPLAY_CLAIM_SECONDS)) return undefined;
        return restore(model, id, await payloads.find(model, sha256(id)), box) ?? ({ jti: id } as AdapterPayload);
      }
      const row = await findRow(sha256(id));
      // RFC 8628 §3.5: a device polling past its code's expiry is told expired_token, which the
      // engine tells apart when the expired code is found (it asks with ignoreExpiration).
      if (!row && model === 'DeviceCode') {
        const expired = restore(model, id, await payloads.findExpired(model, sha256(id)), box);
        // Expired by the database's clock, so expired to the engine, whatever its own exp says.
        if (expired) expired.exp = Math.min(typeof expired.exp === 'number' ? expired.exp : 0, now() - 1);
        return expired;
      }
      return restore(model, id, inReuseGrace(row) ? { ...row, consumed: null } : row, box);
    },

    async findByUid(uid: string) {
      await readAhead?.release();
      const digest = sha256(uid);
      const rows = readAhead?.rows();
      const key = readAheadUidKey(model, digest);
      const ahead = rows?.get(key);
      if (ahead) return restoreSealed(copyOf(await ahead));
      const row = payloads.findByUid(model, digest);
      return restoreSealed(await (rows ? keep(rows, key, row) : row));
    },

    async findByUserCode(userCode: string) {
      await readAhead?.release();
      const payload = restoreSealed(await payloads.findByUserCode(model, box.digest(userCode)));
      // The engine compares it with what was typed; only its digest is stored.
      return payload && { ...payload, userCode };
    },

    async consume(id: string) {
      await readAhead?.release();
      readAhead?.forget();
      const digest = sha256(id);
      if (reuseGrace > 0) {
        // No undo here (provider.ts keepGrantSourceOnInvalidTarget): the reuse grace already lets
        // the client's corrected retry through once, and an undone consume could meet a grace
        // retry made meanwhile and open the token for a second chain.
        const consumed = await payloads.consumeWithGrace(model, digest, reuseGrace);
        if (consumed) {
          readAhead?.noteRotation({ from: digest, again: consumed.again });
          // The retry of a lost response: what the first rotation issued goes, the retry's stays.
          if (consumed.again && consumed.grantId) await payloads.revokeRotatedFrom(consumed.grantId, digest);
          return;
        }
      } else if (await payloads.consume(model, digest)) {
        // Undone if the request is then refused for its parameters (provider.ts). A simultaneous
        // use of the same code or token meanwhile lost its consume: a replay that revoked the
        // grant, this row with it, so the undo finds nothing to reopen.
        readAhead?.noteConsumed(() => payloads.unconsume(model, digest));
        return;
      }
      // Two requests raced with the same code or refresh token and this one lost: it is a replay.
      // Revoke what the grant issued, as the engine does for a replay it sees itself.
      const row = await payloads.find(model, digest);
      const grantId = row?.payload.grantId;
      if (typeof grantId === 'string') await payloads.revokeGrant(sha256(grantId));
      if (GRANT_BOUND.has(model)) throw new errors.InvalidGrant(`${model} already consumed`);
      throw new errors.InvalidRequest(`${model} already used`);
    },

    async destroy(id: string) {
      readAhead?.forget(writesAlone);
      // The resume destroys its interaction before it saves the grant, code and session it holds:
      // held with them, the destroy costs no statement and no commit of its own.
      if (model === 'Interaction' && readAhead?.hold(() => payloads.expire(model, sha256(id)))) return;
      await readAhead?.release();
      await payloads.destroy(model, sha256(id));
    },

    async revokeByGrantId(grantId: string) {
      await readAhead?.release();
      readAhead?.forget();
      await payloads.revokeByGrantId(model, sha256(grantId));
    },
  };
}

function clientAdapter(clients: ClientMetadataSource, registrations: ClientWrites | undefined): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed with the latchkey CLI, not through the provider');
  };
  return {
    find: (id: string) => clients.findMetadata(id),
    // Only dynamic registration (RFC 7591/7592) writes clients through the engine.
    upsert: registrations ? (id: string, payload: AdapterPayload) => registrations.save(id, payload) : readOnly,
    consume: readOnly,
    destroy: registrations ? (id: string) => registrations.remove(id) : readOnly,
    revokeByGrantId: readOnly,
    findByUid: readOnly,
    findByUserCode: readOnly,
  };
}
