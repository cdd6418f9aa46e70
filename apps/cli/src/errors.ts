import { CommanderError } from 'commander';
import { isPolyheadError } from '@polyhead/data';

/** Exit statuses: 0 success, 1 runtime failure, 2 bad usage or bad input, 130 stopped by a signal. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** Exit status for an error thrown by a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  // a run stopped by SIGINT/SIGTERM after writing its checkpoint, as shells report Ctrl-C
  if (isPolyheadError(error) && error.code === 'TRAIN_INTERRUPTED') return EXIT.interrupted;
  if (isPolyheadError(error)) return error.kind === 'runtime' ? EXIT.failure : EXIT.usage;
  return EXIT.failure;
}

/** One clear line for people; the stack only when asked for. */
export function describeError(error: unknown, verbose: boolean): string {
  if (isPolyheadError(error)) {
    const cause = verbose && error.cause instanceof Error ? `\ncaused by: ${error.cause.stack ?? error.cause.message}` : '';
    return `${error.message} [${error.code}]${verbose && error.stack ? `\n${error.stack}` : ''}${cause}`;
  }
  const e = error instanceof Error ? error : new Error(String(error));
  if (verbose) return e.stack ?? e.message;
  return `${e.message}\n(this looks like a bug in polyhead: rerun with --verbose and report the output)`;
}
