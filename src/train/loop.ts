/**
 * The training loop: trains a run to `config.epochs`, and at every epoch's end writes, in this
 * order, the grid from the fixed noise, the metrics line and a checkpoint, so a checkpoint never
 * exists without its epoch's grid and metrics. Between epoch ends, the step stats it reads go to
 * steps.jsonl and the TensorBoard event file (src/report/training-log.ts), flushed before each
 * checkpoint. A resumed run continues from its newest checkpoint with the checkpoint's own
 * settings (only the target epochs may change) and is bit-identical to an uninterrupted one.
 * The core never prints: it reports through hooks.
 */
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { TrainConfig } from '../config';
import { Rng, Stream } from '../core/rng';
import { batchesPerEpoch, dataFingerprint, epochOrder } from '../data/mnist';
import { loadTrainingSet } from '../data/dataset';
import { generatePixels, noiseTensor } from '../nets/gan-model';
import { readMetricsLog } from '../report/metrics-log';
import { TrainingLog } from '../report/training-log';
import {
  BEST_DIR,
  disposeLoaded,
  loadLatestCheckpoint,
  saveCheckpoint,
  type CheckpointContents,
  type DataFingerprint,
  type LoadedCheckpoint,
} from '../run/checkpoint';
import { METRICS_FILE, dropOutputsAfter, epochGridPath, samplesDir } from '../run/run-dir';
import { appendLineDurable, writeFileAtomic } from '../util/fs';
import { dataBudgets, epochGridLayout, gridFromNoise, openDataset, placementLine } from './dataset';
import { diagnose } from './diagnose';
import { EpochStats } from './epoch-stats';
import { checkResumable, checkStateTensors } from './resume-checks';
import { GanTrainer } from './trainer';
import type { Dataset, EpochMetrics, TrainHooks, TrainOptions, TrainResult } from './types';

/** A run in progress: what the loop trains and where it stands. */
interface RunState {
  config: TrainConfig;
  trainer: GanTrainer;
  dataset: Dataset;
  /** Images in the training set, and batches per epoch. */
  n: number;
  itersPerEpoch: number;
  data: DataFingerprint;
  grid: ReturnType<typeof epochGridLayout>;
  /** The noise of every epoch's grid, drawn once so that the grids are comparable. */
  fixedNoise: tfType.Tensor2D;
  /** Epochs completed, batches done within the next one, steps in all. */
  epoch: number;
  iteration: number;
  step: number;
  stats: EpochStats;
  /** steps.jsonl and the event file; opened once the run knows its step. */
  log?: TrainingLog;
  bestFid?: number;
  /** The run's metrics lines so far, for diagnosis. */
  history: EpochMetrics[];
  lastCheckpoint?: string;
}

/** Trains a run to `config.epochs`, writing a grid, a metrics line and a checkpoint per epoch. */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const { runDir } = opts;
  const latest = opts.resume ? loadLatestCheckpoint(opts.tf, runDir) : undefined;
  const window = latest?.checkpoint.state.metricsWindow;
  if (!opts.data) opts = { ...opts, data: await loadData(opts, latest?.checkpoint) };
  const run = openRun(opts, latest?.checkpoint);
  dropOutputsAfter(runDir, run.epoch);
  // Diagnosis reads the run's metrics so far (a resumed run's, up to its checkpoint).
  if (latest) run.history = readMetricsLog(runDir);
  samplesDir(runDir);
  const { config, itersPerEpoch, n: images, epoch, iteration, step } = run;
  hooks.onStart?.({
    runDir,
    config,
    itersPerEpoch,
    images,
    epoch,
    iteration,
    step,
    resumedFrom: latest?.checkpoint.dir,
    skipped: latest?.skipped ?? [],
    dataLine: placementLine(opts.data!.images, run.dataset.held),
  });
  const result = (stopped: boolean): TrainResult => ({ runDir, epoch: run.epoch, step: run.step, stopped, checkpoint: run.lastCheckpoint });
  try {
    run.log = TrainingLog.open(runDir, { every: config.metricsEvery, itersPerEpoch, step, window });
    while (run.epoch < config.epochs) {
      if (await trainEpoch(run, opts, hooks)) return result(true);
      await finishEpoch(run, opts, hooks);
      if (run.epoch < config.epochs && hooks.shouldStop?.()) return result(true);
    }
    return result(false);
  } finally {
    run.log?.close();
    run.stats.dispose();
    run.dataset.dispose();
    run.fixedNoise.dispose();
    run.trainer.dispose();
  }
}

