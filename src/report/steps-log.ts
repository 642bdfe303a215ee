/**
 * steps.jsonl: the training curves between epoch ends. Every `metricsEvery` steps (steps counted
 * over the whole run, so points fall on the same steps however often the run was resumed) one
 * line holds the means of the step stats over those steps:
 *
 *   {"step":5,"epoch":1,"d_loss":1.2,"g_loss":0.8,"d_real":0.6,"d_fake":0.4,"ms_per_iter":21.3,"wall_time":1767225600.123}
 *
 * `epoch` is the epoch the step belongs to (counted from 1). The timing fields, `ms_per_iter`
 * (training time per step over the window) and `wall_time` (Unix seconds when the line was
 * written), are the only ones that differ between a resumed run and an uninterrupted one.
 */
import * as path from 'node:path';
import { STAT_NAMES, type StepStats } from '../train/types';
import { parseJsonLines, readTextOrEmpty } from './jsonl';

export const STEPS_FILE = 'steps.jsonl';

export interface StepPoint extends StepStats {
  step: number;
  epoch: number;
  ms_per_iter: number;
  wall_time: number;
}

/** The steps of a window not yet written: sums of each stat (STAT_NAMES order) and of seconds. Checkpoints hold it. */
export interface MetricsWindow {
  sums: number[];
  steps: number;
  seconds: number;
}

export const emptyWindow = (): MetricsWindow => ({ sums: STAT_NAMES.map(() => 0), steps: 0, seconds: 0 });

/** Significant digits kept in steps.jsonl: the step stats are float32 means (about 7). */
const DIGITS = 6;

/**
 * Folds per-step stats into windows of `every` steps ending at multiples of `every`; each full
 * window becomes a point. The running window is state of the run (see MetricsWindow).
 */
export class StepWindows {
  constructor(
    readonly every: number,
    readonly itersPerEpoch: number,
    public window: MetricsWindow = emptyWindow(),
  ) {}

  /** Adds step `step`'s stats [d_loss, g_loss, d_real, d_fake] and seconds; returns the point it completes, if any. */
  add(step: number, stats: ArrayLike<number>, seconds: number, wallTime: number): StepPoint | undefined {
    const w = this.window;
    for (let j = 0; j < STAT_NAMES.length; j++) w.sums[j] += stats[j];
    w.steps++;
    w.seconds += seconds;
    if (step % this.every !== 0) return undefined;
    const point = { step, epoch: Math.ceil(step / this.itersPerEpoch) } as StepPoint;
    STAT_NAMES.forEach((name, j) => (point[name] = Number((w.sums[j] / w.steps).toPrecision(DIGITS))));
    point.ms_per_iter = Math.round((100_000 * w.seconds) / w.steps) / 100;
    point.wall_time = Math.round(wallTime * 1000) / 1000;
    this.window = emptyWindow();
    return point;
  }
}

/** Parses steps.jsonl text: points in step order, the last line of a step kept. */
export function parseStepsLog(text: string): StepPoint[] {
  const rows = parseJsonLines<StepPoint>(
    text,
    (v) => Number.isSafeInteger(v.step) && Number.isFinite(v.epoch) && STAT_NAMES.every((k) => typeof v[k] === 'number'),
  );
  const byStep = new Map<number, StepPoint>();
  for (const r of rows) byStep.set(r.step, r);
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

export function readStepsLog(runDir: string): StepPoint[] {
  return parseStepsLog(readTextOrEmpty(path.join(runDir, STEPS_FILE)));
}
