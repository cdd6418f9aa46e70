/** Where a sample came from: the CSV file and its 1-based line, or the image file itself. */
export interface SampleSource {
  file: string;
  line?: number;
}

/** One image and its labels, one per head. */
export interface Sample {
  /** Absolute path of the image file. */
  path: string;
  /** One label per head, in the order of `Dataset.heads`; `null` when unknown. */
  labels: (string | null)[];
  source: SampleSource;
}

/** A row or file left out of a dataset on purpose, with the reason (`no labels`, say). */
export interface SkippedRow {
  file: string;
  line?: number;
  reason: string;
}

/** A loaded dataset: heads, samples in a stable order, and what was left out. */
export interface Dataset {
  /** Head (attribute) names, e.g. `['color', 'type']`. */
  heads: string[];
  samples: Sample[];
  skipped: SkippedRow[];
  /** The CSV path or folder it was read from, absolute. */
  origin: string;
}

/** Options shared by the dataset readers. */
export interface LoadDatasetOptions {
  /**
   * Head names. Required for folders (one per part of a folder name); for a CSV, selects and
   * orders label columns (default: every column after the first).
   */
  heads?: string[];
  /** What separates the labels in a folder name such as `red_jeans`. Default `_`. */
  separator?: string;
}

/**
 * Joins one sample's labels into a single key, `null` shown as `∅`: handy as a stratum for
 * {@link stratifiedSplit} and for per-combination metrics.
 *
 * @example
 * comboKey(['red', null]); // 'red|∅'
 */
export function comboKey(labels: (string | null)[]): string {
  return labels.map((label) => label ?? '∅').join('|');
}