/** The run's data when the caller hands none (library use): loaded as its config says. */
async function loadData(opts: TrainOptions, c: LoadedCheckpoint | undefined): Promise<NonNullable<TrainOptions['data']>> {
  const config = c ? { ...c.state.config, data: opts.config.data ?? c.state.config.data } : opts.config;
  try {
    const images = await loadTrainingSet(config, { color: config.color, streamAbove: dataBudgets().hostBytes });
    return { images, fingerprint: dataFingerprint(images) };
  } catch (e) {
    if (c) disposeLoaded(c);
    throw e;
  }
}

/** Loads the data, builds the trainer and, when resuming, restores checkpoint `c` into it (and disposes c). */
function openRun(opts: TrainOptions, c: LoadedCheckpoint | undefined): RunState {
  const { tf } = opts;
  // Of the caller's config a resume takes the target epochs and where the data is now.
  const config: TrainConfig = c
    ? { ...c.state.config, epochs: opts.config.epochs, data: opts.config.data ?? c.state.config.data }
    : opts.config;
  let trainer: GanTrainer;
  let images, data;
  try {
    images = opts.data!.images;
    data = opts.data!.fingerprint;
    if (c) checkResumable(c, config, data, batchesPerEpoch(images.n, config.batchSize));
    trainer = new GanTrainer(tf, config);
  } catch (e) {
    if (c) disposeLoaded(c);
    throw e;
  }
  const grid = epochGridLayout(config);
  const run: RunState = {
    config,
    trainer,
    data,
    grid,
    dataset: openDataset(tf, images, trainer.model.spec.workSize),
    n: images.n,
    itersPerEpoch: batchesPerEpoch(images.n, config.batchSize),
    fixedNoise: c
      ? (tf.clone(c.tensors['fixed_noise']) as tfType.Tensor2D)
      : noiseTensor(tf, grid.n, config.latentDim, Rng.for(config.seed, Stream.fixedNoise)),
    epoch: 0,
    iteration: 0,
    step: 0,
    stats: new EpochStats(tf),
    history: [],
  };
  if (c) {
    checkStateTensors(trainer, c);
    trainer.restore(c);
    ({ epoch: run.epoch, iteration: run.iteration, step: run.step } = c.state);
    // Checkpoints from before the loss spreads were kept lack sumsSq: the epoch's spread then counts from here.
    run.stats = new EpochStats(tf, { sumsSq: [0, 0, 0, 0], ...c.state.partialEpoch });
    run.bestFid = c.state.bestFid;
    disposeLoaded(c);
  }
  return run;
}

/** What a checkpoint of the run holds at this moment. */
function checkpointContents(run: RunState, opts: TrainOptions): CheckpointContents {
  const { trainer, epoch, iteration, step, config, bestFid, data } = run;
  return {
    state: {
      epoch,
      iteration,
      step,
      config,
      backend: opts.backend,
      adamSteps: { generator: trainer.optG.t, discriminator: trainer.optD.t },
      partialEpoch: run.stats.partial,
      bestFid,
      metricsWindow: run.log?.window,
      data,
    },
    generator: trainer.model.generator,
    discriminator: trainer.model.discriminator,
    emaGenerator: trainer.ema?.network,
    tensors: [...trainer.optimizerTensors(), { name: 'fixed_noise', tensor: run.fixedNoise }],
  };
}

/**
 * The steps of the epoch in progress, from run.iteration to its end. Returns true when
 * shouldStop() ended it early (after a checkpoint at that step).
 */
