import type { Context } from 'hono';

import { ApiError } from './errors.js';

/** The multipart field that carries images. */
export const IMAGE_FIELD = 'image';

/** One uploaded image, or why it cannot be used. */
export type Upload =
  { filename: string | null; bytes: Uint8Array } | { filename: string | null; error: ApiError };

/** What a predict request carried. */
export interface Uploads {
  /** `raw` for an image sent as the body, `multipart` for form parts, `json` for base64. */
  via: 'raw' | 'multipart' | 'json';
  /** The images in request order; never empty. */
  images: Upload[];
}

/** Limits of {@link readUploads}. */
export interface UploadLimits {
  /** Largest image, in bytes (after base64 decoding for JSON). */
  maxImageBytes: number;
  /** Most images in one request. */
  maxImages: number;
}

const ACCEPTED =
  `multipart/form-data with field "${IMAGE_FIELD}", image/*, application/octet-stream, ` +
  `or application/json {"${IMAGE_FIELD}": "<base64>"}`;

/**
 * Reads the images of a predict request: every `image` part of a multipart form,
 * in order; the whole body when it is sent as `image/*` or
 * `application/octet-stream`; or the base64 strings of a JSON body
 * (`{"image": …}` or `{"images": […]}`). The declared type of an image is not
 * trusted: the decode step sniffs its bytes.
 *
 * @throws ApiError 400 for a form without `image` files, an empty body or bad
 *   JSON, 413 for more than `maxImages` images, 415 for any other content type.
 */
export async function readUploads(c: Context, limits: UploadLimits): Promise<Uploads> {
  const type = mediaType(c.req.header('content-type'));
  let uploads: Uploads;
  if (type === 'multipart/form-data') {
    uploads = { via: 'multipart', images: await readForm(c, limits.maxImageBytes) };
  } else if (type === 'application/json') {
    uploads = { via: 'json', images: await readJson(c, limits.maxImageBytes) };
  } else {
    uploads = { via: 'raw', images: [await readRaw(c, type, limits.maxImageBytes)] };
  }
  if (uploads.images.length > limits.maxImages) {
    throw new ApiError(
      413,
      'too_many_images',
      `The request holds ${uploads.images.length} images; the limit is ${limits.maxImages} per request`,
      { details: { limit: limits.maxImages, count: uploads.images.length } },
    );
  }
  return uploads;
}

async function readRaw(
  c: Context,
  type: string | undefined,
  maxImageBytes: number,
): Promise<Upload> {
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (type === undefined && body.byteLength === 0) {
    throw new ApiError(400, 'missing_image', `The request has no image; send ${ACCEPTED}`, {
      details: { field: IMAGE_FIELD },
    });
  }
  if (type === undefined || !(type.startsWith('image/') || type === 'application/octet-stream')) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      `Content-Type ${type ?? '(none)'} is not accepted; send ${ACCEPTED}`,
      {
        details: { contentType: type ?? null },
      },
    );
  }
  if (body.byteLength === 0) {
    throw new ApiError(
      400,
      'empty_image',
      `The request body is empty (0 bytes); expected the image's bytes`,
    );
  }
  checkSize(body.byteLength, maxImageBytes);
  return { filename: null, bytes: body };
}

/** Plain or URL-safe base64, padding optional, after whitespace is removed. */
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

async function readJson(c: Context, maxImageBytes: number): Promise<Upload[]> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (error) {
    throw new ApiError(400, 'bad_request', 'The JSON body cannot be parsed', { cause: error });
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const values = Array.isArray(record.images)
    ? record.images
    : 'image' in record
      ? [record.image]
      : [];
  if (values.length === 0) {
    throw new ApiError(
      400,
      'missing_image',
      `The JSON body has no "${IMAGE_FIELD}"; send {"${IMAGE_FIELD}": "<base64>"} or {"images": ["<base64>", …]}`,
      { details: { field: IMAGE_FIELD } },
    );
  }
  return values.map((value): Upload => {
    try {
      return { filename: null, bytes: fromBase64(value, maxImageBytes) };
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return { filename: null, error };
    }
  });
}

function fromBase64(value: unknown, maxImageBytes: number): Uint8Array {
  // A data URL (`data:image/png;base64,…`) is accepted as well; its type is ignored like any other.
  const text =
    typeof value === 'string' ? value.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '') : null;
  if (text === null || !BASE64.test(text)) {
    throw new ApiError(
      400,
      'bad_request',
      `"${IMAGE_FIELD}" must be a base64 string of the image's bytes`,
      {
        details: { field: IMAGE_FIELD },
      },
    );
  }
  if (text.length === 0) {
    throw new ApiError(
      400,
      'empty_image',
      'The image is empty (0 bytes); expected its bytes in base64',
    );
  }
  checkSize(Math.floor((text.replace(/=+$/, '').length * 3) / 4), maxImageBytes);
  return new Uint8Array(Buffer.from(text, 'base64'));
}

async function readForm(c: Context, maxImageBytes: number): Promise<Upload[]> {
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch (error) {
    throw new ApiError(
      400,
      'bad_request',
      'The multipart body cannot be parsed; check its boundary and framing',
      {
        cause: error,
      },
    );
  }
  const entries = form.getAll(IMAGE_FIELD);
  if (entries.length === 0) {
    const fields = [...new Set(form.keys())];
    throw new ApiError(
      400,
      'missing_image',
      `The form has no "${IMAGE_FIELD}" field; send each image as a file part named "${IMAGE_FIELD}"`,
      {
        details: { field: IMAGE_FIELD, fields },
      },
    );
  }
  const uploads: Upload[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') {
      const error = new ApiError(
        400,
        'bad_request',
        `Field "${IMAGE_FIELD}" holds text, not a file; send the image as a file part`,
        {
          details: { field: IMAGE_FIELD },
        },
      );
      uploads.push({ filename: null, error });
      continue;
    }
    try {
      checkSize(entry.size, maxImageBytes);
      uploads.push({ filename: entry.name, bytes: new Uint8Array(await entry.arrayBuffer()) });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      uploads.push({ filename: entry.name, error });
    }
  }
  return uploads;
}

/** The limit applies to each image; the request as a whole gets framing room on top. */
function checkSize(bytes: number, maxImageBytes: number): void {
  if (bytes > maxImageBytes) {
    throw new ApiError(
      413,
      'payload_too_large',
      `The image is ${bytes} bytes; the limit is ${maxImageBytes} bytes`,
      {
        details: { limit: maxImageBytes, bytes },
      },
    );
  }
}

/** `Multipart/Form-Data; boundary=x` → `multipart/form-data`; undefined when absent. */
function mediaType(header: string | undefined): string | undefined {
  const type = header?.split(';')[0]?.trim().toLowerCase();
  return type ? type : undefined;
}
