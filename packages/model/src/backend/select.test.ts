import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs';
import { PolyheadError } from '@polyhead/data';
import { describe, expect, it } from 'vitest';

import { initBackend } from './select.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const nativeAbsent = !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu');

describe('initBackend', () => {
  it.skipIf(!nativeAbsent)(
    'should throw BACKEND_UNAVAILABLE with an install hint when tfjs-node is absent',
    async () => {
      const error = await initBackend('tensorflow').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PolyheadError);
      const e = error as PolyheadError;
      expect(e.code).toBe('BACKEND_UNAVAILABLE');
      expect(e.kind).toBe('usage');
      expect(e.message).toContain('pnpm add @tensorflow/tfjs-node@4.22.0');
      expect(e.message).toContain('--backend wasm');
    },
  );

  it.skipIf(!nativeAbsent)(
    'should name the gpu package when tensorflow-gpu is requested and absent',
    async () => {
      const error = await initBackend('tensorflow-gpu').catch((e: unknown) => e);
      expect((error as PolyheadError).code).toBe('BACKEND_UNAVAILABLE');
      expect((error as PolyheadError).message).toContain(
        'pnpm add @tensorflow/tfjs-node-gpu@4.22.0',
      );
    },
  );

  it.skipIf(!nativeAbsent)(
    'should settle on wasm and log it when auto finds no native binding',
    async () => {
      const lines: string[] = [];
      const info = await initBackend('auto', { log: (m) => lines.push(m) });
      expect(info).toEqual({ name: 'wasm', requested: 'auto' });
      expect(tf.getBackend()).toBe('wasm');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^backend: wasm, [12] threads? \(auto; skipped tensorflow-gpu: .*tensorflow: .*\)$/,
      );
    },
  );

  it('should switch between cpu and wasm when called repeatedly', async () => {
    expect(await initBackend('cpu')).toEqual({ name: 'cpu', requested: 'cpu' });
    expect(await initBackend('cpu')).toEqual({ name: 'cpu', requested: 'cpu' });
    expect(await initBackend('wasm')).toEqual({ name: 'wasm', requested: 'wasm' });
    expect(await initBackend('wasm')).toEqual({ name: 'wasm', requested: 'wasm' });
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('should stay silent when no printer is given', async () => {
    const spy = [console.log, console.info, console.warn, console.error];
    let calls = 0;
    for (const k of ['log', 'info', 'warn', 'error'] as const) console[k] = () => void calls++;
    try {
      await initBackend('wasm');
    } finally {
      [console.log, console.info, console.warn, console.error] = spy;
    }
    expect(calls).toBe(0);
  });
});
