/** The runtime's log port: one line per event on stderr. Tests pass a silent or capturing one. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LEVELS)[number];

/** A logger writing `time level message` lines to stderr at or above `level`. */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = LEVELS.indexOf(level);
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (message: string) => {
    if (LEVELS.indexOf(lvl) >= min) write(`${new Date().toISOString()} ${lvl} ${message}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = createLogger('silent');
