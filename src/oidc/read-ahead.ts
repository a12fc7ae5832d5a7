import { AsyncLocalStorage } from 'node:async_hooks';
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
  /** This request's rows read ahead; undefined outside a request. */
  rows(): ReadAheadRows | undefined;
  /** Drops what this request read ahead (before a write). */
  forget(): void;
  /**
   * Remembers the refresh token this request rotated, so that the tokens it issues next can be
   * tied to it (adapter.ts, REFRESH_TOKEN_REUSE_GRACE_SECONDS). Outside a request, a no-op.
   */
  noteRotation(rotation: Rotation): void;
  /** The rotation noted in this request, if any. */
  rotation(): Rotation | undefined;
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

export function createReadAhead(): ReadAhead {
  const storage = new AsyncLocalStorage<{ rows: ReadAheadRows; rotation?: Rotation }>();
  return {
    run: (fn) => storage.run({ rows: new Map() }, fn),
    noteRotation(rotation) {
      const scope = storage.getStore();
      if (scope) scope.rotation = rotation;
    },
    rotation: () => storage.getStore()?.rotation,
    rows: () => storage.getStore()?.rows,
    forget() {
      const scope = storage.getStore();
      // A new map rather than clear(): a lookup still under way fills in the old one.
      if (scope && scope.rows.size > 0) scope.rows = new Map();
    },
  };
}
