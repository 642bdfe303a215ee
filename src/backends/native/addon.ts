/**
 * Our native addon (src/native/addon.cc and a header per kernel family) in this process: loading
 * it, the types of what it exports, and Adam's update (src/native/adam.h) computed by it in place
 * on the wasm heap. The wasm kernels it computes are installed by native/register.ts.
 *
 * The addon is optional: it is built at install when a C++ toolchain is there (src/native/
 * build.js). Without it, none of our native kernels is registered and the wasm kernels run.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { ADDON_PATH } from '../../util/paths';

type TensorInfo = tfType.TensorInfo;

export interface GemmAddon {
  sgemm(
    memory: Uint8Array,
    aOff: number,
    bOff: number,
    cOff: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    biasOff: number,
    activation: number,
    alpha: number,
  ): void;
  threads(): number;
  /** Tuning hook: (mc, kc, nc, mtThreshold, tilesPerThread, packCapFloats, streamMtThreshold); 0 keeps a value. Returns the settings. */
  _setBlocking(...values: number[]): Record<string, number>;
  setThreads(n: number): void;
  kernel(): string;
  adamUpdate(
    memory: Uint8Array,
    pOff: number,
    mOff: number,
    vOff: number,
    gOff: number,
    outOff: number,
    n: number,
    beta1: number,
    beta2: number,
    stepSize: number,
    invSqrtBias2: number,
    epsilon: number,
  ): void;
  /** geometry: [N, H, W, C, kH, kW, outC, outH, outW, sH, sW, top, left] (NHWC, filter [kH, kW, C, outC]). */
  conv2d(memory: Uint8Array, xOff: number, wOff: number, yOff: number, geometry: number[]): void;
  conv2dBackpropInput(memory: Uint8Array, dyOff: number, wOff: number, dxOff: number, geometry: number[]): void;
  conv2dBackpropFilter(memory: Uint8Array, xOff: number, dyOff: number, dwOff: number, geometry: number[]): void;
  batchNormForward(
    memory: Uint8Array,
    xOff: number,
    gammaOff: number,
    betaOff: number,
    yOff: number,
    meanOff: number,
    varianceOff: number,
    M: number,
    C: number,
    epsilon: number,
  ): void;
  /** op 0: LeakyReLU(alpha), 1: tanh, 2: ReLU. */
  activation(memory: Uint8Array, op: number, xOff: number, yOff: number, n: number, alpha: number): void;
  /** op 0: LeakyReLU(alpha) / ReLU (alpha 0) from the input x; 1: tanh from its output y (as x). */
  activationGrad(memory: Uint8Array, op: number, dyOff: number, xOff: number, dxOff: number, n: number, alpha: number): void;
  batchNormBackward(
    memory: Uint8Array,
    xOff: number,
    dyOff: number,
    gammaOff: number,
    meanOff: number,
    varianceOff: number,
    dxOff: number,
    dgammaOff: number,
    dbetaOff: number,
    M: number,
    C: number,
    epsilon: number,
  ): void;
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

/** Whether the addon is loaded (the native kernels run). */
export function nativeGemmLoaded(): boolean {
  return addon !== undefined;
}

export function nativeGemmStatus(): string {
  return addon ? `native GEMM ${addon.kernel()} x${addon.threads()}` : `native GEMM ${loadError ?? 'not loaded'}`;
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
    gemm.adamUpdate(
      backend.wasm.HEAPU8,
      offset(param),
      offset(m),
      offset(v),
      offset(grad),
      offset(out),
      param.size,
      s.beta1,
      s.beta2,
      s.stepSize,
      s.invSqrtBias2,
      s.epsilon,
    );
    const next = tf.engine().makeTensorFromTensorInfo(out);
    param.assign(next);
    next.dispose();
  };
}
