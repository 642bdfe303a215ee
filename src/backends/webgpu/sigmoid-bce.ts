/**
 * Sigmoid cross-entropy on logits, forward and backward in one WGSL dispatch on the webgpu
 * backend, for the dense step's plain labels (src/train/dense-step.ts): the first `ones` of the
 * n logits l_i are labelled 1, the rest 0, and with scale = 1/B it gives
 *   dLogits_i = (sigmoid(l_i) - t_i) * scale        the loss's gradient, [n, 1]
 *   loss      = scale * sum_i softplus((1 - 2 t_i) l_i)
 *   pOnes     = scale * sum_{i < ones} sigmoid(l_i)  (D's step: mean D(x))
 *   pZeros    = scale * sum_{i >= ones} sigmoid(l_i) (mean D(G(z)))
 * One workgroup sums them (n is 2B rows: a few thousand at most), in a fixed order.
 *
 * Replaced: in D's step sigmoid, sub, mul (the gradient), mul, softplus, sum, div (the loss), and
 * split + two means (D(x), D(G(z))); in G's step sigmoid, sub, mul, neg, softplus, mean: each a
 * dispatch with its own uniform buffer write. Saved, per MLP training step at batch 64
 * (`npm run bench -- --backends webgpu`, SwiftShader, dispatches / submits / buffer writes):
 *   111 / 8 / 106  ->  96 / 7 / 91 (the DCGAN trains through autodiff: unchanged)
 * Its sizes and scale (n, ones, 1/B) are baked into the shader's source (one pipeline per batch
 * size, compiled once) rather than a uniform buffer written per call: 2 fewer writes a step.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { bufferOf, dispatch, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

export interface SigmoidBce {
  dLogits: tfType.Tensor2D;
  loss: tfType.Scalar;
  pOnes: tfType.Scalar;
  pZeros: tfType.Scalar;
}

/** The fused loss for logits [n, 1], `ones` leading rows labelled 1, sums times `scale`. */
export type WebGpuSigmoidBce = (logits: tfType.Tensor2D, ones: number, scale: number) => SigmoidBce;

const WORKGROUP = 256;

/** The shader for n logits, the first `ones` labelled 1, sums times `scale`: baked in, no uniform buffer. */
function shader(n: number, ones: number, scale: number): string {
  // 9 significant digits round-trip a float32 exactly.
  const u = { n: `${n}i`, ones: `${ones}i`, scale: `${Math.fround(scale).toPrecision(9)}f` };
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> pOnes: array<f32>;
@group(0) @binding(4) var<storage, read_write> pZeros: array<f32>;

var<workgroup> sums: array<vec3<f32>, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = vec3<f32>(0.0);
  for (var i = i32(lid); i < ${u.n}; i = i + ${WORKGROUP}) {
    let l = logits[i];
    let one = i < ${u.ones};
    let p = 1.0 / (1.0 + exp(-l));
    // p - 1 as -sigmoid(-l): no cancellation where p rounds to 1 in float32
    dLogits[i] = select(p, -1.0 / (1.0 + exp(l)), one) * ${u.scale};
    // softplus(x) = max(x, 0) + log(1 + exp(-|x|)), x = -l for label 1, l for label 0
    let x = select(l, -l, one);
    let softplus = max(x, 0.0) + log(1.0 + exp(-abs(x)));
    acc = acc + vec3<f32>(softplus, select(0.0, p, one), select(p, 0.0, one));
  }
  sums[lid] = acc;
  workgroupBarrier();
  for (var width = ${WORKGROUP / 2}u; width > 0u; width = width / 2u) {
    if (lid < width) {
      sums[lid] = sums[lid] + sums[lid + width];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    loss[0] = sums[0].x * ${u.scale};
    pOnes[0] = sums[0].y * ${u.scale};
    pZeros[0] = sums[0].z * ${u.scale};
  }
}
`;
}

/** The fused loss when the active backend is webgpu, else undefined. */
export function webGpuSigmoidBce(tf: Tf): WebGpuSigmoidBce | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (logits, ones, scale) => {
    const backend = tf.backend() as unknown as WebGpuBackend;
    const n = logits.shape[0];
    if (logits.shape[1] !== 1 || n === 0) throw new Error(`webGpuSigmoidBce: logits [${logits.shape}], want [n, 1], n > 0`);
    const outputs = [backend.makeTensorInfo([n, 1], 'float32'), ...[0, 1, 2].map(() => backend.makeTensorInfo([], 'float32'))];
    const buffers = [logits, ...outputs].map((t) => ({ buffer: bufferOf(backend, t), bytes: 4 * Math.max(1, t.shape[0] ?? 1) }));
    dispatch(backend, pipelineFor(backend, shader(n, ones, scale)), buffers, undefined, 1);
    submitIfDue(backend, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
    const [dLogits, loss, pOnes, pZeros] = outputs.map((t) => tf.engine().makeTensorFromTensorInfo(t));
    return {
      dLogits: dLogits as tfType.Tensor2D,
      loss: loss as tfType.Scalar,
      pOnes: pOnes as tfType.Scalar,
      pZeros: pZeros as tfType.Scalar,
    };
  };
}
