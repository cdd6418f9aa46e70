/**
 * What the training commands print about their data and results: the rows a dataset kept or
 * skipped, the per-head validation table, and the held-out label combinations.
 */
import type { Dataset } from '@polyhead/data';
import type { MultiHeadMetrics, TrainedModel } from '@polyhead/model';

import type { Output } from './output.js';

/** Names the skipped rows (the first 20) and counts the labels of each head. */
export function reportDataset(out: Output, dataset: Dataset) {
  for (const s of dataset.skipped.slice(0, 20)) {
    out.warn(`skipped ${s.file}${s.line !== undefined ? `:${s.line}` : ''}: ${s.reason}`);
  }
  if (dataset.skipped.length > 20) out.warn(`… and ${dataset.skipped.length - 20} more skipped rows`);
  const labelled = dataset.heads.map((h, i) => `${dataset.samples.filter((s) => s.labels[i] !== null).length} labelled for ${h}`);
  out.info(`using ${dataset.samples.length} rows of ${dataset.origin}: ${labelled.join(', ')}`);
}

/** Prints the per-head table of a validation result. */
export function printSummary(out: Output, val: MultiHeadMetrics, bestEpoch: number): void {
  const rows = Object.entries(val.heads).map(([name, h]) => [name, h.accuracy.toFixed(4), h.macroF1.toFixed(4), String(h.count)]);
  const header = ['head', 'accuracy', 'macro-F1', 'samples'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  out.info(`validation (best epoch ${bestEpoch}):`);
  out.info(line(header));
  for (const r of rows) out.info(line(r));
  for (const [name, h] of Object.entries(val.heads)) {
    if (h.kind !== 'multilabel') continue;
    const thresholds = h.classes.map((c) => `${c.label} ${c.threshold!.toFixed(2)}`).join(', ');
    out.info(`${name} (multi-label): micro-F1 ${h.microF1!.toFixed(4)}  mAP ${h.mAP!.toFixed(4)}  thresholds ${thresholds}`);
  }
  out.info(`exact-match ${val.exactMatch.toFixed(4)} over ${val.fullyLabelled} fully labelled images`);
}

/** Names the label combinations kept out of training and how the model did on them, if any. */
export async function reportHeldOut(out: Output, trained: Pick<TrainedModel, 'unseen' | 'heldOut'>): Promise<void> {
  if (!trained.unseen) return;
  const { formatCombo } = await import('@polyhead/model');
  out.info(`held out: ${trained.heldOut.map(formatCombo).join('; ')}`);
  const heads = Object.entries(trained.unseen.heads).map(([n, h]) => `${n} ${h.accuracy.toFixed(4)}`).join(', ');
  out.info(`unseen combinations: exact-match ${trained.unseen.exactMatch.toFixed(4)} over ${trained.unseen.fullyLabelled} images (accuracy ${heads})`);
}
