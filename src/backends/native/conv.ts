/**
 * Conv2D, Conv2DBackpropInput (= ConvTranspose forward) and Conv2DBackpropFilter on the wasm
 * backend computed by our native addon (src/native/conv.h), in place on the wasm heap, for
 * NHWC float32 with dilation 1 (every convolution of the DCGAN and of the eval classifier).
 * Anything else goes to the kernel registered before (XNNPACK's Conv2D, our wasm-heap backprop
 * kernels in wasm-conv-backprop-*.ts), which is also what runs when the addon is not built.
 *
 * Each is im2col/col2im + one native SGEMM, multi-threaded on the addon's pool:
 *   Conv2D                y[M, outC]  = cols[M, K] * W[K, outC]           cols = im2col(x)
 *   Conv2DBackpropInput   dx          = col2im(dy[M, outC] * W[K, outC]^T)
 *   Conv2DBackpropFilter  dW[K, outC] = cols[M, K]^T * dy[M, outC]
 * with M = N*outH*outW, K = kH*kW*inC. When the im2col matrix is x itself (a filter covering
 * the whole unpadded image, e.g. D's last 4x4 layer and G's first ConvTranspose from 1x1 noise),
 * there is no copy. Bit-identical across thread counts: im2col/col2im tasks own whole rows or
 * whole images, and the GEMM never splits a dot product.
 *
 * Measured on the shared 2-core machine (load average 10-15 from other agents, so CPU time of
 * the process is the figure that holds; wall-clock varied 2-4x between runs):
 *
 * DCGAN step, C = 32, batch 64, 1 thread, `node dist/src/tools/bench-dcgan.js --channels 32
 * --threads 1 --profile-cpu` (CPU ms per iteration; the "before" tree is commit 2fac814: XNNPACK
 * Conv2D, the wasm-heap im2col/col2im + XNNPACK-matmul backprops, batch norm and activations as
 * tf ops):
 *   kernel                     before   after
 *   Conv2D                      123.2    32.4
 *   Conv2DBackpropInput         119.5    33.3
 *   Conv2DBackpropFilter         65.6    30.6
 *   BatchMatMul + Transpose      69.6     -    (called by the old backprops; counted in them too)
 *   whole step (CPU)            421.6   122.9
 *
 * Per layer, C = 32, batch 64, 1 thread, CPU ms (GFLOP/s) of forward / dx / dW:
 *   G1 convT 100->128 1->4    0.46 (57)   0.53 (49)   0.32 (81)
 *   G2 convT 128->64  4->8    2.64 (102)  2.63 (102)  2.85 (94)
 *   G3 convT 64->32   8->16   3.00 (90)   4.21 (64)   4.83 (56)
 *   G4 convT 32->1    16->32  0.53 (32)   0.64 (26)   0.69 (24)
 *   D1 conv  1->32    32->16  0.65 (26)   0.48 (35)   0.66 (25)
 *   D2 conv  32->64   16->8   4.44 (60)   3.21 (83)   4.91 (55)
 *   D3 conv  64->128  8->4    3.00 (89)   2.25 (119)  3.03 (89)
 *   D4 conv  128->1   4->1    0.07        0.11        0.14
 * The plain SGEMM of these shapes runs at 80-140 GFLOP/s on one core; what the slower rows
 * lose is the im2col matrix of the 16x16x32 tensor (2M floats written, then read again by the
 * GEMM's packing) against only 64 output columns.
 *
 * Considered and not done:
 *  - Implicit GEMM (packing the GEMM's A panels straight from x instead of an im2col matrix):
 *    would save that 8 MB round trip on the four slow rows above, about 7 ops an iteration,
 *    ~7-10 ms CPU of 123; left for later.
 *  - Stride-2 ConvTranspose as four stride-1 sub-pixel convolutions (no col2im): the same
 *    multiply-adds, but an im2col twice the size of the col2im matrix and N = outC (32) per
 *    product; not better on paper for these shapes.
 *  - Threads for the memory-bound passes (im2col, col2im) of these sizes: on the busy machine a
 *    descheduled worker stalls the caller (see stream_mt_threshold in addon_state.h); they stay on one
 *    thread below 4M elements, the products use the pool.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { loadGemmAddon, type WasmHeapBackend } from './addon';

type TensorInfo = tfType.TensorInfo;
type KernelArgs = Parameters<tfType.KernelFunc>[0];
type Conv2DInfo = tfType.backend_util.Conv2DInfo;

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tfType.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape?: [number, number, number, number];
  filterShape?: [number, number, number, number];
}

function dilationOne(d: number | number[] | undefined): boolean {
  return d === undefined || (typeof d === 'number' ? d === 1 : d.every((v) => v === 1));
}

/** [N, H, W, C, kH, kW, outC, outH, outW, sH, sW, top, left], the addon's geometry. */
function geometry(c: Conv2DInfo): number[] {
  return [c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.filterHeight, c.filterWidth, c.outChannels, c.outHeight, c.outWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left];
}

