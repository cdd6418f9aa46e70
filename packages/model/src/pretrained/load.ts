import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { PolyheadError, type Scaling } from '@polyhead/data';

import { tf } from '../tf.js';
import { ensurePretrained, ensureRemoteModel, manifestPaths, type CacheOptions } from './download.js';
import { PRETRAINED, pretrainedEntry, pretrainedNames, type PretrainedEntry } from './registry.js';

/** Options of {@link loadBackbone}. */
export interface LoadBackboneOptions extends CacheOptions {
  /** Square input side; default the registry entry's (224 for other models: their own). */
  inputSize?: number;
  /** Feature layer; required for models outside the registry, default the entry's. */
  featureLayer?: string;
}

/** A pretrained layers model, ready to be cut at its feature layer. */
export interface LoadedBackbone {
  /** The whole model as loaded (input resized when asked). */
  model: tf.LayersModel;
  /** Registry entry, for backbones given by name. */
  entry?: PretrainedEntry;
  /** What `--backbone` named: a registry name, a path or a URL. */
  source: string;
  featureLayer: string;
  inputSize: number;
  /** Pixel scaling the weights expect (registry entries); undefined when unknown. */
  scaling?: Scaling;
  /** Channels of the feature layer. */
  featureChannels: number;
  /** Where the files came from: the cache folder or the given path. */
  dir: string;
}

/**
 * Loads a backbone: a registry name (downloaded into the cache on first use and checked on every
 * load), a path to a layers `model.json`, or its URL (cached like a registry entry). A path or URL
 * whose weights are a registry entry's (by SHA-256) takes that entry's feature layer, scaling and
 * blocks; any other model needs `featureLayer`.
 *
 * @example
 * const backbone = await loadBackbone('mobilenet-v1-0.25', { inputSize: 160 });
 * backbone.model.getLayer(backbone.featureLayer).outputShape; // [null, 5, 5, 256]
 */
export async function loadBackbone(source: string, options: LoadBackboneOptions = {}): Promise<LoadedBackbone> {
  let entry = pretrainedEntry(source);
  let file: string;
  if (entry) {
    file = (await ensurePretrained(entry, options)).modelJson;
  } else if (/^https?:\/\//i.test(source)) {
    file = (await ensureRemoteModel(source, options)).modelJson;
  } else if (source.endsWith('.json') || source.includes('/') || source.includes(path.sep)) {
    file = source.endsWith('.json') ? source : path.join(source, 'model.json');
  } else {
    throw new PolyheadError('PRETRAINED_UNKNOWN', `unknown backbone "${source}": expected one of ${pretrainedNames().join(', ')}, a path to a model.json, or its URL`, {
      kind: 'usage',
    });
  }
  // a local or remote copy of a registry entry keeps the entry's defaults
  entry ??= await identifyPretrained(file);
  const featureLayer = options.featureLayer ?? entry?.featureLayer;
  if (!featureLayer) {
    throw new PolyheadError('PRETRAINED_NO_FEATURE_LAYER', `backbone ${source} is not in the registry: name its feature layer with --feature-layer (a layer with a [N, h, w, c] output)`, {
      kind: 'usage',
    });
  }
  const model = await loadLayersFile(file, options.inputSize);
  let layer: tf.layers.Layer;
  try {
    layer = model.getLayer(featureLayer);
  } catch {
    const names = model.layers.map((l) => l.name);
    model.dispose();
    throw new PolyheadError('PRETRAINED_NO_FEATURE_LAYER', `${file} has no layer "${featureLayer}"; its last layers are ${names.slice(-6).join(', ')}`, { kind: 'usage' });
  }
  const shape = layer.outputShape as (number | null)[];
  if (!Array.isArray(shape) || shape.length !== 4) {
    model.dispose();
    throw new PolyheadError('PRETRAINED_NO_FEATURE_LAYER', `feature layer "${featureLayer}" of ${file} outputs ${JSON.stringify(shape)}; expected [N, h, w, c]`, { kind: 'usage' });
  }
  const inputShape = model.inputs[0]!.shape;
  return {
    model,
    entry,
    source,
    featureLayer,
    inputSize: inputShape[1] ?? options.inputSize ?? entry?.inputSize ?? 224,
    scaling: entry?.scaling,
    featureChannels: shape[3]!,
    dir: path.dirname(file),
  };
}

