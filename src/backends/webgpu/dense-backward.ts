/**
 * A dense layer's backward epilogue in one WGSL dispatch on the webgpu backend, for the
 * hand-written backward pass (src/train/backprop.ts): from the upstream gradient d [R, F], the
 * layer's activation output a [R, F] and its dropout mask m [R, F] (optional),
 *   dz = (d * m) * act'(a)      act' = step(a, leak) for LeakyReLU, 1 - a^2 for tanh, 1 for linear
 *   db = sum over rows of dz    (the bias gradient, [F]; only when the weight gradients are wanted)
 * in the same arithmetic, in the same order, as the tfjs ops it replaces. With db, one thread per
 * column walks down its rows (adjacent threads read adjacent floats), so the sum has a fixed order;
 * without, one thread per element.
 *
 * The sizes, leak and mode are baked into the shader's source (one pipeline per layer shape,
 * compiled once), so a call writes no uniform buffer at all.
 *
 * Replaced, per layer: mul (mask), step, mul (LeakyReLU) or square, sub, mul (tanh), and sum (the
 * bias gradient): 2 to 4 dispatches, each with its own uniform buffer write, and LeakyReLU's
 * alpha uploaded. Saved, per MLP training step at batch 64 (`npm run bench -- --backends webgpu`,
 * SwiftShader, dispatches / submits / buffer writes; after sigmoid-bce.ts's baked sizes, 96 / 7 / 89):
 *   96 / 7 / 89  ->  71 / 5 / 56 (the DCGAN trains through autodiff: unchanged)
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { bufferOf, dispatch, f32, MAX_WORKGROUPS, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

export type DenseActivation = 'leakyrelu' | 'tanh' | 'linear';

/** dz (and db when `biasGrad`) of one dense layer, as above. */
export type WebGpuDenseBackward = (
  d: tfType.Tensor2D,
  a: tfType.Tensor2D,
  mask: tfType.Tensor2D | undefined,
  activation: DenseActivation,
  leak: number,
  biasGrad: boolean,
) => { dz: tfType.Tensor2D; db?: tfType.Tensor1D };

const COLUMN_WORKGROUP = 64;
const ELEMENT_WORKGROUP = 256;

/** The shader for R rows, F columns; exported for the test, which checks it against float64. */
export function denseBackwardShader(
  rows: number,
  cols: number,
  activation: DenseActivation,
  leak: number,
  masked: boolean,
  biasGrad: boolean,
): string {
  const deriv =
    activation === 'leakyrelu'
      ? `g = g * select(${f32(leak)}, 1.0f, a[idx] > 0.0f);`
      : activation === 'tanh'
        ? `let t = a[idx]; g = g * (1.0f - t * t);`
        : '';
  // Only what the shader reads is bound (layout 'auto' leaves out a binding it does not use).
  const names = ['dy', ...(activation !== 'linear' ? ['a'] : []), ...(masked ? ['mask'] : [])];
  const bindings = names.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`);
  const out = bindings.length;
  bindings.push(`@group(0) @binding(${out}) var<storage, read_write> dz: array<f32>;`);
  if (biasGrad) bindings.push(`@group(0) @binding(${out + 1}) var<storage, read_write> db: array<f32>;`);
  const element = `
    var g = dy[idx];
    ${masked ? 'g = g * mask[idx];' : ''}
    ${deriv}
    dz[idx] = g;`;
  const body = biasGrad
    ? `
@compute @workgroup_size(${COLUMN_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let j = id.x;
  if (j >= ${cols}u) { return; }
  var acc = 0.0f;
  for (var i = 0u; i < ${rows}u; i = i + 1u) {
    let idx = i * ${cols}u + j;
    ${element}
    acc = acc + g;
  }
  db[j] = acc;
}`
    : `
@compute @workgroup_size(${ELEMENT_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${ELEMENT_WORKGROUP}u;
  for (var idx = id.x; idx < ${rows * cols}u; idx = idx + stride) {
    ${element}
  }
}`;
  return `${bindings.join('\n')}\n${body}\n`;
}

/** The fused backward epilogue when the active backend is webgpu, else undefined. */
export function webGpuDenseBackward(tf: Tf): WebGpuDenseBackward | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (d, a, mask, activation, leak, biasGrad) => {
    const backend = tf.backend() as unknown as WebGpuBackend;
    const [rows, cols] = d.shape;
    const n = rows * cols;
    if (n === 0 || a.shape[0] !== rows || a.shape[1] !== cols || (mask && (mask.shape[0] !== rows || mask.shape[1] !== cols)))
      throw new Error(`webGpuDenseBackward: d [${d.shape}], a [${a.shape}], mask [${mask?.shape}]`);
    const outputs = [backend.makeTensorInfo([rows, cols], 'float32'), ...(biasGrad ? [backend.makeTensorInfo([cols], 'float32')] : [])];
    const inputs = [d, ...(activation !== 'linear' ? [a] : []), ...(mask ? [mask] : [])];
    const buffers = [...inputs, ...outputs].map((t) => ({ buffer: bufferOf(backend, t), bytes: 4 * t.shape.reduce((x, y) => x * y, 1) }));
    const pipeline = pipelineFor(backend, denseBackwardShader(rows, cols, activation, leak, !!mask, biasGrad));
    const workgroups = biasGrad ? Math.ceil(cols / COLUMN_WORKGROUP) : Math.min(MAX_WORKGROUPS, Math.ceil(n / ELEMENT_WORKGROUP));
    dispatch(backend, pipeline, buffers, undefined, workgroups);
    submitIfDue(backend, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
    const [dz, db] = outputs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
    return { dz: dz as tfType.Tensor2D, db: db as tfType.Tensor1D | undefined };
  };
}
