/**
 * BatchMatMul and _FusedMatMul on the wasm backend computed by our native addon (src/native/
 * gemm.h), in place on the wasm heap: no copies in or out.
 *
 * Why: XNNPACK in WebAssembly has 128-bit SIMD and no FMA; the same products natively (AVX2/
 * AVX-512 FMA micro-kernels) run several times faster, and they are most of a training step
 * (measurements: docs/kernel-measurements.md, "Native kernels from TypeScript (src/backends/native)").
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { loadGemmAddon, type WasmHeapBackend } from './addon';

type TensorInfo = tfType.TensorInfo;
type KernelArgs = Parameters<tfType.KernelFunc>[0];

let installed = false;

/**
 * Re-registers BatchMatMul and _FusedMatMul on 'wasm' to run natively (batch 1, float32,
 * bias and linear/ReLU/LeakyReLU fused); anything else goes to the kernel registered before.
 * Returns false when the addon is not available. Idempotent.
 */
export function installNativeMatMul(tf: Tf, threads?: number): boolean {
  const gemm = loadGemmAddon();
  if (!gemm) return false;
  if (installed) return true;
  if (threads) gemm.setThreads(threads);
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    const previous = tf.getKernel(name, 'wasm');
    if (!previous) continue;
    const fallback = previous.kernelFunc;
    const kernelFunc = (args: KernelArgs) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
      const activation = attrs.activation ?? 'linear';
      const batchA = a!.shape.length === 3 ? a!.shape[0] : 1;
      const batchB = b!.shape.length === 3 ? b!.shape[0] : 1;
      const supported =
        a!.dtype === 'float32' &&
        b!.dtype === 'float32' &&
        batchA === 1 &&
        batchB === 1 &&
        a!.shape.length >= 2 &&
        b!.shape.length >= 2 &&
        !preluActivationWeights &&
        (bias === undefined || (bias.shape.length === 1 && bias.dtype === 'float32')) &&
        (activation === 'linear' || activation === 'relu' || activation === 'leakyrelu');
      if (!supported) return fallback(args);
      const ra = a!.shape.length,
        rb = b!.shape.length;
      const M = attrs.transposeA ? a!.shape[ra - 1] : a!.shape[ra - 2];
      const K = attrs.transposeA ? a!.shape[ra - 2] : a!.shape[ra - 1];
      const N = attrs.transposeB ? b!.shape[rb - 2] : b!.shape[rb - 1];
      if (bias && bias.shape[0] !== N) return fallback(args);
      const backend = args.backend as unknown as WasmHeapBackend;
      // tfjs hands matmuls over as rank 3 ([1, M, K]); the output keeps that rank.
      const out = backend.makeOutput(ra === 3 || rb === 3 ? [1, M, N] : [M, N], 'float32');
      const offset = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
      // HEAPU8 is read after the allocation: growing the heap replaces its buffer.
      gemm.sgemm(
        backend.wasm.HEAPU8,
        offset(a!),
        offset(b!),
        offset(out),
        M,
        N,
        K,
        !!attrs.transposeA,
        !!attrs.transposeB,
        bias ? offset(bias) : -1,
        activation === 'linear' ? 0 : 1,
        activation === 'relu' ? 0 : (attrs.leakyreluAlpha ?? 0.2),
      );
      return out;
    };
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...previous, kernelFunc: kernelFunc as tfType.KernelFunc });
  }
  installed = true;
  return true;
}
