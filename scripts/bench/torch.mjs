// Runs ../shared/bench/torch_baseline.py with Debian's python3, when it has torch.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PYTHON = '/usr/bin/python3';

/** Why the PyTorch baseline cannot run here, or undefined when it can. */
export function torchUnavailable(script) {
  if (!existsSync(script)) return `${script} not found`;
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} has no torch (apt-get install -y python3-torch)`;
  return undefined;
}

/** One run of the baseline: `{ train_img_s, infer_img_s, version, ... }`. */
export function runTorch(script, { size, batch, threads, steps, warmup }) {
  const args = [script, '--size', size, '--batch', batch, '--threads', threads];
  if (steps !== undefined) args.push('--steps', steps);
  if (warmup !== undefined) args.push('--warmup', warmup);
  const run = spawnSync(PYTHON, args.map(String), { encoding: 'utf8', timeout: 300_000 });
  if (run.status !== 0) {
    throw new Error(`torch baseline failed (exit ${run.status}): ${run.stderr.trim().slice(-400)}`);
  }
  const line = run.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line);
}
