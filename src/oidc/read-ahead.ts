import { AsyncLocalStorage } from 'node:async_hooks';
import type { AccountRow } from '../accounts/store.ts';
import type { StoredRow } from './payload-store.ts';

/** Rows read ahead in this request, by `readAheadKey`; a promise, so a find already under way is shared. */
export type ReadAheadRows = Map<string, Promise<StoredRow | undefined>>;

/**
 * What one HTTP request has read ahead from oidc_payloads (see adapter.ts): a token is read
 * with its Grant and its Session in one round trip, and an opaque token value is looked up once
 * for every kind of opaque token, because the engine looks for each of those right after.
 *
 * Scoped to one request, so nothing read ahead outlives it; the adapter drops everything read
 * ahead before each write, so a request always reads its own writes. Outside a request (the
 * CLI, background work) nothing is read ahead.
 */
export interface ReadAhead {
  /** Runs `fn` (one request) with a read-ahead of its own. */
  run<T>(fn: () => T): T;
  /**
   * Runs `fn` (one request) with a read-ahead of its own that also holds the request's saves and
   * writes them together once `fn` is done, before the response goes out: the engine saves a
   * refresh token and then an access token, awaiting each (a resumed authorization: its grant, its
   * code and its session), and held they share one statement and one commit. Whatever `fn` did,
   * what it saved is written; a failed write fails the request.
   */
  runHoldingSaves<T>(fn: () => Promise<T>): Promise<T>;
  /** Holds `save` for the end of this request; false outside runHoldingSaves (the caller saves now). */
  hold(save: () => Promise<void>): boolean;
  /**
   * Writes the saves this request holds, now: the adapter calls it before any other read or write,
   * so a request reads its own saves and its writes reach the database in the order it made them.
   */
  release(): Promise<void>;
  /** This request's rows read ahead; undefined outside a request. */
  rows(): ReadAheadRows | undefined;
  /**
   * Drops what this request read ahead (before a write): of `model` only when given, for a write
   * that changes rows of that model alone; everything otherwise.
   */
  forget(model?: string): void;
  /** Keeps the account a token or an interaction read ahead is for, for findAccount later in this request. */
  noteAccount(account: AccountRow): void;
  /**
   * The account read ahead in this request, if any. Kept across forget(): the adapter's writes
   * never change accounts, so the request sees the account as of its first read, as a request
   * that reads it once would.
   */
  account(id: string): AccountRow | undefined;
  /**
   * Remembers the refresh token this request rotated, so that the tokens it issues next can be
   * tied to it (adapter.ts, REFRESH_TOKEN_REUSE_GRACE_SECONDS). Outside a request, a no-op.
   */
  noteRotation(rotation: Rotation): void;
  /** The rotation noted in this request, if any. */
  rotation(): Rotation | undefined;
  /** Remembers how to undo this request's consume of a code or refresh token. Outside a request, a no-op. */
  noteConsumed(undo: () => Promise<void>): void;
  /**
   * Undoes what this request consumed, and drops the saves it still holds (tokens never sent):
   * provider.ts, a token request refused for its resource.
   */
  restoreConsumed(): Promise<void>;
}

/** A refresh token consumed by this request: its digest, and whether this was a retry's once-more. */
interface Rotation {
  from: string;
  again: boolean;
}

export function readAheadKey(model: string, digest: string): string {
  return `${model}:${digest}`;
}

/** Key of a row read ahead by its uid (a Session, found by the uid its tokens carry). */
export function readAheadUidKey(model: string, uidDigest: string): string {
  return `${model}#uid:${uidDigest}`;
}

interface Scope {
  rows: ReadAheadRows;
  rotation?: Rotation;
  /** How to undo the consumes this request made (noteConsumed). */
  consumed?: Array<() => Promise<void>>;
  account?: AccountRow;
  /** Saves held for the end of the request (runHoldingSaves only, until its end). */
  held?: Array<() => Promise<void>> | undefined;
  /** The held saves being written: a release that comes meanwhile waits for them too. */
  writing?: Promise<void>;
}

export function createReadAhead(): ReadAhead {
  const storage = new AsyncLocalStorage<Scope>();
  const release = async () => {
    const scope = storage.getStore();
    if (!scope) return;
    if (scope.held?.length) {
      // Started in one turn: the payload store's group commit writes them in one statement.
      const written = Promise.all(scope.held.splice(0).map((save) => save())).then(() => undefined);
      scope.writing = scope.writing ? Promise.all([scope.writing, written]).then(() => undefined) : written;
    }
    await scope.writing;
  };
  return {
    run: (fn) => storage.run({ rows: new Map() }, fn),
    runHoldingSaves: (fn) =>
      storage.run({ rows: new Map(), held: [] }, async () => {
        try {
          return await fn();
        } finally {
          const scope = storage.getStore()!;
          do await release();
          while (scope.held?.length);
          // A save after the request is done (nothing on these routes makes one) is written at once.
          scope.held = undefined;
        }
      }),
    hold(save) {
      const held = storage.getStore()?.held;
      if (!held) return false;
      held.push(save);
      return true;
    },
    release,
    noteRotation(rotation) {
      const scope = storage.getStore();
      if (scope) scope.rotation = rotation;
    },
    rotation: () => storage.getStore()?.rotation,
    noteConsumed(undo) {
      const scope = storage.getStore();
      if (!scope) return;
      scope.consumed ??= [];
      scope.consumed.push(undo);
    },
    async restoreConsumed() {
      const scope = storage.getStore();
      if (!scope?.consumed?.length) return;
      scope.held?.splice(0);
      for (const restore of scope.consumed.splice(0)) await restore();
    },
    noteAccount(account) {
      const scope = storage.getStore();
      if (scope) scope.account = account;
    },
    account(id) {
      const account = storage.getStore()?.account;
      return account?.id === id ? account : undefined;
    },
    rows: () => storage.getStore()?.rows,
    forget(model) {
      const scope = storage.getStore();
      if (!scope || scope.rows.size === 0) return;
      // A new map rather than deleting in place: a lookup still under way fills in the old one.
      scope.rows =
        model === undefined
          ? new Map()
          : new Map(
              [...scope.rows].filter(
                ([key]) => !key.startsWith(readAheadKey(model, '')) && !key.startsWith(readAheadUidKey(model, '')),
              ),
            );
    },
  };
}
