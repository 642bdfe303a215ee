/**
 * LeakyReLU, ReLU and tanh forward and their gradients, natively on the wasm
 * heap (src/native/activations.h), multi-threaded; elementwise, so the same bits on any thread count.
 *
 * Why: as shipped, the wasm backend's LeakyRelu and Tanh are slow per element, tfjs builds
 * LeakyReLU's gradient out of Greater (slow too), Multiply and Select, and XNNPACK's Relu stalls
 * on 2 threads when the machine is busy (its workers get descheduled); ours stays on the calling
 * thread for these sizes (stream_mt_threshold in addon_state.h)
 * (measurements: docs/kernel-measurements.md, "Native kernels from TypeScript (src/backends/native)").
 *
 * The gradients are re-registered (tf.registerGradient replaces a kernel's gradient): on a
 * backend where our kernel is registered they run it, anywhere else tfjs's own gradient.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { loadGemmAddon, type WasmHeapBackend } from './addon';

type TensorInfo = tfType.TensorInfo;
type KernelArgs = Parameters<tfType.KernelFunc>[0];

/** The kernel the gradients below run where it is registered: natively on wasm here, in WGSL on webgpu. */
export const ACTIVATION_GRAD_KERNEL = 'GanActivationGrad';

let gradientsInstalled = false;
let installed = false;

export function installNativeActivations(tf: Tf): boolean {
  const gemm = loadGemmAddon();
  if (!gemm || typeof gemm.activation !== 'function') return false;
  if (installed) return true;
  const heap = (args: KernelArgs) => {
    const b = args.backend as unknown as WasmHeapBackend;
    return { b, offset: (t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset };
  };
  const size = (t: TensorInfo) => t.shape.reduce((a, d) => a * d, 1);

  for (const [name, op] of [
    ['LeakyRelu', 0],
    ['Tanh', 1],
    ['Relu', 2],
  ] as const) {
    const previous = tf.getKernel(name, 'wasm');
    if (!previous) continue;
    const fallback = previous.kernelFunc;
    const kernelFunc = (args: KernelArgs) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype !== 'float32') return fallback(args);
      const { b, offset } = heap(args);
      const y = b.makeOutput(x.shape, 'float32');
      gemm.activation(b.wasm.HEAPU8, op, offset(x), offset(y), size(x), (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0);
      return y;
    };
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...previous, kernelFunc: kernelFunc as tfType.KernelFunc });
  }

  tf.registerKernel({
    kernelName: ACTIVATION_GRAD_KERNEL,
    backendName: 'wasm',
    kernelFunc: ((args: KernelArgs) => {
      const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
      const { op, alpha } = args.attrs as { op: number; alpha: number };
      const { b, offset } = heap(args);
      const dx = b.makeOutput(x.shape, 'float32');
      gemm.activationGrad(b.wasm.HEAPU8, op, offset(dy), offset(x), offset(dx), size(x), alpha);
      return dx;
    }) as tfType.KernelFunc,
  });
  installActivationGradients(tf);
  installed = true;
  return true;
}

/**
 * Re-registers the gradients of LeakyRelu, Relu and Tanh to run GanActivationGrad (attrs: op 0
 * for LeakyRelu/Relu with alpha, 1 for tanh from its saved output) on a backend where it is
 * registered, and tfjs's own gradient anywhere else. Once per process.
 */
export function installActivationGradients(tf: Tf): void {
  if (gradientsInstalled) return;
  // LeakyRelu: dy where x > 0 else alpha * dy; Relu: the same with alpha 0 (tfjs: dy * step(x));
  // Tanh: dy * (1 - y^2) from the saved output y (tfjs: Square, Sub and Multiply).
  for (const name of ['LeakyRelu', 'Relu', 'Tanh']) {
    const original = tf.getGradient(name);
    if (!original) continue;
    tf.registerGradient({
      ...original,
      gradFunc: (dy, saved, attrs) => {
        const x = saved[0];
        const op = name === 'Tanh' ? 1 : 0;
        const alpha = name === 'LeakyRelu' ? (attrs as { alpha: number }).alpha : 0;
        const dyT = dy as tfType.Tensor;
        if (
          tf.getKernel(ACTIVATION_GRAD_KERNEL, tf.getBackend()) === undefined ||
          dyT.dtype !== 'float32' ||
          x.dtype !== 'float32' ||
          dyT.size !== x.size
        ) {
          return original.gradFunc(dy, saved, attrs);
        }
        return { x: () => tf.engine().runKernel(ACTIVATION_GRAD_KERNEL, { dy: dyT, x }, { op, alpha }) as tfType.Tensor };
      },
    });
  }
  gradientsInstalled = true;
}
