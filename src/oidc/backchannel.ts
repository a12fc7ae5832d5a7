import { decodeJwt } from 'jose';
import type { Logger } from '../observability/logger.ts';

/**
 * The engine's outgoing HTTP (its `fetch` option): back-channel logout tokens, a client's
 * jwks_uri. The engine has already set a 2.5 s timeout and an SSRF-guarding dispatcher that
 * refuses loopback, private and other special-use addresses; we keep that guard, and with
 * ALLOW_LOOPBACK_OUTBOUND (development, tests) lift it only for loopback targets.
 *
 * Back-channel logout (OIDC Back-Channel Logout 1.0): the engine awaits one POST per client
 * before it redirects the person, so a slow or failing client would hold up their sign-out and
 * get a single try. Instead the logout token is delivered in the background, with bounded
 * retries on network errors, 5xx and 429, and the engine is told it was accepted. Outcomes are
 * logged (`backchannel.delivered`, `backchannel.retry`, `backchannel.failed`). Retries live in the
 * node that handled the logout: a restart drops the pending ones (best effort, as the spec allows).
 */

/** Waits before the second and third attempts; a delivery is abandoned after the last. */
const LOGOUT_RETRY_DELAYS_MS = [1_000, 5_000] as const;
const ATTEMPT_TIMEOUT_MS = 2_500;
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

export type OutboundFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface OutboundOptions {
  allowLoopback: boolean;
  log: Logger;
  retryDelaysMs?: readonly number[];
}

/** Whether a failed delivery is worth another try: the client may be briefly down or busy. */
function retryable(status: number | undefined): boolean {
  return status === undefined || status >= 500 || status === 429;
}

function audienceOf(logoutToken: string): string | undefined {
  try {
    const { aud } = decodeJwt(logoutToken);
    return Array.isArray(aud) ? aud[0] : aud;
  } catch {
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export function createOutboundFetch(options: OutboundOptions): OutboundFetch {
  const { allowLoopback, log } = options;
  const delays = options.retryDelaysMs ?? LOGOUT_RETRY_DELAYS_MS;

  function withPolicy(url: URL, init: RequestInit): RequestInit {
    if (!allowLoopback || !LOOPBACK_HOST.test(url.hostname)) return init;
    // Dropping the engine's dispatcher removes its special-use address check for this request only.
    const { dispatcher: _guard, ...rest } = init as RequestInit & { dispatcher?: unknown };
    return rest;
  }

  async function deliverLogoutToken(url: URL, init: RequestInit, clientId: string | undefined): Promise<void> {
    const target = { client_id: clientId, uri: `${url.origin}${url.pathname}` };
    for (let attempt = 1; ; attempt += 1) {
      let status: number | undefined;
      let failure: unknown;
      try {
        const response = await fetch(url, { ...init, signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
        status = response.status;
        await response.body?.cancel();
        if (status === 200 || status === 204) {
          log.info({ event: 'backchannel.delivered', ...target, attempt }, 'logout token delivered');
          return;
        }
      } catch (err) {
        failure = err;
      }
      const delay = delays[attempt - 1];
      if (delay === undefined || !retryable(status)) {
        log.warn(
          { event: 'backchannel.failed', ...target, attempt, status, err: failure },
          'logout token not delivered',
        );
        return;
      }
      log.info(
        { event: 'backchannel.retry', ...target, attempt, status, error: (failure as Error | undefined)?.message },
        'logout token delivery will be retried',
      );
      await pause(delay);
    }
  }

  return async function outboundFetch(input, init = {}) {
    const url = new URL(input instanceof Request ? input.url : input);
    const request = withPolicy(url, init);
    const logoutToken =
      request.method === 'POST' && request.body instanceof URLSearchParams ? request.body.get('logout_token') : null;
    if (logoutToken) {
      void deliverLogoutToken(url, request, audienceOf(logoutToken)).catch((err: unknown) => {
        log.error({ event: 'backchannel.failed', err }, 'logout token delivery crashed');
      });
      // The engine only checks for 200/204; the delivery's real outcome is logged above.
      return new Response(null, { status: 204 });
    }
    return fetch(url, request);
  };
}
