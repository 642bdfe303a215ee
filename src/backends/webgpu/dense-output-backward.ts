/**
 * The backward of a dense layer with one output unit and no activation (D's output layer, whose
 * logits feed the loss) in one WGSL dispatch on the webgpu backend, for the hand-written backward
 * pass (src/train/backprop.ts): from dLogits g [R, 1], the layer's input h [R, F] and kernel w [F, 1],
 *   dh = g w^T      [R, F]   (the gradient the layers below it take)
 *   dW = h^T g      [F, 1]   and  db = sum(g)  [1]   (only when the weight gradients are wanted)
 * Thread j < F walks down column j (adjacent threads, adjacent floats), writing dh and summing
 * dW[j] in row order; thread F sums db. Sizes are baked into the shader: no uniform buffer.
 *
 * Replaced, in D's step: tfjs's matmuls for dh and dW (a matMulSmallOutputSize and a
 * matMulReduce program) and the sum for db: 3 dispatches, each with a uniform buffer write, now
 * 1 with none; in G's step (dh only) 1 for 1, the write saved. dh is one product per element, as
 * the matmul's, so the same bits; dW and db are float32 sums in row order.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { bufferOf, dispatch, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

export type WebGpuDenseOutputBackward = (
  dLogits: tfType.Tensor2D,
  h: tfType.Tensor2D,
  kernel: tfType.Tensor2D,
  weightGrads: boolean,
) => { dh: tfType.Tensor2D; dW?: tfType.Tensor2D; db?: tfType.Tensor1D };

const WORKGROUP = 64;

export function denseOutputBackwardShader(rows: number, cols: number, weightGrads: boolean): string {
  const outputs = ['dh', ...(weightGrads ? ['dW', 'db'] : [])];
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> g: array<f32>;
${weightGrads ? '@group(0) @binding(1) var<storage, read> h: array<f32>;' : ''}
@group(0) @binding(${weightGrads ? 2 : 1}) var<storage, read> w: array<f32>;
${outputs.map((name, k) => `@group(0) @binding(${(weightGrads ? 3 : 2) + k}) var<storage, read_write> ${name}: array<f32>;`).join('\n')}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let j = id.x;
  if (j < ${cols}u) {
    let wj = w[j];
    var acc = 0.0f;
    for (var r = 0u; r < ${rows}u; r = r + 1u) {
      let gr = g[r];
      dh[r * ${cols}u + j] = gr * wj;
      ${weightGrads ? `acc = acc + h[r * ${cols}u + j] * gr;` : ''}
    }
    ${weightGrads ? 'dW[j] = acc;' : ''}
  }
  ${
    weightGrads
      ? `if (j == ${cols}u) {
    var s = 0.0f;
    for (var r = 0u; r < ${rows}u; r = r + 1u) { s = s + g[r]; }
    db[0] = s;
  }`
      : ''
  }
}
`;
}

/** The fused output-layer backward when the active backend is webgpu, else undefined. */
export function webGpuDenseOutputBackward(tf: Tf): WebGpuDenseOutputBackward | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (dLogits, h, kernel, weightGrads) => {
    const backend = tf.backend() as unknown as WebGpuBackend;
    const [rows, cols] = h.shape;
    if (dLogits.shape[0] !== rows || dLogits.shape[1] !== 1 || kernel.shape[0] !== cols || kernel.shape[1] !== 1)
      throw new Error(`webGpuDenseOutputBackward: dLogits [${dLogits.shape}], h [${h.shape}], kernel [${kernel.shape}]`);
    const outputs = [
      backend.makeTensorInfo([rows, cols], 'float32'),
      ...(weightGrads ? [backend.makeTensorInfo([cols, 1], 'float32'), backend.makeTensorInfo([1], 'float32')] : []),
    ];
    const inputs = [dLogits, ...(weightGrads ? [h] : []), kernel];
    const buffers = [...inputs, ...outputs].map((t) => ({ buffer: bufferOf(backend, t), bytes: 4 * t.shape.reduce((a, d) => a * d, 1) }));
    const threads = cols + (weightGrads ? 1 : 0);
    dispatch(
      backend,
      pipelineFor(backend, denseOutputBackwardShader(rows, cols, weightGrads)),
      buffers,
      undefined,
      Math.ceil(threads / WORKGROUP),
    );
    submitIfDue(backend, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
    const [dh, dW, db] = outputs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
    return { dh: dh as tfType.Tensor2D, dW: dW as tfType.Tensor2D | undefined, db: db as tfType.Tensor1D | undefined };
  };
}
