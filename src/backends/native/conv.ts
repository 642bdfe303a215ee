/**
 * Conv2D, Conv2DBackpropInput (= ConvTranspose forward) and Conv2DBackpropFilter on the wasm
 * backend computed by our native addon (src/native/conv.h), in place on the wasm heap, for
 * NHWC float32 with dilation 1 (every convolution of the DCGAN and of the eval classifier).
 * Anything else goes to the kernel registered before (XNNPACK's Conv2D, our wasm-heap backprop
 * kernels in wasm/conv-backprop-*.ts), which is also what runs when the addon is not built.
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
 * Why: the DCGAN step's three convolution kernels take several times less CPU than XNNPACK's
 * Conv2D and the wasm-heap backprops; implicit GEMM, sub-pixel ConvTranspose and threads for
 * im2col/col2im were considered and not done
 * (measurements: docs/kernel-measurements.md, "Native kernels from TypeScript (src/backends/native)").
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
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.filterHeight,
    c.filterWidth,
    c.outChannels,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ];
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
      const supported =
        (attrs.dataFormat ?? 'NHWC') === 'NHWC' &&
        dilationOne(attrs.dilations) &&
        inputs.every((t) => t.dtype === 'float32' && t.shape.length === 4 && t.shape.every((d) => d > 0));
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
    tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );

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
