/**
 * Fast Conv2DBackpropInput for the tfjs `wasm` backend (tfjs 4.22).
 *
 * The wasm backend's own Conv2DBackpropInput is a naive C++ loop nest, many
 * times slower than the forward Conv2D of the same layer (XNNPACK)
 * (measurements: docs/kernel-measurements.md, "Kernels on the wasm backend (src/backends/wasm)"). This
 * module re-registers the kernel on 'wasm', wrapping the original one (same
 * setupFunc/disposeFunc; the original kernelFunc is called for every case that
 * is not sped up). Conv2DBackpropInput is also the kernel behind
 * tf.conv2dTranspose (GAN generators), usually with stride 2.
 *
 * Two strategies (NHWC, dilation 1), chosen per call:
 *
 * A. 'conv' (stride 1, inC >= CONV_MIN_IN_C): dx is a forward correlation of
 *    dy with the filter rotated 180 degrees in (kh, kw) and its channel axes
 *    swapped, Wr[kh, kw, o, c] = W[kH-1-kh, kW-1-kw, c, o] ([kH,kW,outC,inC]),
 *    with explicit padding top' = kH-1-top, left' = kW-1-left,
 *    bottom' = H + top - outH (= kH-1-bottom when the conv tiles exactly),
 *    right' = W + left - outW:
 *      1. Wr : JS copy on the wasm heap (tiny: kH*kW*inC*outC floats).
 *      2. dx = wasm Conv2D(dy, Wr, strides 1, explicit pad)  -> XNNPACK.
 *    (Stride s > 1 could be done the same way on dy dilated with s-1 zeros,
 *    but that wastes a factor sH*sW of the work and measured slower than B,
 *    so it is not used: docs/kernel-measurements.md, same section.)
 *
 * B. 'gemm' (stride > 1, or few input channels, or padding > kernel-1):
 *      1. Wt   = W as [K, outC] transposed to [1, outC, K], K = kH*kW*inC
 *                (JS copy on the heap, tiny).
 *      2. cols = BatchMatMul(dy as [1, M, outC], Wt) -> [1, M, K],
 *                M = N*outH*outW; no transposes: the XNNPACK path.
 *      3. dx   = col2im(cols): zero dx, then for every (n, oh, ow, kh, kw)
 *                with (ih, iw) = (oh*sH + kh - top, ow*sW + kw - left) inside
 *                the image, dx[n, ih, iw, :] += cols[(n, oh, ow), (kh, kw, :)]
 *                (JS loop on the heap, N*outH*outW*kH*kW*inC adds).
 *    Does only the useful multiply-adds for any stride, and handles any
 *    padding and dimRoundingMode. XNNPACK does poorly with 1 output channel,
 *    which is why B also wins for stride 1 with small inC.
 *
 * Both: backend-level calls only, no engine tensors; temporaries are freed in
 * finally blocks. The wasm Conv2D/BatchMatMul cache an XNNPACK operator per
 * weights tensor id; Wr/Wt are fresh temporaries, so those operators are
 * deleted with them (the backend's disposal callback) and nothing accumulates.
 *
 * Falls back to the original kernel for: NCHW (the wasm Conv2D is NHWC only;
 * the 'gemm' route could be extended), dilations != 1, non-float32 or
 * non-rank-4 inputs, and empty tensors.
 */
import type * as tfjs from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { isAllOnes, wasmKernelRunner, type WasmHeapBackend } from './kernel-call';
import { col2im, rotateFilter, transposeFilter } from './conv-layout';

type TensorInfo = tfjs.TensorInfo;
type KernelBackend = tfjs.KernelBackend;
type NamedAttrMap = tfjs.NamedAttrMap;
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]];

interface BackpropInputAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
  dilations?: number | [number, number];
}

const BACKEND = 'wasm';
const KERNEL_NAME = 'Conv2DBackpropInput';
/** wasm kernels the fast paths call (all part of tfjs-backend-wasm 4.x). */
const REQUIRED_KERNELS = ['Conv2D', 'BatchMatMul', 'Reshape'];
/** Marks our kernelFunc so that registering twice is a no-op. */
const MARK = Symbol.for('gan.fastConv2DBackpropInputWasm');
/**
 * Stride-1 calls with at least this many input channels (= output channels of
 * the rotated-filter conv) use the 'conv' strategy, measured faster there; below
 * it the gemm + col2im route is the faster one.
 */
export const CONV_MIN_IN_C = 8;

interface KernelArgs {
  inputs: tfjs.NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}

type KernelRunner = ReturnType<typeof wasmKernelRunner>;

/** The shapes of a call the fast path takes (NHWC, dilation 1, float32). */
interface Geometry {
  N: number;
  H: number;
  W: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  sH: number;
  sW: number;
  kH: number;
  kW: number;
  /** The conv's zero padding. */
  top: number;
  left: number;
  /** Padding of the rotated-filter conv ('conv' strategy, stride 1 only). */
  pTop: number;
  pLeft: number;
  pBottom: number;
  pRight: number;
  /** Strategy A ('conv'); otherwise B ('gemm'). */
  useConv: boolean;
}

