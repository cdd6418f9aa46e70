import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CsvError, parse, type Info } from 'csv-parse/sync';
import type { Dataset, LoadDatasetOptions, Sample, SkippedRow } from './dataset.js';
import { DataError } from './errors.js';
import { problemsError, type Problem } from './problems.js';

/** How many image files are checked for existence at once. */
const STAT_CONCURRENCY = 32;

interface CsvRecord {
  cells: string[];
  /** 1-based line of the record's first character. */
  line: number;
}

/**
 * Reads a CSV manifest: the first column is an image path relative to the CSV's folder, every
 * other column a head named by the header. Blank cells are unknown labels; labels are trimmed.
 *
 * Every row is checked before anything is returned, and all problems (wrong column count,
 * missing image) are reported together in one DataError `DATA_BAD_MANIFEST`: nothing trains on a
 * half-read dataset. Rows with every label blank are not errors; they land in `skipped`.
 *
 * @throws DataError `DATA_NOT_FOUND`, `DATA_BAD_MANIFEST`, `DATA_UNKNOWN_HEAD` or `DATA_EMPTY`.
 * @example
 * const dataset = await readCsvManifest('data/labels.csv');
 * dataset.heads; // ['color', 'type']
 */
export async function readCsvManifest(
  csvPath: string,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  const origin = path.resolve(csvPath);
  const folder = path.dirname(origin);
  const [headerRecord, ...rows] = parseCsv(csvPath, await readBytes(csvPath));
  if (!headerRecord) {
    throw new DataError(
      'DATA_BAD_MANIFEST',
      `${csvPath} is empty; expected a header row such as "image,color,type" and one row per image`,
      { details: { file: csvPath } },
    );
  }
  const header = headerRecord.cells.map((cell) => cell.trim());
  checkHeader(csvPath, header);
  const columns = selectColumns(csvPath, header, opts.heads);
  const heads = columns.map((column) => header[column]!);

  const problems: Problem[] = [];
  const skipped: SkippedRow[] = [];
  const samples: Sample[] = [];
  const imageCells: string[] = [];
  for (const { cells, line } of rows) {
    const values = cells.map((cell) => cell.trim());
    if (values.every((value) => value === '')) {
      skipped.push({ file: csvPath, line, reason: 'empty row' });
      continue;
    }
    if (values.length !== header.length) {
      const reason =
        `expected ${header.length} columns (${header.join(',')}), found ${values.length}` +
        `: ${JSON.stringify(cells.join(','))}`;
      problems.push({ file: csvPath, line, reason });
      continue;
    }
    const image = values[0]!;
    if (image === '') {
      const reason = `the ${header[0]} column is blank; expected an image path relative to ${folder}`;
      problems.push({ file: csvPath, line, reason });
      continue;
    }
    const labels = columns.map((column) => values[column] || null);
    if (labels.every((label) => label === null)) {
      skipped.push({ file: csvPath, line, reason: 'no labels' });
      continue;
    }
    samples.push({ path: path.resolve(folder, image), labels, source: { file: csvPath, line } });
    imageCells.push(image);
  }
  problems.push(...(await findMissingImages(samples, imageCells)));

  if (problems.length > 0) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw problemsError('DATA_BAD_MANIFEST', `${csvPath} cannot be used as a manifest`, problems);
  }
  if (samples.length === 0) {
    throw new DataError(
      'DATA_EMPTY',
      `${csvPath} has no labelled rows (${skipped.length} skipped); expected at least one row ` +
        `with an image and a label`,
      { details: { file: csvPath, skipped: skipped.length } },
    );
  }
  return { heads, samples, skipped, origin };
}

