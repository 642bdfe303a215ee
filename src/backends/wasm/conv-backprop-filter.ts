/**
 * Conv2DBackpropFilter kernel for the tfjs `wasm` backend (tfjs 4.22).
 *
 * The wasm backend ships Conv2D, FusedConv2D and Conv2DBackpropInput but no
 * Conv2DBackpropFilter, so the gradient of any conv2d w.r.t. its filter (i.e.
 * training any Conv2D layer) throws "Kernel 'Conv2DBackpropFilter' not
 * registered for backend 'wasm'". This module registers one.
 *
 * Math (dilation 1), with the conv's zero padding (top, left):
 *   dW[kh, kw, c, o] = sum_{n, oh, ow} x[n, oh*sH + kh - top, ow*sW + kw - left, c]
 *                                      * dy[n, oh, ow, o]
 * With P = outH*outW, M = P*N, K = C*kH*kW this is ONE GEMM:
 *   A[(c,kh,kw), (oh,ow,n)]  x  B[(oh,ow,n), o]  =  R[(c,kh,kw), o]
 *
 * Pipeline (all at the backend level, no engine tensors are created):
 *   1. xt = Transpose(x)            -> [C, H, W, N]     (wasm C++ kernel)
 *   2. A  = im2col(xt)              -> [1, K, M]        (JS copy on the wasm heap)
 *      Because N is innermost in xt and in A's columns, for stride-1 each
 *      (c, kh, kw, oh) row of A is ONE contiguous block copy of up to
 *      outW*N floats from xt (plus zero fill for padding); for other strides it
 *      is outW block copies of N floats. No padded copy of x is materialised.
 *   3. B  = Transpose(dy)           -> [outH, outW, N, outC] viewed as [1, M, outC]
 *   4. R  = BatchMatMul(A, B)       -> [1, K, outC]     transposeA = transposeB
 *      = false: the fast XNNPACK path of the wasm BatchMatMul.
 *   5. dW = Transpose(R as [C, kH, kW, outC], [1,2,0,3]) -> [kH, kW, C, outC]
 * NCHW only changes the permutations in steps 1 and 3.
 *
 * Why this route: building A with GatherV2, with Slices + Pack, or using Conv3DBackpropFilterV2
 * all measured much slower
 * (measurements: docs/kernel-measurements.md, "Kernels on the wasm backend (src/backends/wasm)").
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { isAllOnes, wasmKernelRunner, type WasmHeapBackend } from './kernel-call';

type TensorInfo = tfjs.TensorInfo;
type KernelBackend = tfjs.KernelBackend;
type NamedAttrMap = tfjs.NamedAttrMap;
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

const BACKEND = 'wasm';
const KERNEL_NAME = 'Conv2DBackpropFilter';

/**
 * Fills `a` (row-major [C*kH*kW, outH*outW*N]) with the im2col matrix of
 * `xt` (row-major [C, H, W, N]). Out-of-image taps (padding) are zeros.
 */
