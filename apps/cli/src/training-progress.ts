import cliProgress from 'cli-progress';
import type { BatchLog, EpochLog, TrainCallbacks } from '@polyhead/model';

import type { Output } from './output.js';

/**
 * Training callbacks that show progress: a bar per epoch on a terminal (loss,
 * per-head accuracy, images/s, ETA), one fixed-width line per epoch elsewhere.
 */
export function trainingProgress(out: Output, epochs: number, extra: TrainCallbacks = {}): TrainCallbacks {
  let bar: cliProgress.SingleBar | null = null;
  return {
    async onEpochBegin(epoch) {
      await extra.onEpochBegin?.(epoch);
    },
    async onBatchEnd(log: BatchLog) {
      if (out.interactive) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: `epoch ${String(log.epoch).padStart(String(epochs).length)}/${epochs} {bar} {value}/{total} | loss {loss} | {heads} | {ips} img/s | ETA {eta_formatted}`,
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: true,
              barsize: 20,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(log.batches, 0, { loss: '-', heads: '', ips: '-' });
        }
        bar.setTotal(Math.max(log.batches, log.batch));
        bar.update(log.batch, {
          loss: log.loss.toFixed(4),
          heads: Object.entries(log.heads).map(([h, v]) => `${h} loss ${v.loss.toFixed(3)} acc ${v.accuracy.toFixed(2)}`).join(' '),
          ips: log.imagesPerSec.toFixed(0),
        });
      }
      await extra.onBatchEnd?.(log);
    },
    async onEpochEnd(log: EpochLog) {
      if (bar) {
        bar.stop();
        bar = null;
      }
      out.info(formatEpoch(log, epochs));
      await extra.onEpochEnd?.(log);
    },
  };
}

/** `epoch  3/15 loss 0.4121 | color acc 0.912 | type acc 0.874 | val exact 0.81 | 212 img/s 9.4s`. */
export function formatEpoch(log: EpochLog, epochs: number): string {
  const width = String(epochs).length;
  const heads = Object.entries(log.heads)
    .map(([name, h]) => {
      const val = log.val?.heads[name];
      const weight = h.weight !== 1 ? ` (w ${h.weight.toFixed(3)})` : '';
      const f1 = val?.microF1 !== undefined ? ` F1 ${val.microF1.toFixed(3)}` : '';
      return `${name} ${h.accuracy.toFixed(3)}${val ? `/${val.accuracy.toFixed(3)}` : ''}${f1}${weight}`;
    })
    .join(' ');
  const val = log.val ? ` | val loss ${log.val.loss.toFixed(4)} exact ${log.val.exactMatch.toFixed(3)}` : '';
  return (
    `epoch ${String(log.epoch).padStart(width)}/${epochs} loss ${log.loss.toFixed(4)}${val} | acc train/val ${heads}` +
    ` | ${log.imagesPerSec.toFixed(0)} img/s ${log.seconds.toFixed(1)}s${log.best ? ' *' : ''}`
  );
}
