import type { MiddlewareHandler } from 'hono';

/** Receives one finished log line, without a trailing newline. */
export type PrintFn = (line: string) => void;

/** Options of {@link requestLogger}. */
export interface RequestLoggerOptions {
  /** Colour the status by class (2xx green … 5xx red). Default false. */
  color?: boolean;
}

const STATUS_COLORS = ['', '', '\x1b[32m', '\x1b[36m', '\x1b[33m', '\x1b[31m'];

/**
 * Logs one line per request once its answer is ready: the arrow, method, path,
 * status and elapsed time, as in `--> POST /v1/predict 200 14ms`.
 *
 * @example
 * app.use(requestLogger((line) => process.stderr.write(`${line}\n`)));
 */
export function requestLogger(
  print: PrintFn,
  options: RequestLoggerOptions = {},
): MiddlewareHandler {
  return async function requestLogger(c, next) {
    const start = performance.now();
    await next();
    const ms = Math.round(performance.now() - start);
    print(`--> ${c.req.method} ${c.req.path} ${paint(c.res.status, options.color)} ${ms}ms`);
  };
}

function paint(status: number, color = false): string {
  const code = STATUS_COLORS[Math.floor(status / 100)];
  return color && code ? `${code}${status}\x1b[0m` : String(status);
}

/** Writes lines to stderr, coloured only when stderr is a terminal and `NO_COLOR` is unset. */
export function stderrPrinter(): { print: PrintFn; color: boolean } {
  return {
    print: (line) => process.stderr.write(`${line}\n`),
    color: process.stderr.isTTY === true && process.env.NO_COLOR === undefined,
  };
}
