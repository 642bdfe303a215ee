/**
 * Identity on the wasm backend without a copy. tfjs clones every tensor a gradient needs
 * (engine.saveTensorsForBackwardMode: keep(clone(x))), and the wasm Identity kernel copies the
 * data each time; tfjs's cpu and webgl backends share it instead (incRef), which is what we do
 * here. Safe because no tfjs kernel writes into its inputs; the one in-place writer we have
 * (the native Adam update of m and v, src/backends/native/addon.ts) touches only Adam's own moment
 * variables, which are never cloned.
 *
 * Why: those copies were a noticeable part of a DCGAN step
 * (measurements: docs/kernel-measurements.md, "Kernels on the wasm backend (src/backends/wasm)").
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

let installed = false;

export function installWasmSharedIdentity(tf: Tf): void {
  if (installed) return;
  const previous = tf.getKernel('Identity', 'wasm');
  if (!previous) return;
  const fallback = previous.kernelFunc;
  const kernelFunc = (args: Parameters<tfType.KernelFunc>[0]) => {
    const { x } = args.inputs as { x: tfType.TensorInfo };
    const backend = args.backend as unknown as Partial<RefCountingBackend>;
    if (x.dtype === 'string' || typeof backend.incRef !== 'function') return fallback(args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ ...previous, kernelFunc: kernelFunc as tfType.KernelFunc });
  installed = true;
}
