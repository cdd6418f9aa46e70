/**
 * A damaged copy of fashion7 (built from ../shared at test time): `check` reports every damaged
 * file by kind, and `train --on-bad-image skip` trains on the rest.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readJson, runCli, tempDir, TINY } from './cli-harness.js';

const script = fileURLToPath(new URL('../../../../scripts/corrupt-dataset.mjs', import.meta.url));
const { buildCorruptCopy, FASHION7 } = (await import(script)) as {
  buildCorruptCopy: (dir: string, opts: { limit?: number }) => Promise<{ csv: string; rows: number; damaged: Record<string, string[]> }>;
  FASHION7: string;
};
const present = existsSync(join(FASHION7, 'labels.csv'));
if (!present) console.warn(`skipping the damaged-dataset tests: ${FASHION7} is missing`);

interface CheckJson {
  checked: number;
  unusable: number;
  counts: Record<string, number>;
  problems: { file: string; kind: string; line?: number; duplicateOf?: string }[];
}

describe.skipIf(!present)('a damaged copy of fashion7', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let copy: Awaited<ReturnType<typeof buildCorruptCopy>>;
  let report: CheckJson;
  let checkCode: number;

  beforeAll(async () => {
    tmp = await tempDir('corrupt');
    process.env.XDG_CACHE_HOME = join(tmp.dir, 'cache');
    copy = await buildCorruptCopy(join(tmp.dir, 'data'), { limit: 120 });
    const run = await runCli(['check', '--data', copy.csv, '--size', '32', '--json']);
    checkCode = run.code;
    report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as CheckJson;
  }, 120_000);
  afterAll(() => tmp.remove());

  it('should report exactly the 20 truncated, 5 misnamed, 3 empty files and the bomb, and exit 2', () => {
    expect(checkCode).toBe(2);
    expect(report.checked).toBe(121);
    expect(report.unusable).toBe(24);
    const byKind = (kind: string) => report.problems.filter((p) => p.kind === kind).map((p) => p.file).sort();
    expect(byKind('truncated')).toEqual(copy.damaged.truncated!.sort());
    expect(byKind('extension')).toEqual(copy.damaged.extension!.sort());
    expect(byKind('empty')).toEqual(copy.damaged.empty!.sort());
    expect(byKind('pixels')).toEqual(copy.damaged.pixels!);
    expect(byKind('unreadable')).toEqual([]);
  });

  it('should name as duplicates exactly the usable files whose bytes repeat an earlier file', async () => {
    const broken = new Set([...copy.damaged.truncated!, ...copy.damaged.empty!, ...copy.damaged.pixels!]);
    const rows = (await readFile(copy.csv, 'utf8')).trim().split('\n').slice(1);
    const first = new Map<string, string>();
    const expected: [string, string][] = [];
    for (const row of rows) {
      const file = join(tmp.dir, 'data', row.split(',')[0]!);
      if (broken.has(file)) continue;
      const hash = createHash('sha1').update(await readFile(file)).digest('hex');
      const original = first.get(hash);
      if (original) expected.push([file, original]);
      else first.set(hash, file);
    }
    const found = report.problems.filter((p) => p.kind === 'duplicate').map((p) => [p.file, p.duplicateOf]);
    expect(found).toEqual(expected);
  });

  it('should train with --on-bad-image skip, listing the 24 skipped files in the run folder', async () => {
    const out = join(tmp.dir, 'run');
    const run = await runCli(['train', '--data', copy.csv, '--out', out, '--on-bad-image', 'skip', '--epochs', '1', '--batch', '16', ...TINY]);
    expect(run.stderr).not.toMatch(/^error /m);
    expect(run.code).toBe(0);
    // The check at the start of train reuses the results of `check` above.
    expect(run.stderr).toContain('checked 121 images (121 unchanged since the last check): 24 unusable');
    expect(run.stderr).toContain(`skipped 24 unusable images, listed in ${out}/skipped-images.txt`);
    const listed = (await readFile(join(out, 'skipped-images.txt'), 'utf8')).trim().split('\n');
    expect(listed).toHaveLength(24);
    const meta = await readJson<{ training: { samples: { train: number; val: number }; badImages: unknown[] } }>(join(out, 'polyhead.json'));
    expect(meta.training.badImages).toHaveLength(24);
    expect(meta.training.samples.train + meta.training.samples.val).toBe(121 - 24);
  });

  it('should refuse to train by default, naming the bad files, and write no run folder', async () => {
    const out = join(tmp.dir, 'refused');
    const run = await runCli(['train', '--data', copy.csv, '--out', out, '--epochs', '1', ...TINY]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('24 images in');
    expect(run.stderr).toContain('[DATA_BAD_IMAGES]');
    expect(existsSync(out)).toBe(false);
  });
});
