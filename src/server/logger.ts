import type { Request, Response } from 'express';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { API_KEY_IN_TEXT, KEY_PREFIX } from '../keys/api-key.ts';
import { USER_TOKEN_IN_TEXT, USER_TOKEN_PREFIX } from '../keys/user-token.ts';

/** Log levels accepted by MAILROOM_LOG_LEVEL / --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

const KEY_MARK = `${KEY_PREFIX}_`;
const TOKEN_MARK = `${USER_TOKEN_PREFIX}_`;

/**
 * Replaces anything shaped like an API key or a user token in a string, so a credential pasted into a URL or a message
 * never reaches a log.
 */
export function scrubKeys(text: string): string {
  // Every key contains "mr_" and every token "mru_": the regular expressions only run on the rare text that could
  // hold one.
  let scrubbed = text.includes(KEY_MARK) ? text.replace(API_KEY_IN_TEXT, 'mr_[REDACTED]') : text;
  if (scrubbed.includes(TOKEN_MARK)) {
    scrubbed = scrubbed.replace(USER_TOKEN_IN_TEXT, 'mru_[REDACTED]');
  }
  return scrubbed;
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
        'token',
        '*.token',
        'password',
        '*.password',
        'passwordHash',
        '*.passwordHash',
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

/**
 * A structured JSON logger writing to `destination`, or to stdout asynchronously: lines are handed to a buffer that
 * is written in the background, so a slow or blocked stdout never holds up a request (past 16 MiB of backlog, lines
 * are dropped rather than growing memory). Whatever is buffered is flushed when the process exits.
 */
export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  if (destination) {
    return pino(loggerOptions(level), destination as DestinationStream);
  }
  const stdout = pino.destination({ dest: 1, sync: false, maxLength: 16 * 1024 * 1024 });
  process.once('exit', () => {
    try {
      stdout.flushSync();
    } catch {
      // stdout is gone: nothing left to write to.
    }
  });
  return pino(loggerOptions(level), stdout);
}

/**
 * One access-log line per request at info, when the response is done: request id, method, URL (keys scrubbed),
 * status and time. A listener and one log call per request; no per-request child logger. The line goes to the same
 * destination through a lean logger of its own: its few fields are built here (the URL scrubbed, the rest sane by
 * construction), so it skips the general logger's redaction passes, which cost more than the line itself.
 */
export function accessLog(logger: Logger): (req: Request, res: Response) => void {
  const destination = (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym];
  const lines = destination ? pino({ level: logger.level, base: undefined }, destination) : logger;
  return (req, res) => {
    const started = performance.now();
    res.once('close', () => {
      const ms = Math.round(performance.now() - started);
      const url = scrubKeys(req.originalUrl);
      const status = res.writableFinished ? res.statusCode : 499;
      const line = { reqId: req.id, method: req.method, url, status, ms };
      const message = `${req.method} ${url} ${status} ${ms}ms`;
      if (status >= 500) {
        lines.error(line, message);
      } else {
        lines.info(line, message);
      }
    });
  };
}
