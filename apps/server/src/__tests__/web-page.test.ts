import { existsSync } from 'node:fs';

import { Predictor, type Prediction } from '@polyhead/model';
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

  beforeAll(async () => {
    const backend = await useTestBackend();
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
});
