import { type AuditEvent, withAuditRow } from '../audit/store.ts';
import type { Queryable } from '../db/pool.ts';
import type { SecretBox } from '../secret-box.ts';
import type { MailLocale, MailTemplateName, MailTemplates } from './templates.ts';

/** Enqueued mails wake every node's sender at commit (LISTEN in server.ts); the poll covers a missed one. */
export const MAIL_CHANNEL = 'latchkey_mail';

export type MailState = 'pending' | 'sent' | 'failed';

/** The audit event of a mail's outcome: about the mail (its id and template), never its recipient. */
export type MailAuditEvent = Required<Pick<AuditEvent, 'event' | 'details'>>;

/** A mail to send: what `enqueue` takes. The template name decides the data's shape. */
export type OutgoingMail = {
  [T in MailTemplateName]: { recipient: string; template: T; locale: MailLocale; data: MailTemplates[T] };
}[MailTemplateName];

/** A row as listed: no data (it is sealed, and may hold a one-time link). */
export interface OutboxRow {
  id: number;
  recipient: string;
  template: string;
  locale: string;
  state: MailState;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
}
/** A row with its data opened: what the sender renders and `mail show` prints. */
export interface OutboxMail extends OutboxRow {
  data: unknown;
}
/**
 * A claimed row: this claim's number is `attempts`; only that claim may record the outcome. Its
 * data is still sealed (`openData`), so one row that cannot be opened fails alone.
 */
export type ClaimedMail = Pick<OutboxRow, 'id' | 'recipient' | 'template' | 'locale' | 'attempts' | 'created_at'> & {
  sealedData: SealedData;
};
type SealedData = { sealed?: unknown };

const COLUMNS = 'id, recipient, template, locale, state, attempts, next_attempt_at, last_error, created_at, sent_at';

// The notification is sent at commit: callers enqueue inside the transaction of the token the mail
// carries, and a rolled-back transaction neither keeps the row nor wakes anyone.
const enqueue = {
  name: 'mail_outbox.enqueue',
  text: `with queued as (insert into mail_outbox (recipient, template, locale, data) values ($1, $2, $3, $4::jsonb) returning id)
         select id, pg_notify('${MAIL_CHANNEL}', '') from queued`,
};
// One statement decides the claim: SKIP LOCKED lets concurrent senders take disjoint rows, and
// moving next_attempt_at past the lease keeps the row from every other sender until the lease
// ends (a sender that died mid-delivery leaves it to be claimed again then).
const claimDue = {
  name: 'mail_outbox.claim_due',
  text: `update mail_outbox set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
         where id in (select id from mail_outbox where state = 'pending' and next_attempt_at <= now()
                      order by next_attempt_at, id limit $1 for update skip locked)
         returning id, recipient, template, locale, attempts, created_at, data`,
};
/** A mail's outcome is written with its audit row (withAuditRow): a lost claim records nothing. */
const markSent = {
  name: 'mail_outbox.mark_sent',
  text: withAuditRow(
    `update mail_outbox set state = 'sent', sent_at = now(), last_error = null
     where id = $1 and state = 'pending' and attempts = $2 returning id`,
    '$3, null, null, null, $4::jsonb',
    'id',
  ),
};
const markRetry = {
  name: 'mail_outbox.mark_retry',
  text: `update mail_outbox set next_attempt_at = $3, last_error = $4
         where id = $1 and state = 'pending' and attempts = $2`,
};
const markFailed = {
  name: 'mail_outbox.mark_failed',
  text: withAuditRow(
    `update mail_outbox set state = 'failed', last_error = $3
     where id = $1 and state = 'pending' and attempts = $2 returning id`,
    '$4, null, null, null, $5::jsonb',
    'id',
  ),
};
const list = {
  name: 'mail_outbox.list',
  text: `select ${COLUMNS} from mail_outbox where ($1::text is null or state = $1) order by id desc limit $2`,
};
const show = { name: 'mail_outbox.show', text: `select ${COLUMNS}, data from mail_outbox where id = $1` };
const sweep = {
  name: 'mail_outbox.sweep',
  text: `delete from mail_outbox where id in (
           select id from mail_outbox
           where (state = 'sent' and created_at < now() - make_interval(secs => $1))
              or (state = 'failed' and created_at < now() - make_interval(secs => $2))
           limit $3)`,
};