let installed = false;

/**
 * Re-registers the three convolution kernels on 'wasm' to run natively. Call after the wasm
 * kernel fixes (it wraps what is registered). Returns false when the addon is not available.
 */
export function installNativeConv(tf: Tf): boolean {
  const gemm = loadGemmAddon();
  if (!gemm || typeof gemm.conv2d !== 'function') return false;
  if (installed) return true;

  const wrap = (name: string, run: (args: KernelArgs, attrs: ConvAttrs, fallback: () => unknown) => unknown) => {
    const previous = tf.getKernel(name, 'wasm');
    if (!previous) return;
    const fallback = previous.kernelFunc;
    const kernelFunc = (args: KernelArgs) => {
      const attrs = args.attrs as unknown as ConvAttrs;
      const inputs = Object.values(args.inputs as Record<string, TensorInfo>);
      const supported = (attrs.dataFormat ?? 'NHWC') === 'NHWC' && dilationOne(attrs.dilations) && inputs.every((t) => t.dtype === 'float32' && t.shape.length === 4 && t.shape.every((d) => d > 0));
      return supported ? run(args, attrs, () => fallback(args)) : fallback(args);
    };
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...previous, kernelFunc: kernelFunc as tfType.KernelFunc });
  };
  const heapOf = (args: KernelArgs) => {
    const backend = args.backend as unknown as WasmHeapBackend;
    return { backend, offset: (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset };
  };
  const info = (xShape: number[], filterShape: number[], attrs: ConvAttrs) =>
    tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');

  wrap('Conv2D', (args, attrs) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const c = info(x.shape, filter.shape, attrs);
    const { backend, offset } = heapOf(args);
    const out = backend.makeOutput(c.outShape, 'float32');
    // HEAPU8 is read after the allocation: growing the heap replaces its buffer.
    gemm.conv2d(backend.wasm.HEAPU8, offset(x), offset(filter), offset(out), geometry(c));
    return out;
  });
  wrap('Conv2DBackpropInput', (args, attrs, fallback) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    if (!attrs.inputShape) return fallback();
    const c = info(attrs.inputShape, filter.shape, attrs);
    if (c.outShape.some((d, i) => d !== dy.shape[i])) return fallback();
    const { backend, offset } = heapOf(args);
    const out = backend.makeOutput(c.inShape, 'float32');
    gemm.conv2dBackpropInput(backend.wasm.HEAPU8, offset(dy), offset(filter), offset(out), geometry(c));
    return out;
  });
  wrap('Conv2DBackpropFilter', (args, attrs, fallback) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    if (!attrs.filterShape) return fallback();
    const c = info(x.shape, attrs.filterShape, attrs);
    if (c.outShape.some((d, i) => d !== dy.shape[i])) return fallback();
    const { backend, offset } = heapOf(args);
    const out = backend.makeOutput(attrs.filterShape, 'float32');
    gemm.conv2dBackpropFilter(backend.wasm.HEAPU8, offset(x), offset(dy), offset(out), geometry(c));
    return out;
  });
  installed = true;
  return true;
}
