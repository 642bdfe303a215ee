/**
 * Everything the webgpu backend gets from us, in the order it is installed: one entry per file.
 * tfjs-backend-webgpu's kernels run as shipped; what we replace are two methods of its
 * WebGPUBackend class, patched on the prototype (so every backend instance tfjs makes later has
 * them). Call after importing the package and before activating its backend. The two are
 * independent of each other.
 *
 * Kernels registered with tfjs for 'webgpu' (registerWebGpuKernels), run by the ops that look
 * them up on the active backend (the same names the native addon registers on wasm):
 *   batchnorm.ts         GanBatchNormTraining(Grad): batch norm's forward and backward, 2 dispatches each
 *   activation-grad.ts   GanActivationGrad: LeakyReLU's, ReLU's and tanh's gradient, 1 dispatch
 *   moving-stats.ts      GanMovingStats: a batch-norm layer's moving averages updated, 1 dispatch
 *
 * The rest of our WGSL kernels are not registered: they run as raw compute pipelines on the
 * backend's device, called by the code that needs them, one file each:
 *   pipeline.ts          what they use of the backend: its device, encoder, pass and pool
 *   adam.ts              Adam for a network's variables, one dispatch per two (src/train/adam.ts)
 *   sigmoid-bce.ts       the loss and its gradient in one dispatch (dense-step.ts, autodiff-step.ts)
 *   dense-forward.ts     D's dense + bias + LeakyReLU + dropout mask: tfjs's matmul, epilogue rewritten
 *   dense-backward.ts    a dense layer's mask x act' x upstream gradient and bias gradient, one dispatch
 *   dense-output-backward.ts  D's output unit's dW, db and the gradient below it, one dispatch
 *                        (the three for the hand-written passes of src/train/backprop.ts)
 * And when the recorded commands are submitted: submit.ts (once per step; configured after the
 * backend is activated, src/backends/index.ts).
 */
import { installWebGpuUploadFix, type UploadFixResult } from './upload';
import { installWebGpuReadSyncGuard } from './read';
import { installWebGpuBatchNorm } from './batchnorm';
import { installWebGpuActivationGrad } from './activation-grad';
import { installWebGpuMovingStats } from './moving-stats';
import type { Tf } from '../tf';

/** Installs the list below, in order; `version` is the installed tfjs-backend-webgpu's. */
export function registerWebGpuFixes(backendClass: { prototype: object }, version: string): UploadFixResult {
  // uploadToGPU: CPU-made tensors by queue.writeBuffer into pooled buffers (pinned to 4.22.0: the result says when not)
  const uploadFix = installWebGpuUploadFix(backendClass, version);
  // readSync: a clear error in Node instead of tfjs's OffscreenCanvas failure deep inside it
  installWebGpuReadSyncGuard(backendClass);
  return uploadFix;
}

/** Registers our kernels for 'webgpu' (the first list above); each is independent of the others. */
export function registerWebGpuKernels(tf: Tf): void {
  installWebGpuBatchNorm(tf);
  installWebGpuActivationGrad(tf);
  installWebGpuMovingStats(tf);
}
