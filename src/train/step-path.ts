/**
 * The two ways a step computes its gradients, behind one interface: the hand-written backward
 * pass of dense networks (src/train/dense-step.ts: the MLPs, ~2x faster than autodiff there) and
 * tfjs autodiff (src/train/autodiff-step.ts: the DCGAN, with batch norm). The trainer draws every
 * input from the seeded streams and applies the optimizers; a path only turns inputs into
 * gradients, so both read the same (1) Update D, (2) Update G.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Rng } from '../core/rng';
import type { DTargets, GeneratorExtras } from './types';

type Tensor1D = tfType.Tensor1D;
type Tensor2D = tfType.Tensor2D;

/** Everything D's update sees, B real and B generated rows. */
export interface DiscriminatorBatch {
  real: Tensor2D;
  realLabels?: Tensor1D;
  /** G's images, already detached (made outside any gradient tape). */
  fake: Tensor2D;
  fakeLabels?: Tensor1D;
  /** Instance noise for [real; fake], [2B, work * work]: rows 0..B-1 real, B..2B-1 fake. */
  noise?: Tensor2D;
  /** Soft targets or per-row weights when a trick changes them; undefined: the plain 1s and 0s. */
  targets?: DTargets;
  /** D's dropout stream at this step. */
  dropout: Rng;
}

/** Everything G's update sees. */
export interface GeneratorBatch {
  z: Tensor2D;
  labels?: Tensor1D;
  /** D's dropout masks per dropout layer, [B, width] each. */
  masks: Tensor2D[];
  extras: GeneratorExtras;
}

export interface StepPath {
  /** G's images for D's update, [B, work * work], made outside any gradient tape: detached, so no gradient reaches G. */
  generateDetached(z: Tensor2D, labels?: Tensor1D): Tensor2D;
  /** Gradients of D's loss for D's trainable variables (in the optimizer's order), the loss, and the mean D(x) and D(G(z)). */
  gradientsOfD(batch: DiscriminatorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar; dReal: tfType.Scalar; dFake: tfType.Scalar };
  /** Gradients of G's loss for G's trainable variables, through D, and the loss. */
  gradientsOfG(batch: GeneratorBatch): { grads: tfType.Tensor[]; loss: tfType.Scalar };
  dispose(): void;
}
