import { fileTypeFromBuffer } from 'file-type';

import { ApiError } from './errors.js';

/** Image types the decode step reads, by the MIME type sniffed from their first bytes. */
export const SNIFFED_IMAGE_TYPES: ReadonlySet<string> = new Set([
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/tiff',
  'image/avif',
]);

/**
 * Tells an image's type from its first bytes, whatever name or `Content-Type` it
 * came with, and refuses anything the decode step does not read. Only the
 * magic numbers are read; no decoder sees bytes that fail here.
 *
 * @returns The sniffed MIME type, as `image/png`.
 * @throws ApiError 415 `unsupported_media_type` naming what was found instead.
 */
export async function sniffImage(bytes: Uint8Array): Promise<string> {
  const found = await fileTypeFromBuffer(bytes);
  if (found && SNIFFED_IMAGE_TYPES.has(found.mime)) return found.mime;
  const what = found ? `${found.mime} data` : 'of no known image type';
  throw new ApiError(
    415,
    'unsupported_media_type',
    `The image bytes are ${what}; expected a JPEG, PNG, WebP, GIF, TIFF or AVIF image`,
    { details: { detected: found?.mime ?? null } },
  );
}
