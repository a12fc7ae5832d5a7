import type { MailState } from '../mail/outbox-store.ts';
import type { CliContext } from './context.ts';
import { CommandError, found, type Io, parse, print, required, table, UsageError, unknownCommand } from './output.ts';

export const MAIL_HELP = `Usage: latchkey mail <command> [options]

Every mail Latchkey sends goes through the outbox (a table): running servers deliver it over
SMTP_URL at once, retry for a day when delivery fails, and record the outcome. In development
without SMTP_URL, mails are written to the server's log instead, and kept here to read.

Commands:
  list [--state pending|sent|failed] [--limit N]
                  The latest mails: id, recipient, template, state, attempts
  show <id>       One mail as it is sent: headers and the text part, links included
  send-pending    Deliver the mails that are due now (safe while servers run: each mail is
                  claimed by one sender)

Options:
  --json          Machine-readable output
`;

const STATES = new Set<MailState>(['pending', 'sent', 'failed']);

export async function mailCommand(ctx: CliContext, args: string[], io: Io): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parse(rest, { state: { type: 'string' }, limit: { type: 'string' } });
  const json = values.json;
  switch (command) {
    case 'list': {
      const limit = Number(values.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
        throw new UsageError('--limit must be a number from 1 to 10000');
      const state = values.state as MailState | undefined;
      if (state !== undefined && !STATES.has(state)) throw new UsageError('--state must be pending, sent or failed');
      const rows = await ctx.outbox.list({ state, limit });
      print(io, json, rows, () =>
        table(
          rows.map((row) => ({
            id: row.id,
            to: row.recipient,
            template: row.template,
            state: row.state,
            attempts: row.attempts,
            created: row.created_at,
            sent: row.sent_at,
            next_attempt: row.state === 'pending' ? row.next_attempt_at : null,
          })),
        ),
      );
      return;
    }
    case 'show': {
      const raw = required(positionals[0], 'id');
      const id = Number(raw);
      if (!/^[1-9][0-9]{0,15}$/.test(raw) || !Number.isSafeInteger(id))
        throw new UsageError('id must be a mail id from mail list');
      const mail = found(await ctx.outbox.show(id), `mail ${raw}`);
      const rendered = ctx.mailRenderer.renderStored(mail.template, mail.locale, mail.data);
      const { data: _data, ...row } = mail;
      print(
        io,
        json,
        {
          ...row,
          from: ctx.config.mail.from,
          subject: rendered.subject,
          links: rendered.links,
          text: rendered.text,
          html: rendered.html,
        },
        () =>
          [
            `id:        ${mail.id}`,
            `from:      ${ctx.config.mail.from}`,
            `to:        ${mail.recipient}`,
            `subject:   ${rendered.subject}`,
            `template:  ${mail.template} (${mail.locale})`,
            `state:     ${mail.state}, ${mail.attempts} attempt(s)${mail.sent_at ? `, sent ${mail.sent_at.toISOString()}` : ''}`,
            ...(mail.last_error ? [`error:     ${mail.last_error}`] : []),
            '',
            rendered.text.trimEnd(),
          ].join('\n'),
      );
      return;
    }
    case 'send-pending': {
      // At info, whatever LOG_LEVEL says for other commands: without SMTP_URL the log line is the mail.
      const sender = ctx.mailSender(ctx.log.child({}, { level: 'info' }), { audit: ctx.audit });
      if (!sender) throw new CommandError('SMTP_URL is not set: in production mails are only sent over SMTP');
      try {
        const report = await sender.sendDue();
        print(
          io,
          json,
          { ...report, transport: sender.transport },
          () =>
            `sent ${report.sent}, to retry ${report.retrying}, failed ${report.failed}${sender.transport === 'log' ? ' (no SMTP_URL: written to the log)' : ''}`,
        );
      } finally {
        sender.close();
      }
      return;
    }
    default:
      throw unknownCommand('mail', command);
  }
}
