/**
 * The step's gradients for dense-only networks (both MLPs), through the hand-written backward
 * pass (src/train/backprop.ts) rather than tfjs autodiff: the same gradients (test/dense-step.test.ts
 * checks them against the loss written out) in fewer kernel launches.
 *
 * Losses are sigmoid cross-entropy on logits, the numerically stable form of BCE:
 *   BCE(logit, 1) = softplus(-logit),  BCE(logit, 0) = softplus(logit),
 * and with a soft target t, softplus(l) - t l, whose derivative is sigmoid(l) - t.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import { webGpuDenseBackward, type WebGpuDenseBackward } from '../backends/webgpu/dense-backward';
import { webGpuDenseLeakyDropout, type WebGpuDenseLeakyDropout } from '../backends/webgpu/dense-forward';
import { webGpuDenseOutputBackward, type WebGpuDenseOutputBackward } from '../backends/webgpu/dense-output-backward';
import { webGpuSigmoidBce, type WebGpuSigmoidBce } from '../backends/webgpu/sigmoid-bce';
import { Constants } from '../nets/constants';
import { DenseStack, type GanModel } from '../nets/gan-model';
import { backward, forwardCached } from './backprop';
import type { DiscriminatorBatch, GeneratorBatch, StepPath } from './step-path';
import type { DTargets, GeneratorExtras } from './types';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

export class DenseStep implements StepPath {
  private readonly labelCache = new Map<number, { target: Tensor2D; sign: Tensor2D }>();
  /** 1, B and 1/B, made once (src/nets/constants.ts). */
  private readonly constants: Constants;
  /** On webgpu: the plain-label loss and its gradient in one kernel; elsewhere tfjs ops. */
  private readonly fusedLoss: WebGpuSigmoidBce | undefined;
  /** On webgpu: each layer's mask, activation derivative and bias gradient in one kernel; elsewhere tfjs ops. */
  private readonly fusedBackward: WebGpuDenseBackward | undefined;
  /** On webgpu: D's hidden layers' matmul, bias, LeakyReLU and dropout mask in one kernel; elsewhere tfjs ops. */
  private readonly fusedDropout: WebGpuDenseLeakyDropout | undefined;
  /** On webgpu: D's output layer backward in one dispatch (dense-output-backward.ts). */
  private readonly fusedOutputBackward: WebGpuDenseOutputBackward | undefined;

  constructor(
    private readonly tf: Tf,
    private readonly model: GanModel,
    /** The dense views of both networks. */
    private readonly g: DenseStack,
    private readonly d: DenseStack,
    private readonly leak: number,
  ) {
    this.constants = new Constants(tf);
    this.fusedLoss = webGpuSigmoidBce(tf);
    this.fusedBackward = webGpuDenseBackward(tf);
    this.fusedDropout = webGpuDenseLeakyDropout(tf);
    this.fusedOutputBackward = webGpuDenseOutputBackward(tf);
  }

  /** The dense path for a model whose networks are both dense-only, else undefined. */
  static of(tf: Tf, model: GanModel, leak: number): DenseStep | undefined {
    const g = model.generator.denseStack();
    const d = model.discriminator.denseStack();
    return g && d ? new DenseStep(tf, model, g, d, leak) : undefined;
  }

  generateDetached(z: Tensor2D, labels?: Tensor1D): Tensor2D {
    // On webgpu G's forward as its step runs it: LeakyReLU in the matmul (3 kernels fewer than
    // the network's separate activation layers). Elsewhere unchanged, so wasm keeps its bits.
    if (!this.fusedDropout) return this.model.generate(z, labels);
    const g = this.g;
    const { y } = forwardCached(this.tf, g, this.model.generator.joinLabel(z, labels) as Tensor2D, g.activations, this.leak);
    return this.tf.reshape(y, [z.shape[0], -1]) as Tensor2D;
  }

  gradientsOfD(batch: DiscriminatorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar; dReal: tfType.Scalar; dFake: tfType.Scalar } {
    const tf = this.tf;
    const b = batch.real.shape[0];
    // One D pass over [real; fake]: [2B, 784] -> [2B, 1]. Equivalent to two passes (no batch
    // statistics in D; dropout masks are per row) and half the kernel launches.
    let both = tf.concat([batch.real, batch.fake], 0) as Tensor2D;
    if (batch.noise) both = tf.add(both, batch.noise) as Tensor2D;
    const labels = batch.fakeLabels ? (tf.concat([batch.realLabels!, batch.fakeLabels]) as Tensor1D) : undefined;
    const masks = this.model.dropoutMasks(2 * b, batch.dropout);
    return this.discriminatorGradients(both, masks, labels, batch.targets);
  }

  gradientsOfG(batch: GeneratorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar } {
    return this.generatorGradients(batch.z, batch.masks, batch.labels, batch.extras);
  }

  /**
   * Gradients of D's loss, BCE(D(real), 1) + BCE(D(fake), 0), for `both` = [real; fake] (equal
   * halves), with the given dropout masks (and labels, conditional). With `targets` (label
   * smoothing, the real-only knob) the per-row BCE is softplus(l) - t l, weighted per row.
   * Also the loss and the mean D(x) and D(G(z)) (D's probabilities on each half).
   */
  discriminatorGradients(
    both: Tensor2D,
    masks: Tensor2D[],
    labels?: Tensor1D,
    targets?: DTargets,
  ): { grads: tfType.Tensor[]; loss: tfType.Scalar; dReal: tfType.Scalar; dFake: tfType.Scalar } {
    const tf = this.tf;
    const d = this.d;
    const b = both.shape[0] / 2;
    const input = this.model.discriminator.joinLabel(both, labels) as Tensor2D;
    const { y: logits, cache } = forwardCached(tf, d, input, d.activations, this.leak, this.perLayerMasks(masks), this.fusedDropout);
    let dLogits: Tensor2D;
    let loss: tfType.Scalar;
    let means: [tfType.Scalar, tfType.Scalar];
    if (!targets && this.fusedLoss) {
      const fused = this.fusedLoss(logits, b, 1 / b);
      ({ dLogits, loss } = fused);
      means = [fused.pOnes, fused.pZeros];
    } else if (!targets) {
      const probs = tf.sigmoid(logits);
      const { target, sign } = this.labels(b);
      // d/dlogit of softplus(-l) (label 1) and softplus(l) (label 0), each averaged over B rows.
      dLogits = tf.mul(tf.sub(probs, target), this.constants.scalar(1 / b)) as Tensor2D;
      loss = tf.div(tf.sum(tf.softplus(tf.mul(logits, sign))), this.constants.scalar(b)) as tfType.Scalar;
      means = this.halfMeans(probs);
    } else {
      const probs = tf.sigmoid(logits);
      // d/dlogit of softplus(l) - t l is sigmoid(l) - t.
      const w = targets.weight;
      const diff = tf.sub(probs, targets.target);
      const rowLoss = tf.sub(tf.softplus(logits), tf.mul(targets.target, logits));
      dLogits = tf.mul(w ? tf.mul(diff, w) : diff, this.constants.scalar(1 / b)) as Tensor2D;
      loss = tf.div(tf.sum(w ? tf.mul(rowLoss, w) : rowLoss), this.constants.scalar(b)) as tfType.Scalar;
      means = this.halfMeans(probs);
    }
    const { grads, dx } = backward(tf, d, cache, dLogits, d.activations, this.leak, {
      weightGrads: true,
      inputGrad: !!labels,
      one: this.one,
      fused: this.fusedBackward,
      fusedOutput: this.fusedOutputBackward,
    });
    const allGrads = labels ? [this.embeddingGrad(dx!, both.shape[1], labels), ...grads] : grads;
    return { grads: allGrads, loss, dReal: means[0], dFake: means[1] };
  }

  /** The means of the two halves of D's probabilities [2B, 1]: D(x) and D(G(z)). */
  private halfMeans(probs: Tensor2D): [tfType.Scalar, tfType.Scalar] {
    const [pReal, pFake] = this.tf.split(probs, 2, 0);
    return [this.tf.mean(pReal) as tfType.Scalar, this.tf.mean(pFake) as tfType.Scalar];
  }

  /**
   * Gradients of G's loss for noise z, and the loss. The non-saturating loss mean(BCE(D(G(z)), 1)),
   * or with `realFeatureMean` feature matching's ||mean f(G(z)) - realFeatureMean||^2, f = D's
   * dense layers up to the feature layer without dropout.
   */
  generatorGradients(
    z: Tensor2D,
    masks: Tensor2D[],
    labels?: Tensor1D,
    extras: GeneratorExtras = {},
  ): { grads: tfType.Tensor[]; loss: tfType.Scalar } {
    const tf = this.tf;
    const { g, d } = this;
    const b = z.shape[0];
    const gOut = forwardCached(tf, g, this.model.generator.joinLabel(z, labels) as Tensor2D, g.activations, this.leak);
    const images = extras.inputNoise ? (tf.add(gOut.y, extras.inputNoise) as Tensor2D) : gOut.y;
    const dIn = this.model.discriminator.joinLabel(images, labels) as Tensor2D;
    let dx: Tensor2D | undefined;
    let loss: tfType.Scalar;
    if (extras.realFeatureMean) {
      // f: D's dense layers up to its last hidden one, [B, F]; dL/df = 2 (mean f - mean f_real) / B per row.
      const k = d.layers.length - 2;
      const stack = new DenseStack(
        d.layers.slice(0, k + 1),
        d.activations.slice(0, k + 1),
        d.dropout.slice(0, k + 1).map(() => 0),
      );
      const fOut = forwardCached(tf, stack, dIn, stack.activations, this.leak);
      const diff = tf.sub(tf.mean(fOut.y, 0, true), extras.realFeatureMean);
      loss = tf.sum(tf.square(diff)) as tfType.Scalar;
      const dF = tf.broadcastTo(tf.mul(diff, 2 / b), fOut.y.shape) as Tensor2D;
      ({ dx } = backward(tf, stack, fOut.cache, dF, stack.activations, this.leak, { weightGrads: false, inputGrad: true }));
    } else {
      const dOut = forwardCached(tf, d, dIn, d.activations, this.leak, this.perLayerMasks(masks), this.fusedDropout);
      let dLogits: Tensor2D;
      if (this.fusedLoss) ({ dLogits, loss } = this.fusedLoss(dOut.y, b, 1 / b));
      else {
        dLogits = tf.mul(tf.sub(tf.sigmoid(dOut.y), this.one), this.constants.scalar(1 / b)) as Tensor2D;
        loss = tf.mean(tf.softplus(tf.neg(dOut.y))) as tfType.Scalar;
      }
      // Through D to its input (D's weight gradients are not needed), then through G.
      ({ dx } = backward(tf, d, dOut.cache, dLogits, d.activations, this.leak, {
        weightGrads: false,
        inputGrad: true,
        one: this.one,
        fused: this.fusedBackward,
        fusedOutput: this.fusedOutputBackward,
      }));
    }
    if (labels) dx = tf.slice(dx!, [0, 0], [b, gOut.y.shape[1]]); // the image part; D's embedding is not G's
    const back = backward(tf, g, gOut.cache, dx!, g.activations, this.leak, {
      weightGrads: true,
      inputGrad: !!labels,
      one: this.one,
      fused: this.fusedBackward,
      fusedOutput: this.fusedOutputBackward,
    });
    return { grads: labels ? [this.embeddingGrad(back.dx!, z.shape[1], labels), ...back.grads] : back.grads, loss };
  }

  /** Dropout masks per dense layer of D (undefined where a layer has none). */
  private perLayerMasks(masks: Tensor2D[]): Array<Tensor2D | undefined> {
    let j = 0;
    return this.d.dropout.map((rate) => (rate > 0 ? masks[j++] : undefined));
  }

  /**
   * The gradient of an Embedding(10, dim) joined after the first `inputWidth` columns, from the
   * gradient of the joined input [B, inputWidth + dim]: onehot(labels)^T dx[:, inputWidth:].
   */
  private embeddingGrad(dInput: Tensor2D, inputWidth: number, labels: Tensor1D): Tensor2D {
    const tf = this.tf;
    const dEmb = tf.slice(dInput, [0, inputWidth], [-1, -1]) as Tensor2D;
    return tf.matMul(tf.oneHot(labels, this.model.config.classes).toFloat() as Tensor2D, dEmb, true, false);
  }

  /** Labels [1 x B; 0 x B] as a column, and 1 - 2 * label (so BCE = softplus(sign * logit)); made once per batch size. */
  private labels(b: number): { target: Tensor2D; sign: Tensor2D } {
    let l = this.labelCache.get(b);
    if (!l) {
      const tf = this.tf;
      const y = new Float32Array(2 * b).fill(1, 0, b);
      l = tf.tidy(() => ({
        target: tf.keep(tf.tensor2d(y, [2 * b, 1])),
        sign: tf.keep(
          tf.tensor2d(
            y.map((v) => 1 - 2 * v),
            [2 * b, 1],
          ),
        ),
      }));
      this.labelCache.set(b, l);
    }
    return l;
  }

  private get one(): tfType.Scalar {
    return this.constants.scalar(1);
  }

  dispose(): void {
    this.constants.dispose();
    for (const l of this.labelCache.values()) {
      l.target.dispose();
      l.sign.dispose();
    }
    this.labelCache.clear();
  }
}
