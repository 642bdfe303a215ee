/**
 * Counts of the WebGPU calls a training step makes: compute dispatches (one per kernel run),
 * queue submissions, and buffer writes (each kernel's uniforms, and with the upload fix every
 * tensor made on the CPU). For `npm run bench -- --backends webgpu`.
 *
 * Why: on a GPU each of these costs a fixed driver overhead (tens of microseconds through Dawn)
 * whatever the kernel's size, so at small batches they, not the FLOPs, bound the step. The counts
 * depend on the model and tfjs, not on the GPU: SwiftShader measures them as well as an H100.
 *
 * Counted by wrapping GPUComputePassEncoder.prototype.dispatchWorkgroups (Dawn's class, a global
 * once the backend is loaded) and the backend's queue's submit and writeBuffer; restore() puts
 * the originals back.
 */
export interface WebGpuCallCounts {
  dispatches: number;
  submits: number;
  bufferWrites: number;
}

type Method = (...args: unknown[]) => unknown;

interface CountedQueue {
  submit: Method;
  writeBuffer: Method;
}

export function countWebGpuCalls(backend: unknown): { counts: WebGpuCallCounts; restore(): void } {
  const queue = (backend as { queue?: CountedQueue }).queue;
  const encoder = (globalThis as { GPUComputePassEncoder?: { prototype: { dispatchWorkgroups: Method } } }).GPUComputePassEncoder;
  if (!queue || !encoder) throw new Error('countWebGpuCalls: not a webgpu backend (no queue, or no GPUComputePassEncoder)');
  const counts: WebGpuCallCounts = { dispatches: 0, submits: 0, bufferWrites: 0 };
  const proto = encoder.prototype;
  const originals = { dispatch: proto.dispatchWorkgroups, submit: queue.submit, writeBuffer: queue.writeBuffer };
  const own = { submit: Object.hasOwn(queue, 'submit'), writeBuffer: Object.hasOwn(queue, 'writeBuffer') };
  proto.dispatchWorkgroups = function (this: unknown, ...args: unknown[]) {
    counts.dispatches++;
    return originals.dispatch.apply(this, args);
  };
  // On the instance tfjs holds (backend.queue): the native method stays on its prototype.
  queue.submit = function (this: unknown, ...args: unknown[]) {
    counts.submits++;
    return originals.submit.apply(this, args);
  };
  queue.writeBuffer = function (this: unknown, ...args: unknown[]) {
    counts.bufferWrites++;
    return originals.writeBuffer.apply(this, args);
  };
  return {
    counts,
    restore() {
      proto.dispatchWorkgroups = originals.dispatch;
      for (const key of ['submit', 'writeBuffer'] as const) {
        if (own[key]) queue[key] = originals[key];
        else delete (queue as Partial<CountedQueue>)[key];
      }
    },
  };
}
