// The baseline (baseline-server.ts) uses two engine internals that ship without type declarations.
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';

  const MemoryAdapter: new (model: string, store: unknown) => Adapter;
  export default MemoryAdapter;
}
declare module 'oidc-provider/lib/helpers/lru.js' {
  export default class LRU {
    constructor(options: { maxSize: number });
  }
}
