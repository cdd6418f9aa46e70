import { Command } from 'commander';
import { batches, DataError, ImageCache, LabelEncoder, loadDataset, type Dataset } from '@polyhead/data';
import type { HeadMetrics, MultiHeadMetrics, PredictedCombo } from '@polyhead/model';

import type { Output } from '../output.js';

interface EvaluateOptions {
  model: string;
  data: string;
  heads?: string[];
  separator: string;
  backend: string;
  json?: boolean;
}

/**
 * `polyhead evaluate`: per-head accuracy, top-k, macro-F1, per-class precision
 * and recall, confusion; micro/macro F1 and mAP of multi-label heads;
 * exact-match, Hamming accuracy and per-combination figures.
 */
export function evaluateCommand(out: Output): Command {
  return new Command('evaluate')
    .description('score a model on a labelled CSV or folder: per-head accuracy, top-k, F1 and confusion, micro/macro F1 and mAP of multi-label heads, exact-match, accuracy per label combination')
    .requiredOption('--model <dir>', 'model directory')
    .requiredOption('--data <csv|folder>', 'labelled data')
    .option('--separator <sep>', 'separator of folder names', '_')
    .option('--backend <name>', 'compute backend (auto, tensorflow-gpu, tensorflow, wasm, cpu)', 'auto')
    .option('--json', 'print one JSON object on stdout')
    .action(async (opts: EvaluateOptions) => {
      const { argmaxRows, comboPredictions, computeMetrics, evaluate, initBackend, loadModelDir } = await import('@polyhead/model');
      await initBackend(opts.backend as never, { log: (m) => out.info(m) });
      const { net, meta } = await loadModelDir(opts.model);
      const headNames = meta.network.heads.map((h) => h.name);
      const raw = await loadDataset(opts.data, { heads: headNames, separator: opts.separator });
      const dataset = projectHeads(raw, headNames);
      const encoder = LabelEncoder.fromJSON({ heads: meta.network.heads.map((h) => ({ name: h.name, labels: h.labels, kind: h.kind })) });
      const labels = encoder.encode(dataset);
      const targets = encoder.encodeTargets(dataset);
      const indices = dataset.samples.map((_, i) => i);
      const result = await evaluate(
        net,
        batches(dataset.samples, labels, indices, { batchSize: 64, shuffle: false, seed: 0, pre: meta.preprocessing, cache: new ImageCache(256 * 2 ** 20), targets }),
      );
      net.model.dispose();
      const heads = meta.network.heads;
      const predicted = result.probs.map((p, h) => argmaxRows(p, heads[h]!.labels.length));
      const trainCombos = (meta.training?.trainCombos as string[][] | undefined) ?? null;
      let split: { seen: MultiHeadMetrics; unseen: MultiHeadMetrics; novel: PredictedCombo[] } | undefined;
      if (trainCombos) {
        // Seen and unseen are decided by the combinations of the softmax heads' labels the model was trained on.
        const single = heads.map((_, h) => h).filter((h) => heads[h]!.kind !== 'multilabel');
        const known = new Set(trainCombos.map((c) => JSON.stringify(c)));
        const isSeen = dataset.samples.map((s) => known.has(JSON.stringify(single.map((h) => s.labels[h]))));
        const subset = (keep: (i: number) => boolean) => {
          const idx = dataset.samples.map((_, i) => i).filter(keep);
          const pick = <T extends Int32Array>(a: T) => Int32Array.from(idx, (i) => a[i]!);
          const rows = (a: Float32Array, k: number) => Float32Array.from(idx.flatMap((i) => Array.from(a.subarray(i * k, (i + 1) * k))));
          const scores = heads.map((head, h) => {
            const k = head.labels.length;
            return { probs: rows(result.probs[h]!, k), targets: result.targets[h] && rows(result.targets[h]!, k) };
          });
          return computeMetrics(heads, result.labels.map(pick), predicted.map(pick), scores);
        };
        split = {
          seen: subset((i) => isSeen[i]!),
          unseen: subset((i) => !isSeen[i]! && dataset.samples[i]!.labels.every((l) => l !== null)),
          novel: comboPredictions(heads, predicted, trainCombos),
        };
      }
      if (opts.json) {
        out.result(
          JSON.stringify({
            ...result.metrics,
            ...(split ? { seen: split.seen, unseen: split.unseen, novelPredictions: split.novel } : {}),
            losses: result.losses,
            samples: dataset.samples.length,
          }),
        );
      } else {
        printEvaluation(out, result.metrics);
        if (split) {
          out.result(`seen combinations:   exact-match ${split.seen.exactMatch.toFixed(4)} over ${split.seen.fullyLabelled} images`);
          out.result(`unseen combinations: exact-match ${split.unseen.exactMatch.toFixed(4)} over ${split.unseen.fullyLabelled} images`);
          out.result('predictions of combinations never in training:');
          if (split.novel.length === 0) out.result('  none');
          for (const c of split.novel) {
            out.result(`  ${Object.values(c.labels).join(' ').padEnd(30)} ${String(c.count).padStart(6)}  (${(100 * c.share).toFixed(1)}% of images)`);
          }
        }
      }
    });
}

