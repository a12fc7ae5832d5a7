import type { AuditStore } from '../audit/store.ts';
import type { Logger } from '../observability/logger.ts';
import type { ClaimedMail, OutboxStore } from './outbox-store.ts';
import type { MailRenderer, RenderedMail } from './render.ts';
import type { MailTransport } from './transport.ts';

export interface RetryPolicy {
  /** Wait after the first failed attempt; each further failure doubles it. */
  firstDelayMs: number;
  /** The longest wait between two attempts. */
  maxDelayMs: number;
  /** From enqueueing: past this, a failed attempt is the last and the mail is `failed`. */
  giveUpAfterMs: number;
}

/** 1 min, 2, 4, … at most an hour apart, for a day: an SMTP outage of hours loses nothing, and nobody gets a reset link a week late. */
const DEFAULT_RETRY: RetryPolicy = {
  firstDelayMs: 60_000,
  maxDelayMs: 3_600_000,
  giveUpAfterMs: 24 * 3_600_000,
};
/**
 * How long a claim keeps a mail from other senders. Longer than an SMTP attempt can take (its
 * timeouts, transport.ts, total about 90 s), so a mail goes out once; a sender that dies mid-way
 * leaves its mails to the next claim after this.
 */
const CLAIM_LEASE_SECONDS = 300;

export interface SendReport {
  sent: number;
  retrying: number;
  failed: number;
}

export interface MailSenderDeps {
  outbox: Pick<OutboxStore, 'claimDue' | 'openData' | 'markSent' | 'markFailed'>;
  renderer: MailRenderer;
  transport: MailTransport;
  /** The From header (MAIL_FROM). */
  from: string;
  log: Logger;
  /** latchkey_mails_total{outcome}: sent, retry, failed. */
  metrics?: { mails: { inc(labels: { outcome: 'sent' | 'retry' | 'failed' }): void } } | undefined;
  /**
   * Told of each outcome's audit event (ids and template only), which the outbox store writes with
   * the outcome (markSent, markFailed): for the audit's observers, such as the metrics.
   */
  audit?: Pick<AuditStore, 'recordedElsewhere'> | undefined;
  retry?: RetryPolicy;
  /** Mails claimed at a time. */
  batchSize?: number;
  /** At most this many mails per run, so one run never holds the timer for long; the next run continues. */
  maxPerRun?: number;
  leaseSeconds?: number;
}

/** SMTP replies that no retry will change: the receiving server refused this recipient or message (5xx). */
function permanent(err: unknown): boolean {
  const { code, responseCode } = err as { code?: string; responseCode?: number };
  return (code === 'EENVELOPE' || code === 'EMESSAGE') && typeof responseCode === 'number' && responseCode >= 500;
}

/** What is kept in last_error (the database, not the log: an SMTP reply may quote the address). */
function describe(err: unknown): string {
  const { code, responseCode, message } = err as { code?: string; responseCode?: number; message?: string };
  return [code, responseCode, message ?? String(err)].filter((part) => part !== undefined).join(' ');
}

/**
 * Delivers due mails from the outbox: claims a batch (one sender per mail, on any node), renders
 * each, hands it to the transport, records the outcome. A failed attempt is retried with
 * exponential backoff until `retry.giveUpAfterMs` after enqueueing, then the mail is `failed`;
 * an unrenderable mail or a permanent SMTP refusal fails at once. Logs, audit events and metrics
 * carry the outbox id and the template, never the address or a link.
 *
 * Delivery is at least once: a sender that dies after the SMTP server took a mail but before
 * recording it leaves the mail to be sent again after the lease.
 */
