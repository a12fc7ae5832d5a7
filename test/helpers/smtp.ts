import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';

/** A mail as the SMTP server received it, with its parts decoded. */
export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  raw: string;
  /** Top-level headers, names lower-cased, folded lines joined. */
  headers: Map<string, string>;
  text: string;
  html: string;
}

export interface TestSmtp {
  url: string;
  port: number;
  /** Every mail received, in order; shared with a server restarted on the same inbox. */
  inbox: ReceivedMail[];
  /** Resolves once the inbox holds `count` mails (fails after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= and =?UTF-8?B?…?=), as nodemailer writes non-ASCII headers. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([qb])\?([^?]*)\?=/gi, (_, kind: string, text: string) =>
      kind.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (__, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  return headers;
}

function decode(body: string, encoding: string | undefined): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') {
    const bytes = body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** A MIME message's headers and its text/plain and text/html parts (multipart/alternative or single part). */
export function parseMail(raw: string): Pick<ReceivedMail, 'headers' | 'text' | 'html'> {
  const split = raw.indexOf('\r\n\r\n');
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split + 4);
  const parts: Array<{ type: string; content: string }> = [];
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  if (boundary) {
    for (const part of body.split(`--${boundary}`).slice(1, -1)) {
      const at = part.indexOf('\r\n\r\n');
      const partHeaders = parseHeaders(part.slice(0, at).replace(/^\r\n/, ''));
      parts.push({
        type: partHeaders.get('content-type') ?? '',
        content: decode(part.slice(at + 4).replace(/\r\n$/, ''), partHeaders.get('content-transfer-encoding')),
      });
    }
  } else {
    parts.push({
      type: headers.get('content-type') ?? 'text/plain',
      content: decode(body, headers.get('content-transfer-encoding')),
    });
  }
  return {
    headers,
    text: parts.find((part) => part.type.startsWith('text/plain'))?.content ?? '',
    html: parts.find((part) => part.type.startsWith('text/html'))?.content ?? '',
  };
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1: an ephemeral port, or `port` to come back on the
 * same one after an outage. It asks for AUTH with `user:pass` (allowed without TLS: loopback) and
 * offers no STARTTLS. Closed when the test ends.
 */
export async function startSmtp(
  t: TestContext,
  options: { port?: number; inbox?: ReceivedMail[] } = {},
): Promise<TestSmtp> {
  const inbox = options.inbox ?? [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'user' && auth.password === 'pass') callback(null, { user: auth.username });
      else callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        inbox.push({
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          },
          raw,
          ...parseMail(raw),
        });
        callback();
      });
    },
    logger: false,
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as AddressInfo;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return {
    url: `smtp://user:pass@127.0.0.1:${port}`,
    port,
    inbox,
    async waitFor(count, timeoutMs = 15_000) {
      for (const deadline = Date.now() + timeoutMs; inbox.length < count; await sleep(50)) {
        if (Date.now() > deadline)
          throw new Error(`expected ${count} mail(s) within ${timeoutMs} ms, got ${inbox.length}`);
      }
      return inbox;
    },
    close,
  };
}

/** Polls `check` until it returns a value (not false/undefined), for at most `timeoutMs`. */
export async function until<T>(check: () => Promise<T | false | undefined>, timeoutMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(50)) {
    const value = await check();
    if (value !== false && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
  }
}
