import type { TrainCallbacks } from '@polyhead/model';

import type { Output } from '../output.js';
import { trainingProgress } from '../training-progress.js';
import type { CompareBudget, TrainingInfo } from './run-compare.js';

/**
 * Progress across a comparison's trainings: each training's own display
 * (bar on a terminal, a line per epoch elsewhere), every line tagged with the
 * strategy, its place among the trainings and the ETA of the whole run.
 */
export function compareProgress(out: Output, budget: CompareBudget): (info: TrainingInfo) => TrainCallbacks {
  const started = performance.now();
  let epochsDone = 0;
  return (info) => {
    const planned = info.total * info.epochs;
    const eta = () => {
      const elapsed = (performance.now() - started) / 1000;
      if ('minutes' in budget) return Math.max(0, budget.minutes * 60 - elapsed);
      return epochsDone > 0 ? (elapsed / epochsDone) * (planned - epochsDone) : undefined;
    };
    const tag = () => {
      const left = eta();
      return `[${info.index}/${info.total} ${info.strategy}${info.head ? `:${info.head}` : ''}${left !== undefined ? ` · ETA ${duration(left)}` : ''}]`;
    };
    const tagged: Output = { ...out, info: (m) => out.info(`${tag()} ${m}`) };
    tagged.info(`training (${info.epochs} epochs${'minutes' in budget ? ' at most' : ''})`);
    return trainingProgress(tagged, info.epochs, {
      onEpochEnd() {
        epochsDone += 1;
      },
    });
  };
}

/** `4m05s`, `38s`. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