async function readBytes(csvPath: string): Promise<Buffer> {
  try {
    return await readFile(csvPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new DataError(
      code === 'ENOENT' ? 'DATA_NOT_FOUND' : 'DATA_BAD_MANIFEST',
      `Cannot read manifest ${csvPath} (${code}); expected a readable CSV file`,
      { cause: error, details: { file: csvPath, errno: code } },
    );
  }
}

interface ParsedRecord {
  record: string[];
  info: Info;
}

function parseCsv(csvPath: string, bytes: Buffer): CsvRecord[] {
  let parsed: ParsedRecord[];
  try {
    // With `info: true` each record comes wrapped with its position; the typings omit this.
    parsed = parse(bytes, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as ParsedRecord[];
  } catch (error) {
    const line =
      error instanceof CsvError ? (error as CsvError & { lines?: number }).lines : undefined;
    const where = line === undefined ? csvPath : `${csvPath}:${line}`;
    const why = error instanceof Error ? error.message : String(error);
    throw new DataError(
      'DATA_BAD_MANIFEST',
      `${where}: invalid CSV (${why}); expected comma-separated cells, with double quotes ` +
        `around any cell holding a comma, quote or line break`,
      { cause: error, details: { file: csvPath, line } },
    );
  }
  // NOTE: csv-parse counts a CRLF inside quotes as two lines, so lines are counted here from the
  // byte offset where each record ends (`info.bytes`), skipping the empty lines before it.
  const records: CsvRecord[] = [];
  let offset = 0;
  let line = 1;
  for (const { record, info } of parsed) {
    while (bytes[offset] === CR || bytes[offset] === LF) {
      if (bytes[offset] === LF || bytes[offset + 1] !== LF) line++;
      offset++;
    }
    records.push({ cells: record, line });
    for (; offset < info.bytes; offset++) {
      if (bytes[offset] === LF || (bytes[offset] === CR && bytes[offset + 1] !== LF)) line++;
    }
  }
  return records;
}

const CR = 0x0d;
const LF = 0x0a;

function checkHeader(csvPath: string, header: string[]): void {
  const fail = (reason: string, details: Record<string, unknown> = {}): never => {
    throw new DataError('DATA_BAD_MANIFEST', `${csvPath}:1: ${reason}`, {
      details: { file: csvPath, line: 1, header, ...details },
    });
  };
  if (header.length < 2) {
    fail(
      `the header has ${header.length} column (${header.join(',')}); expected an image column ` +
        `and at least one label column, such as "image,color,type"`,
    );
  }
  const blank = header.findIndex((name) => name === '');
  if (blank >= 0) fail(`header column ${blank + 1} has no name; expected every column named`);
  const seen = new Map<string, number>();
  header.forEach((name, index) => {
    const first = seen.get(name);
    if (first !== undefined) {
      fail(
        `header name "${name}" appears in columns ${first + 1} and ${index + 1}; ` +
          `expected each head named once`,
        { duplicate: name },
      );
    }
    seen.set(name, index);
  });
}

/** Indices of the label columns, in the order the caller asked for. */
function selectColumns(csvPath: string, header: string[], heads?: string[]): number[] {
  const available = header.slice(1);
  if (heads === undefined) return available.map((_, i) => i + 1);
  const missing = heads.filter((head) => !available.includes(head));
  if (missing.length > 0 || heads.length === 0 || new Set(heads).size !== heads.length) {
    const why =
      missing.length > 0
        ? `has no column for head ${missing.map((h) => `"${h}"`).join(', ')}`
        : `cannot use heads ${JSON.stringify(heads)}`;
    throw new DataError(
      'DATA_UNKNOWN_HEAD',
      `${csvPath} ${why}; expected distinct heads among its label columns: ${available.join(', ')}`,
      { kind: 'usage', details: { file: csvPath, missing, available } },
    );
  }
  return heads.map((head) => header.indexOf(head));
}

async function findMissingImages(samples: Sample[], cells: string[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      const index = next++;
      const { path: image, source } = samples[index]!;
      const found = await stat(image).catch(() => undefined);
      if (found?.isFile()) continue;
      const reason = found
        ? `image "${cells[index]}" is a folder (${image}); expected an image file`
        : `image "${cells[index]}" not found (${image}); expected a file relative to the CSV's folder`;
      problems.push({ file: source.file, line: source.line, reason });
    }
  };
  await Promise.all(Array.from({ length: STAT_CONCURRENCY }, worker));
  return problems;
}
