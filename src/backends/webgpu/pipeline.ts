/**
 * What our raw WGSL kernels (adam.ts, sigmoid-bce.ts, dense-backward.ts) need of
 * tfjs-backend-webgpu 4.22.0's WebGPUBackend (read against its dist/backend_webgpu.js), and recording one dispatch into the
 * backend's open compute pass as its own kernels do (recordAndSubmit), so that our commands and
 * tfjs's run in the order they were issued.
 */
import type * as tfType from '@tensorflow/tfjs';

export type GpuBuffer = object;
export interface GpuPipeline {
  getBindGroupLayout(i: number): unknown;
}
interface Pass {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
}
export interface WebGpuBackend {
  device: {
    createShaderModule(d: { code: string }): unknown;
    createComputePipeline(d: unknown): GpuPipeline;
    createBindGroup(d: unknown): unknown;
  };
  tensorMap: { get(dataId: object): { values: unknown; resource?: GpuBuffer | null } };
  commandQueueOwnedIds: WeakSet<object>;
  commandEncoder: {
    beginComputePass(d: object): Pass;
    copyBufferToBuffer(a: GpuBuffer, ao: number, b: GpuBuffer, bo: number, n: number): void;
  } | null;
  computePassEncoder: Pass | null;
  dispatchCountInPass: number;
  uploadToGPU(dataId: object): void;
  refCount(dataId: object): number;
  makeTensorInfo(shape: number[], dtype: string): tfType.TensorInfo;
  disposeData(dataId: object): boolean;
  makeUniforms(u: Array<{ type: string; data: number[] }>): { offset: number; size: number; buffer: GpuBuffer };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** A float32 literal for WGSL that is exactly Math.fround(x). */
export function f32(x: number): string {
  const v = Math.fround(x);
  // 9 significant digits round-trip any float32; WGSL needs a decimal point or exponent.
  return `${v.toPrecision(9)}f`;
}

/** Most workgroups in one dimension of a dispatch (WebGPU's default limit); shaders stride past it. */
export const MAX_WORKGROUPS = 65535;

const pipelines = new WeakMap<object, Map<string, GpuPipeline>>();

/** The compute pipeline of a WGSL source on the backend's device, compiled once. */
export function pipelineFor(backend: WebGpuBackend, code: string): GpuPipeline {
  let byCode = pipelines.get(backend.device);
  if (!byCode) pipelines.set(backend.device, (byCode = new Map()));
  let pipeline = byCode.get(code);
  if (!pipeline) {
    const module = backend.device.createShaderModule({ code });
    pipeline = backend.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    byCode.set(code, pipeline);
  }
  return pipeline;
}

/** The GPU buffer of a tensor, uploaded if its values are still on the CPU, marked as used by the open encoder. */
export function bufferOf(backend: WebGpuBackend, t: tfType.TensorInfo): GpuBuffer {
  backend.uploadToGPU(t.dataId);
  backend.commandQueueOwnedIds.add(t.dataId);
  return backend.tensorMap.get(t.dataId).resource!;
}

/**
 * Records one dispatch in the open compute pass (opening one if needed) with bindings 0..n-1 the
 * given buffers (each bound to `bytes[i]`) and then the uniforms, if any. Counts toward tfjs's
 * submit batch; the caller submits (submitIfDue) once its dispatches are recorded.
 */
export function dispatch(
  backend: WebGpuBackend,
  pipeline: GpuPipeline,
  buffers: Array<{ buffer: GpuBuffer; bytes: number }>,
  uniforms: { offset: number; size: number; buffer: GpuBuffer } | undefined,
  workgroups: number,
): void {
  const entries: Array<{ binding: number; resource: unknown }> = buffers.map(({ buffer, bytes }, binding) => ({
    binding,
    resource: { buffer, offset: 0, size: bytes },
  }));
  if (uniforms) entries.push({ binding: buffers.length, resource: uniforms });
  const bindGroup = backend.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  backend.ensureCommandEncoderReady();
  backend.computePassEncoder ??= backend.commandEncoder!.beginComputePass({});
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  backend.computePassEncoder.dispatchWorkgroups(workgroups);
  backend.dispatchCountInPass++;
}

/**
 * Submits when tfjs's rule says so (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches in the pass).
 * Only after all of a call's dispatches: a submit returns its uniform buffer to tfjs's pool, and
 * the next kernel's uniforms would be written over it before the rest of them ran.
 */
export function submitIfDue(backend: WebGpuBackend, batchSize: number): void {
  if (backend.dispatchCountInPass >= batchSize) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
}