function im2col(
  xt: Float32Array,
  a: Float32Array,
  C: number,
  H: number,
  W: number,
  N: number,
  kH: number,
  kW: number,
  outH: number,
  outW: number,
  sH: number,
  sW: number,
  top: number,
  left: number,
): void {
  const outRowLen = outW * N; // one output image row (all ow, all n)
  let dst = 0;
  for (let c = 0; c < C; c++) {
    const xc = c * H * W * N;
    for (let kh = 0; kh < kH; kh++) {
      for (let kw = 0; kw < kW; kw++) {
        // ow range whose input column iw = ow*sW + kw - left is inside [0, W).
        const off = kw - left;
        const owLo = Math.min(outW, Math.max(0, Math.ceil(-off / sW)));
        const owHi = Math.max(owLo, Math.min(outW, Math.floor((W - 1 - off) / sW) + 1));
        for (let oh = 0; oh < outH; oh++, dst += outRowLen) {
          const ih = oh * sH + kh - top;
          if (ih < 0 || ih >= H || owLo >= owHi) {
            a.fill(0, dst, dst + outRowLen);
            continue;
          }
          if (owLo > 0) a.fill(0, dst, dst + owLo * N);
          if (owHi < outW) a.fill(0, dst + owHi * N, dst + outRowLen);
          const srcRow = xc + ih * W * N;
          if (sW === 1) {
            // Contiguous: ow in [owLo, owHi) maps to iw in [owLo+off, owHi+off).
            const s = srcRow + (owLo + off) * N;
            a.set(xt.subarray(s, s + (owHi - owLo) * N), dst + owLo * N);
          } else if (N >= 16) {
            for (let ow = owLo; ow < owHi; ow++) {
              const s = srcRow + (ow * sW + off) * N;
              a.set(xt.subarray(s, s + N), dst + ow * N);
            }
          } else {
            for (let ow = owLo; ow < owHi; ow++) {
              const s = srcRow + (ow * sW + off) * N;
              const d = dst + ow * N;
              for (let n = 0; n < N; n++) a[d + n] = xt[s + n] as number;
            }
          }
        }
      }
    }
  }
}

interface KernelArgs {
  inputs: tfjs.NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}

type KernelRunner = ReturnType<typeof wasmKernelRunner>;

/** The checked inputs of one call. */
interface Call {
  x: TensorInfo;
  dy: TensorInfo;
  attrs: BackpropFilterAttrs;
  dataFormat: 'NHWC' | 'NCHW';
  heap: WasmHeapBackend;
}

/** The inputs and attributes, checked; throws on what this kernel does not do. */
function checkedCall(args: KernelArgs): Call {
  const { inputs, backend } = args;
  const x = inputs['x'];
  const dy = inputs['dy'];
  if (x === undefined || dy === undefined) {
    throw new Error(`${KERNEL_NAME} (wasm): inputs 'x' and 'dy' are required.`);
  }
  const attrs = (args.attrs ?? {}) as unknown as BackpropFilterAttrs;
  const dataFormat = attrs.dataFormat ?? 'NHWC';
  if (!isAllOnes(attrs.dilations)) {
    throw new Error(`${KERNEL_NAME} (wasm): only dilations = 1 are supported, got ` + `${JSON.stringify(attrs.dilations)}.`);
  }
  if (dataFormat !== 'NHWC' && dataFormat !== 'NCHW') {
    throw new Error(`${KERNEL_NAME} (wasm): unknown dataFormat '${dataFormat}'.`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`${KERNEL_NAME} (wasm): x and dy must be float32, got ` + `${x.dtype} and ${dy.dtype}.`);
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(`${KERNEL_NAME} (wasm): x and dy must be rank 4, got shapes ` + `[${x.shape}] and [${dy.shape}].`);
  }
  const heap = backend as unknown as Partial<WasmHeapBackend>;
  if (typeof heap.typedArrayFromHeap !== 'function') {
    throw new Error(
      `${KERNEL_NAME} (wasm): backend does not expose typedArrayFromHeap; ` + `this kernel targets @tensorflow/tfjs-backend-wasm 4.x.`,
    );
  }
  return { x, dy, attrs, dataFormat, heap: heap as WasmHeapBackend };
}

/** The conv's shapes; throws when dy does not match its output. */
function geometry(tf: Tf, c: Call) {
  const { x, dy, attrs, dataFormat } = c;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1 /* dilations */,
    attrs.pad,
    attrs.dimRoundingMode,
    false /* depthwise */,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: outH,
    outWidth: outW,
    outChannels: outC,
    strideHeight: sH,
    strideWidth: sW,
    filterHeight: kH,
    filterWidth: kW,
    padInfo,
  } = info;
  const expectedDy = dataFormat === 'NHWC' ? [N, outH, outW, outC] : [N, outC, outH, outW];
  if (dy.shape.some((d, i) => d !== expectedDy[i])) {
    throw new Error(`${KERNEL_NAME} (wasm): dy shape [${dy.shape}] does not match the ` + `conv output shape [${expectedDy}].`);
  }
  return {
    N,
    H,
    W,
    C,
    outH,
    outW,
    outC,
    sH,
    sW,
    kH,
    kW,
    top: padInfo.top,
    left: padInfo.left,
  };
}

