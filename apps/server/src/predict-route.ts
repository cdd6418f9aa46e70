import type { Prediction, PredictOptions, Predictor } from '@polyhead/model';
import type { Context } from 'hono';

import { ApiError, toApiError, type ErrorBody } from './errors.js';
import { readUploads, type Upload } from './uploads.js';

/** One entry of a multi-image answer, in request order. */
export type PredictResult =
  ({ filename: string | null } & Prediction) | ({ filename: string | null } & ErrorBody);

/** Images per forward pass, as `Predictor.predict` batches them. */
const BATCH = 32;

/**
 * `POST /v1/predict`: one image answers `{"heads": …}`; several `image` parts
 * answer `{"results": […]}`, one entry per part, failed ones included.
 */
export async function predictRoute(
  c: Context,
  predictor: Predictor,
  maxImageBytes: number,
): Promise<Response> {
  const options = predictOptions(c, predictor);
  const { via, images } = await readUploads(c, maxImageBytes);
  const answers = await predictAll(predictor, images, options);

  if (via === 'raw' || answers.length === 1) {
    const [only] = answers;
    if (only instanceof ApiError) throw only;
    return c.json({ heads: only!.heads });
  }
  const results: PredictResult[] = answers.map((answer, i) => {
    const filename = images[i]!.filename;
    return answer instanceof ApiError
      ? { filename, ...answer.toBody() }
      : { filename, heads: answer.heads };
  });
  return c.json({ results });
}

/** Decodes each image on its own, so one bad part fails alone, then predicts the rest in batches. */
async function predictAll(
  predictor: Predictor,
  images: Upload[],
  options: PredictOptions,
): Promise<(Prediction | ApiError)[]> {
  const decoded = await Promise.all(images.map((image) => decode(predictor, image)));
  const inputs = decoded.filter((d): d is Float32Array => d instanceof Float32Array);
  const per = predictor.meta.network.inputSize ** 2 * 3;
  const predictions: Prediction[] = [];
  for (let start = 0; start < inputs.length; start += BATCH) {
    const chunk = inputs.slice(start, start + BATCH);
    const pixels = new Float32Array(per * chunk.length);
    chunk.forEach((input, i) => pixels.set(input, i * per));
    predictions.push(...(await predictor.predictPixels(pixels, chunk.length, options)));
  }
  let next = 0;
  return decoded.map((d) => (d instanceof ApiError ? d : predictions[next++]!));
}

async function decode(predictor: Predictor, image: Upload): Promise<Float32Array | ApiError> {
  if ('error' in image) return image.error;
  try {
    return await predictor.decode(image.bytes);
  } catch (error) {
    const api = toApiError(error);
    // A failure that is not the image's fault fails the whole request.
    if (api.status >= 500) throw error;
    return api;
  }
}

/** Reads `?top=k` and `?heads=a,b` (or `?heads=a&heads=b`), checked against the model. */
function predictOptions(c: Context, predictor: Predictor): PredictOptions {
  const options: PredictOptions = {};
  const top = c.req.query('top');
  if (top !== undefined) {
    const k = Number(top);
    if (!/^\d+$/.test(top) || !Number.isSafeInteger(k) || k < 1) {
      throw new ApiError(400, 'bad_request', `top must be a positive integer, got "${top}"`, {
        details: { parameter: 'top' },
      });
    }
    options.top = k;
  }
  const asked = (c.req.queries('heads') ?? []).flatMap((v) => v.split(',')).map((v) => v.trim());
  if (asked.length > 0) {
    const known = predictor.meta.network.heads.map((h) => h.name);
    const unknown = asked.filter((name) => !known.includes(name));
    if (unknown.length > 0) {
      throw new ApiError(
        400,
        'bad_request',
        `Unknown head ${unknown.map((u) => `"${u}"`).join(', ')}; the model's heads are ${known.join(', ')}`,
        {
          details: { parameter: 'heads', known },
        },
      );
    }
    options.heads = asked;
  }
  return options;
}
