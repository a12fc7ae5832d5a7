import type { Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';

interface MailMessage {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  locale: string;
}

/** What a transport is told besides the message: ids and links for the development log, never for SMTP. */
interface MailMeta {
  id: number;
  template: string;
  links: string[];
}

/** Delivers one message or throws (an SMTP error carries `code` and `responseCode`). */
export interface MailTransport {
  kind: 'smtp' | 'log';
  send(message: MailMessage, meta: MailMeta): Promise<void>;
  close(): void;
}

/**
 * Bounds on each SMTP step, well inside the sender's claim lease (sender.ts): a server that stops
 * answering fails the attempt, which is retried, instead of holding the mail.
 */
const SMTP_TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 45_000, dnsTimeout: 15_000 };

/**
 * SMTP through nodemailer. `smtp://` connects in clear and upgrades with STARTTLS whenever the
 * server offers it (nodemailer's default); `smtps://` is TLS from the first byte. Credentials come
 * from the URL. One connection per message: mails are few, and no pooled connection can go stale.
 * nodemailer is loaded by the first mail: a server process that sends none does not carry it.
 */
export function createSmtpTransport(url: string, extra: SMTPTransport.Options = {}): MailTransport {
  const options = { ...smtpOptions(url), ...SMTP_TIMEOUTS, ...extra };
  let transporter: Promise<Transporter<SMTPTransport.SentMessageInfo>> | undefined;
  const connect = () =>
    (transporter ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(options)));
  return {
    kind: 'smtp',
    async send(message) {
      await (await connect()).sendMail({
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        headers: {
          // RFC 3834: no auto-replies (vacation notices) to a no-reply sender.
          'Auto-Submitted': 'auto-generated',
          'Content-Language': message.locale,
        },
      });
    },
    // A transporter that never loaded has nothing to close; send() already reported why.
    close: () =>
      void transporter?.then(
        (opened) => opened.close(),
        () => undefined,
      ),
  };
}

/** The URL's parts as nodemailer's options (it accepts a URL too, but then also reads options from its query). */
function smtpOptions(url: string): SMTPTransport.Options {
  const parsed = new URL(url);
  const secure = parsed.protocol === 'smtps:';
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    ...(parsed.username
      ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } }
      : {}),
  };
}

/**
 * Development without SMTP_URL: each mail is written to the log with its recipient, subject and
 * links (that is its point: `npm start` alone lets a developer follow a reset link) and counts as
 * sent; the row stays for `latchkey mail list` / `mail show`. Never used in production.
 */
function createLogTransport(log: Logger): MailTransport {
  return {
    kind: 'log',
    async send(message, meta) {
      log.info(
        {
          event: 'mail.logged',
          mail_id: meta.id,
          template: meta.template,
          to: message.to,
          subject: message.subject,
          links: meta.links,
        },
        `mail not sent (no SMTP_URL): to ${message.to}: ${message.subject}${meta.links.length ? ` ${meta.links.join(' ')}` : ''}`,
      );
    },
    close() {},
  };
}

/**
 * The transport the settings ask for: SMTP with SMTP_URL; without it the log outside production,
 * and none in production (the mails wait in the outbox; loadConfig refuses to start a production
 * server whose features need mail without SMTP_URL).
 */
export function createMailTransport(config: Pick<Config, 'env' | 'mail'>, log: Logger): MailTransport | undefined {
  if (config.mail.smtpUrl) return createSmtpTransport(config.mail.smtpUrl);
  return config.env === 'production' ? undefined : createLogTransport(log);
}
