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
}

export function readAheadKey(model: string, digest: string): string {
  return `${model}:${digest}`;
}

/** Key of a row read ahead by its uid (a Session, found by the uid its tokens carry). */
export function readAheadUidKey(model: string, uidDigest: string): string {
  return `${model}#uid:${uidDigest}`;
}

export function createReadAhead(): ReadAhead {
  const storage = new AsyncLocalStorage<{ rows: ReadAheadRows }>();
  return {
    run: (fn) => storage.run({ rows: new Map() }, fn),
    rows: () => storage.getStore()?.rows,
    forget() {
      const scope = storage.getStore();
      // A new map rather than clear(): a lookup still under way fills in the old one.
      if (scope && scope.rows.size > 0) scope.rows = new Map();
    },
  };
}
