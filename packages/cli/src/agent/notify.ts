import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { constants } from "node:os";
import { InvalidArgumentError } from "commander";
import type { Logger } from "./log.js";

/** `HUP`, `sighup`, `SIGHUP` → `SIGHUP`; unknown names are refused. */
export function signalName(raw: string): NodeJS.Signals {
  const upper = raw.trim().toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (!(name in constants.signals)) throw new InvalidArgumentError(`unknown signal "${raw}" (e.g. SIGHUP, SIGUSR1, SIGTERM)`);
  return name as NodeJS.Signals;
}

/** `--pid`: a process id, or a pid file read each time (the process may have restarted with a new id). */
export type PidSource = { pid: number } | { file: string };

export function pidSource(raw: string): PidSource {
  if (/^\d+$/.test(raw)) {
    const pid = Number(raw);
    if (pid < 1) throw new InvalidArgumentError("expected a process id ≥ 1 or a pid file");
    return { pid };
  }
  if (!raw.trim()) throw new InvalidArgumentError("expected a process id or a pid file");
  return { file: raw };
}

export interface NotifyOptions {
  command?: string;
  signal?: { name: NodeJS.Signals; target: PidSource };
  log: Logger;
}

/**
 * What the agent does after an output changed (as Vault Agent's `exec` / consul-template's `command`): run
 * `--on-change` through the shell and/or send `--signal` to `--pid`. Runs never overlap: changes during a
 * run make one more run after it.
 */
export class Notifier {
  readonly #o: NotifyOptions;
  #running: Promise<void> | undefined;
  #again: string[] | undefined;
  #child: ReturnType<typeof spawn> | undefined;

  constructor(options: NotifyOptions) {
    this.#o = options;
  }

  get enabled(): boolean {
    return Boolean(this.#o.command || this.#o.signal);
  }

  /** Notify about these changed outputs (files, or keys when there are no templates). */
  trigger(changed: string[]): void {
    if (!this.enabled) return;
    if (this.#running) {
      this.#again = [...new Set([...(this.#again ?? []), ...changed])];
      return;
    }
    this.#running = this.#notify(changed).finally(() => {
      this.#running = undefined;
      const next = this.#again;
      this.#again = undefined;
      if (next) this.trigger(next);
    });
  }

  /** Wait for a running command (at most `timeoutMs`), then stop it. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.#again = undefined;
    if (!this.#running) return;
    const timer = setTimeout(() => this.#child?.kill("SIGTERM"), timeoutMs);
    await this.#running;
    clearTimeout(timer);
  }

  async #notify(changed: string[]): Promise<void> {
    if (this.#o.command) await this.#run(this.#o.command, changed);
    if (this.#o.signal) await this.#signal(this.#o.signal.name, this.#o.signal.target);
  }

  #run(command: string, changed: string[]): Promise<void> {
    const { log } = this.#o;
    return new Promise((resolve) => {
      const child = spawn(command, {
        shell: true,
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, CAIRN_CHANGED: changed.join("\n") },
      });
      this.#child = child;
      child.on("error", (e) => {
        log.error(`--on-change could not start: ${e.message}`);
        resolve();
      });
      child.on("exit", (code, signal) => {
        this.#child = undefined;
        if (code === 0) log.info(`--on-change finished`);
        else log.warn(`--on-change exited with ${signal ?? code}`);
        resolve();
      });
    });
  }

  async #signal(name: NodeJS.Signals, target: PidSource): Promise<void> {
    const { log } = this.#o;
    let pid: number;
    if ("pid" in target) {
      pid = target.pid;
    } else {
      const text = await readFile(target.file, "utf8").catch((e: NodeJS.ErrnoException) => {
        log.error(`cannot read pid file ${target.file}: ${e.code ?? e.message}`);
        return undefined;
      });
      if (text === undefined) return;
      pid = Number(text.trim());
      if (!Number.isInteger(pid) || pid < 1) {
        log.error(`pid file ${target.file} does not hold a process id`);
        return;
      }
    }
    try {
      process.kill(pid, name);
      log.info(`sent ${name} to process ${pid}`);
    } catch (e) {
      log.error(`cannot send ${name} to process ${pid}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
}
