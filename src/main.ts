import { ConfigError, loadConfig, type Config } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { startServer } from './server.ts';

/**
 * `npm start`: config -> database -> migrate -> app -> listen. SIGTERM/SIGINT stop gracefully
 * (in-flight requests get up to 10 s); a second signal exits at once.
 */
export async function serve(env: Record<string, string | undefined>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, pretty: config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY) });
  let running;
  try {
    running = await startServer(config, log);
  } catch (err) {
    process.stderr.write(`latchkey: ${oneLine(err)}\n`);
    log.debug({ err }, 'start failed');
    log.flush?.();
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ event: 'server.forced_exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ event: 'server.stopping', signal }, 'stopping: finishing in-flight requests');
    running.close(10_000).then(() => process.exit(0), (err: unknown) => {
      log.error({ event: 'server.stop_failed', err }, 'stop failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await serve(process.env);
}
