import { decodeImage } from '@polyhead/data';
import type { Prediction, PredictOptions, Predictor } from '@polyhead/model';
import type { Context } from 'hono';

import type { MicroBatcher } from './batcher.js';
import type { AppEnv } from './env.js';
import { ApiError, toApiError, type ErrorBody } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { ModelHolder } from './model-holder.js';
import { sniffImage } from './sniff.js';
import { readUploads, type Upload, type UploadLimits } from './uploads.js';

/** One entry of a multi-image answer, in request order. */
export type PredictResult =
  ({ filename: string | null } & Prediction) | ({ filename: string | null } & ErrorBody);

/** What the predict routes work with. */
export interface PredictDeps {
  holder: ModelHolder;
  batcher: MicroBatcher;
  metrics: ServerMetrics;
  limits: UploadLimits;
  /** Pixel limit of the server; the lower of it and the model's own applies. */
  maxPixels: number | undefined;
  /** Queued images of a request older than this are dropped. */
  timeoutMs: number;
}

/**
 * `POST /v1/predict` and `POST /v1/predict/batch`. A single image answers
 * `{"heads": …}`; several images, or any request to the batch route, answer
 * `{"results": […]}` with one entry per image, failed ones included. Images are
 * decoded on their own, then answered together with those of concurrent
 * requests in shared forward passes.
 */
export async function predictRoute(
  c: Context<AppEnv>,
  deps: PredictDeps,
  route: 'single' | 'batch',
): Promise<Response> {
  const lease = deps.holder.acquire();
  try {
    const options = predictOptions(c, lease.predictor);
    const { via, images } = await readUploads(c, deps.limits);
    c.set('images', images.length);
    const signal = AbortSignal.any([c.req.raw.signal, AbortSignal.timeout(deps.timeoutMs)]);
    const answers = await predictAll(c, deps, lease.predictor, images, options, signal);

    if (route === 'single' && (via === 'raw' || answers.length === 1)) {
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
  } finally {
    lease.release();
  }
}

/** Sniffs and decodes each image on its own, so one bad image fails alone, then queues the rest. */
async function predictAll(
  c: Context<AppEnv>,
  deps: PredictDeps,
  predictor: Predictor,
  images: Upload[],
  options: PredictOptions,
  signal: AbortSignal,
): Promise<(Prediction | ApiError)[]> {
  const pre = predictor.preprocessing;
  const maxPixels = Math.min(pre.maxPixels, deps.maxPixels ?? Infinity);
  const decoded = await Promise.all(
    images.map(async (image) => {
      if ('error' in image) return image.error;
      try {
        if (image.bytes.byteLength > 0) await sniffImage(image.bytes);
        const pixels = await decodeImage(image.bytes, { ...pre, maxPixels });
        deps.metrics.countDecoded(true);
        return pixels;
      } catch (error) {
        deps.metrics.countDecoded(false);
        const api = toApiError(error);
        // A failure that is not the image's fault fails the whole request.
        if (api.status >= 500) throw error;
        return api;
      }
    }),
  );
  const inputs = decoded.filter((d): d is Float32Array => d instanceof Float32Array);
  const answered =
    inputs.length > 0 ? await deps.batcher.submit(predictor, inputs, options, signal) : [];
  if (answered.length > 0) c.set('batchSize', Math.max(...answered.map((a) => a.batchSize)));
  let next = 0;
  return decoded.map((d) => (d instanceof ApiError ? d : answered[next++]!.prediction));
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
