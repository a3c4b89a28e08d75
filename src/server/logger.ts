import { type Logger, type LoggerOptions, pino } from 'pino';
import { API_KEY_IN_TEXT } from '../keys/api-key.ts';

/** Log levels accepted by MAILROOM_LOG_LEVEL / --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Replaces anything shaped like an API key in a string, so a key pasted into a URL or a message never reaches a log. */
export function scrubKeys(text: string): string {
  return text.replace(API_KEY_IN_TEXT, 'mr_[REDACTED]');
}

/** Options shared by every Mailroom logger: credentials are redacted wherever they appear. */
export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    base: undefined,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'headers.authorization',
        'headers["x-api-key"]',
        'apiKey',
        '*.apiKey',
        'plaintext',
        '*.plaintext',
      ],
      censor: '[REDACTED]',
    },
    formatters: {
      log(object) {
        // A last line of defence: scrub key-shaped strings from every top-level string field (messages, URLs, errors).
        for (const [k, v] of Object.entries(object)) {
          if (typeof v === 'string') {
            object[k] = scrubKeys(v);
          }
        }
        return object;
      },
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? scrubKeys(a) : a)) as Parameters<typeof method>);
      },
    },
  };
}

/** A structured JSON logger writing to `destination` (stdout by default). */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination) : pino(loggerOptions(level));
}
