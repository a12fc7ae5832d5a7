import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { RouteName } from '../http/routes.ts';

/** The routes whose answer is a document that only changes with the engine. */
export const PUBLISHED_ROUTES: RouteName[] = ['discovery', 'jwks'];

/** Origins remembered per engine before the memo starts again: the Host header is the caller's to choose. */
const MAX_ORIGINS = 16;

interface Published {
  contentType: string;
  body: string;
}

/**
 * Discovery and /jwks answer every GET to one engine alike: its configuration and its public keys
 * (a key rotation swaps in a new engine: app.ts ProviderRef). Only the endpoint URLs in discovery
 * follow the request's origin (the engine resolves them against ctx.href), so the memo is per
 * engine, route and origin. The engine builds and serialises the document on every request; this
 * keeps its first 200 answer and replays those bytes, with the engine's open CORS for those
 * routes (any origin, echoed; Vary: Origin). Anything else (a preflight, HEAD, an error) is the
 * engine's.
 */
export function publishedDocuments(currentEngine: () => Provider) {
  const memo = new WeakMap<Provider, Map<string, Published>>();
  return async function replayPublished(ctx: Context, next: Next): Promise<void> {
    // An absolute-form request target is itself the base the engine resolves against: its own answer.
    if (!ctx.originalUrl.startsWith('/')) return next();
    const engine = currentEngine();
    let documents = memo.get(engine);
    const key = `${ctx.state.route as string} ${ctx.protocol}://${ctx.host}`;
    const published = documents?.get(key);
    if (published) {
      ctx.vary('Origin');
      ctx.set('Access-Control-Allow-Origin', ctx.get('Origin') || '*');
      ctx.set('Content-Type', published.contentType);
      ctx.body = published.body;
      return;
    }
    await next();
    const contentType = ctx.response.get('Content-Type');
    if (ctx.status !== 200 || typeof contentType !== 'string' || ctx.body === null || typeof ctx.body !== 'object')
      return;
    if (!documents) {
      documents = new Map();
      memo.set(engine, documents);
    }
    if (documents.size >= MAX_ORIGINS) documents.clear();
    // The bytes Koa would send for this body, kept so the next answer skips the serialisation too.
    const body = JSON.stringify(ctx.body);
    documents.set(key, { contentType, body });
    ctx.body = body;
  };
}
