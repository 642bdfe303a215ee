/**
 * Calling one wasm kernel from inside another, at the backend level (no engine tensors, no
 * tape): what our registered kernels use to reuse the backend's Transpose, Reshape, Conv2D and
 * BatchMatMul. The caller frees what it gets with backend.disposeData.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Tf } from '../tf';

/** A `run(name, inputs, backend, attrs)` bound to `tf`; errors name the calling kernel. */
export function wasmKernelRunner(tf: Tf, caller: string) {
  return (
    name: string,
    inputs: Record<string, tfjs.TensorInfo>,
    backend: tfjs.KernelBackend,
    attrs: tfjs.NamedAttrMap = {},
  ): tfjs.TensorInfo => {
    const k = tf.getKernel(name, 'wasm');
    if (k === undefined) {
      throw new Error(
        `${caller} (wasm): required kernel '${name}' is not registered for backend 'wasm'; import '@tensorflow/tfjs-backend-wasm' first.`,
      );
    }
    const out = k.kernelFunc({ inputs: inputs as tfjs.NamedTensorInfoMap, backend, attrs });
    const info = Array.isArray(out) ? out[0] : out;
    if (info === undefined) throw new Error(`${caller} (wasm): kernel '${name}' returned nothing.`);
    return info;
  };
}

/** The part of tfjs-backend-wasm's BackendWasm that our heap-level kernels rely on. */
export interface WasmHeapBackend {
  typedArrayFromHeap(info: tfjs.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Whether a dilations (or strides) attribute is 1 everywhere; absent counts as 1. */
export function isAllOnes(v: number | number[] | undefined | null): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v === 'number') return v === 1;
  return v.every((d) => d === 1);
}
