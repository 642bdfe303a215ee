/**
 * The statistics of the epoch in progress: step stats waiting on the device, running sums of
 * each stat and of its square (for the means and spreads of the metrics line), and the time
 * spent. Its `partial` record is saved in checkpoints, so a resumed epoch reports the same
 * means as an uninterrupted one.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import { DivergedError } from '../util/errors';
import { STAT_NAMES, type StepStats } from './types';

/** Running sums of the epoch in progress, as checkpoints store them. */
export interface PartialEpoch {
  sums: number[];
  sumsSq: number[];
  iterations: number;
  seconds: number;
}

export function emptyPartial(): PartialEpoch {
  return { sums: [0, 0, 0, 0], sumsSq: [0, 0, 0, 0], iterations: 0, seconds: 0 };
}

export class EpochStats {
  /** Stats tensors [4] of steps not yet read from the device. */
  private readonly pending: tfType.Tensor1D[] = [];
  private t0 = performance.now();

  constructor(
    private readonly tf: Tf,
    public partial: PartialEpoch = emptyPartial(),
  ) {}

  /** A step's stats tensor, read later: steps need not wait for the device. */
  push(stats: tfType.Tensor1D): void {
    this.pending.push(stats);
  }

  /** Restarts the clock (after time spent outside the steps: progress output, checkpoints). */
  restartClock(): void {
    this.t0 = performance.now();
  }

  /**
   * Reads the pending stats (one device sync), checks them and folds them into the sums.
   * `step` is the run's step after the last pending one, for the divergence message. Returns
   * what was read, for the per-step logs: the stats of steps firstStep + 1, ..., `step`, and
   * the seconds they took. The read is asynchronous: the webgpu backend has no synchronous one
   * in Node (src/backends/webgpu/read.ts); on the CPU backends the values are the same.
   */
  async drain(
    step: number,
    epoch: number,
    runDir: string,
  ): Promise<{ firstStep: number; values: Float32Array; seconds: number } | undefined> {
    const { tf, pending, partial } = this;
    if (pending.length === 0) return undefined;
    const firstStep = step - pending.length;
    // Taken off the list before the await, so that a dispose() meanwhile cannot free them twice.
    const read = pending.splice(0);
    const stacked = tf.tidy(() => tf.stack(read));
    read.forEach((t) => t.dispose());
    let values: Float32Array;
    try {
      values = (await stacked.data()) as Float32Array;
    } finally {
      stacked.dispose();
    }
    for (let k = 0; k < values.length / 4; k++) {
      const row = values.subarray(4 * k, 4 * k + 4);
      if (!row.every(Number.isFinite)) {
        throw new DivergedError(
          `training diverged at step ${firstStep + k + 1} (epoch ${epoch}): d_loss ${row[0]}, g_loss ${row[1]}`,
          `The last good checkpoint is kept in ${runDir}; try a lower --lr or another --seed`,
        );
      }
      for (let j = 0; j < 4; j++) {
        partial.sums[j] += row[j];
        partial.sumsSq[j] += row[j] * row[j];
      }
    }
    partial.iterations += values.length / 4;
    const now = performance.now();
    const seconds = (now - this.t0) / 1000;
    partial.seconds += seconds;
    this.t0 = now;
    return { firstStep, values, seconds };
  }

  /** Means over the epoch so far. */
  means(): StepStats {
    const m: StepStats = { d_loss: 0, g_loss: 0, d_real: 0, d_fake: 0 };
    STAT_NAMES.forEach((name, j) => (m[name] = this.partial.sums[j] / Math.max(1, this.partial.iterations)));
    return m;
  }

  /** Standard deviation over the epoch's steps of stat j, from the running sums. */
  spread(j: number): number {
    const p = this.partial;
    const n = Math.max(1, p.iterations);
    const mean = p.sums[j] / n;
    return Math.sqrt(Math.max(0, p.sumsSq[j] / n - mean * mean));
  }

  dispose(): void {
    this.pending.splice(0).forEach((t) => t.dispose());
  }
}