/** Whether the original kernel must take the call: what the fast path does not do. */
function unsupported(
  tf: Tf,
  dy: TensorInfo | undefined,
  filter: TensorInfo | undefined,
  attrs: BackpropInputAttrs,
  backend: KernelBackend,
): boolean {
  const heap = backend as unknown as Partial<WasmHeapBackend>;
  return (
    dy === undefined ||
    filter === undefined ||
    (attrs.dataFormat ?? 'NHWC') !== 'NHWC' ||
    !isAllOnes(attrs.dilations) ||
    dy.dtype !== 'float32' ||
    filter.dtype !== 'float32' ||
    dy.shape.length !== 4 ||
    filter.shape.length !== 4 ||
    attrs.inputShape?.length !== 4 ||
    typeof heap.typedArrayFromHeap !== 'function' ||
    REQUIRED_KERNELS.some((k) => tf.getKernel(k, BACKEND) === undefined)
  );
}

/**
 * The geometry of a call the fast path handles, or undefined when the original
 * kernel should take it (see `unsupported`; also a dy that does not match the
 * conv's output, and empty tensors).
 */
function fastPathGeometry(tf: Tf, args: KernelArgs): Geometry | undefined {
  const dy = args.inputs['dy'];
  const filter = args.inputs['filter'];
  const attrs = (args.attrs ?? {}) as unknown as BackpropInputAttrs;
  if (unsupported(tf, dy, filter, attrs, args.backend)) return undefined;

  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter!.shape as [number, number, number, number],
    attrs.strides,
    1 /* dilations */,
    attrs.pad,
    attrs.dimRoundingMode,
    false /* depthwise */,
    'channelsLast',
  );
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: inC,
    outHeight: outH,
    outWidth: outW,
    outChannels: outC,
    strideHeight: sH,
    strideWidth: sW,
    filterHeight: kH,
    filterWidth: kW,
    padInfo,
  } = info;
  if (dy!.shape.some((d, i) => d !== [N, outH, outW, outC][i])) {
    return undefined; // let the original kernel handle/report it
  }
  if (N * H * W * inC === 0 || N * outH * outW * outC === 0 || kH * kW === 0) {
    return undefined;
  }
  const pTop = kH - 1 - padInfo.top;
  const pLeft = kW - 1 - padInfo.left;
  const pBottom = H + padInfo.top - outH;
  const pRight = W + padInfo.left - outW;
  const convApplies = sH === 1 && sW === 1 && Math.min(pTop, pLeft, pBottom, pRight) >= 0;
  const useConv = convApplies && inC >= CONV_MIN_IN_C;
  return {
    N,
    H,
    W,
    inC,
    outH,
    outW,
    outC,
    sH,
    sW,
    kH,
    kW,
    top: padInfo.top,
    left: padInfo.left,
    pTop,
    pLeft,
    pBottom,
    pRight,
    useConv,
  };
}

/** Temporaries on the wasm heap, all freed by `free()`. */
interface HeapScratch {
  /** Records `t` to be freed; returns it. */
  temp(t: TensorInfo): TensorInfo;
  /** An uninitialised float32 temporary on the wasm heap. */
  alloc(shape: number[]): TensorInfo;
  /**
   * The float32 view of `t` on the heap. Views must be taken after the
   * allocations they are used with: malloc can grow (and so detach) the wasm
   * memory buffer.
   */
  f32(t: TensorInfo): Float32Array;
  free(): void;
}

const noValues = null as unknown as tfjs.backend_util.BackendValues;

/** An uninitialised float32 buffer on the wasm heap (the caller frees it). */
function allocFloat32(backend: KernelBackend, shape: number[]): TensorInfo {
  return {
    dataId: backend.write(noValues, shape, 'float32'),
    shape,
    dtype: 'float32',
  };
}

function heapScratch(backend: KernelBackend): HeapScratch {
  const heap = backend as unknown as WasmHeapBackend;
  const temps: TensorInfo[] = [];
  const temp = (t: TensorInfo): TensorInfo => {
    temps.push(t);
    return t;
  };
  return {
    temp,
    alloc: (shape) => temp(allocFloat32(backend, shape)),
    f32: (t) => heap.typedArrayFromHeap(t) as Float32Array,
    free: () => {
      for (const t of temps) backend.disposeData(t.dataId);
    },
  };
}

