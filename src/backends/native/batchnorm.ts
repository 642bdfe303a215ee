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
 *
 * On wasm with the native addon, forward and backward are one kernel each
 * (GanBatchNormTraining / GanBatchNormTrainingGrad, src/native/batchnorm.h): a pass for the
 * per-channel sums (double partials over fixed 256-row chunks, added in chunk order, so any
 * thread count gives the same bits; shifted by the first row against cancellation) and a pass
 * for the output. On webgpu the same two kernels are WGSL (src/backends/webgpu/batchnorm.ts).
 * Elsewhere, the tf ops below.
 * Why native: one kernel each way takes a fraction of the time of the tf ops
 * (measurements: docs/kernel-measurements.md, "Native kernels from TypeScript (src/backends/native)").
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { loadGemmAddon, type WasmHeapBackend } from './addon';

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

/**
 * Whether the active backend's kernels also apply the ReLU or LeakyReLU that follows a batch
 * norm (batchNormTraining's `leak`): the webgpu ones do (one dispatch fewer each way), the native
 * ones and the tf ops do not, and there the activation stays a layer of its own.
 */
export function batchNormTakesActivation(tf: Tf): boolean {
  return tf.getBackend() === 'webgpu' && tf.getKernel(BATCH_NORM_KERNEL, 'webgpu') !== undefined;
}

/**
 * `constant`, when given, returns a kept scalar tensor for a number (src/nets/constants.ts): the
 * tf-ops path then uploads no scalar (epsilon, the element count) per call; the same values.
 * `leak`, only where batchNormTakesActivation(): y is then LeakyReLU(y, leak) (ReLU at 0).
 */
export function batchNormTraining(
  tf: Tf,
  x: Tensor4D,
  gamma: Tensor1D,
  beta: Tensor1D,
  epsilon: number,
  constant?: (value: number) => Tensor,
  leak?: number,
): BatchNormResult {
  if (leak !== undefined && !batchNormTakesActivation(tf))
    throw new Error(`batchNormTraining: no ${tf.getBackend()} kernel applies an activation`);
  const [n, h, w, c] = x.shape;
  const count = n * h * w;
  const k = (value: number): Tensor | number => (constant ? constant(value) : value);
  if (gamma.shape[0] !== c || beta.shape[0] !== c) {
    throw new Error(`batchNormTraining: gamma [${gamma.shape}] and beta [${beta.shape}] must have the ${c} channels of x [${x.shape}]`);
  }
  // The forward runs inside the engine's tidy; mean and variance are kept out of it by hand and
  // handed to the caller's scope below.
  let keptMean: Tensor1D | undefined;
  let keptVariance: Tensor1D | undefined;
  const fused = tf.getKernel(BATCH_NORM_KERNEL, tf.getBackend()) !== undefined;
  const op = tf.customGrad((...args: Array<Tensor | tfType.GradSaveFunc>) => {
    const [xIn, gammaIn, betaIn] = args as Tensor[];
    const save = args[3] as tfType.GradSaveFunc;
    if (fused) {
      const attrs: tfType.NamedAttrMap = leak === undefined ? { epsilon } : { epsilon, leak };
      const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_KERNEL, { x: xIn, gamma: gammaIn, beta: betaIn }, attrs) as Tensor[];
      keptMean = tf.keep(mean as Tensor1D);
      keptVariance = tf.keep(variance as Tensor1D);
      // With the activation, its gradient needs the output (y > 0 where the input to it was).
      save(leak === undefined ? [xIn, gammaIn, mean, variance] : [xIn, gammaIn, mean, variance, y]);
      return {
        value: y,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [sX, sGamma, sMean, sVariance, sY] = saved;
          const inputs = { x: sX, dy, gamma: sGamma, mean: sMean, variance: sVariance, ...(sY ? { y: sY } : {}) };
          return tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, inputs, attrs) as Tensor[];
        },
      };
    }
    const { mean, variance } = tf.moments(xIn, [0, 1, 2]);
    const invStd = tf.rsqrt(tf.add(variance, k(epsilon)));
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
        const inner = tf.sub(tf.sub(tf.mul(dy, k(count)), dbeta), tf.mul(sXhat, dgamma));
        const dx = tf.mul(inner, tf.div(tf.mul(sGamma, sInvStd), k(count)));
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

/** The kernels batchNormTraining runs where registered: natively on wasm here, in WGSL on webgpu (src/backends/webgpu/batchnorm.ts). */
export const BATCH_NORM_KERNEL = 'GanBatchNormTraining';
export const BATCH_NORM_GRAD_KERNEL = 'GanBatchNormTrainingGrad';
let installed = false;

/**
 * Registers the two batch-norm kernels on 'wasm', computed natively on the heap (one pass for
 * the sums, one for the output, in each direction); batchNormTraining uses them whenever they
 * are registered for the active backend. Returns false when the addon is not available.
 */
export function installNativeBatchNorm(tf: Tf): boolean {
  const gemm = loadGemmAddon();
  if (!gemm || typeof gemm.batchNormForward !== 'function') return false;
  if (installed) return true;
  const heap = (backend: unknown) => {
    const b = backend as WasmHeapBackend;
    return { b, offset: (t: tfType.TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset };
  };
  tf.registerKernel({
    kernelName: BATCH_NORM_KERNEL,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: Parameters<tfType.KernelFunc>[0]) => {
      const { x, gamma, beta } = inputs as Record<string, tfType.TensorInfo>;
      const c = x.shape[x.shape.length - 1];
      const m = x.shape.reduce((a, d) => a * d, 1) / c;
      const { b, offset } = heap(backend);
      const y = b.makeOutput(x.shape, 'float32');
      const mean = b.makeOutput([c], 'float32');
      const variance = b.makeOutput([c], 'float32');
      gemm.batchNormForward(
        b.wasm.HEAPU8,
        offset(x),
        offset(gamma),
        offset(beta),
        offset(y),
        offset(mean),
        offset(variance),
        m,
        c,
        (attrs as { epsilon: number }).epsilon,
      );
      return [y, mean, variance];
    }) as tfType.KernelFunc,
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_GRAD_KERNEL,
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend, attrs }: Parameters<tfType.KernelFunc>[0]) => {
      const { x, dy, gamma, mean, variance } = inputs as Record<string, tfType.TensorInfo>;
      const c = x.shape[x.shape.length - 1];
      const m = x.shape.reduce((a, d) => a * d, 1) / c;
      const { b, offset } = heap(backend);
      const dx = b.makeOutput(x.shape, 'float32');
      const dgamma = b.makeOutput([c], 'float32');
      const dbeta = b.makeOutput([c], 'float32');
      gemm.batchNormBackward(
        b.wasm.HEAPU8,
        offset(x),
        offset(dy),
        offset(gamma),
        offset(mean),
        offset(variance),
        offset(dx),
        offset(dgamma),
        offset(dbeta),
        m,
        c,
        (attrs as { epsilon: number }).epsilon,
      );
      return [dx, dgamma, dbeta];
    }) as tfType.KernelFunc,
  });
  installed = true;
  return true;
}