/** How long finished rows stay for `mail list` and support questions before the janitor deletes them. */
const MAIL_RETENTION = { sentSeconds: 7 * 86_400, failedSeconds: 30 * 86_400 };
/** Errors are kept for the operator, bounded: an SMTP reply can be long. */
const ERROR_LENGTH = 500;

/**
 * The outbox (mail_outbox). Over a transaction's client, `enqueue` writes the mail in that
 * transaction: the flows create a token and the mail carrying it together, so neither exists
 * without the other. The data is sealed with `box` (it may hold a one-time link).
 */
export function createOutboxStore(db: Queryable, box: SecretBox) {
  const seal = (data: unknown) => JSON.stringify({ sealed: box.seal(JSON.stringify(data)) });
  const open = (stored: SealedData) => {
    if (typeof stored?.sealed !== 'string') throw new Error('mail data is not sealed');
    return JSON.parse(box.open(stored.sealed)) as unknown;
  };
  return {
    async enqueue(mail: OutgoingMail): Promise<{ id: number }> {
      const { rows } = await db.query<{ id: number }>({
        ...enqueue,
        values: [mail.recipient, mail.template, mail.locale, seal(mail.data)],
      });
      return { id: rows[0]!.id };
    },

    /** Claims up to `limit` due mails for `leaseSeconds` (one sender per row) and counts the attempt. */
    async claimDue(limit: number, leaseSeconds: number): Promise<ClaimedMail[]> {
      const { rows } = await db.query<Omit<ClaimedMail, 'sealedData'> & { data: SealedData }>({
        ...claimDue,
        values: [limit, leaseSeconds],
      });
      return rows.map(({ data, ...row }) => ({ ...row, sealedData: data }));
    },

    /** A claimed mail's data, opened (throws when it cannot be: another LATCHKEY_SECRET_KEY). */
    openData: (mail: Pick<ClaimedMail, 'sealedData'>): unknown => open(mail.sealedData),

    /**
     * Records a delivery with its audit event (withAuditRow); false when the claim is no longer
     * this sender's (its lease ran out and another claimed it): then nothing is recorded.
     */
    async markSent(mail: Pick<ClaimedMail, 'id' | 'attempts'>, audited: MailAuditEvent): Promise<boolean> {
      const values = [mail.id, mail.attempts, audited.event, JSON.stringify(audited.details)];
      return ((await db.query({ ...markSent, values })).rowCount ?? 0) > 0;
    },

    /**
     * A failed attempt: try again at `retryAt`, or `final` (state failed, never retried, recorded
     * with its audit event as markSent does).
     */
    async markFailed(
      mail: Pick<ClaimedMail, 'id' | 'attempts'>,
      outcome: { retryAt: Date } | { final: true; audited: MailAuditEvent },
      error: string,
    ): Promise<boolean> {
      const message = error.slice(0, ERROR_LENGTH);
      const result =
        'retryAt' in outcome
          ? await db.query({ ...markRetry, values: [mail.id, mail.attempts, outcome.retryAt, message] })
          : await db.query({
              ...markFailed,
              values: [mail.id, mail.attempts, message, outcome.audited.event, JSON.stringify(outcome.audited.details)],
            });
      return (result.rowCount ?? 0) > 0;
    },

    /** The latest mails, newest first, without their data. */
    async list(options: { state?: MailState | undefined; limit?: number } = {}): Promise<OutboxRow[]> {
      return (await db.query<OutboxRow>({ ...list, values: [options.state ?? null, options.limit ?? 50] })).rows;
    },

    /** One mail with its data opened, or undefined. */
    async show(id: number): Promise<OutboxMail | undefined> {
      const { rows } = await db.query<OutboxRow & { data: SealedData }>({ ...show, values: [id] });
      const row = rows[0];
      return row && { ...row, data: open(row.data) };
    },

    /** Janitor: deletes sent and failed rows older than their retention, at most `batch`; returns how many. */
    async sweep(batch = 1000, retention = MAIL_RETENTION): Promise<number> {
      return (
        (await db.query({ ...sweep, values: [retention.sentSeconds, retention.failedSeconds, batch] })).rowCount ?? 0
      );
    },
  };
}
export type OutboxStore = ReturnType<typeof createOutboxStore>;
