/**
 * The wasm backend's matrix multiply takes a slow path when either operand is transposed, and a
 * dense layer's backward pass asks for exactly that: dW = x^T dy and dx = dy W^T. Transposing
 * first with the backend's own Transpose kernel and then multiplying plain operands is faster
 * per training step (measurements: docs/kernel-measurements.md, "Kernels on the wasm backend (src/backends/wasm)").
 *
 * We wrap the registered kernels instead of reimplementing them, so that the original kernel's
 * `setupFunc` (which binds the wasm export) keeps working.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';

type KernelArgs = Parameters<tfType.KernelFunc>[0];
// The backend's tensor records are {dataId, shape, dtype}; the kernel interface types them loosely.
type TensorInfo = tfType.TensorInfo;

let installed = false;

function lastTwoSwapped(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

/** Re-registers BatchMatMul and _FusedMatMul on 'wasm' to avoid transposed operands. Idempotent. */
export function installWasmMatMulFix(tf: Tf): void {
  if (installed) return;
  const transposeKernel = tf.getKernel('Transpose', 'wasm');
  if (!transposeKernel) throw new Error('wasm backend has no Transpose kernel; is @tensorflow/tfjs-backend-wasm loaded?');
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    const originalFunc = original.kernelFunc;

    const kernelFunc = (args: KernelArgs) => {
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
      if (!attrs.transposeA && !attrs.transposeB) return originalFunc(args);
      const inputs = { ...(args.inputs as Record<string, TensorInfo>) };
      const temporaries: TensorInfo[] = [];
      // Swap the last two axes (operands reach the kernel as rank 2 or 3).
      const transpose = (x: TensorInfo): TensorInfo => {
        const t = transposeKernel.kernelFunc({
          inputs: { x },
          backend: args.backend,
          attrs: { perm: lastTwoSwapped(x.shape.length) },
        }) as TensorInfo;
        temporaries.push(t);
        return t;
      };
      const backend = args.backend as { disposeData(id: object): void };
      const plain = { ...args.attrs, transposeA: false, transposeB: false };
      try {
        const [a, b] = [inputs.a, inputs.b];
        const size = (t: TensorInfo) => t.shape.reduce((x, y) => x * y, 1);
        const rows = a.shape[a.shape.length - 2];
        const cols = b.shape[b.shape.length - 2];
        // a b^T where b is the big one (dX = dY W^T in a backward pass: b is a weight matrix):
        // compute (b a^T)^T instead, transposing the two small matrices and never the weights.
        if (name === 'BatchMatMul' && !attrs.transposeA && size(b) > size(a) + rows * cols) {
          const product = originalFunc({ ...args, inputs: { a: b, b: transpose(a) }, attrs: plain }) as TensorInfo;
          temporaries.push(product);
          return transposeKernel.kernelFunc({
            inputs: { x: product },
            backend: args.backend,
            attrs: { perm: lastTwoSwapped(product.shape.length) },
          });
        }
        if (attrs.transposeA) inputs.a = transpose(inputs.a);
        if (attrs.transposeB) inputs.b = transpose(inputs.b);
        return originalFunc({ ...args, inputs, attrs: plain });
      } finally {
        for (const t of temporaries) backend.disposeData(t.dataId);
      }
    };

    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: kernelFunc as tfType.KernelFunc });
  }
  installed = true;
}
