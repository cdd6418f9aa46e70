import { Command } from 'commander';
import { checkDataset, DataError, defaultPreprocessing, loadDataset, UNUSABLE_KINDS } from '@polyhead/data';

import type { Output } from '../output.js';
import { headList, positiveInt } from '../options.js';
import { checkResultsFile } from '../train-run.js';

/** Options of `polyhead check`. */
export interface CheckCommandOptions {
  data: string;
  heads?: string[];
  separator: string;
  size: number;
  cache: boolean;
  json?: boolean;
}

/** `polyhead check`: decodes every image of a dataset and reports, by file, what is wrong. */
export function checkCommand(out: Output): Command {
  return new Command('check')
    .description('decode every image of a dataset and report unreadable, truncated, empty, oversized, misnamed and duplicate files')
    .requiredOption('--data <csv|folder>', 'a CSV manifest or a folder of combination subfolders')
    .option('--heads <names>', 'head names, for folder datasets (e.g. color,type)', headList)
    .option('--separator <sep>', 'separator of folder names', '_')
    .option('--size <px>', 'input size the images are decoded at (as train --size)', positiveInt, 64)
    .option('--no-cache', 'decode every image again, even those unchanged since the last check')
    .option('--json', 'print the report as one JSON object, the last line on stdout')
    .action(async (opts: CheckCommandOptions) => {
      await runCheck(opts, out);
    });
}

async function runCheck(opts: CheckCommandOptions, out: Output): Promise<void> {
  const dataset = await loadDataset(opts.data, { heads: opts.heads, separator: opts.separator });
  const report = await checkDataset(dataset.samples, defaultPreprocessing({ size: opts.size }), {
    resultsFile: opts.cache ? checkResultsFile(dataset.origin, opts.size) : undefined,
  });
  for (const p of report.problems) {
    const where = p.source?.line !== undefined ? `${p.source.file}:${p.source.line}` : p.file;
    const line = `${p.kind.padEnd(10)} ${where}: ${p.message}`;
    if (UNUSABLE_KINDS.has(p.kind)) out.error(line);
    else out.warn(line);
  }
  const counts: Record<string, number> = {};
  for (const p of report.problems) counts[p.kind] = (counts[p.kind] ?? 0) + 1;
  const unusable = report.unusable.length;
  const summary = Object.entries(counts).map(([kind, n]) => `${n} ${kind}`).join(', ') || 'no problems';
  out.info(`checked ${report.checked} images of ${dataset.origin} (${report.cached} unchanged since the last check): ${summary}`);
  if (opts.json) {
    out.result(
      JSON.stringify({
        data: dataset.origin,
        checked: report.checked,
        unusable,
        counts,
        problems: report.problems.map((p) => ({
          file: p.file,
          kind: p.kind,
          ...(p.source?.line !== undefined ? { manifest: p.source.file, line: p.source.line } : {}),
          ...(p.code ? { code: p.code } : {}),
          ...(p.duplicateOf ? { duplicateOf: p.duplicateOf } : {}),
          message: p.message,
        })),
      }),
    );
  }
  if (unusable > 0) {
    throw new DataError('DATA_BAD_IMAGES', `${unusable} of ${report.checked} images cannot be used; train with --on-bad-image skip to leave them out`, {
      details: { unusable },
    });
  }
}
