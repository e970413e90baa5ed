import type { Log } from "./events/redis.js";

/**
 * Runs a background pass (sequencing, checkpointing, alert evaluation, deliveries) one at a time. A call
 * while a pass runs asks for one more pass after it, so work that arrived meanwhile is never left for
 * the next timer. A failing pass is logged (the first time, then every 100th) and retried by the next call.
 */
export function serialRunner(
  pass: () => Promise<void>,
  options: {
    log: Log;
    /** Names the work in the log: "audit sequencing failed; will retry". */
    what: string;
    stopped: () => boolean;
    /** How the extra pass is started (default: at once). */
    again?: () => void;
  },
) {
  let running: Promise<void> | undefined;
  let pending = false;
  let failures = 0;

  function run(): Promise<void> {
    if (running) {
      pending = true;
      return running;
    }
    pending = false;
    running = pass()
      .then(() => {
        failures = 0;
      })
      .catch((e: unknown) => {
        failures += 1;
        if (failures === 1 || failures % 100 === 0)
          options.log.warn({ error: (e as Error).message, failures }, `${options.what} failed; will retry`);
      })
      .finally(() => {
        running = undefined;
        if (pending && !options.stopped()) (options.again ?? run)();
      });
    return running;
  }

  return {
    run,
    get busy(): boolean {
      return running !== undefined;
    },
    /** Asks for a pass after the one running now. */
    later(): void {
      pending = true;
    },
    /** Resolves once no pass is running. */
    async idle(): Promise<void> {
      while (running) await running;
    },
  };
}
