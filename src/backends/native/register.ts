/**
 * The wasm kernels our native addon computes (installed when it loads), in the order they are
 * installed: one entry per kernel file. Without the addon each entry registers nothing and
 * returns false.
 *
 * Order: after the wasm list (wasm/register.ts), whose kernels these wrap and fall back to for
 * what they do not handle (batched matmuls, NCHW or dilated convolutions, non-float32 data).
 * Within this list it does not matter: each entry touches its own kernels.
 */
import type { Tf } from '../tf';
import { installNativeMatMul } from './matmul';
import { installNativeConv } from './conv';
import { installNativeBatchNorm } from './batchnorm';
import { installNativeActivations } from './activations';

const NATIVE_KERNELS: ReadonlyArray<(tf: Tf, threads: number) => boolean> = [
  installNativeMatMul, // BatchMatMul, _FusedMatMul: native SGEMM; wraps the wasm transpose fix, sets the addon's threads
  installNativeConv, // Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter: wraps XNNPACK's and the wasm backprops above
  installNativeBatchNorm, // GanBatchNormTraining(Grad): new kernels, used by batchNormTraining where registered
  installNativeActivations, // LeakyRelu, Tanh, Relu (and GanActivationGrad, their gradients): wraps the shipped ones
];

/** Installs the native kernel list above on 'wasm', in order; `threads` for the addon's pool. */
export function registerNativeKernels(tf: Tf, threads: number): void {
  for (const install of NATIVE_KERNELS) install(tf, threads);
}
