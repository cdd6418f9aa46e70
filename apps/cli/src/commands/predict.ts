import { Command } from 'commander';
import { isPolyheadError } from '@polyhead/data';

import type { Output } from '../output.js';
import { positiveInt } from '../options.js';

interface PredictOptions {
  model: string;
  top?: number;
  backend: string;
  json?: boolean;
}

/**
 * `polyhead predict`: every head's label and score for each image; a
 * multi-label head gives its label set (`labels`) and every label's score
 * (`scores`).
 */
export function predictCommand(out: Output): Command {
  return new Command('predict')
    .description("print every head's label and score for each image (multi-label heads: the labels above their thresholds)")
    .argument('<images...>', 'image files')
    .requiredOption('--model <dir>', 'model directory')
    .option('--top <k>', 'also list the k most likely labels per head', positiveInt)
    .option('--backend <name>', 'compute backend (auto, tensorflow-gpu, tensorflow, wasm, cpu)', 'auto')
    .option('--json', 'one JSON object per image and line')
    .action(async (images: string[], opts: PredictOptions) => {
      const { initBackend, Predictor } = await import('@polyhead/model');
      await initBackend(opts.backend as never, { log: (m) => out.info(m) });
      const predictor = await Predictor.load(opts.model);
      let failed = 0;
      try {
        for (const image of images) {
          try {
            const [p] = await predictor.predict([image], { top: opts.top });
            if (opts.json) {
              out.result(JSON.stringify({ image, heads: p!.heads }));
            } else {
              const heads = Object.entries(p!.heads).map(([name, h]) => {
                const top = h.top ? ` [${h.top.map((t) => `${t.label} ${t.score.toFixed(3)}`).join(', ')}]` : '';
                if (h.labels) {
                  const chosen = h.labels.map((l) => `${l} ${h.scores![l]!.toFixed(3)}`).join(', ');
                  return `${name}={${h.labels.join(',')}} (${chosen || 'none above threshold'})${top}`;
                }
                return `${name}=${h.label} (${h.score.toFixed(3)})${top}`;
              });
              out.result(`${image}: ${heads.join('  ')}`);
            }
          } catch (error) {
            if (!isPolyheadError(error)) throw error;
            failed++;
            if (opts.json) out.result(JSON.stringify({ image, error: { code: error.code, message: error.message } }));
            else out.error(`${image}: ${error.message}`);
          }
        }
      } finally {
        predictor.dispose();
      }
      if (failed > 0) process.exitCode = 2;
    });
}