/** Reorders (and checks) a dataset's heads to the model's. */
export function projectHeads(dataset: Dataset, heads: string[]): Dataset {
  const positions = heads.map((h) => dataset.heads.indexOf(h));
  const missing = heads.filter((_, i) => positions[i]! < 0);
  if (missing.length > 0) {
    throw new DataError(
      'DATA_MISSING_HEAD',
      `${dataset.origin} has no column for head${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of the model (its heads: ${dataset.heads.join(', ')})`,
    );
  }
  return {
    ...dataset,
    heads,
    samples: dataset.samples.map((s) => ({ ...s, labels: positions.map((p) => s.labels[p] ?? null) })),
  };
}

/** Human-readable evaluation report on stdout. */
export function printEvaluation(out: Output, m: MultiHeadMetrics): void {
  for (const [name, head] of Object.entries(m.heads)) {
    if (head.kind === 'multilabel') {
      printMultiLabel(out, name, head);
      continue;
    }
    const topK = head.topK ? `  top-k ${Object.entries(head.topK).map(([k, v]) => `${k}:${v.toFixed(4)}`).join(' ')}` : '';
    out.result(`${name}: accuracy ${head.accuracy.toFixed(4)}  macro-F1 ${head.macroF1.toFixed(4)}${topK}  (${head.count} labelled)`);
    printClasses(out, head.classes);
    const labels = head.classes.map((c) => c.label);
    const width = Math.max(8, ...labels.map((l) => l.length));
    out.result(`  ${'true\\pred'.padEnd(width)} ${labels.map((l) => l.padStart(width)).join(' ')}`);
    head.confusion.forEach((row, t) => {
      out.result(`  ${labels[t]!.padEnd(width)} ${row.map((v) => String(v).padStart(width)).join(' ')}`);
    });
  }
  out.result(`exact-match ${m.exactMatch.toFixed(4)} over ${m.fullyLabelled} images; hamming accuracy ${m.hammingAccuracy.toFixed(4)}`);
  out.result('per combination:');
  for (const c of m.combos) {
    out.result(`  ${Object.values(c.labels).join(' ').padEnd(30)} ${String(c.count).padStart(6)}  exact-match ${c.exactMatch.toFixed(4)}`);
  }
}

/** Per-class precision, recall, F1 and support (and threshold and AP for multi-label heads). */
function printClasses(out: Output, classes: HeadMetrics['classes']): void {
  const width = Math.max(8, ...classes.map((c) => c.label.length));
  const multi = classes[0]?.threshold !== undefined;
  const extra = multi ? ` ${'AP'.padStart(7)} ${'thresh'.padStart(7)}` : '';
  out.result(`  ${'class'.padEnd(width)} ${['precision', 'recall', 'F1'].map((h) => h.padStart(9)).join(' ')} ${'support'.padStart(7)}${extra}`);
  for (const c of classes) {
    const figures = [c.precision, c.recall, c.f1].map((v) => v.toFixed(4).padStart(9)).join(' ');
    const more = multi ? ` ${c.averagePrecision!.toFixed(4).padStart(7)} ${c.threshold!.toFixed(3).padStart(7)}` : '';
    out.result(`  ${c.label.padEnd(width)} ${figures} ${String(c.support).padStart(7)}${more}`);
  }
}

/** A multi-label head: set accuracy, micro/macro F1, mAP and per-label figures. */
function printMultiLabel(out: Output, name: string, head: HeadMetrics): void {
  out.result(
    `${name} (multi-label): exact set ${head.accuracy.toFixed(4)}  micro-F1 ${head.microF1!.toFixed(4)}  ` +
      `macro-F1 ${head.macroF1.toFixed(4)}  mAP ${head.mAP!.toFixed(4)}  hamming ${head.hammingAccuracy!.toFixed(4)}  (${head.count} labelled)`,
  );
  printClasses(out, head.classes);
}
