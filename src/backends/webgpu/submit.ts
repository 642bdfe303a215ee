/**
 * When the webgpu backend hands its recorded commands to the GPU (queue.submit). tfjs submits
 * after every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches (15), a figure tuned for Chrome, where
 * the GPU lives in another process; in Node, Dawn is in ours. We submit once per training step
 * instead: the batch size is raised past any step's dispatch count and the trainer submits at the
 * step's end (submitStep), so a step is one submit, as issue 17 asks unless more is shown faster.
 * Why at the step's end and not only at a read: the buffers of tensors disposed during a step are
 * returned to tfjs's pool only at a submit, and reads come every --log-every steps.
 *
 * GAN_WEBGPU_SUBMIT_BATCH=N restores tfjs's rule with N (15: tfjs's default), for timing the two
 * on a GPU (test/slow/webgpu-gpu.sh); SwiftShader says nothing about which is faster.
 */
import type { Tf } from '../tf';
import type { WebGpuBackend } from './pipeline';

/** Larger than any step's dispatches: only submitStep (and reads) submit. */
const ONE_SUBMIT_PER_STEP = 1_000_000;

/** Sets tfjs's submit batch size from GAN_WEBGPU_SUBMIT_BATCH, else one submit per step. */
export function configureWebGpuSubmits(tf: Tf, env: NodeJS.ProcessEnv = process.env): number {
  const asked = Number(env.GAN_WEBGPU_SUBMIT_BATCH);
  const batch = Number.isInteger(asked) && asked > 0 ? asked : ONE_SUBMIT_PER_STEP;
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batch);
  return batch;
}

/** Submits what the step recorded, on webgpu; elsewhere nothing. */
export function submitStep(tf: Tf): void {
  if (tf.getBackend() !== 'webgpu') return;
  const backend = tf.backend() as unknown as WebGpuBackend;
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}
