/**
 * What training writes for the curves between epoch ends: steps.jsonl and a TensorBoard event
 * file (scalars every `metricsEvery` steps, the epoch grids as images). Both are fed from the step
 * stats the loop already reads from the device every few steps, so they add no device sync.
 *
 * Resuming: lines and events are written as the stats are read, and made durable before every
 * checkpoint (sync()), with the running window in the checkpoint (window). After a kill the files
 * hold everything up to the newest checkpoint, perhaps more; open() drops what lies past the
 * step it resumes from, so a resumed run's files hold the same steps and values as an
 * uninterrupted run's (wall times aside).
 */
import * as path from 'node:path';
import { STAT_NAMES } from '../train/types';
import { EVALS_FILE } from './evals-log';
import { LineAppender, dropLinesAfterStep } from './jsonl';
import { STEPS_FILE, StepWindows, type MetricsWindow } from './steps-log';
import { EventWriter, dropEventsAfter } from './tensorboard';

/** TensorBoard tags of the step stats: grouped by what they measure, named as in steps.jsonl. */
export const SCALAR_TAGS = {
  d_loss: 'loss/d_loss',
  g_loss: 'loss/g_loss',
  d_real: 'discriminator/d_real',
  d_fake: 'discriminator/d_fake',
} as const;
export const SPEED_TAG = 'speed/ms_per_iter';
export const GRID_TAG = 'samples/fixed_noise';

export class TrainingLog {
  private constructor(
    private readonly windows: StepWindows,
    private readonly steps: LineAppender,
    private readonly events: EventWriter,
  ) {}

  /**
   * Opens the run's logs to go on from `step` (0 for a new run): drops lines and events past it
   * (and gan eval's lines of checkpoints past it), starts a new event file.
   */
  static open(runDir: string, opts: { every: number; itersPerEpoch: number; step: number; window?: MetricsWindow }): TrainingLog {
    dropLinesAfterStep(path.join(runDir, STEPS_FILE), opts.step);
    dropLinesAfterStep(path.join(runDir, EVALS_FILE), opts.step);
    dropEventsAfter(runDir, opts.step);
    const steps = new LineAppender(path.join(runDir, STEPS_FILE));
    try {
      const window = opts.window && { ...opts.window, sums: [...opts.window.sums] };
      return new TrainingLog(new StepWindows(opts.every, opts.itersPerEpoch, window), steps, EventWriter.create(runDir));
    } catch (e) {
      steps.close();
      throw e;
    }
  }

  /**
   * The stats of steps firstStep + 1, firstStep + 2, ... ([d_loss, g_loss, d_real, d_fake] each),
   * as read from the device, and the seconds they took together.
   */
  addSteps(firstStep: number, values: Float32Array, seconds: number): void {
    const now = Date.now() / 1000;
    const n = STAT_NAMES.length;
    const count = values.length / n;
    const lines: string[] = [];
    for (let k = 0; k < count; k++) {
      const p = this.windows.add(firstStep + k + 1, values.subarray(n * k, n * k + n), seconds / count, now);
      if (!p) continue;
      lines.push(JSON.stringify(p));
      const scalars = STAT_NAMES.map((name): [string, number] => [SCALAR_TAGS[name], p[name]]);
      this.events.scalars(p.step, [...scalars, [SPEED_TAG, p.ms_per_iter]], now);
    }
    this.steps.append(lines);
  }

  /** The epoch's grid (a grayscale PNG), at the step that ended the epoch. */
  addGrid(step: number, png: Uint8Array): void {
    this.events.image(step, GRID_TAG, png);
  }

  /** An evaluation during training (--eval-every), at the step that ended its epoch. */
  addEval(step: number, m: { fid: number; inception_score: number; classes_covered: number }): void {
    this.events.scalars(step, [
      ['eval/fid', m.fid],
      ['eval/inception_score', m.inception_score],
      ['eval/classes_covered', m.classes_covered],
    ]);
  }

  /** The window in progress, for a checkpoint (a copy). */
  get window(): MetricsWindow {
    const w = this.windows.window;
    return { ...w, sums: [...w.sums] };
  }

  /** Flushes everything written so far to disk: called before each checkpoint. */
  sync(): void {
    this.steps.sync();
    this.events.sync();
  }

  close(): void {
    this.steps.close();
    this.events.close();
  }
}
