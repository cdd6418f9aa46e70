import { decodeImage, type Preprocessing } from '@polyhead/data';

import { headThresholds } from './heads/sigmoid-head.js';
import { loadModelDir } from './io/model-dir.js';
import type { Network } from './network.js';
import type { ModelMeta } from './spec.js';
import { tf } from './tf.js';

/** One label and its probability. */
export interface LabelScore {
  label: string;
  score: number;
}

/**
 * A head's answer for one image: the most likely label and its probability.
 *
 * A multi-label head also gives `labels`, every label whose score reaches its
 * threshold (best first; possibly none), and `scores`, the sigmoid score of
 * each label in vocabulary order. Its `label` and `score` are then the
 * highest-scoring label, whether or not it reached its threshold.
 *
 * @example
 * // softmax head
 * { label: 'red', score: 0.93 }
 * // multi-label head
 * { label: 'summer', score: 0.91, labels: ['summer', 'casual'], scores: { casual: 0.77, formal: 0.04, summer: 0.91 } }
 */
export interface HeadPrediction extends LabelScore {
  /** The `k` most likely labels, best first, when asked for. */
  top?: LabelScore[];
  /** Multi-label heads: the predicted label set, best first. */
  labels?: string[];
  /** Multi-label heads: each label's score. */
  scores?: Record<string, number>;
}

/** Every head's answer for one image. */
export interface Prediction {
  heads: Record<string, HeadPrediction>;
}

/** Options of {@link Predictor.predict}. */
export interface PredictOptions {
  /** Also list the `top` most likely labels per head. */
  top?: number;
  /** Only answer these heads. Default: all. */
  heads?: readonly string[];
}

/**
 * A loaded model ready to answer images. Decoding goes through the same
 * function as training, with the preprocessing recorded in the model.
 *
 * @example
 * const predictor = await Predictor.load('runs/f7');
 * const [result] = await predictor.predict(['shirt.jpg'], { top: 3 });
 * console.log(result.heads.color.label);
 */
export class Predictor {
  private constructor(
    readonly net: Network,
    readonly meta: ModelMeta,
  ) {}

  /** Loads a model directory. */
  static async load(dir: string): Promise<Predictor> {
    const { net, meta } = await loadModelDir(dir);
    return new Predictor(net, meta);
  }

  /** Wraps an in-memory network. */
  static fromNetwork(net: Network, meta: ModelMeta): Predictor {
    return new Predictor(net, meta);
  }

  get preprocessing(): Preprocessing {
    return this.meta.preprocessing;
  }

  /** Decodes an image exactly as training does: the model's input tensor values. */
  decode(input: string | Uint8Array): Promise<Float32Array> {
    return decodeImage(input, this.meta.preprocessing);
  }

  /**
   * Probabilities per head for `n` decoded images laid end to end (HWC).
   * Returns one row-major [n, k] array per head.
   */
  async probabilities(pixels: Float32Array, n: number): Promise<Float32Array[]> {
    const size = this.meta.network.inputSize;
    const outs = tf.tidy(() => {
      const x = tf.tensor4d(pixels, [n, size, size, 3]);
      const raw = this.net.model.predict(x) as tf.Tensor | tf.Tensor[];
      return Array.isArray(raw) ? raw : [raw];
    });
    try {
      return (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
    } finally {
      tf.dispose(outs);
    }
  }

  /** Answers decoded images: every (or the chosen) head's label and score. */
  async predictPixels(pixels: Float32Array, n: number, options: PredictOptions = {}): Promise<Prediction[]> {
    const probs = await this.probabilities(pixels, n);
    return Array.from({ length: n }, (_, i) => this.describe(probs, i, options));
  }

  /** Decodes and answers images given as paths or bytes, in batches of 32. */
  async predict(inputs: readonly (string | Uint8Array)[], options: PredictOptions = {}): Promise<Prediction[]> {
    const results: Prediction[] = [];
    const per = this.meta.network.inputSize ** 2 * 3;
    for (let start = 0; start < inputs.length; start += 32) {
      const chunk = inputs.slice(start, start + 32);
      const decoded = await Promise.all(chunk.map((input) => this.decode(input)));
      const pixels = new Float32Array(per * chunk.length);
      decoded.forEach((d, i) => pixels.set(d, i * per));
      results.push(...(await this.predictPixels(pixels, chunk.length, options)));
    }
    return results;
  }

  /** Frees the model's weights. */
  dispose(): void {
    this.net.model.dispose();
  }

  private describe(probs: Float32Array[], i: number, options: PredictOptions): Prediction {
    const heads: Record<string, HeadPrediction> = {};
    this.meta.network.heads.forEach((head, h) => {
      if (options.heads && !options.heads.includes(head.name)) return;
      const k = head.labels.length;
      const row = Array.from(probs[h]!.subarray(i * k, (i + 1) * k));
      const ranked = row.map((score, c) => ({ label: head.labels[c]!, score })).sort((a, b) => b.score - a.score);
      heads[head.name] = { label: ranked[0]!.label, score: ranked[0]!.score };
      if (head.kind === 'multilabel') {
        const thresholds = headThresholds(head);
        const chosen = new Set(head.labels.filter((_, c) => row[c]! >= thresholds[c]!));
        heads[head.name]!.labels = ranked.filter((r) => chosen.has(r.label)).map((r) => r.label);
        heads[head.name]!.scores = Object.fromEntries(head.labels.map((label, c) => [label, row[c]!]));
      }
      if (options.top !== undefined && options.top > 0) heads[head.name]!.top = ranked.slice(0, options.top);
    });
    return { heads };
  }
}