/**
 * The registry entry whose weights a `model.json` and the weight files beside it hold (same
 * size and SHA-256 of the weights concatenated in manifest order), or undefined.
 *
 * @example
 * (await identifyPretrained('../shared/pretrained/mobilenet-v2-0.35-224-notop/model.json'))?.name; // 'mobilenet-v2-0.35'
 */
export async function identifyPretrained(file: string): Promise<PretrainedEntry | undefined> {
  let paths: string[];
  try {
    paths = manifestPaths(JSON.parse(await readFile(file, 'utf8')), file);
  } catch {
    return undefined;
  }
  const candidates = Object.values(PRETRAINED);
  const hash = createHash('sha256');
  let size = 0;
  for (const p of paths) {
    const bytes = await readFile(path.join(path.dirname(file), p)).catch(() => null);
    if (!bytes) return undefined;
    size += bytes.byteLength;
    // no entry is this large: stop reading
    if (candidates.every((e) => size > e.weights.size)) return undefined;
    hash.update(bytes);
  }
  const sha256 = hash.digest('hex');
  return candidates.find((e) => e.weights.size === size && e.weights.sha256 === sha256);
}

/**
 * Loads a TensorFlow.js layers model from a `model.json` file and the weight files beside it,
 * with its input resized to `inputSize` (the weights of a convolutional network do not depend
 * on it).
 */
export async function loadLayersFile(file: string, inputSize?: number): Promise<tf.LayersModel> {
  let json: { modelTopology?: unknown; weightsManifest?: { weights: tf.io.WeightsManifestEntry[] }[] };
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new PolyheadError('PRETRAINED_INVALID', `cannot read the layers model ${file}: ${(cause as Error).message}`, { kind: 'usage', cause });
  }
  if (!json || typeof json.modelTopology !== 'object') {
    throw new PolyheadError('PRETRAINED_INVALID', `${file} is not a TensorFlow.js layers model (no modelTopology)`, { kind: 'usage' });
  }
  const paths = manifestPaths(json, file);
  const parts = await Promise.all(
    paths.map((p) =>
      readFile(path.join(path.dirname(file), p)).catch((cause: unknown) => {
        throw new PolyheadError('PRETRAINED_INVALID', `cannot read weight file ${p} listed in ${file}`, { kind: 'usage', cause });
      }),
    ),
  );
  const weightData = new Uint8Array(parts.reduce((a, b) => a + b.byteLength, 0));
  let offset = 0;
  for (const b of parts) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  const topology = inputSize === undefined ? json.modelTopology : resizeInput(json.modelTopology, inputSize, file);
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: topology as object, weightSpecs: json.weightsManifest!.flatMap((g) => g.weights), weightData: weightData.buffer }),
    );
  } catch (cause) {
    throw new PolyheadError('PRETRAINED_INVALID', `cannot build the layers model in ${file}: ${(cause as Error).message}`, { kind: 'usage', cause });
  }
}

/** A copy of a Keras topology whose input layers take `size × size` images. */
function resizeInput(topology: unknown, size: number, file: string): unknown {
  const copy = structuredClone(topology) as Record<string, unknown>;
  const config = ((copy.model_config as Record<string, unknown> | undefined) ?? copy).config as { layers?: { class_name: string; config: Record<string, unknown> }[] } | undefined;
  const inputs = (config?.layers ?? []).filter((l) => l.class_name === 'InputLayer');
  if (inputs.length !== 1) {
    throw new PolyheadError('PRETRAINED_INVALID', `${file}: cannot resize the input of a model with ${inputs.length} input layers`, { kind: 'usage' });
  }
  const cfg = inputs[0]!.config;
  const key = 'batch_input_shape' in cfg ? 'batch_input_shape' : 'batchInputShape';
  const shape = cfg[key] as (number | null)[] | undefined;
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new PolyheadError('PRETRAINED_INVALID', `${file}: the input layer's shape is ${JSON.stringify(shape)}; expected [null, h, w, 3]`, { kind: 'usage' });
  }
  cfg[key] = [shape[0] ?? null, size, size, shape[3]];
  return copy;
}
