import { isPolyheadError, type PolyheadError } from '@polyhead/data';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Stable error codes of the HTTP API, as sent in `{"error": {"code"}}`. */
export type ApiErrorCode =
  | 'bad_request'
  | 'missing_image'
  | 'empty_image'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'image_too_large'
  | 'unsupported_media_type'
  | 'corrupt_image'
  | 'too_many_images'
  | 'unauthorized'
  | 'forbidden'
  | 'overloaded'
  | 'not_ready'
  | 'timeout'
  | 'reload_failed'
  | 'internal_error';

/** Options of {@link ApiError}. */
export interface ApiErrorOptions {
  /** Machine-readable facts sent beside the message (a limit, the dimensions…). */
  details?: Record<string, unknown>;
  /** The error that led to this one; never sent to the client. */
  cause?: unknown;
  /** Headers sent with the answer, as `Retry-After` with a 503. */
  headers?: Record<string, string>;
}

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; details?: Record<string, unknown> };
}

/**
 * An error the API answers with a status, a stable code and a one-sentence message.
 *
 * @example
 * throw new ApiError(400, 'bad_request', 'top must be a positive integer, got "x"');
 */
export class ApiError extends HTTPException {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: ApiErrorCode,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(status, { message, cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  /** The JSON body sent for this error. */
  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** Status and API code of each decode failure of `@polyhead/data`. */
const IMAGE_CODES: Record<string, [ContentfulStatusCode, ApiErrorCode]> = {
  IMAGE_EMPTY: [400, 'empty_image'],
  IMAGE_UNREADABLE: [415, 'unsupported_media_type'],
  IMAGE_CORRUPT: [422, 'corrupt_image'],
  IMAGE_TOO_LARGE: [413, 'image_too_large'],
};

/** Details of a polyhead error that are safe and useful to echo to a client. */
const ECHOED_DETAILS = ['format', 'width', 'height', 'limit', 'bytes'];

/**
 * Turns a thrown value into an {@link ApiError}: API errors pass through, polyhead
 * input errors get their status, anything else becomes a generic 500 whose cause
 * keeps the original for the log.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isPolyheadError(error)) return fromPolyheadError(error);
  if (error instanceof HTTPException && error.status < 500) return fromHttpException(error);
  return new ApiError(
    500,
    'internal_error',
    'Internal server error; the details are in the server log',
    {
      cause: error,
    },
  );
}

/** Hono's own exceptions (bearer auth, malformed JSON…) in the API's error shape. */
function fromHttpException(error: HTTPException): ApiError {
  const challenge = error.res?.headers.get('WWW-Authenticate');
  const headers = challenge ? { 'WWW-Authenticate': challenge } : undefined;
  if (error.status === 401) {
    return new ApiError(
      401,
      'unauthorized',
      'A valid key is required: send "Authorization: Bearer <key>"',
      {
        cause: error,
        headers,
      },
    );
  }
  const message =
    error.message ||
    (challenge
      ? 'The Authorization header is malformed; send "Authorization: Bearer <key>"'
      : 'Bad request');
  return new ApiError(error.status, error.status === 403 ? 'forbidden' : 'bad_request', message, {
    cause: error,
    headers,
  });
}

function fromPolyheadError(error: PolyheadError): ApiError {
  const known = IMAGE_CODES[error.code];
  if (known === undefined && error.kind === 'runtime') {
    return new ApiError(
      500,
      'internal_error',
      'Internal server error; the details are in the server log',
      {
        cause: error,
      },
    );
  }
  const [status, code] = known ?? [400, 'bad_request'];
  const details = Object.fromEntries(
    ECHOED_DETAILS.filter((key) => error.details[key] !== undefined).map((key) => [
      key,
      error.details[key],
    ]),
  );
  return new ApiError(status, code, error.message, {
    cause: error,
    details: Object.keys(details).length > 0 ? details : undefined,
  });
}
