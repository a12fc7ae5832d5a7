import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { MessageChannel } from 'node:worker_threads';

/**
 * Preloaded (`--import`) into a Latchkey cluster started by the cluster tests: in the primary and
 * in each worker (not the preparing child), records every module the process loads (ESM through a
 * resolve hook, CommonJS from require's cache, Node's own from moduleLoadList) and writes them to
 * RECORD_IMPORTS_DIR/<primary|worker>-<pid>.json when it exits.
 */
const dir = process.env.RECORD_IMPORTS_DIR;
const role = cluster.isWorker ? 'worker' : process.env.LATCHKEY_ROLE === undefined ? 'primary' : undefined;
if (dir && role) {
  const esm = new Set<string>();
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (url: string) => esm.add(url));
  port1.unref();
  const hooks = `
    let port;
    export function initialize(data) { port = data.port; }
    export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      port.postMessage(resolved.url);
      return resolved;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] });
  process.on('exit', () => {
    const cjs = Object.keys(createRequire(import.meta.url).cache);
    writeFileSync(
      path.join(dir, `${role}-${process.pid}.json`),
      JSON.stringify({ esm: [...esm], cjs, builtins: (process as { moduleLoadList?: string[] }).moduleLoadList ?? [] }),
    );
  });
}
