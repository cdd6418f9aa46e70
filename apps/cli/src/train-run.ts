import { homedir } from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';

import { checkDataset, defaultPreprocessing, PolyheadError, UNUSABLE_KINDS, type CheckReport, type Dataset, type ImageCache } from '@polyhead/data';
import type { CheckpointOptions, ModelMeta, Network, TrainCheckpoint, TrainedModel, WeightValue } from '@polyhead/model';

import type { Output } from './output.js';
import {
  appendMetrics,
  checkNewRun,
  prepareNewRun,
  readRunConfig,
  removeStrays,
  RUN_FILES,
  runFolderState,
  teeOutput,
  writeFileAtomic,
  writeMetrics,
} from './run-folder.js';

/** Settings a run folder needs from the train command. */
export interface RunSettings {
  data?: string;
  val?: string;
  out?: string;
  resume?: string;
  force?: boolean;
  checkpointMinutes: number;
  /** Input side; a `--backbone` run may leave it to the backbone. */
  size?: number;
  epochs: number;
  /** Pretrained backbone of the run; such runs write no checkpoint and cannot be resumed. */
  backbone?: string;
}

/** A training run bound to its folder: settings, log, checkpoints and signals. */
export interface TrainRun<O extends RunSettings> {
  dir: string;
  opts: O & { data: string; out: string };
  out: Output;
  /** The checkpoint to continue from, when resuming one that has it. */
  resume?: TrainCheckpoint;
  checkpoint: CheckpointOptions;
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Appends an epoch's `metrics.jsonl` row, with `extra` fields (the stage, say) first. */
  onEpochEnd: (log: Parameters<typeof appendMetrics>[1], extra?: Record<string, string>) => void;
  /** Turns an interruption or a non-finite loss into a message that says what was kept. */
  explain(error: unknown): unknown;
  /** Makes a new run's folder and writes its config; call when training starts. */
  begin(): Promise<void>;
  /** Facts settled while starting (the backend `auto` chose, say), written into `config.json` as `resolved`. */
  resolved: Record<string, unknown>;
  /** Stops listening for signals. */
  close(): void;
}

/**
 * Opens the run folder of `polyhead train`: a new one at `--out` (never over a finished run
 * unless `--force`), or the run named by `--resume`, whose `config.json` supplies every setting.
 */
