// A damaged copy of fashion7, for `polyhead check` and `train --on-bad-image skip`:
// 20 photos truncated to 60% of their bytes, 5 renamed from .jpg to .png, 3 emptied
// to zero bytes, and one extra row naming a 20000×20000 pixel bomb (from the F11 case).
// The photos are copied from ../shared at run time and never kept in the repository.
//
//   node scripts/corrupt-dataset.mjs <empty dir> [--limit N]
//
// --limit N: copy only N photos, spread evenly over the dataset (default: all).
// Prints the manifest path on stdout and the damage, as JSON, on stderr.
import { copyFile, mkdir, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(repo, '../shared');
export const FASHION7 = path.join(SHARED, 'datasets/fashion7');
const BOMB = path.join(SHARED, 'cases/F11/bomb_20000x20000.png');

/** How many files of each kind of damage the copy gets. */
export const DAMAGE = { truncated: 20, extension: 5, empty: 3, pixels: 1 };

/**
 * Copies fashion7 (or `limit` photos of it) into `dir` and damages it.
 *
 * @returns `{ csv, rows, damaged }`: the manifest, its data rows, and the absolute paths of the
 *   damaged files by kind (`truncated`, `extension`, `empty`, `pixels`).
 */
export async function buildCorruptCopy(dir, { limit } = {}) {
  const text = await readFile(path.join(FASHION7, 'labels.csv'), 'utf8');
  const [header, ...all] = text.trim().split(/\r?\n/);
  const step = limit ? Math.max(1, Math.floor(all.length / limit)) : 1;
  const rows = all.filter((_, i) => i % step === 0).slice(0, limit ?? all.length);
  if (rows.length < 29) throw new Error(`need at least 29 photos to damage, got ${rows.length}`);
  const out = [];
  for (const row of rows) {
    const [image, ...labels] = row.split(',');
    await mkdir(path.join(dir, path.dirname(image)), { recursive: true });
    await copyFile(path.join(FASHION7, image), path.join(dir, image));
    out.push([image, ...labels]);
  }
  // Spread the damage: every k-th photo, in a fixed order.
  const k = Math.floor(out.length / 28);
  const victims = Array.from({ length: 28 }, (_, i) => i * k);
  const damaged = { truncated: [], extension: [], empty: [], pixels: [] };
  for (const [n, index] of victims.entries()) {
    const row = out[index];
    const file = path.join(dir, row[0]);
    if (n < 20) {
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      damaged.truncated.push(file);
    } else if (n < 25) {
      const renamed = row[0].replace(/\.jpe?g$/i, '.png');
      await rename(file, path.join(dir, renamed));
      row[0] = renamed;
      damaged.extension.push(path.join(dir, renamed));
    } else {
      await truncate(file, 0);
      damaged.empty.push(file);
    }
  }
  const bombRow = ['images/bomb.png', ...out[0].slice(1)];
  await copyFile(BOMB, path.join(dir, bombRow[0]));
  out.push(bombRow);
  damaged.pixels.push(path.join(dir, bombRow[0]));
  const csv = path.join(dir, 'labels.csv');
  await writeFile(csv, `${[header, ...out.map((r) => r.join(','))].join('\n')}\n`);
  return { csv, rows: out.length, damaged };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [dir] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const at = process.argv.indexOf('--limit');
  if (!dir) {
    console.error('usage: node scripts/corrupt-dataset.mjs <empty dir> [--limit N]');
    process.exit(2);
  }
  const { csv, rows, damaged } = await buildCorruptCopy(path.resolve(dir), { limit: at > 0 ? Number(process.argv[at + 1]) : undefined });
  console.error(JSON.stringify({ rows, damaged: Object.fromEntries(Object.entries(damaged).map(([kind, files]) => [kind, files.length])) }));
  console.log(csv);
}
