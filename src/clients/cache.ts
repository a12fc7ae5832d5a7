import type { AdapterPayload } from 'oidc-provider';
import { createNotifiedCache, type NotifiedCache } from '../db/notified-cache.ts';

export interface ClientMetadataSource {
  /** The client's metadata as oidc-provider expects it, or undefined when no such client exists. */
  findMetadata(clientId: string): Promise<AdapterPayload | undefined>;
}

/** Client metadata as the engine's Client adapter reads it, from memory. */
export function createClientCache(deps: {
  load: (clientId: string) => Promise<AdapterPayload | undefined>;
  maxAgeMs: number;
}): NotifiedCache<AdapterPayload> & ClientMetadataSource {
  const cache = createNotifiedCache<AdapterPayload>(deps);
  return Object.assign(cache, { findMetadata: (clientId: string) => cache.get(clientId) });
}