export function createMailSender(deps: MailSenderDeps) {
  const { outbox, renderer, transport, log } = deps;
  const retry = deps.retry ?? DEFAULT_RETRY;
  const batchSize = deps.batchSize ?? 10;
  const maxPerRun = deps.maxPerRun ?? 100;
  const leaseSeconds = deps.leaseSeconds ?? CLAIM_LEASE_SECONDS;

  async function fail(
    mail: ClaimedMail,
    err: unknown,
    report: SendReport,
    options: { final: boolean; reason: string },
  ) {
    const error = describe(err);
    const errorCode = (err as { code?: string }).code;
    const responseCode = (err as { responseCode?: number }).responseCode;
    const age = Date.now() - mail.created_at.getTime();
    if (!options.final && age < retry.giveUpAfterMs) {
      const delay = Math.min(retry.firstDelayMs * 2 ** (mail.attempts - 1), retry.maxDelayMs);
      // The last try falls on the deadline rather than past it.
      const retryAt = new Date(Math.min(Date.now() + delay, mail.created_at.getTime() + retry.giveUpAfterMs));
      if (!(await outbox.markFailed(mail, { retryAt }, error))) return;
      report.retrying += 1;
      deps.metrics?.mails.inc({ outcome: 'retry' });
      log.warn(
        {
          event: 'mail.retry',
          mail_id: mail.id,
          template: mail.template,
          attempts: mail.attempts,
          error_code: errorCode,
          response_code: responseCode,
          retry_at: retryAt,
        },
        'mail not delivered: will try again',
      );
      return;
    }
    const audited = {
      event: 'mail.failed',
      details: { mail_id: mail.id, template: mail.template, attempts: mail.attempts, reason: options.reason },
    };
    if (!(await outbox.markFailed(mail, { final: true, audited }, error))) return;
    report.failed += 1;
    deps.metrics?.mails.inc({ outcome: 'failed' });
    log.error(
      {
        event: 'mail.failed',
        mail_id: mail.id,
        template: mail.template,
        attempts: mail.attempts,
        reason: options.reason,
        error_code: errorCode,
        response_code: responseCode,
      },
      'mail not delivered: giving up',
    );
    deps.audit?.recordedElsewhere(audited);
  }

  async function deliver(mail: ClaimedMail, report: SendReport) {
    let rendered: RenderedMail;
    try {
      rendered = renderer.renderStored(mail.template, mail.locale, outbox.openData(mail));
    } catch (err) {
      await fail(mail, err, report, { final: true, reason: 'render' });
      return;
    }
    try {
      await transport.send(
        {
          from: deps.from,
          to: mail.recipient,
          subject: rendered.subject,
          text: rendered.text,
          html: rendered.html,
          locale: mail.locale,
        },
        { id: mail.id, template: mail.template, links: rendered.links },
      );
    } catch (err) {
      await fail(
        mail,
        err,
        report,
        permanent(err) ? { final: true, reason: 'refused' } : { final: false, reason: 'smtp' },
      );
      return;
    }
    const audited = {
      event: 'mail.sent',
      details: { mail_id: mail.id, template: mail.template, attempts: mail.attempts },
    };
    if (!(await outbox.markSent(mail, audited))) {
      log.warn(
        { event: 'mail.claim_lost', mail_id: mail.id, template: mail.template },
        'mail delivered after its claim ran out: it may go twice',
      );
      return;
    }
    report.sent += 1;
    deps.metrics?.mails.inc({ outcome: 'sent' });
    log.info(
      {
        event: 'mail.sent',
        mail_id: mail.id,
        template: mail.template,
        attempts: mail.attempts,
        transport: transport.kind,
      },
      'mail delivered',
    );
    deps.audit?.recordedElsewhere(audited);
  }

  return {
    transport: transport.kind,
    /** Delivers the mails due now (at most `maxPerRun`); safe on every node at once. */
    async sendDue(): Promise<SendReport> {
      const report: SendReport = { sent: 0, retrying: 0, failed: 0 };
      for (let taken = 0; taken < maxPerRun; ) {
        const batch = await outbox.claimDue(Math.min(batchSize, maxPerRun - taken), leaseSeconds);
        for (const mail of batch) await deliver(mail, report);
        taken += batch.length;
        if (batch.length < batchSize) break;
      }
      return report;
    },
    close: () => transport.close(),
  };
}
export type MailSender = ReturnType<typeof createMailSender>;