export async function openRun<O extends RunSettings>(given: O, out: Output): Promise<TrainRun<O>> {
  const { loadTrainCheckpoint, saveTrainCheckpoint } = await import('@polyhead/model');
  let opts: O;
  let resume: TrainCheckpoint | undefined;
  if (given.resume) {
    const dir = given.resume;
    const state = await runFolderState(dir);
    if (state === 'finished') {
      throw new PolyheadError('RUN_FINISHED', `${dir} holds a finished run; nothing to resume (train again with --force to replace it)`, { kind: 'usage' });
    }
    opts = { ...(await readRunConfig<O>(dir)), resume: dir, out: dir, force: false };
    if (opts.backbone) {
      throw new PolyheadError('RUN_RESUME_UNSUPPORTED', `${dir} was trained with --backbone ${opts.backbone}; such runs write no checkpoint and cannot be resumed: train again with --force to start over`, {
        kind: 'usage',
        details: { dir, backbone: opts.backbone },
      });
    }
    await removeStrays(dir);
    const file = path.join(dir, RUN_FILES.checkpoint);
    if (await stat(file).catch(() => null)) resume = await loadTrainCheckpoint(file);
  } else {
    if (!given.data || !given.out) {
      throw new PolyheadError('USAGE_MISSING_OPTION', `train needs --data and --out (or --resume <run folder>)`, { kind: 'usage' });
    }
    opts = { ...given, data: path.resolve(given.data), val: given.val && path.resolve(given.val) };
    await checkNewRun(given.out, given.force ?? false);
  }
  const dir = opts.out!;
  const log = teeOutput(out, dir);
  // A new run's folder is made when training starts, so a run refused before then leaves nothing.
  // Every caller waits for the one preparation, so no epoch row lands before the folder is ready.
  let begun: Promise<void> | undefined = opts.resume ? Promise.resolve() : undefined;
  const resolved: Record<string, unknown> = {};
  const begin = () =>
    (begun ??= (async () => {
      await prepareNewRun(dir);
      const { resume: _r, force: _f, ...settings } = opts;
      const config = { format: 'polyhead-run/1', createdAt: new Date().toISOString(), options: settings, resolved };
      await writeFileAtomic(path.join(dir, RUN_FILES.config), `${JSON.stringify(config, null, 2)}\n`);
      await writeMetrics(dir, []);
      log.open();
    })());
  if (resume) {
    const where = resume.epochDone ? `after epoch ${resume.epoch}` : `at epoch ${resume.epoch}, batch ${resume.batch}`;
    log.info(`resuming ${dir} ${where} (step ${resume.step})`);
  } else if (opts.resume) {
    log.warn(`${dir} has no checkpoint yet; training it from the start`);
  }
  if (opts.resume) {
    await writeMetrics(dir, resume?.history ?? []);
    log.open();
  }

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second signal: stop at once, as the default handler does.
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.kill(process.pid, signal);
      return;
    }
    const then = opts.backbone ? 'saving the model trained so far (runs with --backbone write no checkpoint)' : 'writing a checkpoint';
    log.warn(`${signal}: stopping after this batch and ${then} (send it again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkpointFile = path.join(dir, RUN_FILES.checkpoint);
  let lastSaved: { epoch: number; batch: number } | undefined = resume && { epoch: resume.epoch, batch: resume.batch };

  return {
    dir,
    opts: opts as O & { data: string; out: string },
    out: log,
    resume,
    checkpoint: {
      everyMinutes: opts.checkpointMinutes,
      save: async (cp) => {
        await saveTrainCheckpoint(checkpointFile, cp);
        lastSaved = { epoch: cp.epoch, batch: cp.batch };
      },
    },
    signal: controller.signal,
    begin,
    resolved,
    onEpochEnd: (epochLog, extra) => appendMetrics(dir, epochLog, extra),
    explain(error) {
      if (!(error instanceof PolyheadError)) return error;
      const kept = lastSaved ? `the last good checkpoint (epoch ${lastSaved.epoch}, batch ${lastSaved.batch}) is kept in ${checkpointFile}` : 'no checkpoint was written yet';
      if (error.code === 'TRAIN_INTERRUPTED') {
        return new PolyheadError(error.code, `${error.message}; continue with: polyhead train --resume ${dir}`, { kind: 'runtime', details: error.details, cause: error });
      }
      if (error.code === 'TRAIN_NONFINITE_LOSS') {
        return new PolyheadError(error.code, `${error.message}; ${kept}`, { kind: 'runtime', details: error.details, cause: error });
      }
      return error;
    },
    close() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Where `check` remembers results between runs: one file per dataset and input size. */
export function checkResultsFile(origin: string, size: number): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  const id = createHash('sha1').update(`${origin}\u0000${size}`).digest('hex').slice(0, 16);
  return path.join(base, 'polyhead', 'check', `${id}.json`);
}

/** Checks a dataset's images before training, remembering results by size and mtime, and says what it found. */
export async function checkBeforeTraining(dataset: Dataset, size: number, cache: ImageCache, out: Output): Promise<CheckReport> {
  const report = await checkDataset(dataset.samples, defaultPreprocessing({ size }), { cache, resultsFile: checkResultsFile(dataset.origin, size) });
  const unusable = report.problems.filter((p) => UNUSABLE_KINDS.has(p.kind)).length;
  const warnings = report.problems.filter((p) => !UNUSABLE_KINDS.has(p.kind));
  for (const p of warnings.filter((w) => w.kind === 'extension').slice(0, 20)) out.warn(p.message);
  out.info(`checked ${report.checked} images (${report.cached} unchanged since the last check): ${unusable} unusable, ${warnings.length} warnings`);
  return report;
}

/**
 * Tells what training left out or kept together: the skipped images (the first 20 by name, all
 * of them in the run folder's list) and the groups of identical images.
 */
export async function reportDataProblems(dir: string, trained: Pick<TrainedModel, 'badImages' | 'duplicates'>, out: Output): Promise<void> {
  for (const b of trained.badImages.slice(0, 20)) out.warn(`skipped bad image ${b.message} [${b.code}]`);
  if (trained.badImages.length > 0) out.warn(`skipped ${trained.badImages.length} unusable images, listed in ${path.join(dir, RUN_FILES.skipped)}`);
  await writeSkipped(dir, trained);
  if (trained.duplicates.groups > 0) {
    out.info(`${trained.duplicates.images} images in ${trained.duplicates.groups} groups of identical pixels, each group kept on one side of the split`);
  }
}

/** Writes the images a run left out, one `file[:line] path reason` per line. */
async function writeSkipped(dir: string, trained: Pick<TrainedModel, 'badImages'>): Promise<void> {
  if (trained.badImages.length === 0) return;
  const lines = trained.badImages.map((b) => `${b.file}${b.line !== undefined ? `:${b.line}` : ''}\t${b.path}\t${b.code}`);
  await writeFileAtomic(path.join(dir, RUN_FILES.skipped), `${lines.join('\n')}\n`);
}

/**
 * Saves a finished run's models: the last of its `epochs` under `last/` (from `lastWeights`
 * where training restored the best epoch's weights), and the weights the network holds (the
 * best) at the top of `dir`.
 */
export async function saveRunModels(
  dir: string,
  net: Network,
  meta: ModelMeta,
  last: { epochs: number; lastWeights?: WeightValue[] },
): Promise<void> {
  const { saveModelDir, saveModelFiles, tf } = await import('@polyhead/model');
  const { lastWeights } = last;
  const lastMeta = { ...meta, training: { ...meta.training, bestEpoch: last.epochs } };
  const bestWeights = lastWeights && net.model.getWeights().map((w) => w.clone());
  if (lastWeights) {
    const weights = lastWeights.map((w) => tf.tensor(w.data, w.shape));
    net.model.setWeights(weights);
    tf.dispose(weights);
  }
  await saveModelDir(path.join(dir, 'last'), net, lastMeta);
  if (bestWeights) {
    net.model.setWeights(bestWeights);
    tf.dispose(bestWeights);
  }
  await saveModelFiles(dir, net, meta);
}