type Geometry = ReturnType<typeof geometry>;

/** dW by the pipeline in the header (steps 1 to 5); M and K*outC are not 0. */
function filterGradient(run: KernelRunner, backend: KernelBackend, c: Call, g: Geometry): TensorInfo {
  const { N, H, W, C, outH, outW, outC, kH, kW } = g;
  const channelsLast = c.dataFormat === 'NHWC';
  const K = C * kH * kW;
  const M = outH * outW * N;
  const temps: TensorInfo[] = [];
  const temp = (t: TensorInfo): TensorInfo => {
    temps.push(t);
    return t;
  };
  try {
    // 1. x -> [C, H, W, N]
    const xt = temp(run('Transpose', { x: c.x }, backend, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] }));
    // 2. A = im2col(xt) as [1, K, M]. Allocate first, then take the heap
    // views (an allocation can grow/detach the wasm heap buffer).
    // (BackendWasm.write(null, ...) allocates without copying; every element
    // is then written by im2col.)
    const aShape = [1, K, M];
    const noValues = null as unknown as tfjs.backend_util.BackendValues;
    const a = temp({
      dataId: backend.write(noValues, aShape, 'float32'),
      shape: aShape,
      dtype: 'float32',
    });
    const xtVals = c.heap.typedArrayFromHeap(xt) as Float32Array;
    const aVals = c.heap.typedArrayFromHeap(a) as Float32Array;
    im2col(xtVals, aVals, C, H, W, N, kH, kW, outH, outW, g.sH, g.sW, g.top, g.left);
    // 3. dy -> [outH, outW, N, outC] -> [1, M, outC]
    const dyt = temp(run('Transpose', { x: c.dy }, backend, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] }));
    const b = temp(run('Reshape', { x: dyt }, backend, { shape: [1, M, outC] }));
    // 4. single non-transposed GEMM: [1, K, M] x [1, M, outC]
    const r = temp(run('BatchMatMul', { a, b }, backend, { transposeA: false, transposeB: false }));
    // 5. [C, kH, kW, outC] -> [kH, kW, C, outC]
    const r4 = temp(run('Reshape', { x: r }, backend, { shape: [C, kH, kW, outC] }));
    if (C === 1) {
      return run('Reshape', { x: r4 }, backend, { shape: [kH, kW, C, outC] });
    }
    return run('Transpose', { x: r4 }, backend, { perm: [1, 2, 0, 3] });
  } finally {
    // Reshape outputs share storage via refcounting, so disposing every
    // intermediate exactly once releases everything.
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/**
 * Registers `Conv2DBackpropFilter` for the 'wasm' backend. Safe to call more
 * than once (later calls are no-ops). Pass the same `tf` instance the app uses:
 * the kernel goes into that instance's registry. Can be called before or after
 * '@tensorflow/tfjs-backend-wasm' is imported (kernels it uses are resolved at
 * call time).
 */
export function registerConv2DBackpropFilterWasm(tf: Tf): void {
  if (tf.getKernel(KERNEL_NAME, BACKEND) !== undefined) return;

  const run = wasmKernelRunner(tf, KERNEL_NAME);

  const kernelFunc = (args: KernelArgs): TensorInfo => {
    const call = checkedCall(args);
    const g = geometry(tf, call);
    if (g.outH * g.outW * g.N === 0 || g.C * g.kH * g.kW * g.outC === 0) {
      return run('Fill', {}, args.backend, { shape: [g.kH, g.kW, g.C, g.outC], value: 0, dtype: 'float32' });
    }
    return filterGradient(run, args.backend, call, g);
  };

  tf.registerKernel({
    kernelName: KERNEL_NAME,
    backendName: BACKEND,
    kernelFunc: kernelFunc as unknown as tfjs.KernelFunc,
  });
}
