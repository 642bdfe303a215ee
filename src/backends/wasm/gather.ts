/**
 * Row gathers (tf.gather(x, indices) along axis 0) on the wasm backend as row copies.
 *
 * Every training step gathers its batch from the dataset held on the backend. The wasm
 * GatherV2 kernel copies element by element, a noticeable part of a step; copying whole rows
 * within the heap is far faster
 * (measurements: docs/kernel-measurements.md, "Kernels on the wasm backend (src/backends/wasm)").
 * Other gathers (other axes, batch dims, non-float32 data) go to the original kernel.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import type { WasmHeapBackend } from './kernel-call';

type TensorInfo = tfjs.TensorInfo;

let installed = false;

export function installWasmRowGather(tf: Tf): void {
  if (installed) return;
  const original = tf.getKernel('GatherV2', 'wasm');
  if (!original) return;
  const originalFunc = original.kernelFunc;
  const kernelFunc = (args: Parameters<tfjs.KernelFunc>[0]) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
    if (
      axis !== 0 ||
      (batchDims ?? 0) !== 0 ||
      x.dtype !== 'float32' ||
      indices.dtype !== 'int32' ||
      indices.shape.length !== 1 ||
      x.shape.length < 1
    ) {
      return originalFunc(args);
    }
    const backend = args.backend as unknown as WasmHeapBackend & { makeOutput(shape: number[], dtype: string): TensorInfo };
    const rows = x.shape[0];
    const rowSize = x.shape.slice(1).reduce((a, b) => a * b, 1);
    const out = backend.makeOutput([indices.shape[0], ...x.shape.slice(1)], 'float32');
    // Views after the allocation: it may have grown (and replaced) the heap.
    const src = backend.typedArrayFromHeap(x) as Float32Array;
    const idx = backend.typedArrayFromHeap(indices) as Int32Array;
    const dst = backend.typedArrayFromHeap(out) as Float32Array;
    for (let i = 0; i < idx.length; i++) {
      const r = idx[i];
      if (r < 0 || r >= rows) throw new Error(`GatherV2: index ${r} is not in [0, ${rows})`);
      dst.set(src.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
    }
    return out;
  };
  tf.unregisterKernel('GatherV2', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: kernelFunc as tfjs.KernelFunc });
  installed = true;
}
