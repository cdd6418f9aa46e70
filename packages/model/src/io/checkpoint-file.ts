import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { PolyheadError } from '@polyhead/data';

/** A named array stored in a checkpoint file. */
export interface StoredArray {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  data: Float32Array | Int32Array;
}

/** What a checkpoint file holds: a JSON document and named arrays. */
export interface CheckpointContents<S> {
  state: S;
  arrays: StoredArray[];
}

/** First bytes of every checkpoint file. */
const MAGIC = Buffer.from('PHCKPT1\n', 'latin1');

interface Header<S> {
  state: S;
  arrays: { name: string; dtype: 'float32' | 'int32'; shape: number[]; offset: number; length: number }[];
  /** Bytes of array data after the header, and their sha256, checked on load. */
  bytes: number;
  sha256: string;
}

/**
 * Writes a checkpoint file atomically: the bytes go to a temporary file beside `file`, are
 * flushed to disk, and the temporary file is renamed over `file`. A process killed at any moment
 * leaves either the previous checkpoint or the new one, never a mix; at worst a stray
 * `*.tmp-*` file, which {@link readCheckpointFile} ignores and the next write replaces.
 *
 * Layout: the magic `PHCKPT1\n`, a uint32 (LE) header length, the JSON header (state, array
 * table, sha256 of the data), then the arrays' bytes, little-endian, 4-byte aligned.
 */
export async function writeCheckpointFile<S>(file: string, contents: CheckpointContents<S>): Promise<void> {
  let offset = 0;
  const table = contents.arrays.map((a) => {
    const entry = { name: a.name, dtype: a.dtype, shape: a.shape, offset, length: a.data.length };
    offset += a.data.byteLength;
    return entry;
  });
  const hash = createHash('sha256');
  const parts = contents.arrays.map((a) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength));
  for (const part of parts) hash.update(part);
  const header: Header<S> = { state: contents.state, arrays: table, bytes: offset, sha256: hash.digest('hex') };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so the array data starts 4-byte aligned.
  const pad = (4 - ((MAGIC.length + 4 + json.length) % 4)) % 4;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);

  const target = path.resolve(file);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writev([MAGIC, length, json, ...parts]);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, target);
  // NOTE: flushing the folder makes the rename itself survive a power cut, not only a crash.
  const dir = await open(path.dirname(target), 'r').catch(() => null);
  await dir?.sync().catch(() => undefined);
  await dir?.close();
}

/**
 * Reads a file written by {@link writeCheckpointFile}, checking its layout and checksum.
 *
 * @throws PolyheadError `CHECKPOINT_NOT_FOUND` when the file is missing, `CHECKPOINT_INVALID`
 *   when it is not a checkpoint or its data does not match the checksum.
 */
export async function readCheckpointFile<S>(file: string): Promise<CheckpointContents<S>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw new PolyheadError('CHECKPOINT_NOT_FOUND', `cannot read checkpoint ${file} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`, { cause });
  }
  const invalid = (why: string) =>
    new PolyheadError('CHECKPOINT_INVALID', `${file} is not a usable polyhead checkpoint: ${why}`, { details: { file } });
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw invalid(`expected it to start with ${JSON.stringify(MAGIC.toString('latin1'))}`);
  }
  const headerLength = bytes.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + headerLength;
  if (start > bytes.length) throw invalid(`header of ${headerLength} bytes runs past the end (${bytes.length} bytes)`);
  let header: Header<S>;
  try {
    header = JSON.parse(bytes.subarray(MAGIC.length + 4, start).toString('utf8')) as Header<S>;
  } catch (cause) {
    throw invalid(`header is not JSON (${(cause as Error).message})`);
  }
  if (bytes.length - start !== header.bytes) {
    throw invalid(`expected ${header.bytes} bytes of array data, found ${bytes.length - start}`);
  }
  const data = bytes.subarray(start);
  if (createHash('sha256').update(data).digest('hex') !== header.sha256) throw invalid('array data does not match its sha256');
  // Copy into a fresh, aligned buffer so typed views can be made on it.
  const aligned = new Uint8Array(data).buffer;
  const arrays = header.arrays.map((a): StoredArray => {
    const view = a.dtype === 'int32' ? new Int32Array(aligned, a.offset, a.length) : new Float32Array(aligned, a.offset, a.length);
    return { name: a.name, dtype: a.dtype, shape: a.shape, data: view };
  });
  return { state: header.state, arrays };
}
