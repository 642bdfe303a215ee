/**
 * tfjs-backend-webgpu uploads tensors made on the CPU with `queue.writeBuffer` into a pooled
 * buffer, instead of a new buffer created with `mappedAtCreation: true`.
 *
 * Why: in 4.22.0, `WebGPUBackend.uploadToGPU` gives every tensor whose values live on the CPU
 * (each scalar constant, noise batch, dropout mask) a buffer mapped at creation: a new one, or,
 * when the pool has a free buffer of that size, a new mapped staging buffer copied from. Through
 * Dawn each such buffer costs far more than a `queue.writeBuffer` upload, measured on an H100 in
 * a one-off script (measurements: docs/kernel-measurements.md, "WebGPU (src/backends/webgpu)"). As wired here
 * into `gan` it has NOT been measured on a GPU yet (no GPU was available to this change).
 *
 * Why it is safe to write a pooled buffer ahead of the commands already recorded: the write
 * lands on the queue before the next submit, so before every command still in the backend's
 * open encoder. A buffer is back in the pool only when no command in that encoder uses it
 * (`disposeData` defers tensors the encoder owns, `commandQueueOwnedIds`, until `submitQueue`),
 * and commands submitted earlier run before the write in queue order. tfjs does the same for
 * its uniform buffers (`makeUniforms`).
 *
 * Pinned: the method replaced is 4.22.0's; on any other version nothing is patched and the
 * caller is told why. `GAN_WEBGPU_UPLOAD_FIX=0` turns it off (to measure with and without).
 */

/** The version whose `uploadToGPU` this replaces (read against its dist/backend_webgpu.js). */
export const WEBGPU_UPLOAD_FIX_VERSION = '4.22.0';

type Values = Float32Array | Int32Array | Uint8Array | ArrayLike<number>;

/** The fields of a 4.22.0 WebGPUBackend that uploadToGPU touches. */
export interface WebGpuUploadBackend {
  tensorMap: { get(dataId: object): { dtype: string; shape: number[]; values: Values | null; resource?: unknown } };
  bufferManager: { acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): WebGpuBufferLike };
  queue: { writeBuffer(buffer: WebGpuBufferLike, offset: number, data: ArrayBufferView): void };
}
type WebGpuBufferLike = object;

/** The usage bits tfjs gives tensor buffers (STORAGE | COPY_SRC | COPY_DST), from the WebGPU globals. */
function tensorBufferUsage(): number {
  const usage = (globalThis as unknown as { GPUBufferUsage?: Record<string, number> }).GPUBufferUsage;
  if (!usage) throw new Error('GPUBufferUsage is not defined: install the webgpu globals before uploading');
  return usage.STORAGE | usage.COPY_SRC | usage.COPY_DST;
}

/** Bytes per element on the GPU, as tfjs's GPUBytesPerElement (complex64 never holds values). */
function bytesPerElement(dtype: string): number {
  if (dtype === 'float32' || dtype === 'int32' || dtype === 'bool' || dtype === 'string') return 4;
  if (dtype === 'complex64') return 8;
  throw new Error(`Unknown dtype ${dtype}`);
}

/** The values as the 4-byte words the shaders read: int32 for int32 and bool, float32 otherwise. */
export function uploadWords(dtype: string, values: Values): Float32Array | Int32Array {
  if (dtype === 'int32' || dtype === 'bool') return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

/** The replacement `uploadToGPU`: same contract as 4.22.0's (see its dist/backend_webgpu.js). */
export function uploadToGpuByWriteBuffer(this: WebGpuUploadBackend, dataId: object): void {
  const tensorData = this.tensorMap.get(dataId);
  if (tensorData.resource != null) return; // already on the GPU
  let elements = 1;
  for (const d of tensorData.shape) elements *= d;
  const size = bytesPerElement(tensorData.dtype) * elements;
  const buffer = this.bufferManager.acquireBuffer(size, tensorBufferUsage());
  if (tensorData.values) {
    if (size > 0) this.queue.writeBuffer(buffer, 0, uploadWords(tensorData.dtype, tensorData.values));
    // Once uploaded, the values are not kept on the CPU (as in 4.22.0).
    tensorData.values = null;
  }
  tensorData.resource = buffer;
}

export interface UploadFixResult {
  applied: boolean;
  /** Why not, when not applied (a version other than the pinned one, or switched off). */
  reason?: string;
}

const ORIGINAL = Symbol.for('gan.webgpuUploadFix.original');

/**
 * Replaces `uploadToGPU` on the WebGPUBackend class's prototype (so every backend instance,
 * made later by tfjs's factory, uses it). `version` is the installed package's. Idempotent.
 */
export function installWebGpuUploadFix(
  backendClass: { prototype: object },
  version: string,
  env: NodeJS.ProcessEnv = process.env,
): UploadFixResult {
  const proto = backendClass.prototype as Record<string | symbol, unknown>;
  if (env.GAN_WEBGPU_UPLOAD_FIX === '0') return { applied: false, reason: 'upload fix off (GAN_WEBGPU_UPLOAD_FIX=0)' };
  if (version !== WEBGPU_UPLOAD_FIX_VERSION) {
    return {
      applied: false,
      reason: `upload fix not applied: it is written for @tensorflow/tfjs-backend-webgpu ${WEBGPU_UPLOAD_FIX_VERSION}, this is ${version}; install ${WEBGPU_UPLOAD_FIX_VERSION} (npm ci)`,
    };
  }
  if (typeof proto.uploadToGPU !== 'function')
    return { applied: false, reason: 'upload fix not applied: WebGPUBackend has no uploadToGPU method' };
  if (proto.uploadToGPU !== uploadToGpuByWriteBuffer) {
    proto[ORIGINAL] = proto.uploadToGPU;
    proto.uploadToGPU = uploadToGpuByWriteBuffer;
  }
  return { applied: true };
}

/** Puts tfjs's own uploadToGPU back (tests; measuring with and without). */
export function uninstallWebGpuUploadFix(backendClass: { prototype: object }): void {
  const proto = backendClass.prototype as Record<string | symbol, unknown>;
  if (proto[ORIGINAL]) {
    proto.uploadToGPU = proto[ORIGINAL];
    delete proto[ORIGINAL];
  }
}
