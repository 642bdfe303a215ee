/**
 * The step's gradients through tfjs autodiff (tf.variableGrads), for networks the hand-written
 * pass does not cover: the DCGAN, with convolutions and batch norm.
 *
 * Batch norm follows PyTorch's DCGAN tutorial: every pass in training mode normalises by its
 * batch's statistics and updates the moving averages (momentum 0.1, unbiased variance). D sees
 * the real and the generated batch as two batches, each normalised by its own statistics.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { GanModel } from '../nets/gan-model';
import type { TrainingPass } from '../nets/network';
import type { DiscriminatorBatch, GeneratorBatch, StepPath } from './step-path';
import { featureDistance } from './tricks';
import { webGpuSigmoidBce, type WebGpuSigmoidBce } from '../backends/webgpu/sigmoid-bce';

type Tensor2D = tfType.Tensor2D;
type Scalar = tfType.Scalar;

export class AutodiffStep implements StepPath {
  /** The loss and its gradient in one kernel on webgpu (sigmoid-bce.ts); elsewhere the tf ops. */
  private readonly fusedLoss: WebGpuSigmoidBce | undefined;

  constructor(
    private readonly tf: Tf,
    private readonly model: GanModel,
    /** Test knob --debug-d-real-only: D's loss has only its real half. */
    private readonly dRealOnly: boolean,
    /** Index of D's layer whose output feature matching compares (src/train/tricks.ts). */
    private readonly featureLayer: number,
  ) {
    this.fusedLoss = webGpuSigmoidBce(tf);
  }

  /** G in training mode (batch statistics, moving averages updated, as PyTorch's netG(noise) does), outside the tape. */
  generateDetached(z: Tensor2D, labels?: tfType.Tensor1D): Tensor2D {
    const gPass: TrainingPass = { batchStats: [] };
    const fake = this.model.generate(z, labels, gPass);
    this.model.generator.updateMovingStats(gPass.batchStats);
    return fake;
  }

  gradientsOfD(batch: DiscriminatorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar; dReal: tfType.Scalar; dFake: tfType.Scalar } {
    const tf = this.tf;
    const { realLabels, fakeLabels, targets } = batch;
    const b = batch.real.shape[0];
    let { real, fake } = batch;
    if (batch.noise) {
      const [nReal, nFake] = tf.split(batch.noise, 2, 0) as Tensor2D[];
      real = tf.add(real, nReal) as Tensor2D;
      fake = tf.add(fake, nFake) as Tensor2D;
    }
    const [tReal, tFake] = targets ? (tf.split(targets.target, 2, 0) as Tensor2D[]) : [];
    // One dropout stream for both passes: the fake batch's masks follow the real batch's.
    const realPass: TrainingPass = { batchStats: [], dropoutMasks: this.model.dropoutMasks(b, batch.dropout) };
    const fakePass: TrainingPass = { batchStats: [], dropoutMasks: this.model.dropoutMasks(b, batch.dropout) };
    let logits: Tensor2D[] = [];
    let means: Scalar[] | undefined;
    const variables = this.model.discriminator.trainable();
    const { value, grads } = tf.variableGrads(() => {
      const lr = this.model.discriminate(real, realLabels, realPass);
      const lf = this.model.discriminate(fake, fakeLabels, fakePass);
      logits = [tf.keep(lr), tf.keep(lf)];
      keepStats(tf, realPass, fakePass);
      if (!targets) {
        // BCE(D(x), 1) + BCE(D(G(z)), 0), each a mean over its batch.
        const [bReal, bFake] = [this.meanBce(lr, 1), this.meanBce(lf, 0)];
        if (bReal.meanSigmoid && bFake.meanSigmoid) means = [bReal.meanSigmoid, bFake.meanSigmoid];
        return tf.add(bReal.loss, bFake.loss) as Scalar;
      }
      // BCE with soft targets t: softplus(l) - t * l; the fake half drops out with --debug-d-real-only.
      const bce = (l: Tensor2D, t: Tensor2D) => tf.mean(tf.sub(tf.softplus(l), tf.mul(t, l)));
      return (this.dRealOnly ? bce(lr, tReal) : tf.add(bce(lr, tReal), bce(lf, tFake))) as tfType.Scalar;
    }, variables);
    this.model.discriminator.updateMovingStats([...realPass.batchStats, ...fakePass.batchStats]);
    // The fused loss measured D's means on the way; kept past the tape, they join this scope.
    const [dReal, dFake] = means ? means.map((m) => tf.clone(m)) : logits.map((l) => tf.mean(tf.sigmoid(l)) as Scalar);
    releaseKept([...logits, ...(means ?? [])], realPass, fakePass);
    return { grads: variables.map((v) => grads[v.name]), loss: value, dReal, dFake };
  }

  /**
   * The non-saturating loss mean(BCE(D(G(z)), 1)), D in training mode (dropout, batch
   * statistics) as in the reference; or feature matching's distance, D in inference mode.
   */
  gradientsOfG(batch: GeneratorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar } {
    const tf = this.tf;
    const { z, labels, extras } = batch;
    const gPass: TrainingPass = { batchStats: [] };
    const dPass: TrainingPass = { batchStats: [], dropoutMasks: batch.masks };
    const variables = this.model.generator.trainable();
    const { value, grads } = tf.variableGrads(() => {
      let images = this.model.generate(z, labels, gPass);
      if (extras.inputNoise) images = tf.add(images, extras.inputNoise) as Tensor2D;
      keepStats(tf, gPass);
      if (extras.realFeatureMean)
        return featureDistance(tf, this.model.discriminator, this.featureLayer, images, labels, extras.realFeatureMean);
      const logits = this.model.discriminate(images, labels, dPass);
      keepStats(tf, dPass);
      const bce = this.meanBce(logits, 1);
      bce.meanSigmoid?.dispose();
      return bce.loss;
    }, variables);
    this.model.generator.updateMovingStats(gPass.batchStats);
    this.model.discriminator.updateMovingStats(dPass.batchStats);
    releaseKept([], gPass, dPass);
    return { grads: variables.map((v) => grads[v.name]), loss: value };
  }

  /**
   * mean over the rows of BCE(sigmoid(logits), label): softplus(-l) for label 1, softplus(l) for 0.
   * On webgpu one kernel gives the loss, its gradient (times the upstream gradient when asked)
   * and the mean of sigmoid(l) (kept: the caller disposes it); elsewhere the tf ops, unchanged.
   */
  private meanBce(logits: Tensor2D, label: 0 | 1): { loss: Scalar; meanSigmoid?: Scalar } {
    const tf = this.tf;
    const fused = this.fusedLoss;
    if (!fused) return { loss: tf.mean(tf.softplus(label === 1 ? tf.neg(logits) : logits)) as Scalar };
    let meanSigmoid: Scalar | undefined;
    const op = tf.customGrad((...args: Array<tfType.Tensor | tfType.GradSaveFunc>) => {
      const l = args[0] as Tensor2D;
      const save = args[1] as tfType.GradSaveFunc;
      const n = l.shape[0];
      const r = fused(l, label === 1 ? n : 0, 1 / n);
      meanSigmoid = tf.keep(label === 1 ? r.pOnes : r.pZeros);
      save([r.dLogits]);
      return { value: r.loss, gradFunc: (dy: tfType.Tensor, saved: tfType.Tensor[]) => tf.mul(saved[0], dy) };
    });
    return { loss: op(logits) as Scalar, meanSigmoid };
  }

  dispose(): void {}
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
