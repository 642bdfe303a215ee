/**
 * Training-mode batch normalisation (NHWC), as PyTorch's BatchNorm2d computes it in training:
 * per channel, over N, H and W,
 *   mean = E[x],  variance = E[(x - mean)^2]   (biased: divided by M = N*H*W)
 *   y = (x - mean) / sqrt(variance + epsilon) * gamma + beta
 * The caller updates its running averages from the returned mean and variance (PyTorch uses the
 * unbiased variance, variance * M / (M - 1), for the running one; that is the caller's choice).
 *
 * The gradient is written out (tf.customGrad) rather than left to autodiff of the formula: with
 * xhat = (x - mean) * invStd,
 *   dbeta  = sum(dy)                dgamma = sum(dy * xhat)
 *   dx     = gamma * invStd / M * (M * dy - dbeta - xhat * dgamma)
 * which is a handful of ops where autodiff through tf.moments records about twenty.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backend';

type Tensor = tfType.Tensor;
type Tensor1D = tfType.Tensor1D;
type Tensor4D = tfType.Tensor4D;

export interface BatchNormResult {
  /** Normalised, scaled and shifted x; differentiable w.r.t. x, gamma and beta. */
  y: Tensor4D;
  /** Per-channel batch mean [C] (not differentiated). */
  mean: Tensor1D;
  /** Per-channel biased batch variance [C] (not differentiated). */
  variance: Tensor1D;
}

export function batchNormTraining(tf: Tf, x: Tensor4D, gamma: Tensor1D, beta: Tensor1D, epsilon: number): BatchNormResult {
  const [n, h, w, c] = x.shape;
  const count = n * h * w;
  if (gamma.shape[0] !== c || beta.shape[0] !== c) {
    throw new Error(`batchNormTraining: gamma [${gamma.shape}] and beta [${beta.shape}] must have the ${c} channels of x [${x.shape}]`);
  }
  // The forward runs inside the engine's tidy; mean and variance are kept out of it by hand and
  // handed to the caller's scope below.
  let keptMean: Tensor1D | undefined;
  let keptVariance: Tensor1D | undefined;
  const op = tf.customGrad((...args: Array<Tensor | tfType.GradSaveFunc>) => {
    const [xIn, gammaIn, betaIn] = args as Tensor[];
    const save = args[3] as tfType.GradSaveFunc;
    const { mean, variance } = tf.moments(xIn, [0, 1, 2]);
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(tf.sub(xIn, mean), invStd);
    const y = tf.add(tf.mul(xhat, gammaIn), betaIn);
    keptMean = tf.keep(mean as Tensor1D);
    keptVariance = tf.keep(variance as Tensor1D);
    save([xhat, invStd, gammaIn]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sXhat, sInvStd, sGamma] = saved;
        const dbeta = tf.sum(dy, [0, 1, 2]);
        const dgamma = tf.sum(tf.mul(dy, sXhat), [0, 1, 2]);
        const inner = tf.sub(tf.sub(tf.mul(dy, count), dbeta), tf.mul(sXhat, dgamma));
        const dx = tf.mul(inner, tf.div(tf.mul(sGamma, sInvStd), count));
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = op(x, gamma, beta) as Tensor4D;
  // Clones are owned by the caller's scope (they share the data, nothing is copied).
  const mean = tf.clone(keptMean!);
  const variance = tf.clone(keptVariance!);
  keptMean!.dispose();
  keptVariance!.dispose();
  return { y, mean, variance };
}
