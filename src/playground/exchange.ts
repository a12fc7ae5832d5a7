/**
 * The playground's back channel: real HTTP from this server to its own issuer, as a client's
 * backend would send it, recorded exactly (request line, headers, body; status, headers, body) so
 * the page shows what went over the wire. Each request is bounded in time.
 */

/** Longest wait for one back-channel request: the issuer is this server. */
const REQUEST_TIMEOUT_MS = 5000;
/** Response headers worth showing (the rest are ours: CSP, HSTS, ...). */
const SHOWN_HEADERS = ['content-type', 'cache-control', 'pragma', 'www-authenticate', 'dpop-nonce'];

export interface Exchange {
  /** What it was for (a key of the page's strings: token, userinfo, introspection, ...). */
  kind: string;
  request: { method: 'GET' | 'POST'; url: string; headers: Array<[string, string]>; body?: string | undefined };
  response?: { status: number; statusText: string; headers: Array<[string, string]>; body: string } | undefined;
  /** Set when no response came (timeout, refused connection): the message. */
  failure?: string | undefined;
}

export interface Outgoing {
  method: 'GET' | 'POST';
  /** A path of the issuer (/token, /userinfo, ...), or of the example API. */
  path: string;
  headers?: Array<[string, string]>;
  /** Form fields, sent as application/x-www-form-urlencoded. */
  form?: Record<string, string> | undefined;
}

/** What the request will be, before it is sent (the page shows the token request before sending it). */
export function prepare(base: string, kind: string, outgoing: Outgoing): Exchange {
  const headers: Array<[string, string]> = [...(outgoing.headers ?? [])];
  let body: string | undefined;
  if (outgoing.form) {
    headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    body = new URLSearchParams(outgoing.form).toString();
  }
  headers.push(['Accept', 'application/json']);
  return { kind, request: { method: outgoing.method, url: `${base}${outgoing.path}`, headers, body } };
}

/** Sends a prepared exchange and records the response as it came. */
export async function send(exchange: Exchange): Promise<Exchange> {
  const { request } = exchange;
  try {
    const res = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await res.text();
    const headers = SHOWN_HEADERS.flatMap((name): Array<[string, string]> => {
      const value = res.headers.get(name);
      return value === null ? [] : [[name, value]];
    });
    return { ...exchange, response: { status: res.status, statusText: res.statusText, headers, body } };
  } catch (err) {
    return { ...exchange, failure: (err as Error).name === 'TimeoutError' ? 'timeout' : (err as Error).message };
  }
}

/** The response body as JSON, if it is JSON. */
export function jsonOf(exchange: Exchange): Record<string, unknown> | undefined {
  if (!exchange.response) return undefined;
  try {
    const value = JSON.parse(exchange.response.body) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Basic client authentication (RFC 6749 §2.3.1: each part form-urlencoded, then base64). */
export function basicAuth(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}
