/**
 * Errors shared by every polyhead package. Each carries a stable `code` that
 * scripts and the server can match on, a one-sentence message for people, and
 * the underlying error as `cause`.
 */

/** What went wrong, in broad strokes; decides the CLI exit status and HTTP status. */
export type ErrorKind = 'input' | 'usage' | 'runtime';

export interface PolyheadErrorOptions {
  /** The error that led to this one (a sharp or filesystem error, say). */
  cause?: unknown;
  /** Broad class of the failure; defaults to `'input'`. */
  kind?: ErrorKind;
  /** Extra machine-readable facts (file, line, dimensions…), echoed in JSON errors. */
  details?: Record<string, unknown>;
}

/**
 * Base class of every error polyhead throws on purpose.
 *
 * @example
 * throw new PolyheadError('DATA_BAD_ROW', `${file}:${line}: expected 3 columns, found 2`);
 */
export class PolyheadError extends Error {
  override name = 'PolyheadError';
  readonly code: string;
  readonly kind: ErrorKind;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: PolyheadErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.kind = options.kind ?? 'input';
    this.details = options.details ?? {};
  }
}

/** A dataset, manifest or label problem: names the file and line or folder. */
export class DataError extends PolyheadError {
  override name = 'DataError';
}

/** An image that cannot be decoded, is truncated, or is too large. */
export class ImageError extends PolyheadError {
  override name = 'ImageError';
}

/** True for errors polyhead raised on purpose (as opposed to bugs). */
export function isPolyheadError(error: unknown): error is PolyheadError {
  return error instanceof PolyheadError;
}
