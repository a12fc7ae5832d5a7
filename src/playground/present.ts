import type { Exchange } from './exchange.ts';
import { jsonOf } from './exchange.ts';

/** The causes the page names for a failed request; the words are the locale's (playground.causes). */
export type Cause =
  | 'unreachable'
  | 'timeout'
  | 'codeUsed'
  | 'codeExpired'
  | 'refreshReused'
  | 'invalidClient'
  | 'audience'
  | 'tokenRevoked'
  | 'jwtOffline'
  | 'apiNotRunning'
  | 'other';

const MASK = '••••••••••••';

/** The request as it went over the wire (HTTP/1.1 form); the client secret masked unless asked. */
export function requestText(exchange: Exchange, showSecret: boolean): string {
  const { request } = exchange;
  const url = new URL(request.url);
  const lines = [`${request.method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of request.headers) {
    const secret = name === 'Authorization' && value.startsWith('Basic ');
    lines.push(`${name}: ${secret && !showSecret ? `Basic ${MASK}` : value}`);
  }
  if (request.body !== undefined) lines.push('', request.body);
  return lines.join('\n');
}

/** The form body, field by field (decoded), for reading. */
export function formFields(exchange: Exchange): Array<[string, string]> {
  return exchange.request.body ? [...new URLSearchParams(exchange.request.body)] : [];
}

/** The response as it came: status line, the headers worth reading, the body (JSON pretty-printed). */
export function responseText(exchange: Exchange): string | undefined {
  const { response } = exchange;
  if (!response) return undefined;
  const json = jsonOf(exchange);
  const body = json ? JSON.stringify(json, null, 2) : response.body;
  return [
    `HTTP/1.1 ${response.status} ${response.statusText}`,
    ...response.headers.map(([name, value]) => `${name}: ${value}`),
    '',
    body,
  ].join('\n');
}

/** Whether the request failed (no response, or a 4xx/5xx; introspection's active:false is not a failure). */
export function failed(exchange: Exchange): boolean {
  return !exchange.response || exchange.response.status >= 400;
}

/** The likely cause of a failure, in one line (which one; the page words it). */
export function causeOf(exchange: Exchange, resource: string | undefined): Cause | undefined {
  if (!failed(exchange)) {
    const json = jsonOf(exchange);
    return exchange.kind.startsWith('check') && json?.active === false ? 'tokenRevoked' : undefined;
  }
  if (exchange.failure && exchange.kind === 'api') return 'apiNotRunning';
  if (exchange.failure) return exchange.failure === 'timeout' ? 'timeout' : 'unreachable';
  const json = jsonOf(exchange) ?? {};
  const error = String(json.error ?? '');
  const description = String(json.error_description ?? '');
  const authenticate = exchange.response?.headers.find(([name]) => name === 'www-authenticate')?.[1] ?? '';
  if (error === 'invalid_client') return 'invalidClient';
  if (error === 'unsupported_token_type') return 'jwtOffline';
  if (error === 'invalid_grant') {
    if (exchange.kind === 'reuse' || exchange.kind === 'refresh') return 'refreshReused';
    if (/expired/i.test(description)) return 'codeExpired';
    return 'codeUsed';
  }
  if (exchange.kind === 'userinfo' && resource && /invalid_token/.test(`${error} ${authenticate}`)) return 'audience';
  if (/invalid_token/.test(`${error} ${authenticate}`)) return 'tokenRevoked';
  return 'other';
}
