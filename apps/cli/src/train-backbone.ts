import cliProgress from 'cli-progress';
import { loadDataset, PolyheadError } from '@polyhead/data';
import type { AugmentOptions, CacheOptions, ClassWeightSetting, EpochLog, TrainCallbacks } from '@polyhead/model';

import type { Output } from './output.js';
import { trainingProgress } from './training-progress.js';
import { reportDataProblems, saveRunModels, type RunSettings, type TrainRun } from './train-run.js';
import { printSummary, reportDataset, reportHeldOut } from './train-report.js';

/**
 * Defaults of a `--backbone` run where the flag was not given: stage 1 epochs and learning rate
 * (heads on cached features), and the input side of registry backbones that list it (others
 * keep their own). Chosen so that fashion7 (2,518 photos) trains in under 5 minutes on 2 cores
 * with both heads above 0.95 validation accuracy (see the README for the figures).
 */
export const BACKBONE_DEFAULTS = { epochs: 30, lr: 1e-3, size: 160 } as const;

/** The train settings the `--backbone` path reads. */
export interface BackboneTrainSettings extends RunSettings {
  backbone?: string;
  featureLayer?: string;
  fineTuneBlocks: number;
  fineTuneEpochs: number;
  fineTuneLr: number;
  featureCache: boolean;
  featureViews?: number;
  augment?: string;
  colourHeads?: string[];
  dropout?: number;
  heads?: string[];
  separator: string;
  valFraction: number;
  batch: number;
  lr: number;
  seed: number;
  backend: string;
  lossWeights?: Record<string, number>;
  headKind?: Record<string, 'softmax' | 'multilabel'>;
  flip: boolean;
  invariant?: { head: string; attribute: string }[];
  invariantView: 'recolor' | 'hue';
  invariantFraction: number;
  holdoutCombos?: string;
  holdoutFraction?: number;
  selectMetric: 'meanMacroF1' | 'exactMatch' | 'meanAccuracy' | 'valLoss';
  restoreBest: boolean;
  patience?: number;
  cacheMb: number;
  onBadImage: 'fail' | 'skip';
  dedupe: boolean;
  json?: boolean;
}

/**
 * Settings of the small-CNN path that a `--backbone` run cannot honour, by option name, given
 * the names of the options set on the command line.
 */
export function backboneConflicts(given: Set<string>, opts: { lossBalance?: string }): string[] {
  const flags: Record<string, string> = { width: '--width', depth: '--depth', sharedDepth: '--shared-depth', chain: '--chain', balanceHead: '--balance-head', shuffle: '--no-shuffle' };
  const out = Object.entries(flags).filter(([key]) => given.has(key)).map(([, flag]) => flag);
  if (opts.lossBalance !== undefined && opts.lossBalance !== 'fixed') out.push(`--loss-balance ${opts.lossBalance}`);
  return out;
}

/**
 * `polyhead train --backbone`: transfer learning with `trainWithBackbone` (heads on the frozen,
 * pretrained backbone from cached features, then optionally the last blocks fine-tuned), written
 * to the same run folder as the small-CNN path. Runs cannot be resumed: no checkpoint is written.
 */
