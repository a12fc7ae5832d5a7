/**
 * Runs `task` every `ms` until stopped, never two runs at once, without keeping the process alive.
 * `now` runs it at once (or right after the run in progress). `stop` waits for a run in progress,
 * so the pool is not closed under it.
 */
export function every(
  ms: number,
  task: () => Promise<void>,
  onError: (err: unknown) => void,
): { now(): void; stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const run = () => {
    clearTimeout(timer);
    running = task()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (stopped) return;
        if (again) {
          again = false;
          run();
        } else {
          schedule();
        }
      });
  };
  const schedule = () => {
    timer = setTimeout(run, ms);
    timer.unref();
  };
  schedule();
  return {
    now() {
      if (stopped) return;
      if (running) again = true;
      else run();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
