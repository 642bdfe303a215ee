/**
 * A dense layer with dropout, forward, in one dispatch on the webgpu backend: the matmul's
 * epilogue adds the bias, applies LeakyReLU and multiplies by the dropout mask,
 *   h = leaky(x W + b) * m
 * for the hand-written forward pass (src/train/backprop.ts, D's hidden layers). tfjs-backend-webgpu
 * already fuses bias + LeakyReLU into its matmul programs (tf.fused.matMul); the mask is what is
 * added here. Its matmul programs also take a second [R, F] tensor read at the output's
 * coordinates, PReLU's weights, so the layer is asked of tfjs as a fused matmul with activation
 * 'prelu' and the mask as the weights, and that one program's activation is rewritten, before
 * tfjs compiles it, from PReLU's
 *   if (a < 0.0) { return b * a; }  return a;
 * to LeakyReLU's arithmetic (the same as tfjs's, leak baked in) times the mask b:
 *   if (a < 0.0) { return (leak * a) * b; }  return a * b;
 * Its shader key gets the leak, so tfjs caches the rewritten pipeline apart from a real PReLU.
 * The whole matmul (tiling, program choice, bias, inputs, submits) stays tfjs's own; the numbers
 * are bit-identical to the fused matmul followed by tf.mul(a, mask) that this replaces.
 *
 * Pinned to tfjs-backend-webgpu 4.22.0, whose source this rewrite was read against (the
 * PRELU snippets of its binary_op_util); any other version gets undefined (the unfused path), and a
 * program without the snippet is an error, not a silent PReLU.
 *
 * Replaced, per D hidden layer and D forward pass: the mask's mul (one dispatch and its uniform
 * write), and LeakyReLU's alpha uniform. Saved, per MLP training step at batch 64
 * (`npm run bench -- --backends webgpu`, SwiftShader, dispatches / submits / buffer writes):
 *   71 / 5 / 56  ->  67 / 5 / 52 (the DCGAN trains through autodiff: unchanged)
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';

export type WebGpuDenseLeakyDropout = (
  x: tfType.Tensor2D,
  kernel: tfType.Tensor2D,
  bias: tfType.Tensor,
  mask: tfType.Tensor2D,
  leak: number,
) => tfType.Tensor2D;

/** The version whose matmul programs' PReLU snippets are rewritten. */
export const PINNED_VERSION = '4.22.0';
/** tfjs-backend-webgpu 4.22.0's PRELU and PRELU_VEC4 (binary_op_util.js). */
const PRELU = 'if (a < 0.0) { return b * a; }  return a;';
const PRELU_VEC4 = `
  let aLessThanZero = vec4<f32>(a < vec4<f32>(0.0));
  return (aLessThanZero * (b * a)) + ((vec4<f32>(1.0) - aLessThanZero) * a);
`;

interface Program {
  activation?: string | null;
  shaderKey: string;
  getUserCode(): string;
}

/** The rewritten activation for a leak: LeakyReLU (as tfjs computes it) times the mask `b`. */
function leakyTimesMask(leak: number): { scalar: string; vec4: string } {
  const alpha = `${Math.fround(leak).toPrecision(9)}f`;
  return {
    scalar: `if (a < 0.0) { return (${alpha} * a) * b; }  return a * b;`,
    vec4: `
  let aLessThanZero = vec4<f32>(a < vec4<f32>(0.0));
  return ((aLessThanZero * (${alpha} * a)) + ((vec4<f32>(1.0) - aLessThanZero) * a)) * b;
`,
  };
}

/** The fused layer when the active backend is webgpu at the pinned version, else undefined. */
export function webGpuDenseLeakyDropout(tf: Tf): WebGpuDenseLeakyDropout | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  let version: string | undefined;
  try {
    ({ version } = require('@tensorflow/tfjs-backend-webgpu/package.json') as { version: string });
  } catch {
    return undefined;
  }
  if (version !== PINNED_VERSION) return undefined;
  return (x, kernel, bias, mask, leak) => {
    const backend = tf.backend() as unknown as { runWebGPUProgram(program: Program, ...rest: unknown[]): unknown };
    const own = Object.prototype.hasOwnProperty.call(backend, 'runWebGPUProgram');
    if (own) throw new Error('webGpuDenseLeakyDropout: runWebGPUProgram is already wrapped');
    const run = backend.runWebGPUProgram;
    const code = leakyTimesMask(leak);
    let rewritten = 0;
    backend.runWebGPUProgram = function (program: Program, ...rest: unknown[]) {
      if (program.activation === 'prelu') {
        const getUserCode = program.getUserCode.bind(program);
        program.shaderKey = `${program.shaderKey}_ganLeakyTimesMask_${code.scalar}`;
        program.getUserCode = () => {
          const src = getUserCode();
          const out = src.includes(PRELU_VEC4) ? src.replace(PRELU_VEC4, code.vec4) : src.replace(PRELU, code.scalar);
          if (out === src) throw new Error(`webGpuDenseLeakyDropout: no PReLU snippet in ${program.shaderKey}`);
          return out;
        };
        rewritten++;
      }
      return run.call(this, program, ...rest);
    };
    try {
      const y = tf.fused.matMul({ a: x, b: kernel, bias, activation: 'prelu', preluActivationWeights: mask }) as tfType.Tensor2D;
      if (rewritten !== 1) throw new Error(`webGpuDenseLeakyDropout: ${rewritten} PReLU programs, want 1`);
      return y;
    } finally {
      delete (backend as { runWebGPUProgram?: unknown }).runWebGPUProgram;
    }
  };
}
