/**
 * The two networks, their optimizers and the training step. One iteration, as in PyTorch's DCGAN
 * example:
 *   (1) Update D: a real batch labelled 1 and a generated batch labelled 0. The generated batch
 *       is made outside the gradient tape, so it is detached: no gradient reaches G, and only
 *       D's variables are updated.
 *   (2) Update G: fresh noise, labels 1 (the non-saturating loss -log D(G(z))), gradients flow
 *       through D into G, and only G's variables are updated.
 * Dense-only networks (the MLPs) compute the gradients through the hand-written backward pass
 * (src/train/dense-step.ts), the others (the DCGAN) through tfjs autodiff
 * (src/train/autodiff-step.ts). The stabilising tricks (src/train/tricks.ts) join the step only
 * when the config turns them on. Every random draw is keyed by (seed, stream, step).
 *
 * The core never prints: the loop (src/train/loop.ts) reports through hooks.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { NamedTensor, Tf } from '../backends/tf';
import type { TrainConfig } from '../config';
import { Rng, Stream } from '../core/rng';
import { GanModel, noiseTensor, randomLabels } from '../nets/gan-model';
import type { LoadedCheckpoint } from '../run/checkpoint';
import { CheckpointError } from '../util/errors';
import { Adam } from './adam';
import { AutodiffStep } from './autodiff-step';
import { DenseStep } from './dense-step';
import type { StepPath } from './step-path';
import { EmaGenerator, HistoricalAverage, ReplayRing, featureLayerIndex, gaussianNoise, instanceNoiseStd, smoothedTargets } from './tricks';
import type { Dataset, DTargets } from './types';
import { submitStep } from '../backends/webgpu/submit';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

export class GanTrainer {
  readonly model: GanModel;
  readonly optD: Adam;
  readonly optG: Adam;
  /** How gradients are computed: the hand-written dense pass or tfjs autodiff. */
  readonly path: StepPath;
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
    this.featureLayer = featureLayerIndex(this.model.spec.discriminator);
    this.path = DenseStep.of(tf, this.model, config.leak) ?? new AutodiffStep(tf, this.model, config.dRealOnly, this.featureLayer);
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
      // Scalars stacked once (not D's three stacked, split and stacked again): 4 fewer kernels a step.
      const d = this.stepDScalars(real, step, realLabels, epoch);
      const gLoss = this.stepG(real.shape[0], step, real, realLabels, epoch);
      return tf.stack([d.loss, gLoss, d.dReal, d.dFake]) as Tensor1D;
    });
  }

  /**
   * The step `gan train` runs: the batch rows `indices` of the dataset (gathered on the backend,
   * or uploaded from the host), then step(). Benchmarks time exactly this.
   */
  stepOnIndices(dataset: Dataset, indices: Int32Array, step: number, epoch = 0): Tensor1D {
    const tf = this.tf;
    const stats = tf.tidy(() => {
      const batch = dataset.batch(indices);
      return this.step(batch.images, step, batch.labels, epoch);
    });
    // On webgpu the step's commands go to the GPU now, as one submit (src/backends/webgpu/submit.ts).
    submitStep(tf);
    return stats;
  }

  /**
   * (1) Update D on a real batch (label 1) and a detached generated batch (label 0).
   * Returns [d_loss, mean D(x), mean D(G(z))].
   */
  stepD(real: Tensor2D, step: number, realLabels?: Tensor1D, epoch = 0): Tensor1D {
    const tf = this.tf;
    return tf.tidy(() => {
      const d = this.stepDScalars(real, step, realLabels, epoch);
      return tf.stack([d.loss, d.dReal, d.dFake]) as Tensor1D;
    });
  }

  /** stepD's update, returning its three figures as scalars. */
  private stepDScalars(
    real: Tensor2D,
    step: number,
    realLabels?: Tensor1D,
    epoch = 0,
  ): { loss: tfType.Scalar; dReal: tfType.Scalar; dFake: tfType.Scalar } {
    const tf = this.tf;
    const { seed, latentDim } = this.config;
    const b = real.shape[0];
    return tf.tidy(() => {
      const z = noiseTensor(tf, b, latentDim, Rng.for(seed, Stream.noiseD, step));
      const labels = this.fakeLabels(b, Stream.labelsD, step);
      const targets = this.dTargets(b, step);
      const noise = this.instanceNoise(2 * b, Rng.for(seed, Stream.instanceNoiseD, step), epoch);
      // fake: [B, work * work], made outside any gradient tape: detached by construction.
      const { fake, labels: fakeLabels } = this.replayMix(this.path.generateDetached(z, labels), labels, step);
      const dropout = Rng.for(seed, Stream.dropoutD, step);
      const d = this.path.gradientsOfD({ real, realLabels, fake, fakeLabels, noise, targets, dropout });
      this.update(this.optD, d.grads, this.historyD);
      return { loss: d.loss, dReal: d.dReal, dFake: d.dFake };
    });
  }

  /**
   * (2) Update G with the non-saturating loss -log D(G(z)) on fresh noise: labels 1, gradients
   * through D into G, only G's variables change. With --feature-matching the loss is instead
   * ||mean f(real) - mean f(G(z))||^2 for D's feature layer f, which needs the real batch (and
   * its labels). Returns g_loss.
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
      const g = this.path.gradientsOfG({ z, labels, masks, extras: { inputNoise, realFeatureMean } });
      this.update(this.optG, g.grads, this.historyG);
      this.ema?.update(this.model.generator);
      return g.loss;
    });
  }

  /** The digits G is asked for at a step, [B] int32 (conditional runs only). */
  private fakeLabels(b: number, stream: number, step: number): Tensor1D | undefined {
    if (!this.model.conditional) return undefined;
    return this.tf.tensor1d(randomLabels(b, Rng.for(this.config.seed, stream, step), this.config.classes), 'int32');
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
    return gaussianNoise(
      this.tf,
      rows,
      this.model.spec.workSize ** 2 * this.model.spec.imageChannels,
      instanceNoiseStd(this.config, epoch),
      rng,
    );
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
      if (!c.emaGeneratorWeights)
        throw new CheckpointError(
          `checkpoint ${c.dir} has no ema_generator/ although the run trains with --ema`,
          'Use another checkpoint of the run, or retrain',
        );
      this.ema.restore(c.emaGeneratorWeights);
    }
  }

  dispose(): void {
    this.path.dispose();
    this.model.dispose();
    this.optD.dispose();
    this.optG.dispose();
    this.replay?.dispose();
    this.historyD?.dispose();
    this.historyG?.dispose();
    this.ema?.dispose();
  }
}
