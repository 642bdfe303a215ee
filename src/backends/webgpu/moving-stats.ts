/**
 * Batch norm's moving averages moved towards a pass's batch statistics in one WGSL dispatch on
 * the webgpu backend: the kernel GanMovingStats, which Network.updateMovingStats
 * (src/nets/network.ts) runs where it is registered, with its tf-ops formulas and order:
 *   mean'     = movingMean * keep + mean * momentum
 *   variance' = movingVariance * keep + variance * varianceFactor   (factor: momentum * M / (M - 1))
 * keep, momentum and the factor are float32 (as the tf-ops path's kept scalars) and baked into
 * the shader with the channel count, so no uniform buffer is written.
 *
 * Replaced, per batch-norm layer and pass: mul, mul, add for each average (6 dispatches, each
 * with its uniform buffer write); now 1.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { bufferOf, dispatch, f32, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

type TensorInfo = tfType.TensorInfo;

export const MOVING_STATS_KERNEL = 'GanMovingStats';

export interface MovingStatsAttrs {
  keep: number;
  momentum: number;
  varianceFactor: number;
}

const WORKGROUP = 64;

export function movingStatsShader(c: number, a: MovingStatsAttrs): string {
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> movingMean: array<f32>;
@group(0) @binding(1) var<storage, read> movingVariance: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read_write> newMean: array<f32>;
@group(0) @binding(5) var<storage, read_write> newVariance: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= ${c}u) { return; }
  newMean[i] = movingMean[i] * ${f32(a.keep)} + mean[i] * ${f32(a.momentum)};
  newVariance[i] = movingVariance[i] * ${f32(a.keep)} + variance[i] * ${f32(a.varianceFactor)};
}
`;
}

/** Registers GanMovingStats for 'webgpu' (once). */
export function installWebGpuMovingStats(tf: Tf): void {
  if (tf.getKernel(MOVING_STATS_KERNEL, 'webgpu')) return;
  tf.registerKernel({
    kernelName: MOVING_STATS_KERNEL,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: Parameters<tfType.KernelFunc>[0]) => {
      const { movingMean, movingVariance, mean, variance } = inputs as Record<string, TensorInfo>;
      const b = backend as unknown as WebGpuBackend;
      const c = movingMean.shape[0];
      const outputs = [b.makeTensorInfo([c], 'float32'), b.makeTensorInfo([c], 'float32')];
      const buffers = [movingMean, movingVariance, mean, variance, ...outputs].map((t) => ({ buffer: bufferOf(b, t), bytes: 4 * c }));
      dispatch(b, pipelineFor(b, movingStatsShader(c, attrs as unknown as MovingStatsAttrs)), buffers, undefined, Math.ceil(c / WORKGROUP));
      submitIfDue(b, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
      return outputs;
    }) as tfType.KernelFunc,
  });
}