async function trainEpoch(run: RunState, opts: TrainOptions, hooks: TrainHooks): Promise<boolean> {
  const { tf, runDir } = opts;
  const { config, n, itersPerEpoch, stats } = run;
  const readEvery = opts.readEvery ?? 10;
  const order = epochOrder(n, config.seed, run.epoch + 1);
  stats.restartClock();
  let sinceProgress = 0;
  while (run.iteration < itersPerEpoch) {
    const start = run.iteration * config.batchSize;
    const idx = order.subarray(start, Math.min(n, start + config.batchSize));
    stats.push(run.trainer.stepOnIndices(run.dataset, idx, run.step, run.epoch));
    run.iteration++;
    run.step++;
    if (++sinceProgress >= readEvery || run.iteration === itersPerEpoch) {
      sinceProgress = 0;
      await drainStats(run, runDir);
      const itPerSec = stats.partial.iterations / Math.max(1e-9, stats.partial.seconds);
      hooks.onProgress?.({ epoch: run.epoch + 1, iteration: run.iteration, itersPerEpoch, step: run.step, means: stats.means(), itPerSec });
      // Let signal handlers and progress rendering run.
      await new Promise((r) => setImmediate(r));
      stats.restartClock();
    } else {
      // Yield every step all the same, so that a signal or a failed output is seen within a
      // step whatever --checkpoint-every and --log-every are (a few microseconds a step).
      await new Promise((r) => setImmediate(r));
    }
    if (run.iteration < itersPerEpoch) {
      const stop = hooks.shouldStop?.() ?? false;
      if (stop || (opts.checkpointEvery && run.step % opts.checkpointEvery === 0)) {
        await drainStats(run, runDir);
        run.log?.sync();
        run.lastCheckpoint = await saveCheckpoint(tf, runDir, checkpointContents(run, opts));
        if (stop) return true;
        // The checkpoint's time is no step's (steps.jsonl's ms_per_iter showed it as a spike).
        stats.restartClock();
      }
    }
  }
  return false;
}

/** Reads the step stats waiting on the device into the epoch's sums and the per-step logs. */
async function drainStats(run: RunState, runDir: string): Promise<void> {
  const read = await run.stats.drain(run.step, run.epoch + 1, runDir);
  if (read) run.log?.addSteps(read.firstStep, read.values, read.seconds);
}

/** End of an epoch: grid from the fixed noise, evaluation when due, metrics line, checkpoint (and best/). */
async function finishEpoch(run: RunState, opts: TrainOptions, hooks: TrainHooks): Promise<void> {
  const { tf, runDir } = opts;
  const { config, stats } = run;
  run.epoch++;
  const epoch = run.epoch;
  const m: EpochMetrics = {
    epoch,
    step: run.step,
    ...stats.means(),
    d_loss_std: +stats.spread(0).toFixed(4),
    g_loss_std: +stats.spread(1).toFixed(4),
    iterations: stats.partial.iterations,
    seconds: +stats.partial.seconds.toFixed(3),
    ms_per_iter: +((1000 * stats.partial.seconds) / Math.max(1, stats.partial.iterations)).toFixed(2),
    backend: opts.backend,
    batch_size: config.batchSize,
  };
  const gridFile = epochGridPath(runDir, epoch);
  // With --ema the grids and evaluations show the EMA generator, as gan sample does.
  const sampler = run.trainer.samplingModel();
  const grid = await gridFromNoise(sampler, run.fixedNoise, run.grid);
  writeFileAtomic(gridFile, grid);
  run.log?.addGrid(run.step, grid);
  const ev = opts.evaluation;
  if (ev && epoch % ev.every === 0) {
    // The same noise at every evaluation, so epochs are compared on equal terms.
    const pixels = await generatePixels(tf, sampler, ev.n, Rng.for(config.seed, Stream.sample));
    const row = await ev.evaluator.evaluate(pixels, ev.n, `epoch ${epoch}`);
    const best = run.bestFid === undefined || row.fid < run.bestFid;
    if (best) run.bestFid = row.fid;
    Object.assign(m, {
      fid: row.fid,
      inception_score: row.inception_score,
      classes_covered: row.classes_covered,
      kl_to_uniform: row.kl_to_uniform,
      mean_confidence: row.mean_confidence,
      eval_seconds: +row.seconds.toFixed(2),
      best,
    });
    run.log?.addEval(run.step, row);
  }
  // Diagnosis reads the run's metrics so far, this epoch's included (a resumed run its file).
  run.history.push(m);
  const found = diagnose(run.history, config.arch);
  if (found) m.diagnosis = found;
  appendLineDurable(path.join(runDir, METRICS_FILE), JSON.stringify(m));
  run.iteration = 0;
  run.stats = new EpochStats(tf);
  run.log?.sync();
  run.lastCheckpoint = await saveCheckpoint(tf, runDir, checkpointContents(run, opts));
  if (m.best) await saveCheckpoint(tf, runDir, checkpointContents(run, opts), 1, BEST_DIR);
  hooks.onEpoch?.(m, { grid: gridFile, checkpoint: run.lastCheckpoint });
}
