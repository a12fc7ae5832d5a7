import { once } from 'node:events';
import type http from 'node:http';
import net from 'node:net';

/**
 * How long, once closing, a kept-alive connection may stay open for a request its client sends
 * before it learns that the server is stopping. Closed at once, a request already on its way over
 * such a connection is reset (never processed, but the client sees an error); answered with
 * `Connection: close`, the client opens a new connection (to another node) for the next one.
 */
export const DRAIN_WINDOW_MS = 1000;

/**
 * Graceful close. Stops accepting connections at once. Every response still to be sent says
 * `Connection: close`, and its connection closes when it has gone. Idle kept-alive connections
 * stay open for `windowMs` (a request racing the shutdown on one is served, with
 * `Connection: close`), then close; so do those that turn idle later. Resolves when the last
 * connection has closed.
 */
export function drainOnClose(server: http.Server): (windowMs: number) => Promise<void> {
  const inFlight = new Set<http.ServerResponse>();
  let draining = false;
  let windowOver = false;
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (windowOver) setImmediate(() => server.closeIdleConnections());
    });
  });
  return async function startDraining(windowMs) {
    draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = once(server, 'close');
    // net.Server's close, not http.Server's: that one also closes the idle connections at once.
    net.Server.prototype.close.call(server);
    const window = setTimeout(() => {
      windowOver = true;
      // http.Server's close now: closes the idle connections and stops its connection checks.
      server.close();
    }, windowMs);
    try {
      await closed;
    } finally {
      clearTimeout(window);
    }
  };
}
