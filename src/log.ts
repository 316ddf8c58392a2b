// Logging for the control plane. Everything goes to stderr so the workload's stdout stays its own.
// The data-plane worker never writes here directly: it posts messages to the main thread (see run.ts),
// so a slow terminal can never stall a notification.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export type LogFormat = 'text' | 'json';

let threshold = 1; // info
let format: LogFormat = 'text';

export function configureLog(level: LogLevel, fmt: LogFormat = 'text'): void {
  threshold = LOG_LEVELS.indexOf(level);
  format = fmt;
}

export function logFormat(): LogFormat {
  return format;
}

export function levelEnabled(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= threshold;
}

export function log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
  if (!levelEnabled(level)) return;
  if (format === 'json') {
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields }) + '\n');
  } else {
    const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${String(v)}`).join(' ') : '';
    process.stderr.write(`wasmsup: ${level === 'info' ? '' : level + ': '}${message}${extra}\n`);
  }
}
