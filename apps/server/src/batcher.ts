import type { Prediction, PredictOptions, Predictor } from '@polyhead/model';

import { ApiError } from './errors.js';

/** Options of {@link MicroBatcher}. */
export interface MicroBatcherOptions {
  /** Most images in one forward pass. Default 32. */
  maxBatch?: number;
  /** Longest wait, in ms, for more images after the first one arrives. Default 5. */
  windowMs?: number;
  /** Most images waiting for a forward pass; more are refused with 503. Default 256. */
  maxQueue?: number;
  /** Called after every forward pass with its size and duration. */
  onBatch?: (size: number, ms: number) => void;
}

/** One image's answer and the size of the forward pass it took part in. */
export interface BatchedPrediction {
  prediction: Prediction;
  batchSize: number;
}

interface Job {
  predictor: Predictor;
  pixels: Float32Array;
  options: PredictOptions;
  enqueuedAt: number;
  resolve: (value: BatchedPrediction) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * Gathers decoded images from concurrent requests into one forward pass: a pass
 * starts when `maxBatch` images wait or the oldest has waited `windowMs`. Only
 * images of the same model share a pass, so a request that started before a
 * reload finishes on the model it started with.
 *
 * @example
 * const batcher = new MicroBatcher({ maxBatch: 16, windowMs: 2 });
 * const [{ prediction }] = await batcher.submit(predictor, [pixels], { top: 3 });
 */
export class MicroBatcher {
  readonly maxBatch: number;
  readonly windowMs: number;
  readonly maxQueue: number;
  private readonly onBatch: MicroBatcherOptions['onBatch'];
  private queue: Job[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private lastPassMs = 0;

  constructor(options: MicroBatcherOptions = {}) {
    this.maxBatch = positive('maxBatch', options.maxBatch ?? 32);
    this.windowMs = nonNegative('windowMs', options.windowMs ?? 5);
    this.maxQueue = positive('maxQueue', options.maxQueue ?? 256);
    this.onBatch = options.onBatch;
  }

  /** Images waiting for a forward pass. */
  get depth(): number {
    return this.queue.length;
  }

  /**
   * Queues decoded images (each `size × size × 3`) and resolves with one answer
   * per image, in order. Admission is all or nothing: when the queue cannot take
   * every image, nothing is queued.
   *
   * @throws ApiError 503 `overloaded` with `Retry-After` when the queue is full;
   *   the signal's reason when it aborts before the images reach a pass.
   */
  submit(
    predictor: Predictor,
    images: Float32Array[],
    options: PredictOptions = {},
    signal?: AbortSignal,
  ): Promise<BatchedPrediction[]> {
    signal?.throwIfAborted();
    if (this.queue.length + images.length > this.maxQueue) {
      const retry = Math.max(
        1,
        Math.ceil(((this.queue.length / this.maxBatch) * this.lastPassMs) / 1000),
      );
      return Promise.reject(
        new ApiError(
          503,
          'overloaded',
          `The server is busy (${this.queue.length} images queued); retry in ${retry}s`,
          {
            details: { queued: this.queue.length, limit: this.maxQueue },
            headers: { 'Retry-After': String(retry) },
          },
        ),
      );
    }
    const answers = images.map(
      (pixels) =>
        new Promise<BatchedPrediction>((resolve, reject) => {
          const job: Job = {
            predictor,
            pixels,
            options,
            enqueuedAt: performance.now(),
            resolve,
            reject,
            signal,
            onAbort: () => this.drop(job),
          };
          signal?.addEventListener('abort', job.onAbort, { once: true });
          this.queue.push(job);
        }),
    );
    this.schedule();
    return Promise.all(answers);
  }

  private drop(job: Job): void {
    const at = this.queue.indexOf(job);
    if (at === -1) return;
    this.queue.splice(at, 1);
    job.reject(job.signal!.reason);
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    const wait = this.queue[0]!.enqueuedAt + this.windowMs - performance.now();
    if (this.queue.length >= this.maxBatch || wait <= 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.runPass();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
    }
  }

  private async runPass(): Promise<void> {
    this.running = true;
    const { predictor } = this.queue[0]!;
    const jobs: Job[] = [];
    this.queue = this.queue.filter((job) => {
      if (jobs.length >= this.maxBatch || job.predictor !== predictor) return true;
      jobs.push(job);
      return false;
    });
    for (const job of jobs) job.signal?.removeEventListener('abort', job.onAbort);

    const started = performance.now();
    try {
      const per = jobs[0]!.pixels.length;
      const pixels = new Float32Array(per * jobs.length);
      jobs.forEach((job, i) => pixels.set(job.pixels, i * per));
      // One pass answers every job: all heads, and as many top labels as the most demanding job.
      const tops = jobs.map((job) => job.options.top ?? 0);
      const top = Math.max(...tops);
      const predictions = await predictor.predictPixels(
        pixels,
        jobs.length,
        top > 0 ? { top } : {},
      );
      this.lastPassMs = performance.now() - started;
      this.onBatch?.(jobs.length, this.lastPassMs);
      jobs.forEach((job, i) =>
        job.resolve({ prediction: narrow(predictions[i]!, job.options), batchSize: jobs.length }),
      );
    } catch (error) {
      for (const job of jobs) job.reject(error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** Keeps the heads and the number of top labels one job asked for. */
function narrow(prediction: Prediction, options: PredictOptions): Prediction {
  const heads: Prediction['heads'] = {};
  for (const [name, head] of Object.entries(prediction.heads)) {
    if (options.heads && !options.heads.includes(name)) continue;
    const { top, ...best } = head;
    heads[name] =
      options.top !== undefined && top ? { ...best, top: top.slice(0, options.top) } : best;
  }
  return { heads };
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a number of milliseconds ≥ 0, got ${value}`);
  }
  return value;
}
