/**
 * The tutorials' stabilising tricks, as the pieces the training step (src/train/trainer.ts) calls. Each
 * is off by default, and when off the step never calls it, so a plain run is today's step.
 *
 *   label smoothing       D's targets: real 1 - S (or U[1 - S, 1) per sample), fake S (0 one-sided)
 *   instance noise        N(0, (sigma * R^epoch)^2) added to every image D sees, real and generated
 *   feature matching      G's loss ||mean f(x) - mean f(G(z))||^2, f = D's last hidden activation
 *   experience replay     a ring of the last K generated batches; a share F of D's fake half from it
 *   historical averaging  each network's loss + lambda * ||theta - mean(theta_0..theta_t)||^2
 *   EMA generator         G_ema <- decay * G_ema + (1 - decay) * G after every G update
 *
 * Every random draw comes from the seeded streams (src/core/rng.ts) keyed by the step, and every piece
 * of state (EMA weights, replay ring, running averages) goes into the checkpoint, so a resumed
 * run is bit-identical to an uninterrupted one. The noise schedule is a pure function of the
 * epoch, and the smoothed targets of the step.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { NamedTensor, Tf } from '../backends/tf';
import type { TrickConfig } from '../config';
import { Network } from '../nets/network';
import type { NetworkSpec } from '../nets/spec';
import { Rng, Stream } from '../core/rng';

type Tensor = tfType.Tensor;
type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;
type Variable = tfType.Variable;

/** True when any trick that changes the step is on (the test knob included). */
export function anyTrick(c: TrickConfig): boolean {
  return (
    c.labelSmoothing > 0 ||
    c.instanceNoise > 0 ||
    c.featureMatching ||
    c.replay > 0 ||
    c.historicalAveraging > 0 ||
    c.ema > 0 ||
    c.dRealOnly
  );
}

/**
 * D's targets for a batch of b real then b generated images, [2b], or undefined when they are
 * the plain 1s and 0s (the plain step keeps its own cached labels). Real: 1 - S, or with
 * 'uniform' 1 - S + S * u, u ~ U[0, 1) per sample from the smoothing stream at `step`; fake: S,
 * or 0 when one-sided.
 */
export function smoothedTargets(c: TrickConfig, b: number, seed: number, step: number): Float32Array | undefined {
  const s = c.labelSmoothing;
  if (s === 0) return undefined;
  const out = new Float32Array(2 * b);
  if (c.smoothReal === 'uniform') {
    const rng = Rng.for(seed, Stream.smoothing, step);
    for (let i = 0; i < b; i++) out[i] = 1 - s + s * rng.next();
  } else {
    out.fill(1 - s, 0, b);
  }
  out.fill(c.oneSided ? 0 : s, b);
  return out;
}

/** The instance noise's standard deviation in an epoch (counted from 0): sigma * R^epoch. */
export function instanceNoiseStd(c: TrickConfig, epoch: number): number {
  return c.instanceNoise * Math.pow(c.noiseDecay, epoch);
}

/** Gaussian noise [rows, cols] of standard deviation `std`, from `rng`. */
export function gaussianNoise(tf: Tf, rows: number, cols: number, std: number, rng: Rng): Tensor2D {
  const values = rng.fillNormal(new Float32Array(rows * cols));
  for (let i = 0; i < values.length; i++) values[i] *= std;
  return tf.tensor2d(values, [rows, cols]);
}

/**
 * The layer whose output feature matching compares: D's last activation before its output layer
 * (the MLP's second LeakyReLU, 256 wide, before its dropout; the DCGAN's third LeakyReLU,
 * [4, 4, 4C]). It is the representation D's final linear classifier reads, so matching its mean
 * asks G for what D uses to decide (Salimans et al. 2016 use the same layer).
 */
export function featureLayerIndex(spec: NetworkSpec): number {
  for (let i = spec.layers.length - 1; i >= 0; i--) if (spec.layers[i].kind === 'activation') return i;
  throw new Error(`${spec.name} has no activation layer to match features at`);
}

