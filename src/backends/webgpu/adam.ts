/**
 * Adam on the webgpu backend: one WGSL dispatch per two variables updates their params, m and v
 * in place, the step's scalars (step size, bias correction, betas, epsilon) read from one uniform
 * buffer written once per network per step.
 *
 * Replaced: the tfjs-ops Adam of src/train/adam.ts on this backend, about 10 elementwise kernels
 * per variable (m: mul, mul, add; v: square, mul, mul, add; the step: sqrt, mul, add, div, mul,
 * sub, and the assigns), each dispatch with its own uniform buffer write, plus the step's two
 * scalars uploaded per network.
 * Saved, per training step (`npm run bench -- --backends webgpu`, SwiftShader, dispatches /
 * submits / buffer writes, the bench's read of the stats included):
 *   MLP, batch 64 (16 variables):            279 / 19 / 295  ->  111 / 8 / 111
 *   DCGAN --channels 8, batch 8 (incl. BN):  698 / 47 / 808  ->  482 / 33 / 572
 *   DCGAN --channels 32, batch 8:            694 / 47 / 804  ->  478 / 32 / 568
 *
 * Why in place is safe: WebGPU orders the dispatches of a pass (and of a queue), so commands
 * recorded earlier that read the param (the forward pass) see the old values and later ones the
 * new. A buffer shared by two tensors (a variable assigned from a tensor still alive elsewhere,
 * e.g. a checkpoint's restored weights) is first copied to a buffer of its own, so no other
 * tensor changes. Values tfjs cached on the CPU after a read are dropped, so the next read sees
 * the update. The gradients' buffers are marked as used by the open encoder, so tfjs does not
 * return them to its pool before the commands run (as it does for its own kernels' inputs).
 *
 * Submits follow tfjs's rule (every dispatch counts toward WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE),
 * checked once after all the variables' dispatches.
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { bufferOf, dispatch, MAX_WORKGROUPS, pipelineFor, submitIfDue, type GpuBuffer, type WebGpuBackend } from './pipeline';

/** The scalars of one Adam step, as src/train/adam.ts computes them (in float64, rounded here to float32). */
export interface AdamStepScalars {
  beta1: number;
  beta2: number;
  stepSize: number;
  invSqrtBias2: number;
  epsilon: number;
}

/** Updates every variable, its m and v in place from its gradient. */
export type WebGpuAdamUpdate = (
  params: tfType.Variable[],
  m: tfType.Variable[],
  v: tfType.Variable[],
  grads: tfType.Tensor[],
  s: AdamStepScalars,
) => void;

const WORKGROUP = 256;

/**
 * Variables per dispatch: each binds its param, m, v and gradient, and WebGPU's default limit is 8
 * storage buffers per shader stage (tfjs asks the device for no more).
 */
const PER_DISPATCH = 2;

/**
 * The shader for variables of `sizes` elements (one or two), one after the other in the
 * dispatch's index range; their sizes are baked in (one pipeline per pair of shapes). Same
 * arithmetic, in the same order, as the tfjs-ops path of src/train/adam.ts.
 */
export function adamShader(sizes: number[]): string {
  const bindings = sizes.flatMap((_, k) => [
    `@group(0) @binding(${4 * k}) var<storage, read_write> param${k}: array<f32>;`,
    `@group(0) @binding(${4 * k + 1}) var<storage, read_write> m${k}: array<f32>;`,
    `@group(0) @binding(${4 * k + 2}) var<storage, read_write> v${k}: array<f32>;`,
    `@group(0) @binding(${4 * k + 3}) var<storage, read> grad${k}: array<f32>;`,
  ]);
  const update = (k: number, i: string) => `
      let g = grad${k}[${i}];
      let mi = m${k}[${i}] * s.beta1 + g * s.oneMinusBeta1;
      let vi = v${k}[${i}] * s.beta2 + (g * g) * s.oneMinusBeta2;
      m${k}[${i}] = mi;
      v${k}[${i}] = vi;
      let denom = sqrt(vi) * s.invSqrtBias2 + s.epsilon;
      param${k}[${i}] = param${k}[${i}] - s.stepSize * (mi / denom);`;
  const total = sizes.reduce((a, n) => a + n, 0);
  const body =
    sizes.length === 1
      ? update(0, 'i')
      : `
    if (i < ${sizes[0]}u) {${update(0, 'i')}
    } else {
      let j = i - ${sizes[0]}u;${update(1, 'j')}
    }`;
  return /* wgsl */ `
struct Scalars {
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  stepSize: f32,
  invSqrtBias2: f32,
  epsilon: f32,
  pad: f32,
}
${bindings.join('\n')}
@group(0) @binding(${4 * sizes.length}) var<uniform> s: Scalars;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${WORKGROUP}u;
  for (var i = id.x; i < ${total}u; i = i + stride) {${body}
  }
}
`;
}

/** The fused update when the active backend is webgpu, else undefined. */
export function webGpuAdamUpdate(tf: Tf): WebGpuAdamUpdate | undefined {
  if (tf.getBackend() !== 'webgpu') return undefined;
  return (params, m, v, grads, s) => {
    const backend = tf.backend() as unknown as WebGpuBackend;
    const scalars = [s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.stepSize, s.invSqrtBias2, s.epsilon, 0];
    const uniform = backend.makeUniforms([
      { type: 'float32', data: scalars.slice(0, 4) },
      { type: 'float32', data: scalars.slice(4) },
    ]);
    const batch = tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number;
    const nonEmpty = params.map((_, i) => i).filter((i) => params[i].size > 0);
    for (let start = 0; start < nonEmpty.length; start += PER_DISPATCH) {
      const group = nonEmpty.slice(start, start + PER_DISPATCH);
      const sizes = group.map((i) => params[i].size);
      const buffers = group.flatMap((i) => {
        const targets = [params[i], m[i], v[i]].map((x) => ownBuffer(tf, backend, x));
        return [...targets, bufferOf(backend, grads[i])].map((buffer) => ({ buffer, bytes: 4 * params[i].size }));
      });
      const total = sizes.reduce((a, n) => a + n, 0);
      dispatch(backend, pipelineFor(backend, adamShader(sizes)), buffers, uniform, Math.min(MAX_WORKGROUPS, Math.ceil(total / WORKGROUP)));
    }
    submitIfDue(backend, batch);
  };
}

/**
 * The GPU buffer of a variable, made its own first: uploaded if its values are still on the
 * CPU, copied when another tensor shares it, and any CPU copy of its values dropped (they are
 * about to change). Marked as used by the open encoder.
 */
function ownBuffer(tf: Tf, backend: WebGpuBackend, x: tfType.Variable): GpuBuffer {
  if (backend.refCount(x.dataId) > 1) {
    backend.uploadToGPU(x.dataId);
    const copy = backend.makeTensorInfo(x.shape, 'float32');
    backend.uploadToGPU(copy.dataId);
    backend.endComputePassEncoder();
    backend.ensureCommandEncoderReady();
    backend.commandEncoder!.copyBufferToBuffer(
      backend.tensorMap.get(x.dataId).resource!,
      0,
      backend.tensorMap.get(copy.dataId).resource!,
      0,
      4 * x.size,
    );
    backend.commandQueueOwnedIds.add(x.dataId);
    const t = tf.engine().makeTensorFromTensorInfo(copy);
    x.assign(t);
    t.dispose();
  }
  backend.uploadToGPU(x.dataId);
  const data = backend.tensorMap.get(x.dataId);
  data.values = null;
  backend.commandQueueOwnedIds.add(x.dataId);
  return data.resource!;
}
