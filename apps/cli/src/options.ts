import { InvalidArgumentError } from 'commander';

/** Commander parser for a positive integer option. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

/** Commander parser for a non-negative integer option. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

/** Commander parser for a positive number option. */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

/** Commander parser for a non-negative number option. */
export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number >= 0, got "${value}"`);
  return n;
}

/** Commander parser for a number in [0, 1). */
export function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`expected a number in [0, 1), got "${value}"`);
  return n;
}

/** Parses `color,type` into head names. */
export function headList(value: string): string[] {
  const heads = value.split(',').map((h) => h.trim()).filter(Boolean);
  if (heads.length === 0) throw new InvalidArgumentError('expected head names separated by commas, e.g. color,type');
  if (new Set(heads).size !== heads.length) throw new InvalidArgumentError(`head names repeat in "${value}"`);
  return heads;
}

/** Parses `color=1,type=0.5` into a weight per head. */
export function headWeights(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=(.+)$/.exec(part);
    const w = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(w) || w < 0) {
      throw new InvalidArgumentError(`expected head=weight pairs such as color=1,type=0.5, got "${part}"`);
    }
    out[m[1]!.trim()] = w;
  }
  return out;
}

/** Parses `type:color,shape:color` into invariances (head ignores attribute). */
export function invariances(value: string): { head: string; attribute: string }[] {
  return value.split(',').map((part) => {
    const m = /^\s*([^:]+):([^:]+)\s*$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected head:attribute pairs such as type:color, got "${part}"`);
    return { head: m[1]!.trim(), attribute: m[2]!.trim() };
  });
}

/** Parses `tags=multilabel,color=softmax` into a head kind per head. */
export function headKinds(value: string): Record<string, 'softmax' | 'multilabel'> {
  const out: Record<string, 'softmax' | 'multilabel'> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=\s*(softmax|multilabel)$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected head=kind pairs such as tags=multilabel,color=softmax (kinds: softmax, multilabel), got "${part}"`);
    out[m[1]!.trim()] = m[2] as 'softmax' | 'multilabel';
  }
  return out;
}