/**
 * Feature matching's loss: || mean over the batch of f(images) - realFeatureMean ||^2, f = D's
 * feature layer in inference mode (no dropout, batch norm from its moving averages), so the
 * features are a fixed function of the image and not of the batch.
 */
export function featureDistance(
  tf: Tf,
  discriminator: Network,
  featureLayer: number,
  images: Tensor2D,
  labels: Tensor1D | undefined,
  realFeatureMean: Tensor,
): tfType.Scalar {
  const f = discriminator.forward(images, labels, undefined, featureLayer);
  return tf.sum(tf.square(tf.sub(tf.mean(f, 0, true), realFeatureMean))) as tfType.Scalar;
}

/** A ring of the last `capacity` generated batches (with their labels in conditional runs), oldest first. */
export class ReplayRing {
  private slots: Array<{ images: Tensor2D; labels?: Tensor1D }> = [];

  constructor(
    private readonly tf: Tf,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.slots.length;
  }

  /** Stores a copy of a batch; the oldest is dropped beyond capacity. */
  push(images: Tensor2D, labels?: Tensor1D): void {
    const tf = this.tf;
    this.slots.push({ images: tf.keep(tf.clone(images)), labels: labels ? tf.keep(tf.clone(labels)) : undefined });
    if (this.slots.length > this.capacity) {
      const old = this.slots.shift()!;
      old.images.dispose();
      old.labels?.dispose();
    }
  }

  /** The stored batches, oldest first. */
  contents(): ReadonlyArray<{ images: Tensor2D; labels?: Tensor1D }> {
    return this.slots;
  }

  /**
   * m rows drawn uniformly (with replacement) from every stored row, grouped by batch from the
   * oldest: [m, P] (and their labels). Undefined while the ring is empty.
   */
  draw(m: number, rng: Rng): { images: Tensor2D; labels?: Tensor1D } | undefined {
    if (this.slots.length === 0 || m === 0) return undefined;
    const tf = this.tf;
    const sizes = this.slots.map((s) => s.images.shape[0]);
    const total = sizes.reduce((a, b) => a + b, 0);
    const picks: number[][] = sizes.map(() => []);
    for (let j = 0; j < m; j++) {
      let r = rng.int(total);
      let slot = 0;
      while (r >= sizes[slot]) r -= sizes[slot++];
      picks[slot].push(r);
    }
    const images: Tensor2D[] = [];
    const labels: Tensor1D[] = [];
    picks.forEach((rows, slot) => {
      if (rows.length === 0) return;
      const idx = tf.tensor1d(rows, 'int32');
      images.push(tf.gather(this.slots[slot].images, idx) as Tensor2D);
      const l = this.slots[slot].labels;
      if (l) labels.push(tf.gather(l, idx) as Tensor1D);
    });
    return { images: tf.concat(images, 0) as Tensor2D, labels: labels.length ? (tf.concat(labels) as Tensor1D) : undefined };
  }

  /** The ring for a checkpoint: replay/images/i (and replay/labels/i), i = 0 the oldest. */
  tensors(): NamedTensor[] {
    return this.slots.flatMap((s, i) => [
      { name: `replay/images/${i}`, tensor: s.images },
      ...(s.labels ? [{ name: `replay/labels/${i}`, tensor: s.labels }] : []),
    ]);
  }

  /** Refills the ring from a checkpoint's tensors. */
  restore(tensors: Record<string, Tensor>): void {
    this.clear();
    for (let i = 0; tensors[`replay/images/${i}`]; i++) {
      this.push(tensors[`replay/images/${i}`] as Tensor2D, tensors[`replay/labels/${i}`] as Tensor1D | undefined);
    }
  }

  private clear(): void {
    for (const s of this.slots) (s.images.dispose(), s.labels?.dispose());
    this.slots = [];
  }

  dispose(): void {
    this.clear();
  }
}

/**
 * Historical averaging (Salimans et al. 2016) of one network's trainable parameters: the running
 * mean of every value they have held, theta_0 (the initial weights) to theta_t, and the penalty
 * lambda * sum ||theta - mean||^2 whose gradient 2 lambda (theta - mean) joins the network's own.
 */
