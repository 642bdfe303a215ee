/**
 * The gradients of LeakyReLU, ReLU and tanh as one WGSL dispatch each on the webgpu backend: the
 * kernel GanActivationGrad, which the gradients re-registered in src/backends/native/activations.ts
 * run wherever it is registered, with the native kernel's formulas:
 *   op 0: dx = dy where x > 0, else dy * alpha      (alpha 0: ReLU's)
 *   op 1: dx = dy * (1 - y * y)                      (tanh's, from its output y, passed as x)
 *
 * Replaced: tfjs's LeakyReLU gradient (greater, mul, select: 3 dispatches), ReLU's (step, mul: 2)
 * and tanh's (square, sub, mul: 3), each with its uniform buffer write, and alpha uploaded; now 1
 * dispatch whose sizes and alpha are in the shader's source (one pipeline per shape, compiled once).
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { ACTIVATION_GRAD_KERNEL, installActivationGradients } from '../native/activations';
import { bufferOf, dispatch, f32, MAX_WORKGROUPS, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

type TensorInfo = tfType.TensorInfo;

const WORKGROUP = 256;

export function activationGradShader(n: number, op: number, alpha: number): string {
  const dx = op === 0 ? `select(dy[i] * ${f32(alpha)}, dy[i], x[i] > 0.0f)` : `dy[i] * (1.0f - x[i] * x[i])`;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < ${n}u; i = i + stride) {
    out[i] = ${dx};
  }
}
`;
}

/** Registers GanActivationGrad for 'webgpu' and the gradients that run it (once). */
export function installWebGpuActivationGrad(tf: Tf): void {
  installActivationGradients(tf);
  if (tf.getKernel(ACTIVATION_GRAD_KERNEL, 'webgpu')) return;
  tf.registerKernel({
    kernelName: ACTIVATION_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: Parameters<tfType.KernelFunc>[0]) => {
      const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
      const { op, alpha } = attrs as unknown as { op: number; alpha: number };
      const b = backend as unknown as WebGpuBackend;
      const n = x.shape.reduce((a, d) => a * d, 1);
      const dx = b.makeTensorInfo(x.shape, 'float32');
      if (n === 0) return dx;
      const buffers = [dy, x, dx].map((t) => ({ buffer: bufferOf(b, t), bytes: 4 * n }));
      dispatch(
        b,
        pipelineFor(b, activationGradShader(n, op, alpha)),
        buffers,
        undefined,
        Math.min(MAX_WORKGROUPS, Math.ceil(n / WORKGROUP)),
      );
      submitIfDue(b, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
      return dx;
    }) as tfType.KernelFunc,
  });
}
