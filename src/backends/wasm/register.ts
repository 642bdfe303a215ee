/**
 * Every kernel the wasm backend gets from us, in the order it is installed: one entry per kernel
 * file. Call once tfjs-backend-wasm is loaded and its backend active (the threaded backend, if
 * any, is made before that: threads.ts; kernels are registered per backend name, so they apply).
 *
 * Order: within this list it does not matter (each entry touches its own kernel, and the kernels
 * they call, e.g. BatchMatMul inside the conv gradients, are looked up at call time). The native
 * list (native/register.ts) must come after all of it: it wraps these kernels and falls back to
 * them, and registers its Conv2DBackpropFilter only over one registered already (ours, below).
 */
import type { Tf } from '../tf';
import { installWasmMatMulFix } from './matmul';
import { registerConv2DBackpropFilterWasm } from './conv-backprop-filter';
import { registerConv2DBackpropInputWasm } from './conv-backprop-input';
import { installWasmRowGather } from './gather';
import { installWasmSharedIdentity } from './identity';

/** Each entry wraps the kernel registered before it (keeping it as fallback), or adds one the wasm backend lacks. */
const WASM_KERNELS: ReadonlyArray<(tf: Tf) => void> = [
  installWasmMatMulFix, // BatchMatMul, _FusedMatMul: transposed operands transposed first (the shipped path is slow)
  registerConv2DBackpropFilterWasm, // Conv2DBackpropFilter: missing as shipped (conv layers could not train)
  registerConv2DBackpropInputWasm, // Conv2DBackpropInput: wraps the shipped naive loop nest, which it keeps as fallback
  installWasmRowGather, // GatherV2 along axis 0: row copies instead of element copies (the batch gather)
  installWasmSharedIdentity, // Identity: shares the data (incRef) instead of copying it
];

/** Installs the wasm kernel list above, in order. Each installer is idempotent. */
export function registerWasmKernels(tf: Tf): void {
  for (const install of WASM_KERNELS) install(tf);
}