/** Strategy A: dx = Conv2D(dy, rotated filter), stride 1, explicit padding. */
function dxByConv(
  run: KernelRunner,
  backend: KernelBackend,
  scratch: HeapScratch,
  dy: TensorInfo,
  filter: TensorInfo,
  g: Geometry,
): TensorInfo {
  // A1. rotated, channel-swapped filter [kH, kW, outC, inC].
  const wr = scratch.alloc([g.kH, g.kW, g.outC, g.inC]);
  rotateFilter(scratch.f32(filter), scratch.f32(wr), g.kH, g.kW, g.inC, g.outC);
  // A2. stride-1 forward conv with explicit padding -> [N, H, W, inC].
  const pad: ExplicitPadding = [
    [0, 0],
    [g.pTop, g.pBottom],
    [g.pLeft, g.pRight],
    [0, 0],
  ];
  return run('Conv2D', { x: dy, filter: wr }, backend, {
    strides: [1, 1],
    pad,
    dataFormat: 'NHWC',
    dilations: [1, 1],
  } as unknown as NamedAttrMap);
}

/** Strategy B: cols = dy x W^T (one GEMM), then dx = col2im(cols). */
function dxByGemm(
  run: KernelRunner,
  backend: KernelBackend,
  scratch: HeapScratch,
  dy: TensorInfo,
  filter: TensorInfo,
  g: Geometry,
): TensorInfo {
  const { N, H, W, inC, outH, outW, outC, kH, kW } = g;
  const K = kH * kW * inC;
  const M = N * outH * outW;
  // B1. Wt = [1, outC, K].
  const wt = scratch.alloc([1, outC, K]);
  transposeFilter(scratch.f32(filter), scratch.f32(wt), K, outC);
  // B2. cols = dy [1, M, outC] x Wt [1, outC, K] -> [1, M, K].
  const a = scratch.temp(run('Reshape', { x: dy }, backend, { shape: [1, M, outC] }));
  const cols = scratch.temp(run('BatchMatMul', { a, b: wt }, backend, { transposeA: false, transposeB: false }));
  // B3. dx = col2im(cols).
  const dx = allocFloat32(backend, [N, H, W, inC]);
  try {
    col2im(scratch.f32(cols), scratch.f32(dx), N, H, W, inC, outH, outW, kH, kW, g.sH, g.sW, g.top, g.left);
  } catch (e) {
    backend.disposeData(dx.dataId);
    throw e;
  }
  return dx;
}

/** The kernel: the fast path where it applies, else the original kernel. */
function fastKernelFunc(tf: Tf, originalFunc: tfjs.KernelFunc): (args: KernelArgs) => TensorInfo | TensorInfo[] {
  const run = wasmKernelRunner(tf, KERNEL_NAME);
  return (args: KernelArgs): TensorInfo | TensorInfo[] => {
    const g = fastPathGeometry(tf, args);
    if (g === undefined) return originalFunc(args as Parameters<tfjs.KernelFunc>[0]);
    const { backend } = args;
    const dy = args.inputs['dy']!;
    const filter = args.inputs['filter']!;
    const scratch = heapScratch(backend);
    let dx: TensorInfo;
    try {
      dx = (g.useConv ? dxByConv : dxByGemm)(run, backend, scratch, dy, filter, g);
    } finally {
      scratch.free();
    }
    if (dx.shape.some((d, i) => d !== [g.N, g.H, g.W, g.inC][i])) {
      backend.disposeData(dx.dataId);
      const { inputShape } = (args.attrs ?? {}) as unknown as BackpropInputAttrs;
      throw new Error(`${KERNEL_NAME} (wasm): internal shape error, got [${dx.shape}] ` + `for input shape [${inputShape}].`);
    }
    return dx;
  };
}

/**
 * Re-registers `Conv2DBackpropInput` for the 'wasm' backend with the fast path
 * described above. Call it AFTER importing '@tensorflow/tfjs-backend-wasm'
 * (it wraps the kernel that import registers) and with the same `tf` instance
 * the app uses. Safe to call more than once (later calls are no-ops). Works
 * whether or not the wasm backend has been initialised yet.
 */
export function registerConv2DBackpropInputWasm(tf: Tf): void {
  const original = tf.getKernel(KERNEL_NAME, BACKEND);
  if (original === undefined) {
    throw new Error(`${KERNEL_NAME} (wasm): no original kernel to wrap; import ` + `'@tensorflow/tfjs-backend-wasm' before registering.`);
  }
  const originalFunc = original.kernelFunc;
  if ((originalFunc as unknown as Record<symbol, unknown>)[MARK]) return;

  const kernelFunc = fastKernelFunc(tf, originalFunc);
  (kernelFunc as unknown as Record<symbol, unknown>)[MARK] = true;

  tf.unregisterKernel(KERNEL_NAME, BACKEND);
  tf.registerKernel({
    kernelName: KERNEL_NAME,
    backendName: BACKEND,
    setupFunc: original.setupFunc,
    disposeFunc: original.disposeFunc,
    kernelFunc: kernelFunc as unknown as tfjs.KernelFunc,
  });
}
