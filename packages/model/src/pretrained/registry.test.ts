import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../backend/index.js';
import { HAS_SHARED_PRETRAINED, SHARED_COPIES, SHARED_SKIP_REASON } from '../test-utils/shared-pretrained.js';
import { tf } from '../tf.js';
import { identifyPretrained, loadBackbone } from './load.js';
import { PRETRAINED, pretrainedNames } from './registry.js';

const cases = pretrainedNames().flatMap((name) => PRETRAINED[name]!.inputSizes.map((size) => [name, size] as const));

describe.skipIf(!HAS_SHARED_PRETRAINED)(`PRETRAINED registry${SHARED_SKIP_REASON}`, () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it.each(pretrainedNames())('should have an offline copy of %s whose weights match the registry digest', async (name) => {
    const dir = SHARED_COPIES[name];
    expect(dir, `no offline copy listed for ${name} in test-utils/shared-pretrained.ts`).toBeDefined();
    const found = await identifyPretrained(path.join(dir!, 'model.json'));
    expect(found?.name).toBe(name);
  });

  it.each(cases)('should build %s and give [N, h, w, featureChannels] features at %i px when loaded from its offline copy', async (name, size) => {
    const entry = PRETRAINED[name]!;
    const before = tf.memory().numTensors;
    const backbone = await loadBackbone(path.join(SHARED_COPIES[name]!, 'model.json'), { inputSize: size });
    const side = Math.ceil(size / 32);
    expect(backbone.entry?.name).toBe(name);
    expect(backbone.featureLayer).toBe(entry.featureLayer);
    expect(backbone.featureChannels).toBe(entry.featureChannels);
    expect(backbone.inputSize).toBe(size);
    expect(backbone.scaling).toBe(entry.scaling);
    expect(backbone.model.getLayer(entry.featureLayer).outputShape).toEqual([null, side, side, entry.featureChannels]);

    const cut = tf.model({ inputs: backbone.model.inputs, outputs: backbone.model.getLayer(entry.featureLayer).output as tf.SymbolicTensor });
    const features = tf.tidy(() => cut.predict(tf.randomUniform([2, size, size, 3], -1, 1, 'float32', 7)) as tf.Tensor);
    expect(features.shape).toEqual([2, side, side, entry.featureChannels]);
    const values = (await features.data()) as Float32Array;
    expect(values.every(Number.isFinite)).toBe(true);
    // ReLU outputs: non-negative, and not all zero
    expect(values.reduce((a, v) => Math.min(a, v), Infinity)).toBeGreaterThanOrEqual(0);
    expect(values.reduce((a, v) => Math.max(a, v), -Infinity)).toBeGreaterThan(0);
    features.dispose();
    backbone.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('should take the feature layer, scaling and blocks of the registry when a copy is given by path', async () => {
    const backbone = await loadBackbone(path.join(SHARED_COPIES['mobilenet-v2-0.35']!, 'model.json'), { inputSize: 96 });
    expect(backbone.source).toContain('mobilenet-v2-0.35-224-notop');
    expect([backbone.entry?.name, backbone.featureLayer, backbone.scaling]).toEqual(['mobilenet-v2-0.35', 'out_relu', 'symmetric']);
    backbone.model.dispose();
  });
});
