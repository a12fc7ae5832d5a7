import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';

/**
 * The "KS Connect API": a resource server that accepts Latchkey's JWT access tokens (RFC 9068)
 * and verifies them offline with the issuer's published keys. No call to Latchkey per request:
 * the keys are fetched once and cached (jose refetches when it sees an unknown `kid`).
 */
export interface ApiOptions {
  /** Latchkey's issuer URL; tokens must carry it as `iss`. */
  issuer: string;
  /** This API's identifier as registered with `latchkey apis create --identifier`; tokens must carry it in `aud`. */
  audience: string;
  /** Where the public signing keys are. Default `<issuer>/jwks`. */
  jwksUri?: string | undefined;
  /** Clock skew accepted on `exp`/`nbf`/`iat`, in seconds. Default 5. */
  clockTolerance?: number | undefined;
  /** The verifier's clock; tests move it forward to see expiry. Default: the system clock. */
  now?: (() => Date) | undefined;
}

/** What a verified token tells us about the caller. */
interface Caller {
  sub: string;
  client_id: string;
  scope: string[];
}

interface Message {
  id: number;
  text: string;
  author: string;
  created_at: string;
}

const REALM = 'KS Connect API';
const MAX_BODY_BYTES = 16 * 1024;
const MAX_TEXT_LENGTH = 500;

/** Which scope each route needs (the API's own policy; Latchkey only grants scopes). */
const ROUTES = [
  { method: 'GET', path: '/messages', scope: 'read', handle: listMessages },
  { method: 'POST', path: '/messages', scope: 'write', handle: postMessage },
] as const;

class HttpError extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function createApi(options: ApiOptions): RequestListener {
  const issuer = options.issuer.replace(/\/+$/, '');
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer}/jwks`));
  const now = options.now ?? (() => new Date());
  const messages: Message[] = [
    { id: 1, text: 'Welcome to the KS Connect API.', author: 'system', created_at: new Date().toISOString() },
  ];

  async function authenticate(req: IncomingMessage): Promise<Caller | { problem: string } | undefined> {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
    if (!match) return { problem: 'the Authorization header must be "Bearer <access token>"' };
    try {
      const { payload } = await jwtVerify(match[1]!, jwks, {
        issuer,
        audience: options.audience,
        typ: 'at+jwt', // RFC 9068 §4: reject ID tokens and other JWTs signed by the same keys
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
        clockTolerance: options.clockTolerance ?? 5,
        currentDate: now(),
      });
      return callerOf(payload);
    } catch (err) {
      // Problems with the token are the caller's (401); failing to fetch our keys is ours (500).
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || !(err instanceof errors.JOSEError))
        throw err;
      return { problem: describe(err) };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://api.invalid');
    if (url.pathname === '/' && req.method === 'GET') {
      return send(res, 200, {
        name: REALM,
        audience: options.audience,
        routes: ROUTES.map((r) => `${r.method} ${r.path} (scope ${r.scope})`),
      });
    }
    const onPath = ROUTES.filter((route) => route.path === url.pathname);
    if (onPath.length === 0) return send(res, 404, { error: 'not_found' });
    const route = onPath.find((candidate) => candidate.method === req.method);
    if (!route) {
      res.setHeader('Allow', onPath.map((r) => r.method).join(', '));
      return send(res, 405, { error: 'method_not_allowed' });
    }
    const caller = await authenticate(req);
    if (!caller) {
      // RFC 6750 §3.1: a request without credentials gets the challenge but no error code.
      res.setHeader('WWW-Authenticate', `Bearer realm="${REALM}"`);
      return send(res, 401, { error_description: 'an access token is required' });
    }
    if ('problem' in caller) {
      res.setHeader(
        'WWW-Authenticate',
        `Bearer realm="${REALM}", error="invalid_token", error_description="${caller.problem}"`,
      );
      return send(res, 401, { error: 'invalid_token', error_description: caller.problem });
    }
    if (!caller.scope.includes(route.scope)) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${REALM}", error="insufficient_scope", scope="${route.scope}"`);
      return send(res, 403, {
        error: 'insufficient_scope',
        error_description: `this request needs the ${route.scope} scope`,
        scope: route.scope,
      });
    }
    const { status, body } = await route.handle({ req, caller, messages });
    return send(res, status, body);
  }

  return function ksConnectApi(req, res) {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError)
        return send(res, err.status, { error: 'invalid_request', error_description: err.message });
      console.error('api: request failed', err);
      if (!res.headersSent) send(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  };
}

function callerOf(payload: JWTPayload): Caller {
  return {
    sub: String(payload.sub),
    client_id: String(payload.client_id),
    scope: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
  };
}

/** A public reason for a rejected token; quotes are avoided so it fits in WWW-Authenticate. */
function describe(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'the access token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return 'the access token is not for this API';
    if (err.claim === 'iss') return 'the access token is from another issuer';
    if (err.claim === 'typ') return 'the token is not an access token';
    return `the access token has an invalid ${err.claim} claim`;
  }
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JOSEAlgNotAllowed
  ) {
    return 'the access token signature is not valid';
  }
  return 'the access token is malformed or not a JWT';
}

async function listMessages({ caller, messages }: { caller: Caller; messages: Message[] }) {
  return { status: 200, body: { caller, messages } };
}

async function postMessage({ req, caller, messages }: { req: IncomingMessage; caller: Caller; messages: Message[] }) {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    throw new HttpError(415, 'send application/json');
  const body = await readJson(req);
  const text = typeof body === 'object' && body !== null ? (body as { text?: unknown }).text : undefined;
  if (typeof text !== 'string' || !text.trim() || text.length > MAX_TEXT_LENGTH) {
    throw new HttpError(400, `text must be a non-empty string of at most ${MAX_TEXT_LENGTH} characters`);
  }
  const message = {
    id: messages.length + 1,
    text: text.trim(),
    author: caller.sub,
    created_at: new Date().toISOString(),
  };
  messages.push(message);
  return { status: 201, body: { message } };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `the body must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}
