/** Lines on stderr, one per event, prefixed with the time and the command (`cairn agent`, `cairn run`). */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(prefix: string, options: { quiet?: boolean } = {}): Logger {
  const line = (level: string, message: string) => process.stderr.write(`${new Date().toISOString()} ${prefix}: ${level}${message}\n`);
  return {
    info: (m) => {
      if (!options.quiet) line("", m);
    },
    warn: (m) => line("warning: ", m),
    error: (m) => line("error: ", m),
  };
}
