/**
 * Matrix products (and Adam's update) on the wasm backend computed by our native addon
 * (src/native/gemm.h, adam.h), in place on the wasm heap: no copies in or out.
 *
 * Why: XNNPACK in WebAssembly has 128-bit SIMD and no FMA, so it reaches about 20-25 GFLOP/s a
 * core here; the same products natively (AVX2/AVX-512 FMA micro-kernels) run at 80-100 GFLOP/s.
 * Matrix products are two thirds of a training step, so this is most of the gap to PyTorch.
 *
 * The addon is optional: it is built at install when a C++ toolchain is there (src/native/
 * build.js). Without it, nothing here is registered and the wasm kernels run.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { ADDON_PATH } from '../../util/paths';

type TensorInfo = tfType.TensorInfo;
type KernelArgs = Parameters<tfType.KernelFunc>[0];

export interface GemmAddon {
  sgemm(memory: Uint8Array, aOff: number, bOff: number, cOff: number, M: number, N: number, K: number, transA: boolean, transB: boolean, biasOff: number, activation: number, alpha: number): void;
  threads(): number;
  /** Tuning hook: (mc, kc, nc, mtThreshold, tilesPerThread, packCapFloats, streamMtThreshold); 0 keeps a value. Returns the settings. */
  _setBlocking(...values: number[]): Record<string, number>;
  setThreads(n: number): void;
  kernel(): string;
  adamUpdate(memory: Uint8Array, pOff: number, mOff: number, vOff: number, gOff: number, outOff: number, n: number, beta1: number, beta2: number, stepSize: number, invSqrtBias2: number, epsilon: number): void;
  /** geometry: [N, H, W, C, kH, kW, outC, outH, outW, sH, sW, top, left] (NHWC, filter [kH, kW, C, outC]). */
  conv2d(memory: Uint8Array, xOff: number, wOff: number, yOff: number, geometry: number[]): void;
  conv2dBackpropInput(memory: Uint8Array, dyOff: number, wOff: number, dxOff: number, geometry: number[]): void;
  conv2dBackpropFilter(memory: Uint8Array, xOff: number, dyOff: number, dwOff: number, geometry: number[]): void;
  batchNormForward(memory: Uint8Array, xOff: number, gammaOff: number, betaOff: number, yOff: number, meanOff: number, varianceOff: number, M: number, C: number, epsilon: number): void;
  /** op 0: LeakyReLU(alpha), 1: tanh, 2: ReLU. */
  activation(memory: Uint8Array, op: number, xOff: number, yOff: number, n: number, alpha: number): void;
  /** op 0: LeakyReLU(alpha) / ReLU (alpha 0) from the input x; 1: tanh from its output y (as x). */
  activationGrad(memory: Uint8Array, op: number, dyOff: number, xOff: number, dxOff: number, n: number, alpha: number): void;
  batchNormBackward(memory: Uint8Array, xOff: number, dyOff: number, gammaOff: number, meanOff: number, varianceOff: number, dxOff: number, dgammaOff: number, dbetaOff: number, M: number, C: number, epsilon: number): void;
}

/** The part of tfjs-backend-wasm's BackendWasm that kernels working on its heap use. */
export interface WasmHeapBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

export { ADDON_PATH };

let addon: GemmAddon | undefined;
let loadError: string | undefined;

/** The addon, or undefined (with the reason in nativeGemmStatus()) when it is not built. */
export function loadGemmAddon(): GemmAddon | undefined {
  if (addon || loadError) return addon;
  if (process.env.GAN_NATIVE === '0') {
    loadError = 'disabled by GAN_NATIVE=0';
    return undefined;
  }
  try {
    addon = require(ADDON_PATH) as GemmAddon;
  } catch (e) {
    loadError = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'not built' : (e as Error).message.split('\n')[0];
  }
  return addon;
}

export function nativeGemmStatus(): string {
  return addon ? `native GEMM ${addon.kernel()} x${addon.threads()}` : `native GEMM ${loadError ?? 'not loaded'}`;
}

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
        a!.dtype === 'float32' && b!.dtype === 'float32' && batchA === 1 && batchB === 1 &&
        a!.shape.length >= 2 && b!.shape.length >= 2 && !preluActivationWeights &&
        (bias === undefined || (bias.shape.length === 1 && bias.dtype === 'float32')) &&
        (activation === 'linear' || activation === 'relu' || activation === 'leakyrelu');
      if (!supported) return fallback(args);
      const ra = a!.shape.length, rb = b!.shape.length;
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
        backend.wasm.HEAPU8, offset(a!), offset(b!), offset(out), M, N, K, !!attrs.transposeA, !!attrs.transposeB,
        bias ? offset(bias) : -1, activation === 'linear' ? 0 : 1, activation === 'relu' ? 0 : attrs.leakyreluAlpha ?? 0.2,
      );
      return out;
    };
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...previous, kernelFunc: kernelFunc as tfType.KernelFunc });
  }
  installed = true;
  return true;
}

export interface AdamScalars {
  beta1: number;
  beta2: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** 1 / sqrt(1 - beta2^t) */
  invSqrtBias2: number;
  epsilon: number;
}

export type AdamUpdate = (param: tfType.Variable, m: tfType.Variable, v: tfType.Variable, grad: tfType.Tensor, s: AdamScalars) => void;

/**
 * Adam's update of one variable as one native pass, when the backend is wasm and the addon is
 * built: m and v change in place (they are Adam's own); the new parameter value goes to a
 * fresh tensor that the variable takes over. Not in place, because XNNPACK keeps a packed copy
 * of every matmul weight, keyed by tensor, until that tensor is disposed.
 */
export function nativeAdamUpdate(tf: Tf): AdamUpdate | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const gemm = loadGemmAddon();
  if (!gemm || typeof gemm.adamUpdate !== 'function') return undefined;
  return (param, m, v, grad, s) => {
    const backend = tf.backend() as unknown as WasmHeapBackend;
    const out = backend.makeOutput(param.shape, 'float32');
    const offset = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
    gemm.adamUpdate(backend.wasm.HEAPU8, offset(param), offset(m), offset(v), offset(grad), offset(out), param.size, s.beta1, s.beta2, s.stepSize, s.invSqrtBias2, s.epsilon);
    const next = tf.engine().makeTensorFromTensorInfo(out);
    param.assign(next);
    next.dispose();
  };
}
