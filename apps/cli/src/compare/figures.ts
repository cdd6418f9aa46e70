/** What `polyhead compare` measures, as plain data (the JSON output and the report's input). */
import type { Strategy } from './strategies.js';

/** Scores of one head, on the original attribute. */
export interface HeadFigures {
  accuracy: number;
  macroF1: number;
  /** `confusion[t][p]`, rows and columns in the order of the head's labels. */
  confusion: number[][];
}

/** Scores on one evaluation set, per attribute and across them. */
export interface SetFigures {
  /** Share of images whose every attribute is right. */
  exactMatch: number;
  images: number;
  heads: Record<string, HeadFigures>;
  /** Share of images answered with a combination never present in training. */
  novelAnswers: number;
}

/** One point of a training curve. */
export interface CurvePoint {
  epoch: number;
  /** Training loss (summed over the models of a strategy with several). */
  loss: number;
  /** Validation exact-match of the strategy's own heads, where one model sees every attribute. */
  valExactMatch?: number;
  /** Mean validation accuracy of the strategy's own heads. */
  valAccuracy?: number;
}

/** Everything measured for one strategy. */
export interface StrategyFigures {
  strategy: Strategy;
  description: string;
  /** Models trained (separate: one per attribute). */
  models: number;
  seen: SetFigures;
  unseen?: SetFigures;
  /** Trainable and fixed parameters over all of the strategy's models. */
  params: number;
  trainSeconds: number;
  /** Training images per second (all models' images over all models' time). */
  trainImagesPerSec: number;
  /** Inference latency of one image alone, median, ms (all models of the strategy). */
  latencyMs: number;
  /** Batched inference throughput on the validation set. */
  inferImagesPerSec: number;
  /** Bytes of the saved model folder(s). */
  sizeBytes: number;
  epochsRun: number;
  curves: CurvePoint[];
  /** Classes of the combined classifier (the combinations present in training). */
  comboClasses?: number;
  /** Where the model(s) were saved. */
  modelDirs: string[];
}

/** The figures of a whole comparison. */
export interface ComparisonFigures {
  dataset: string;
  heads: { name: string; labels: string[] }[];
  split: { train: number; val: number; unseen: number };
  heldOut: Record<string, string>[];
  /** Exact-match of answering every attribute uniformly at random. */
  chanceExactMatch: number;
  budget: { epochs: number } | { minutes: number; maxEpochs: number };
  settings: {
    inputSize: number;
    width: number;
    depth: number;
    batchSize: number;
    learningRate: number;
    seed: number;
    backend: string;
    /** Declared invariances (`type:color`) of the multihead and chain strategies. */
    invariant: string[];
  };
  strategies: Partial<Record<Strategy, StrategyFigures>>;
  totalSeconds: number;
}
