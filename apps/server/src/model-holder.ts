import { Predictor } from '@polyhead/model';

import { ApiError } from './errors.js';

/** Loads and warms up a model directory. */
export type LoadModel = (dir: string) => Promise<Predictor>;

/** A model borrowed for one request; `release` it when the answer is computed. */
export interface ModelLease {
  predictor: Predictor;
  /** The directory the model was loaded from. */
  dir: string;
  release(): void;
}

interface Slot {
  predictor: Predictor;
  dir: string;
  leases: number;
  retired: boolean;
}

/**
 * Holds the model being served and swaps it atomically on reload. Each request
 * leases the current model; a model replaced by a reload is disposed once its
 * last lease is released, so requests in flight finish on the model they started
 * with. A reload that fails leaves the current model serving.
 *
 * @example
 * const holder = new ModelHolder(async (dir) => Predictor.load(dir));
 * await holder.reload('runs/model');
 * const lease = holder.acquire();
 * try { await lease.predictor.predict(['shirt.png']); } finally { lease.release(); }
 */
export class ModelHolder {
  private slot: Slot | undefined;
  private pending: Promise<unknown> = Promise.resolve();
  private closed = false;

  /** @param load Loads and warms up a model; default {@link loadPredictor}. */
  constructor(private readonly load: LoadModel = loadPredictor) {}

  /**
   * A holder already serving `predictor`; `dir`, when given, is where reloads
   * read from and where the web page's in-browser mode fetches the model files.
   */
  static of(predictor: Predictor, dir?: string): ModelHolder {
    const holder = new ModelHolder();
    holder.slot = { predictor, dir: dir ?? '', leases: 0, retired: false };
    return holder;
  }

  /** True once a model is loaded, until {@link close}. */
  get ready(): boolean {
    return this.slot !== undefined && !this.closed;
  }

  /** The directory of the model being served; undefined for one built in memory. */
  get dir(): string | undefined {
    return this.slot?.dir || undefined;
  }

  /** The model being served; for reads that do not outlive the call (`GET /v1/model`). */
  peek(): Predictor {
    if (!this.ready) throw notReady();
    return this.slot!.predictor;
  }

  /**
   * Borrows the current model.
   *
   * @throws ApiError 503 `not_ready` before the first load and after {@link close}.
   */
  acquire(): ModelLease {
    if (!this.ready) throw notReady();
    const slot = this.slot!;
    slot.leases += 1;
    let released = false;
    return {
      predictor: slot.predictor,
      dir: slot.dir,
      release: () => {
        if (released) return;
        released = true;
        slot.leases -= 1;
        if (slot.retired && slot.leases === 0) slot.predictor.dispose();
      },
    };
  }

  /**
   * Loads `dir` (default: the current directory again) and swaps it in. Reloads
   * run one at a time, in call order.
   *
   * @throws whatever loading throws; the current model keeps serving.
   */
  reload(dir?: string): Promise<{ dir: string; predictor: Predictor }> {
    const next = this.pending.then(async () => {
      const target = dir ?? this.dir;
      if (target === undefined)
        throw new Error('reload() needs a model directory before the first load');
      if (this.closed) throw notReady();
      const predictor = await this.load(target);
      if (this.closed) {
        predictor.dispose();
        throw notReady();
      }
      const old = this.slot;
      this.slot = { predictor, dir: target, leases: 0, retired: false };
      if (old) retire(old);
      return { dir: target, predictor };
    });
    this.pending = next.catch(() => undefined);
    return next;
  }

  /** Stops lending; the model is disposed once the last lease is released. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pending;
    if (this.slot) retire(this.slot);
  }
}

/**
 * Loads a model directory and runs one prediction on a blank image, so the first
 * request does not pay for kernel set-up.
 */
export async function loadPredictor(dir: string): Promise<Predictor> {
  const predictor = await Predictor.load(dir);
  try {
    const { inputSize } = predictor.meta.network;
    await predictor.predictPixels(new Float32Array(inputSize * inputSize * 3), 1);
  } catch (error) {
    predictor.dispose();
    throw error;
  }
  return predictor;
}

function retire(slot: Slot): void {
  if (slot.retired) return;
  slot.retired = true;
  if (slot.leases === 0) slot.predictor.dispose();
}

function notReady(): ApiError {
  return new ApiError(
    503,
    'not_ready',
    'The model is not loaded yet, or the server is shutting down',
    {
      headers: { 'Retry-After': '1' },
    },
  );
}
