import type { MiddlewareHandler } from 'hono';
import pino from 'pino';

import type { AppEnv } from './env.js';

/** Receives one finished log line, without a trailing newline. */
export type PrintFn = (line: string) => void;

/** How log lines are written: one JSON object per line, or short lines for people. */
export type LogFormat = 'json' | 'text';

/** The server's logger: pino's, writing through a {@link PrintFn}. */
export type Logger = pino.Logger;

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Receives each line. Default: stderr. */
  print?: PrintFn;
  /** Default `json`. */
  format?: LogFormat;
  /** Least severe level written (`debug`, `info`, `warn`, `error`). Default `info`. */
  level?: string;
  /** Colour the status of `text` request lines by class. Default: when stderr is a terminal and `NO_COLOR` is unset. */
  color?: boolean;
}

/**
 * A pino logger whose lines go to `print`: JSON objects with `level`, ISO `time`
 * and `msg`, or in `text` format short lines such as
 * `--> POST /v1/predict 200 14ms` for requests.
 *
 * @example
 * const logger = createLogger({ print: (line) => lines.push(line) });
 * logger.info({ dir: 'runs/model' }, 'model loaded');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const print = options.print ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const color =
    options.color ??
    (options.print === undefined &&
      process.stderr.isTTY === true &&
      process.env.NO_COLOR === undefined);
  const render =
    options.format === 'text' ? (line: string) => toText(line, color) : (line: string) => line;
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (chunk: string) => print(render(chunk.trimEnd())) },
  );
}

/** Fields of the one line logged per request. */
export interface RequestRecord {
  reqId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  /** Largest forward pass the request's images took part in. */
  batchSize?: number;
  /** Images the request carried. */
  images?: number;
  /** The error code answered, if any. */
  code?: string;
}

/**
 * Logs one line per request once its answer is ready: request id, method, path,
 * status, latency, and for predictions the batch size. Answers of 500 and up are
 * logged at `error` level.
 *
 * @example
 * app.use(requestId(), requestLogger(createLogger()));
 */
export function requestLogger(logger: Logger): MiddlewareHandler<AppEnv> {
  return async function requestLogger(c, next) {
    const start = performance.now();
    await next();
    const record: RequestRecord = {
      reqId: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - start) * 10) / 10,
      batchSize: c.get('batchSize'),
      images: c.get('images'),
      code: c.get('errorCode'),
    };
    logger[record.status >= 500 ? 'error' : 'info'](record, 'request');
  };
}

const STATUS_COLORS = ['', '', '\x1b[32m', '\x1b[36m', '\x1b[33m', '\x1b[31m'];
const HIDDEN = new Set(['level', 'time', 'msg', 'err']);

function toText(line: string, color: boolean): string {
  const record = JSON.parse(line) as Record<string, unknown>;
  if (record.msg === 'request') {
    const status = Number(record.status);
    const paint = color ? STATUS_COLORS[Math.floor(status / 100)] : '';
    const shown = paint ? `${paint}${status}\x1b[0m` : String(status);
    const batch = record.batchSize === undefined ? '' : ` batch=${String(record.batchSize)}`;
    return `--> ${String(record.method)} ${String(record.path)} ${shown} ${Math.round(Number(record.ms))}ms${batch}`;
  }
  const level = record.level === 'info' ? '' : `${String(record.level)}: `;
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const err = record.err as { stack?: string } | undefined;
  return `${level}${String(record.msg)}${fields.join('')}${err?.stack ? `\n${err.stack}` : ''}`;
}
