import type { Context } from 'hono';

import { ApiError } from './errors.js';

/** The multipart field that carries images. */
export const IMAGE_FIELD = 'image';

/** One uploaded image, or why it cannot be used. */
export type Upload =
  { filename: string | null; bytes: Uint8Array } | { filename: string | null; error: ApiError };

/** What a predict request carried. */
export interface Uploads {
  /** `raw` for an image sent as the body, `multipart` for form parts. */
  via: 'raw' | 'multipart';
  /** The images in request order; never empty. */
  images: Upload[];
}

const ACCEPTED = `multipart/form-data with field "${IMAGE_FIELD}", image/*, or application/octet-stream`;

/**
 * Reads the images of a predict request: every `image` part of a multipart form,
 * in order, or the whole body when it is sent as `image/*` or
 * `application/octet-stream`. Each image may be at most `maxImageBytes` long.
 *
 * @throws ApiError 400 for a form without `image` files or an empty body, 415 for
 *   any other content type.
 */
export async function readUploads(c: Context, maxImageBytes: number): Promise<Uploads> {
  const type = mediaType(c.req.header('content-type'));
  if (type === 'multipart/form-data')
    return { via: 'multipart', images: await readForm(c, maxImageBytes) };

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
  return { via: 'raw', images: [{ filename: null, bytes: body }] };
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
