import type { Queryable } from '../db/pool.ts';

/** Security-relevant events, kept in PostgreSQL: ids only, never emails, tokens or secrets. */
export interface AuditEvent {
  event: string;
  accountId?: string | undefined;
  clientId?: string | undefined;
  ip?: string | undefined;
  details?: Record<string, unknown> | undefined;
}
export interface AuditRow {
  id: number;
  at: Date;
  event: string;
  account_id: string | null;
  client_id: string | null;
  ip: string | null;
  details: Record<string, unknown>;
}

/**
 * The head of an audit row's insert, for another store's statement that records its change and the
 * event together (one statement, one commit: remembered_consents.remember_implied). It is followed
 * by the values or a select of (event, account_id, client_id, ip, details).
 */
export const RECORD_AUDIT_EVENT = 'insert into audit_events (event, account_id, client_id, ip, details)';
/**
 * A change and its audit row as one statement: `change` is a data-modifying statement with
 * RETURNING, `row` selects (event, account_id, client_id, ip, details) from the rows it returned,
 * so a change that touched nothing records nothing; the statement answers `result` of those rows.
 */
export const withAuditRow = (change: string, row: string, result: string) =>
  `with changed as (${change}), recorded as (
     ${RECORD_AUDIT_EVENT} select ${row} from changed
   )
   select ${result} from changed`;

const insert = {
  name: 'audit_events.insert',
  text: `${RECORD_AUDIT_EVENT} values ($1, $2, $3, $4, $5::jsonb)`,
};
const since = {
  name: 'audit_events.since',
  text: 'select id, at, event, account_id, client_id, ip, details from audit_events where id > $1 order by id limit $2',
};
const latest = {
  name: 'audit_events.latest',
  text: 'select * from (select id, at, event, account_id, client_id, ip, details from audit_events order by id desc limit $1) recent order by id',
};

const ofAccount = {
  name: 'audit_events.of_account',
  text: 'select id, at, event, account_id, client_id, ip, details from audit_events where account_id = $1 order by id desc limit $2',
};

export function createAuditStore(db: Queryable) {
  return {
    async record(entry: AuditEvent): Promise<void> {
      await db.query({
        ...insert,
        values: [
          entry.event,
          entry.accountId ?? null,
          entry.clientId ?? null,
          entry.ip ?? null,
          JSON.stringify(entry.details ?? {}),
        ],
      });
    },
    /**
     * An event another store's statement wrote with its change (RECORD_AUDIT_EVENT): nothing is
     * stored here; observers (observedAudit) are told, as for `record`.
     */
    recordedElsewhere(_entry: AuditEvent): void {},
    async since(afterId: number, limit = 500): Promise<AuditRow[]> {
      return (await db.query<AuditRow>({ ...since, values: [afterId, limit] })).rows;
    },
    /** An account's own events, newest first (the account page's recent activity). */
    async ofAccount(accountId: string, limit = 20): Promise<AuditRow[]> {
      return (await db.query<AuditRow>({ ...ofAccount, values: [accountId, limit] })).rows;
    },
    async latest(limit = 50): Promise<AuditRow[]> {
      return (await db.query<AuditRow>({ ...latest, values: [limit] })).rows;
    },
  };
}
export type AuditStore = ReturnType<typeof createAuditStore>;

/** The same store, telling `onRecorded` of each event once it is stored (the sign-in metrics count them). */
export function observedAudit(audit: AuditStore, onRecorded: (entry: AuditEvent) => void): AuditStore {
  return {
    ...audit,
    async record(entry) {
      await audit.record(entry);
      onRecorded(entry);
    },
    recordedElsewhere(entry) {
      audit.recordedElsewhere(entry);
      onRecorded(entry);
    },
  };
}
