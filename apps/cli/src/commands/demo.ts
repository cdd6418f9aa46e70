import { Command } from 'commander';
import { batches, ImageCache, LabelEncoder, loadDataset } from '@polyhead/data';
import type { MultiHeadMetrics } from '@polyhead/model';

import { buildColoredFashionMnist } from '../demo/colored-fashion-mnist.js';
import type { Output } from '../output.js';
import { nonNegativeInt, positiveInt } from '../options.js';
import { trainingProgress } from '../training-progress.js';
import { printSummary } from '../train-report.js';

interface DemoOptions {
  epochs: number;
  perType: number;
  size: number;
  seed: number;
  backend: string;
  out: string;
  invariant: boolean;
  baseline?: boolean;
  json?: boolean;
}

/**
 * `polyhead demo`: the main job on the built-in coloured Fashion-MNIST. Some
 * (color, type) pairs never appear in training; the report gives exact-match
 * on seen pairs and on those unseen pairs apart.
 */
export function demoCommand(out: Output): Command {
  return new Command('demo')
    .description('train on the built-in coloured Fashion-MNIST with 16 (color, type) pairs held out, then report seen vs unseen exact-match')
    .option('--epochs <n>', 'training epochs', positiveInt, 8)
    .option('--per-type <n>', 'images per garment type', positiveInt, 800)
    .option('--size <px>', 'input size', positiveInt, 32)
    .option('--seed <n>', 'seed', nonNegativeInt, 0)
    .option('--backend <name>', 'compute backend (auto, tensorflow-gpu, tensorflow, wasm, cpu)', 'auto')
    .option('--out <dir>', 'where to save the trained model', 'runs/demo')
    .option('--json', 'print the figures as one JSON object on the last stdout line')
    .option('--no-invariant', 'train plainly, without declaring type invariant to colour')
    .option('--baseline', 'also train without the invariance and report it as "baseline"')
    .action(async (opts: DemoOptions) => {
      const started = performance.now();
      const { evaluate, initBackend, saveModelDir, trainOnDataset } = await import('@polyhead/model');
      await initBackend(opts.backend as never, { log: (m) => out.info(m) });
      out.info(`building the coloured Fashion-MNIST (${opts.perType} images per type, seed ${opts.seed})`);
      const data = await buildColoredFashionMnist({ perType: opts.perType, seed: opts.seed });
      out.info(
        `${data.counts.seen} images of seen pairs, ${data.counts.unseen} of ${data.heldOut.length} held-out pairs: ` +
          data.heldOut.map((p) => `${p.color} ${p.type}`).join(', '),
      );
      const dataset = await loadDataset(data.seenCsv);
      const unseenData = await loadDataset(data.unseenCsv);

      const run = async (invariant: boolean, save: boolean) => {
        out.info(invariant ? 'training with type declared invariant to colour (--invariant type:color)' : 'training without invariance');
        const trained = await trainOnDataset({
          dataset,
          inputSize: opts.size,
          backbone: { width: 32, depth: 3 },
          epochs: opts.epochs,
          batchSize: 64,
          seed: opts.seed,
          flip: true,
          invariant: invariant ? [{ head: 'type', attribute: 'color' }] : [],
          callbacks: trainingProgress(out, opts.epochs),
        });
        const unseenLabels = LabelEncoder.fromJSON({ heads: trained.encoder.heads }).encode(unseenData);
        const unseen = await evaluate(
          trained.net,
          batches(unseenData.samples, unseenLabels, unseenData.samples.map((_, i) => i), {
            batchSize: 128,
            shuffle: false,
            seed: 0,
            pre: trained.meta.preprocessing,
            cache: new ImageCache(64 * 2 ** 20),
          }),
        );
        const seen = trained.result.val!;
        printSummary(out, seen, trained.result.bestEpoch);
        out.info(`seen pairs   exact-match ${seen.exactMatch.toFixed(4)} (${seen.fullyLabelled} validation images)`);
        out.info(`unseen pairs exact-match ${unseen.metrics.exactMatch.toFixed(4)} (${unseen.metrics.fullyLabelled} images)  ${headLine(unseen.metrics)}`);
        if (save) {
          trained.meta.metrics = { ...trained.meta.metrics, unseen: unseen.metrics };
          await saveModelDir(opts.out, trained.net, trained.meta);
        }
        trained.net.model.dispose();
        return { seen: slim(seen), unseen: slim(unseen.metrics), heads: seen.heads };
      };

      const main = await run(opts.invariant, true);
      const baseline = opts.baseline && opts.invariant ? await run(false, false) : undefined;
      const seconds = (performance.now() - started) / 1000;
      out.success(`demo finished in ${seconds.toFixed(0)}s; model saved to ${opts.out}`);
      const summary = {
        invariant: opts.invariant ? ['type:color'] : [],
        seen: main.seen,
        unseen: main.unseen,
        heads: Object.fromEntries(Object.entries(main.heads).map(([n, h]) => [n, { accuracy: h.accuracy, macroF1: h.macroF1 }])),
        ...(baseline ? { baseline: { seen: baseline.seen, unseen: baseline.unseen } } : {}),
        heldOut: data.heldOut,
        seconds,
        model: opts.out,
      };
      if (opts.json) out.result(JSON.stringify(summary));
      else {
        out.result(`seen exact-match ${main.seen.exactMatch.toFixed(4)}, unseen exact-match ${main.unseen.exactMatch.toFixed(4)}`);
        if (baseline) out.result(`without invariance: seen ${baseline.seen.exactMatch.toFixed(4)}, unseen ${baseline.unseen.exactMatch.toFixed(4)}`);
      }
    });
}

function slim(m: MultiHeadMetrics) {
  return {
    exactMatch: m.exactMatch,
    images: m.fullyLabelled,
    heads: Object.fromEntries(Object.entries(m.heads).map(([n, h]) => [n, { accuracy: h.accuracy }])),
  };
}

function headLine(m: MultiHeadMetrics): string {
  return Object.entries(m.heads).map(([n, h]) => `${n} ${h.accuracy.toFixed(3)}`).join(', ');
}
