import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadDataset } from '@polyhead/data';
import { initBackend, trainOnDataset } from '@polyhead/model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildColoredFashionMnist } from '../demo/colored-fashion-mnist.js';

let dir: string;
let skewedCsv: string;
let valCsv: string;
const RARE = 'orange';

// The built-in coloured Fashion-MNIST with one colour made 20x rarer in training.
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(path.join(tmpdir(), 'polyhead-imbalance-'));
  const data = await buildColoredFashionMnist({ perType: 240, seed: 0, cacheDir: dir });
  const lines = (await readFile(data.seenCsv, 'utf8')).trim().split('\n');
  const [header, ...rows] = lines;
  const train: string[] = [];
  const val: string[] = [];
  let rare = 0;
  rows.forEach((row, i) => {
    if (i % 4 === 0) {
      val.push(row);
      return;
    }
    if (row.split(',')[1] === RARE && rare++ % 20 !== 0) return;
    train.push(row);
  });
  skewedCsv = path.join(path.dirname(data.seenCsv), 'skewed.csv');
  valCsv = path.join(path.dirname(data.seenCsv), 'balanced-val.csv');
  await writeFile(skewedCsv, `${[header, ...train].join('\n')}\n`);
  await writeFile(valCsv, `${[header, ...val].join('\n')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('class weights on a skewed head', () => {
  it('should raise the macro-F1 of a head with a 20x rarer colour when weights are balanced', async () => {
    const dataset = await loadDataset(skewedCsv);
    const val = await loadDataset(valCsv);
    const colorCount = dataset.samples.filter((s) => s.labels[0] === RARE).length;
    expect(colorCount).toBeGreaterThan(0);
    const run = async (balanced: boolean) => {
      const trained = await trainOnDataset({
        dataset,
        val,
        inputSize: 32,
        backbone: { width: 16, depth: 2 },
        epochs: 2,
        batchSize: 32,
        learningRate: 2e-3,
        seed: 1,
        classWeights: balanced ? { color: 'balanced' } : {},
      });
      trained.net.model.dispose();
      return trained.result.val!.heads.color!;
    };
    const plain = await run(false);
    const weighted = await run(true);
    const rareRecall = (m: typeof plain) => m.classes.find((c) => c.label === RARE)!.recall;
    // Measured (the runs are reproducible): seed 1, macro-F1 0.81 → 0.94 and recall of the rare
    // colour 0 → 1; seed 2, 0.79 → 0.94; 3 epochs at seed 0 or 1, 0.82 → 0.92–0.99. Two epochs at
    // seed 0 are the exception seen: 0.86 → 0.83.
    expect(weighted.macroF1).toBeGreaterThan(plain.macroF1 + 0.05);
    expect(rareRecall(weighted)).toBeGreaterThan(0.5);
    expect(rareRecall(plain)).toBeLessThan(0.5);
  });
});
