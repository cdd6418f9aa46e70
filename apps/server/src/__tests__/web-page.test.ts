import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadDataset } from '@polyhead/data';
import { Predictor, saveModelDir, trainOnDataset, type Prediction } from '@polyhead/model';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { startServer, type RunningServer } from '../server.js';
import { fixture, fixtureBytes, useTestBackend } from '../test-utils/fixtures.js';

// Globals of the page, where the callbacks given to page.evaluate run.
declare const document: any;
declare const DataTransfer: any;
declare const DragEvent: any;

/** Debian's `chromium` package; CI machines without it skip these tests. */
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const hasChromium = existsSync(CHROMIUM);
const title = hasChromium
  ? 'web page in headless Chromium'
  : `web page in headless Chromium (skipped: no browser at ${CHROMIUM}; apt-get install chromium)`;

let server: RunningServer;
let predictor: Predictor;
let browser: Browser;
let page: Page;

/** The labels and scores the page shows, per head. */
async function shown(): Promise<Record<string, { label: string; bars: Record<string, number> }>> {
  return page.$$eval('#results .head', (blocks: PageElement[]) =>
    Object.fromEntries(
      blocks.map((block) => [
        block.dataset.head!,
        {
          label: block.querySelector('.label')!.textContent!,
          bars: Object.fromEntries(
            Array.from(block.querySelectorAll('.bar')).map((bar) => [
              bar.dataset.label!,
              parseFloat(bar.querySelector('.score')!.textContent!) / 100,
            ]),
          ),
        },
      ]),
    ),
  );
}

/** What the callbacks read of an element in the page. */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
}

function expectShown(
  page: Awaited<ReturnType<typeof shown>>,
  expected: Prediction,
  labelCounts: Record<string, number>,
): void {
  expect(Object.keys(page).sort()).toEqual(Object.keys(expected.heads).sort());
  for (const [name, head] of Object.entries(expected.heads)) {
    expect(page[name]!.label).toBe(head.label);
    expect(Object.keys(page[name]!.bars)).toHaveLength(labelCounts[name]!);
    // The page rounds to a tenth of a percent.
    for (const { label, score } of head.top!) {
      expect(Math.abs(page[name]!.bars[label]! - score)).toBeLessThanOrEqual(0.0006);
    }
  }
}

describe.skipIf(!hasChromium)(title, () => {
  let labelCounts: Record<string, number>;
  let backend: 'wasm' | 'cpu';

  beforeAll(async () => {
    backend = await useTestBackend();
    predictor = await Predictor.load(inject('modelDir'));
    labelCounts = Object.fromEntries(
      predictor.meta.network.heads.map((h) => [h.name, h.labels.length]),
    );
    server = await startServer({
      modelDir: inject('modelDir'),
      port: 0,
      backend,
      log: () => undefined,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() =>
      document.querySelector('#model')?.textContent?.startsWith('Heads'),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    predictor?.dispose();
  });

  it('should show each head’s label and a bar per label when an image is picked', async () => {
    await page.setInputFiles('#file', fixture('f15/b_blue_circle.png'));
    await page.waitForSelector('#results[data-state="server"] .head');
    const [expected] = await predictor.predict([fixture('f15/b_blue_circle.png')], { top: 3 });
    expectShown(await shown(), expected!, labelCounts);
    expect(await page.textContent('#status')).toMatch(/b_blue_circle\.png: answered by the server/);
  });

  it('should predict an image dropped on the page', async () => {
    const base64 = Buffer.from(await fixtureBytes('f15/c_green_triangle.png')).toString('base64');
    await page.evaluate((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      document
        .querySelector('#drop')!
        .dispatchEvent(
          new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }),
        );
    }, base64);
    await page.waitForFunction(() =>
      document.querySelector('#status')?.textContent?.startsWith('dropped.png'),
    );
    const [expected] = await predictor.predict([fixture('f15/c_green_triangle.png')], { top: 3 });
    expectShown(await shown(), expected!, labelCounts);
  });

  it('should show the server’s JSON error message when the file is not an image', async () => {
    await page.setInputFiles('#file', {
      name: 'notes.png',
      mimeType: 'image/png',
      buffer: Buffer.from('not an image'),
    });
    await page.waitForSelector('#results[data-state="error"]', { state: 'attached' });
    expect(await page.textContent('#status')).toMatch(/no known image type/);
  });

  it('should run the served model in the browser with TensorFlow.js and agree with the server', async () => {
    await page.check('input[name=mode][value=browser]');
    await page.setInputFiles('#file', fixture('f15/a_red_square.png'));
    await page.waitForSelector('#results[data-state="browser"] .head', { timeout: 60_000 });
    expect(await page.textContent('#status')).toMatch(
      /answered by this browser \(TensorFlow\.js, \w+\)/,
    );
    // A 32×32 image needs no resampling for this model, so the inputs are the same.
    const [expected] = await predictor.predict([fixture('f15/a_red_square.png')], { top: 3 });
    expectShown(await shown(), expected!, labelCounts);
  });

  it('should show a multi-label head’s label set, answered by the server and by the browser', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'polyhead-web-multilabel-'));
    const modelDir = path.join(root, 'model');
    const { net, meta } = await trainOnDataset({
      dataset: await loadDataset(fixture('f04/train.csv')),
      inputSize: 32,
      backbone: { width: 8, depth: 2 },
      epochs: 1,
      seed: 3,
      headKinds: { type: 'multilabel' },
    });
    await saveModelDir(modelDir, net, meta);
    net.model.dispose();
    const multi = await startServer({ modelDir, port: 0, backend, log: () => undefined });
    const tab = await browser.newPage();
    try {
      const image = fixture('f15/c_green_triangle.png');
      const res = await fetch(`${multi.url}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: await fixtureBytes('f15/c_green_triangle.png'),
      });
      const { heads } = (await res.json()) as Prediction;
      const { labels, scores } = heads.type!;
      const set = labels!.join(', ') || '(none)';

      await tab.goto(multi.url);
      for (const mode of ['server', 'browser']) {
        await tab.check(`input[name=mode][value=${mode}]`);
        await tab.setInputFiles('#file', image);
        await tab.waitForSelector(`#results[data-state="${mode}"] .head`, { timeout: 60_000 });
        const type = await tab.$eval('#results .head[data-head="type"]', (block: PageElement) => ({
          label: block.querySelector('.label')!.textContent,
          bars: Array.from(block.querySelectorAll('.bar')).map((bar) => [
            bar.dataset.label!,
            parseFloat(bar.querySelector('.score')!.textContent!) / 100,
          ]),
        }));
        expect(type.label, mode).toBe(set);
        expect(type.bars.map(([label]) => label).sort(), mode).toEqual(Object.keys(scores!).sort());
        for (const [label, score] of type.bars as [string, number][]) {
          expect(Math.abs(score - scores![label]!), `${mode} ${label}`).toBeLessThanOrEqual(0.0006);
        }
        // Refresh the results between modes, so the second check reads the second answer.
        await tab.evaluate(() => document.querySelector('#results').replaceChildren());
      }
    } finally {
      await tab.close();
      await multi.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