export class HistoricalAverage {
  readonly averages: Variable[];
  private readonly twoLambda: tfType.Scalar;

  constructor(
    private readonly tf: Tf,
    variables: Variable[],
    readonly lambda: number,
  ) {
    this.averages = variables.map((v) => tf.tidy(() => tf.variable(copyOf(tf, v), false)));
    this.twoLambda = tf.keep(tf.scalar(2 * lambda));
  }

  /** grads[i] + 2 lambda (theta_i - mean_i), in variable order. */
  addPenalty(grads: Tensor[], variables: Variable[]): Tensor[] {
    const tf = this.tf;
    return grads.map((g, i) => tf.add(g, tf.mul(this.twoLambda, tf.sub(variables[i], this.averages[i]))));
  }

  /** lambda * sum ||theta - mean||^2 (what addPenalty differentiates; no tidy inside, so a gradient tape can record it). */
  penalty(variables: Variable[]): tfType.Scalar {
    const tf = this.tf;
    return tf.mul(this.lambda, tf.addN(variables.map((v, i) => tf.sum(tf.square(tf.sub(v, this.averages[i])))))) as tfType.Scalar;
  }

  /** After the update that made the parameters their n-th value (n = 1 is theta_0): mean += (theta - mean) / n. */
  update(variables: Variable[], n: number): void {
    const tf = this.tf;
    tf.tidy(() => this.averages.forEach((a, i) => a.assign(tf.add(a, tf.div(tf.sub(variables[i], a), n)))));
  }

  tensors(prefix: string): NamedTensor[] {
    return this.averages.map((tensor, i) => ({ name: `${prefix}/${i}`, tensor }));
  }

  restore(tensors: Record<string, Tensor>, prefix: string): void {
    this.averages.forEach((a, i) => {
      const t = tensors[`${prefix}/${i}`];
      if (!t) throw new Error(`checkpoint lacks ${prefix}/${i}`);
      a.assign(t);
    });
  }

  dispose(): void {
    for (const a of this.averages) a.dispose();
    this.twoLambda.dispose();
  }
}

/**
 * An exponential moving average of the generator: a network of the same spec, every variable
 * (batch-norm moving statistics included) updated after each G step as
 * ema <- decay * ema + (1 - decay) * theta, starting from the initial weights.
 */
export class EmaGenerator {
  readonly network: Network;
  private readonly decay: tfType.Scalar;
  private readonly rest: tfType.Scalar;

  constructor(
    private readonly tf: Tf,
    source: Network,
    decay: number,
  ) {
    const copies = source.variables.map((v) => copyOf(tf, v));
    this.network = Network.fromValues(tf, source.spec, copies);
    for (const c of copies) c.dispose();
    this.decay = tf.keep(tf.scalar(decay));
    this.rest = tf.keep(tf.scalar(1 - decay));
  }

  update(source: Network): void {
    const tf = this.tf;
    tf.tidy(() =>
      this.network.variables.forEach((e, i) => e.assign(tf.add(tf.mul(e, this.decay), tf.mul(source.variables[i], this.rest)))),
    );
  }

  /** Puts a checkpoint's EMA weights (paramSpecs order) in place. */
  restore(values: Tensor[]): void {
    this.network.variables.forEach((v, i) => v.assign(values[i]));
  }

  dispose(): void {
    this.network.dispose();
    this.decay.dispose();
    this.rest.dispose();
  }
}

/**
 * A copy of a tensor's values in a buffer of its own (the native Adam update writes its variables
 * in place, so a copy must not share their buffer). Made on the device, as t * 1, which is exact
 * in IEEE arithmetic (-0 and subnormals included on wasm and the CPU): the webgpu backend cannot
 * read t synchronously in Node, and a read-back would cost a round trip through the CPU anyway.
 */
function copyOf(tf: Tf, t: Tensor): Tensor {
  return tf.tidy(() => tf.mul(t, tf.scalar(1, t.dtype)));
}
