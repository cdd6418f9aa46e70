import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { PolyheadError } from '@polyhead/data';

import { wrapNetwork, type Network } from '../network.js';
import type { ModelMeta } from '../spec.js';
import { tf } from '../tf.js';

/** File names inside a model directory. */
export const MODEL_FILES = {
  topology: 'model.json',
  weights: 'weights.bin',
  meta: 'polyhead.json',
} as const;

/**
 * Saves a network as a model directory: the TensorFlow.js layers format
 * (`model.json` + `weights.bin`, loadable with `tf.loadLayersModel` in a
 * browser) and `polyhead.json` with heads (kinds, vocabularies, multi-label
 * thresholds), preprocessing and metrics.
 *
 * The directory is written under a temporary name beside `dir` and renamed
 * into place, so a crash never leaves a half-written model; an existing model
 * at `dir` stays intact until the new one is complete.
 */
export async function saveModelDir(dir: string, net: Network, meta: ModelMeta): Promise<void> {
  const artifacts = await captureArtifacts(net.model);
  const weightData = toArrayBuffer(artifacts.weightData);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: 'polyhead',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
  };

  const target = path.resolve(dir);
  await mkdir(path.dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(temp);
  try {
    await writeFile(path.join(temp, MODEL_FILES.topology), JSON.stringify(modelJson));
    await writeFile(path.join(temp, MODEL_FILES.weights), new Uint8Array(weightData));
    await writeFile(path.join(temp, MODEL_FILES.meta), `${JSON.stringify(meta, null, 2)}\n`);
    await replaceDir(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Writes a model's three files into `dir`, an existing folder that holds other files too (a run
 * folder, say), leaving those alone. Each file is written under a temporary name and renamed
 * into place; `polyhead.json` goes last, so a folder with it holds a complete model.
 */
export async function saveModelFiles(dir: string, net: Network, meta: ModelMeta): Promise<void> {
  const artifacts = await captureArtifacts(net.model);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: 'polyhead',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [MODEL_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
  };
  await mkdir(dir, { recursive: true });
  await rm(path.join(dir, MODEL_FILES.meta), { force: true });
  await writeAtomic(path.join(dir, MODEL_FILES.weights), new Uint8Array(toArrayBuffer(artifacts.weightData)));
  await writeAtomic(path.join(dir, MODEL_FILES.topology), JSON.stringify(modelJson));
  await writeAtomic(path.join(dir, MODEL_FILES.meta), `${JSON.stringify(meta, null, 2)}\n`);
}

/** Writes `file` through a temporary file beside it and a rename. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, data);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Moves `source` to `target`, replacing a directory already there. */
async function replaceDir(source: string, target: string): Promise<void> {
  const existing = await stat(target).catch(() => null);
  if (!existing) {
    await rename(source, target);
    return;
  }
  if (!existing.isDirectory()) {
    throw new PolyheadError('MODEL_DIR_CONFLICT', `${target} exists and is not a directory; choose another --out`);
  }
  const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rename(target, old);
  await rename(source, target);
  await rm(old, { recursive: true, force: true });
}

/** A network loaded from a model directory, with its metadata. */
export interface LoadedModel {
  net: Network;
  meta: ModelMeta;
}

/** Loads a model directory written by {@link saveModelDir}. */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const meta = await readMeta(dir);
  const topologyFile = path.join(dir, MODEL_FILES.topology);
  const modelJson = await readJson(topologyFile);
  if (typeof modelJson !== 'object' || modelJson === null || !('modelTopology' in modelJson)) {
    throw new PolyheadError('MODEL_INVALID', `${topologyFile} is not a TensorFlow.js layers model (no modelTopology)`);
  }
  const json = modelJson as { modelTopology: object; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const manifest = json.weightsManifest ?? [];
  const weightSpecs = manifest.flatMap((group) => group.weights);
  const buffers: Uint8Array[] = [];
  for (const group of manifest) {
    for (const file of group.paths) {
      const p = path.join(dir, file);
      buffers.push(await readFile(p).catch((cause: unknown) => {
        throw new PolyheadError('MODEL_INVALID', `cannot read weights file ${p} named in ${topologyFile}`, { cause });
      }));
    }
  }
  const weightData = concatBytes(buffers);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  } catch (cause) {
    throw new PolyheadError('MODEL_INVALID', `cannot load the model in ${dir}: ${(cause as Error).message}`, { cause });
  }
  return { net: wrapNetwork(meta.network, model), meta };
}

/** Reads and checks `polyhead.json` of a model directory. */
export async function readMeta(dir: string): Promise<ModelMeta> {
  const file = path.join(dir, MODEL_FILES.meta);
  const exists = await stat(file).catch(() => null);
  if (!exists) {
    throw new PolyheadError(
      'MODEL_NOT_FOUND',
      `${dir} is not a polyhead model directory: ${MODEL_FILES.meta} is missing (expected ${Object.values(MODEL_FILES).join(', ')})`,
    );
  }
  const meta = (await readJson(file)) as Partial<ModelMeta>;
  if (meta.format !== 'polyhead-model/1' || !meta.network || !meta.preprocessing) {
    throw new PolyheadError('MODEL_INVALID', `${file}: expected format "polyhead-model/1" with network and preprocessing`);
  }
  for (const head of meta.network.heads ?? []) {
    // models saved before head kinds existed have softmax heads only
    head.kind ??= 'softmax';
    const { thresholds, labels } = head;
    const bad = thresholds !== undefined && !(Array.isArray(thresholds) && thresholds.length === labels?.length && thresholds.every((t) => typeof t === 'number'));
    if (bad) {
      throw new PolyheadError('MODEL_INVALID', `${file}: head "${head.name}" has thresholds that are not one number per label (${labels?.length ?? 0} labels)`);
    }
  }
  return meta as ModelMeta;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new PolyheadError('MODEL_NOT_FOUND', `cannot read ${file}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new PolyheadError('MODEL_INVALID', `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

async function captureArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!captured) throw new Error('tfjs did not hand over the model artifacts');
  return captured;
}

function toArrayBuffer(data: tf.io.ModelArtifacts['weightData']): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (Array.isArray(data)) return concatBytes(data.map((b) => new Uint8Array(b)));
  return data;
}

function concatBytes(parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out.buffer;
}
