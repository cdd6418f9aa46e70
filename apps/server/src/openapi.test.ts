import { loadDataset } from '@polyhead/data';
import { Predictor, trainOnDataset, type Prediction } from '@polyhead/model';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createApp } from './app.js';
import type { ModelInfo } from './model-info.js';
import { openApiDocument } from './openapi.js';
import type { PredictResult } from './predict-route.js';
import { fixture, fixtureBytes, imageForm, useTestBackend } from './test-utils/fixtures.js';

const IMAGES = ['f15/a_red_square.png', 'f15/b_blue_circle.png', 'f15/c_green_triangle.png'];

let predictor: Predictor;
/** The same tiny data, with `type` as a multi-label head. */
let multiLabel: Predictor;

beforeAll(async () => {
  await useTestBackend();
  predictor = await Predictor.load(inject('modelDir'));
  const { net, meta } = await trainOnDataset({
    dataset: await loadDataset(fixture('f04/train.csv')),
    inputSize: 32,
    backbone: { width: 8, depth: 2 },
    epochs: 1,
    seed: 7,
    headKinds: { type: 'multilabel' },
  });
  multiLabel = Predictor.fromNetwork(net, meta);
});

afterAll(() => {
  predictor.dispose();
  multiLabel?.dispose();
});

/** A validator of `pointer` (as `/components/schemas/Prediction`) in the served document. */
function schemaAt(pointer: string): ValidateFunction {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, logger: false });
  ajv.addSchema(openApiDocument(), 'openapi.json');
  return ajv.compile({ $ref: `openapi.json#${pointer}` });
}

/** The schema of a route's 200 JSON answer. */
function answerSchema(route: string, method = 'post'): ValidateFunction {
  const escaped = route.replaceAll('/', '~1');
  return schemaAt(`/paths/${escaped}/${method}/responses/200/content/application~1json/schema`);
}

function expectValid(validate: ValidateFunction, value: unknown): void {
  const valid = validate(value);
  expect(validate.errors ?? [], JSON.stringify(value)).toEqual([]);
  expect(valid).toBe(true);
}

describe('GET /openapi.json', () => {
  it('should document every API route the app answers, with its method', async () => {
    const app = createApp({ model: predictor, log: () => undefined });
    const doc = (await (await app.request('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const served = app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/' && !r.path.startsWith('/static'))
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(new Set(documented)).toEqual(new Set(served));
  });

  it('should resolve every $ref to a schema in the document', async () => {
    const app = createApp({ model: predictor, log: () => undefined });
    const doc = (await (await app.request('/openapi.json')).json()) as Record<string, unknown>;
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      const target = ref
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], doc);
      expect(target, ref).toBeTypeOf('object');
    }
  });

  it('should describe the answers of a multi-label head: its label set and every label’s score', async () => {
    const app = createApp({ model: multiLabel, log: () => undefined });
    const info = (await (await app.request('/v1/model')).json()) as ModelInfo;
    expectValid(answerSchema('/v1/model', 'get'), info);
    const type = info.heads.find((h) => h.name === 'type')!;
    expect(type.kind).toBe('multilabel');
    expect(type.thresholds).toHaveLength(type.labels.length);

    const single = await app.request('/v1/predict?top=2', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes(IMAGES[0]!),
    });
    expect(single.status).toBe(200);
    const answer = (await single.json()) as Prediction;
    expectValid(answerSchema('/v1/predict'), answer);

    const batch = await app.request('/v1/predict/batch', {
      method: 'POST',
      body: await imageForm(...IMAGES),
    });
    const { results } = (await batch.json()) as { results: PredictResult[] };
    expectValid(answerSchema('/v1/predict/batch'), { results });
    expect(results).toHaveLength(IMAGES.length);

    for (const result of [answer, ...results]) {
      if (!('heads' in result)) throw new Error(`no answer: ${JSON.stringify(result)}`);
      const { labels, scores, label, score } = result.heads.type!;
      // Every label is scored; the set holds those at their threshold, best first.
      expect(Object.keys(scores!).sort()).toEqual([...type.labels].sort());
      const chosen = type.labels.filter((l, i) => scores![l]! >= type.thresholds![i]!);
      expect([...labels!].sort()).toEqual(chosen.sort());
      expect(labels!.map((l) => scores![l]!)).toEqual(
        labels!.map((l) => scores![l]!).sort((a, b) => b - a),
      );
      expect(score).toBe(Math.max(...Object.values(scores!)));
      expect(scores![label]).toBe(score);
      // The softmax head answers one label, without a set.
      expect(result.heads.color!.labels).toBeUndefined();
    }
  });

  it('should match softmax answers and refuse fields it does not document', async () => {
    const app = createApp({ model: predictor, log: () => undefined });
    const res = await app.request('/v1/predict?top=3&heads=color', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await fixtureBytes(IMAGES[1]!),
    });
    const answer = (await res.json()) as Prediction;
    const validate = answerSchema('/v1/predict');
    expectValid(validate, answer);
    expect(validate({ heads: { color: { ...answer.heads.color, extra: 1 } } })).toBe(false);
    expect(validate({ heads: { color: { ...answer.heads.color, labels: 'red' } } })).toBe(false);
    expect(validate({ results: [{ filename: 'a.png' }] })).toBe(false);

    const bad = await app.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(bad.status).toBe(415);
    expectValid(schemaAt('/components/schemas/Error'), await bad.json());
  });
});
