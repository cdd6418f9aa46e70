import type { Preprocessing } from '@polyhead/data';
import { headThresholds, type BackboneSpec, type ModelMeta } from '@polyhead/model';

/** The answer of `GET /v1/model`. */
export interface ModelInfo {
  /**
   * Every head with its vocabulary in output order; multi-label heads also give
   * the score each label needs to be predicted.
   */
  heads: { name: string; kind: string; labels: string[]; thresholds?: number[] }[];
  /** Side of the square input, in pixels. */
  inputSize: number;
  /** How images are decoded before the model sees them. */
  preprocessing: Preprocessing;
  backbone: BackboneSpec;
  /** Metrics recorded at training time; `val` holds the validation ones. */
  metrics: Record<string, unknown>;
  createdAt: string;
  versions: Record<string, string>;
}

/** Describes a loaded model for clients: what it answers and how it was trained. */
export function describeModel(meta: ModelMeta): ModelInfo {
  const { network } = meta;
  return {
    heads: network.heads.map((head) => ({
      name: head.name,
      kind: head.kind,
      labels: [...head.labels],
      ...(head.kind === 'multilabel' ? { thresholds: headThresholds(head) } : {}),
    })),
    inputSize: network.inputSize,
    preprocessing: meta.preprocessing,
    backbone: network.backbone,
    metrics: meta.metrics ?? {},
    createdAt: meta.createdAt,
    versions: meta.versions,
  };
}