export async function trainBackboneInRun<O extends BackboneTrainSettings>(
  run: TrainRun<O>,
  classWeightsGiven: Record<string, ClassWeightSetting> | undefined,
) {
  const { opts, out } = run;
  const model = await import('@polyhead/model');
  const { initBackend, loadBackbone, parseAugment, parseCombos, pretrainedEntry, selectionScore, trainWithBackbone, DEFAULT_AUGMENT } = model;
  const backend = await initBackend(opts.backend as never, { log: (m) => out.info(m) });
  const dataset = await loadDataset(opts.data, { heads: opts.heads, separator: opts.separator });
  const classWeights = classWeightsGiven?.['*'] ? Object.fromEntries(dataset.heads.map((h) => [h, 'balanced' as const])) : classWeightsGiven;
  const val = opts.val ? await loadDataset(opts.val, { heads: opts.heads ?? dataset.heads, separator: opts.separator }) : undefined;
  reportDataset(out, dataset);

  const source = opts.backbone!;
  const entry = pretrainedEntry(source);
  let backbone = await loadBackbone(source, { inputSize: opts.size ?? (entry?.inputSizes.includes(BACKBONE_DEFAULTS.size) ? BACKBONE_DEFAULTS.size : undefined), featureLayer: opts.featureLayer, ...downloadReporting(out) });
  if (opts.size === undefined && backbone.entry?.inputSizes.includes(BACKBONE_DEFAULTS.size) && backbone.inputSize !== BACKBONE_DEFAULTS.size) {
    // a copy of a registry backbone given by path or URL, recognised once loaded
    backbone.model.dispose();
    backbone = await loadBackbone(source, { inputSize: BACKBONE_DEFAULTS.size, featureLayer: opts.featureLayer });
  }
  const known = backbone.entry;
  if (known && !known.inputSizes.includes(backbone.inputSize)) {
    out.warn(`${known.name} lists input sizes ${known.inputSizes.join(', ')} px; ${backbone.inputSize} px runs, but is not one of them`);
  }
  out.info(`backbone ${source}: ${backbone.featureLayer} → ${backbone.featureChannels} features at ${backbone.inputSize} px${backbone.scaling ? '' : ' (pixel scaling unknown: assuming [-1, 1])'}, from ${backbone.dir}`);

  const augment: AugmentOptions = opts.augment !== undefined ? parseAugment(opts.augment) : { ...DEFAULT_AUGMENT, flip: opts.flip };
  const colourHeads = opts.colourHeads ?? [...new Set([...(opts.invariant ?? []).map((e) => e.attribute), ...dataset.heads.filter((n) => /^colou?r$/i.test(n))])];
  if (augment.hue > 0 && dataset.heads.every((h) => colourHeads.includes(h))) {
    throw new PolyheadError('USAGE_BAD_AUGMENT', `--augment hue changes colour, and every head (${dataset.heads.join(', ')}) describes colour, so no head could learn from a hue-shifted image; drop hue from --augment`, {
      kind: 'usage',
    });
  }
  out.info(`augmentation: ${describeAugment(augment)}`);
  if (augment.hue > 0) {
    out.info(colourHeads.length > 0 ? `hue shifts change colour: ${colourHeads.join(', ')} never learn from a hue-shifted image (its label is hidden for those heads)` : 'hue shifts change colour; no head is marked as describing colour (see --colour-heads)');
  }

  const fineTune = opts.fineTuneBlocks > 0 ? { blocks: opts.fineTuneBlocks, epochs: opts.fineTuneEpochs, learningRate: opts.fineTuneLr } : undefined;
  Object.assign(run.resolved, {
    backend: backend.name,
    heads: dataset.heads,
    images: dataset.samples.length,
    backbone: { source, inputSize: backbone.inputSize, featureLayer: backbone.featureLayer, featureChannels: backbone.featureChannels, scaling: backbone.scaling ?? 'symmetric', dir: backbone.dir },
    augment,
    colourHeads,
    stage1: { epochs: opts.epochs, learningRate: opts.lr, featureCache: opts.featureCache },
    fineTune: fineTune ?? null,
  });
  out.info(`training ${dataset.heads.join(' + ')} on ${dataset.samples.length} images (${backend.name} backend, ${backbone.inputSize}px, ${opts.epochs} epochs on the frozen backbone${fineTune ? `, then ${fineTune.epochs} fine-tuning the last ${fineTune.blocks} blocks` : ''})`);

  let progress = trainingProgress(out, opts.epochs, { onEpochBegin: run.begin, onEpochEnd: (log) => run.onEpochEnd(log, { stage: 'heads' }) });
  const callbacks: TrainCallbacks = {
    onEpochBegin: (epoch) => progress.onEpochBegin?.(epoch),
    onBatchEnd: (log) => progress.onBatchEnd?.(log),
    onEpochEnd: (log: EpochLog) => progress.onEpochEnd?.(log),
  };
  let features = featureProgress(out);
  const started = performance.now();
  const trained = await trainWithBackbone({
    dataset,
    backbone,
    val,
    valFraction: opts.valFraction,
    holdout: { combos: opts.holdoutCombos ? parseCombos(opts.holdoutCombos) : undefined, fraction: opts.holdoutFraction },
    onBadImage: opts.onBadImage,
    dedupe: opts.dedupe,
    dropout: opts.dropout,
    epochs: opts.epochs,
    batchSize: opts.batch,
    learningRate: opts.lr,
    seed: opts.seed,
    lossWeights: opts.lossWeights,
    classWeights,
    headKinds: opts.headKind,
    augment,
    colourHeads,
    featureCache: opts.featureCache,
    featureViews: opts.featureViews,
    invariant: opts.invariant,
    invariantView: opts.invariantView,
    invariantFraction: opts.invariantFraction,
    fineTune,
    selectMetric: opts.selectMetric,
    restoreBest: opts.restoreBest,
    patience: opts.patience,
    cacheMb: opts.cacheMb,
    callbacks,
    signal: run.signal,
    onStage: (stage, description) => {
      // the first stage starts once the images are checked; epochs wait for the folder (begin is shared)
      void run.begin();
      features.stop();
      // the clock of feature progress starts with the stage, not with the image check
      if (stage === 'features') features = featureProgress(out);
      if (stage === 'fine-tune') {
        progress = trainingProgress(out, opts.fineTuneEpochs, { onEpochEnd: (log) => run.onEpochEnd(log, { stage: 'fine-tune' }) });
      }
      out.info(description);
    },
    onFeatures: (done, total) => features.update(done, total),
  })
    .catch((error: unknown) => {
      if (error instanceof PolyheadError && error.code === 'TRAIN_INTERRUPTED') {
        return Promise.reject(new PolyheadError(error.code, `${error.message}; runs with --backbone write no checkpoint, so train again with --force to start over`, { kind: 'runtime', details: error.details, cause: error }));
      }
      return Promise.reject(run.explain(error));
    })
    .finally(() => features.stop());
  const seconds = (performance.now() - started) / 1000;

  await reportDataProblems(opts.out, trained, out);
  const stages = trained.stages;
  const history = { heads: stages.heads.result.history, ...(stages.fineTune ? { fineTune: stages.fineTune.result.history } : {}) };
  trained.meta.training = { ...trained.meta.training, seconds, history: trained.result.history, stageHistory: history };
  await saveRunModels(opts.out, trained.net, trained.meta, { epochs: trained.result.history.length, lastWeights: trained.lastWeights });

  out.info(`${opts.featureCache ? `features: ${trained.featureSeconds.toFixed(1)}s; ` : ''}heads: ${(stages.heads.seconds - trained.featureSeconds).toFixed(1)}s${stages.fineTune ? `; fine-tune: ${stages.fineTune.seconds.toFixed(1)}s` : ''}`);
  if (stages.fineTune) {
    const before = stages.heads.val;
    const after = stages.fineTune.val;
    if (before && after) {
      const heads = Object.keys(after.heads).map((h) => `${h} ${before.heads[h]!.accuracy.toFixed(4)} → ${after.heads[h]!.accuracy.toFixed(4)}`).join(', ');
      const metric = opts.selectMetric === 'valLoss' ? 'meanMacroF1' : opts.selectMetric;
      const verdict = stages.fineTune.kept ? 'kept' : `discarded (${metric} ${selectionScore(metric, before).toFixed(4)} → ${selectionScore(metric, after).toFixed(4)})`;
      out.info(`fine-tuning ${verdict}: exact-match ${before.exactMatch.toFixed(4)} → ${after.exactMatch.toFixed(4)}, accuracy ${heads}`);
    }
  }
  if (trained.result.val) printSummary(out, trained.result.val, trained.result.bestEpoch);
  await reportHeldOut(out, trained);
  out.success(`model saved to ${opts.out} (${seconds.toFixed(0)}s, best epoch ${trained.result.bestEpoch}${stages.fineTune?.kept ? ' of fine-tuning' : ''})`);
  if (run.signal.aborted) {
    const at = stages.fineTune ? `fine-tuning epoch ${stages.fineTune.result.history.length}` : `epoch ${stages.heads.result.history.length} of ${opts.epochs}${fineTune ? ', before fine-tuning' : ''}`;
    out.warn(`stopped early by a signal at ${at}: the model saved is the best of the epochs run`);
    // as for the small CNN, a run stopped by a signal exits 130, here with its model written
    process.exitCode = 130;
  }
  if (opts.json) {
    out.result(
      JSON.stringify({
        model: opts.out,
        seconds,
        featureSeconds: trained.featureSeconds,
        bestEpoch: trained.result.bestEpoch,
        classWeights: trained.classWeights,
        history: trained.result.history,
        val: trained.result.val,
        stages: {
          heads: { seconds: stages.heads.seconds, val: stages.heads.val },
          ...(stages.fineTune ? { fineTune: { seconds: stages.fineTune.seconds, val: stages.fineTune.val, kept: stages.fineTune.kept } } : {}),
        },
        ...(trained.unseen ? { unseen: trained.unseen, heldOut: trained.heldOut } : {}),
      }),
    );
  }
  return trained;
}

