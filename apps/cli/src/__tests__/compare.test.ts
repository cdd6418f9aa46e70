import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { chromium, type Browser } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { jsonLines, readJson, runCli, tempDir, type CliRun } from './cli-harness.js';

/** Debian's `chromium` package; machines without it skip the browser test. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

const STRATEGIES = ['multihead', 'combined', 'separate', 'chain'];
const MODEL_DIRS = ['multihead', 'combined', 'separate-color', 'separate-type', 'chain'];

interface SetJson {
  exactMatch: number;
  images: number;
  novelAnswers: number;
  heads: Record<string, { accuracy: number; macroF1: number }>;
}

interface CompareJson {
  split: { train: number; val: number; unseen: number };
  heldOut: Record<string, string>[];
  invariant: string[];
  strategies: Record<string, { models: number; seen: SetJson; unseen: SetJson; params: number; trainSeconds: number; latencyMs: number; sizeBytes: number; comboClasses?: number }>;
  verdict: { recommended: string; sentences: string[] };
}

describe('polyhead compare on a small coloured Fashion-MNIST', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let run: CliRun;
  let figures: CompareJson;
  let out: string;

  beforeAll(async () => {
    work = await tempDir('compare');
    out = join(work.dir, 'cmp');
    process.env.POLYHEAD_CACHE = join(work.dir, 'cache');
    run = await runCli(['compare', '--data', 'demo', '--per-type', '40', '--budget-epochs', '2', '--size', '32', '--width', '8', '--depth', '2', '--backend', 'wasm', '--out', out, '--json']);
    if (run.code !== 0) throw new Error(`compare failed (${run.code}):\n${run.stderr}`);
    figures = jsonLines(run.stdout).at(-1) as CompareJson;
  });

  afterAll(async () => {
    delete process.env.POLYHEAD_CACHE;
    await work?.remove();
  });

  it('should report every strategy with figures in range on the last stdout line', () => {
    expect(Object.keys(figures.strategies)).toEqual(STRATEGIES);
    for (const s of Object.values(figures.strategies)) {
      for (const x of [s.seen.exactMatch, s.unseen.exactMatch]) expect(x).toBeGreaterThanOrEqual(0), expect(x).toBeLessThanOrEqual(1);
      expect(s.seen.images).toBe(figures.split.val);
      expect(s.unseen.images).toBe(figures.split.unseen);
      expect(s.params).toBeGreaterThan(1000);
      expect(s.trainSeconds).toBeGreaterThan(0);
      expect(s.latencyMs).toBeGreaterThan(0);
      expect(s.sizeBytes).toBeGreaterThan(4 * s.params);
    }
    expect(figures.strategies.separate!.models).toBe(2);
    // The demo data declares type invariant to colour, as polyhead demo does.
    expect(figures.invariant).toEqual(['type:color']);
    expect(STRATEGIES).toContain(figures.verdict.recommended);
    expect(run.stderr).toMatch(/\[3\/5 separate:color · ETA \d+(m\d\d)?s\] epoch 2\/2/);
  });

  it('should score the combined classifier 0 on unseen combinations, never answering one', () => {
    const combined = figures.strategies.combined!;
    expect(figures.split.unseen).toBeGreaterThan(0);
    expect(combined.unseen.exactMatch).toBe(0);
    expect(combined.unseen.novelAnswers).toBe(0);
    expect(combined.seen.novelAnswers).toBe(0);
    // 80 pairs less the held-out ones that have images
    expect(combined.comboClasses).toBe(80 - figures.heldOut.length);
  });

  it('should train every model on the same split', async () => {
    for (const dir of MODEL_DIRS) {
      const meta = await readJson<{ training: { samples: { train: number; val: number } } }>(join(out, 'models', dir, 'polyhead.json'));
      expect(meta.training.samples.train, dir).toBe(figures.split.train);
      expect(meta.training.samples.val, dir).toBe(figures.split.val);
    }
  });

  it('should write a Markdown report with the table and the verdict', async () => {
    const md = await readFile(join(out, 'report.md'), 'utf8');
    for (const s of STRATEGIES) expect(md).toMatch(new RegExp(`^\\| ${s} \\| `, 'm'));
    for (const sentence of figures.verdict.sentences) expect(md).toContain(sentence);
    expect(md).toContain('never produces an unseen combination');
    expect(md).toContain('Declared invariance for multihead and chain: type ignores color (trained on changed views).');
    expect(md).toContain(`## Confusion matrices of ${figures.verdict.recommended}`);
  });

  it.skipIf(!hasChromium)(`should render the HTML report's charts in headless Chromium without errors${hasChromium ? '' : ` (skipped: no browser at ${CHROMIUM})`}`, async () => {
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'], headless: true });
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(join(out, 'report.html')).href);
      expect(problems).toEqual([]);
      expect(requests.every((u) => u.startsWith('file:'))).toBe(true);
      expect(await page.locator('svg.chart').count()).toBe(3 + 2);
      expect(await page.locator('rect.bar').count()).toBe(STRATEGIES.length * 2);
      expect(await page.locator('path.curve').count()).toBe(STRATEGIES.length * 2);
      expect(await page.locator('#summary tbody tr').count()).toBe(STRATEGIES.length);
      // the exact-match chart is drawn: its pixels hold both bar colours
      const png = await page.locator('svg.chart').first().screenshot();
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const count = (r: number, g: number, b: number) => {
        let n = 0;
        for (let i = 0; i < data.length; i += info.channels) {
          if (Math.abs(data[i]! - r) < 8 && Math.abs(data[i + 1]! - g) < 8 && Math.abs(data[i + 2]! - b) < 8) n++;
        }
        return n;
      };
      expect(info.width).toBeGreaterThan(200);
      expect(count(0x33, 0x66, 0xcc)).toBeGreaterThan(50);
      expect(count(0xdc, 0x39, 0x12)).toBeGreaterThan(50);
    } finally {
      await browser?.close();
    }
  });
});