/** `flip, crop 0.15, rotate ±10°, brightness ±0.1, contrast ±0.15` (or `none`). */
function describeAugment(a: AugmentOptions): string {
  const parts = [
    a.flip ? 'flip' : '',
    a.crop > 0 ? `crop ${a.crop}` : '',
    a.rotate > 0 ? `rotate ±${a.rotate}°` : '',
    a.brightness > 0 ? `brightness ±${a.brightness}` : '',
    a.contrast > 0 ? `contrast ±${a.contrast}` : '',
    a.hue > 0 ? `hue ±${a.hue}°` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** Feature computation progress: a bar on a terminal, a line per tenth elsewhere. */
function featureProgress(out: Output): { update(done: number, total: number): void; stop(): void } {
  let bar: cliProgress.SingleBar | null = null;
  let shown = 0;
  const started = performance.now();
  return {
    update(done, total) {
      if (out.interactive) {
        if (!bar) {
          bar = new cliProgress.SingleBar({ format: 'features {bar} {value}/{total} images | ETA {eta_formatted}', stream: process.stderr, hideCursor: true, clearOnComplete: true, barsize: 20 }, cliProgress.Presets.shades_classic);
          bar.start(total, 0);
        }
        bar.update(done);
        return;
      }
      const tenth = Math.floor((10 * done) / total);
      if (tenth > shown || done === total) {
        shown = tenth;
        const s = (performance.now() - started) / 1000;
        out.info(`features ${String(done).padStart(String(total).length)}/${total} images (${Math.round((100 * done) / total)}%) ${s.toFixed(1)}s`);
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

/** Download events and progress of a backbone, on stderr: a bar on a terminal, a line per tenth of the files elsewhere. */
function downloadReporting(out: Output): Pick<CacheOptions, 'onEvent' | 'onProgress'> {
  let bar: cliProgress.SingleBar | null = null;
  let lastIndex = 0;
  return {
    onEvent(event) {
      if (event.kind === 'hit') out.info(`using the cached backbone in ${event.dir}`);
      if (event.kind === 'miss') out.info(`downloading ${event.url} into ${event.dir}`);
      if (event.kind === 'corrupt') out.warn(`the cached backbone in ${event.dir} is damaged (${event.reason}); downloading it again`);
      if (event.kind === 'stored') {
        bar?.stop();
        bar = null;
        out.info(`downloaded and verified ${(event.bytes / 2 ** 20).toFixed(2)} MiB into ${event.dir}`);
      }
    },
    onProgress(p) {
      if (out.interactive) {
        if (!bar) {
          bar = new cliProgress.SingleBar({ format: 'download ({index}/{files}) {file} {bar} {value}/{total} bytes', stream: process.stderr, hideCursor: true, clearOnComplete: true, barsize: 20 }, cliProgress.Presets.shades_classic);
          bar.start(p.total ?? 0, p.received, p);
        }
        bar.setTotal(p.total ?? Math.max(p.received, 1));
        bar.update(p.received, p);
        return;
      }
      const done = p.total !== undefined && p.received === p.total;
      const step = Math.max(1, Math.ceil(p.files / 10));
      if (done && p.index !== lastIndex && (p.index % step === 0 || p.index === p.files)) {
        lastIndex = p.index;
        out.info(`downloaded (${p.index}/${p.files}) ${p.file}, ${p.received} bytes${p.resumedFrom > 0 ? ` (resumed from ${p.resumedFrom})` : ''}`);
      }
    },
  };
}
