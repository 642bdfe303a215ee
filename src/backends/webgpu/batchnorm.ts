/**
 * Training-mode batch normalisation on the webgpu backend: the kernels GanBatchNormTraining and
 * GanBatchNormTrainingGrad that batchNormTraining (src/backends/native/batchnorm.ts) runs
 * wherever they are registered, here as WGSL, two dispatches each way, x NHWC seen as [M, C]:
 *   forward   1. per channel (one workgroup each): mean = E[x], variance = E[(x - mean)^2]
 *             2. per element: y = (x - mean) * invStd * gamma + beta, invStd = 1/sqrt(variance + eps)
 *   backward  1. per channel: dbeta = sum(dy), dgamma = sum(dy * xhat), xhat = (x - mean) * invStd
 *             2. per element: dx = (dy * M - dbeta - xhat * dgamma) * (gamma * invStd / M)
 * the formulas and order of the tf-ops path there. A channel's sums run over its rows in a fixed
 * order (each of 256 threads down its stride of rows, then a tree over the threads), so a step
 * gives the same bits every time; the mean is summed shifted by the channel's first value, against
 * cancellation where the mean is large beside the spread (the native kernel does the same).
 * Sizes and epsilon are baked into each shader (one pipeline per layer shape, compiled once), so
 * no uniform buffer is written.
 *
 * Replaced, per layer and pass: tf.moments (mean, sub, square, mean), add, rsqrt, sub, mul, mul,
 * add forward; sum, mul, sum, mul, sub, mul, sub, mul, div, mul backward: 10 and 10 dispatches,
 * each with a uniform buffer write, now 2 and 2 with none.
 *
 * One workgroup per channel reads its column with a stride of C floats: on a GPU that leaves
 * most of the chip idle where C is small and M large (G's last layer); splitting M across
 * workgroups needs a third dispatch and was not measured yet (no GPU at hand).
 */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../tf';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL } from '../native/batchnorm';
import { bufferOf, dispatch, f32, MAX_WORKGROUPS, pipelineFor, submitIfDue, type WebGpuBackend } from './pipeline';

type TensorInfo = tfType.TensorInfo;
type KernelArgs = Parameters<tfType.KernelFunc>[0];

/** epsilon, and the leak of a ReLU (0) or LeakyReLU applied after it (batchNormTakesActivation). */
interface Attrs {
  epsilon: number;
  leak?: number;
}

const CHANNEL_WORKGROUP = 256;
const ELEMENT_WORKGROUP = 256;

function bindings(reads: string[], writes: string[]): string {
  return [
    ...reads.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<f32>;`),
    ...writes.map((name, i) => `@group(0) @binding(${reads.length + i}) var<storage, read_write> ${name}: array<f32>;`),
  ].join('\n');
}

/** A workgroup's tree sum of `part` (every thread's own value stored first); all threads get it. */
const TREE_SUM = /* wgsl */ `
fn treeSum(lid: u32) -> vec2<f32> {
  workgroupBarrier();
  for (var k = ${CHANNEL_WORKGROUP / 2}u; k > 0u; k = k >> 1u) {
    if (lid < k) { part[lid] = part[lid] + part[lid + k]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}`;

/** Forward, dispatch 1: mean and biased variance of each of the C columns of x [M, C]. */
export function batchNormStatsShader(m: number, c: number): string {
  return `${bindings(['x'], ['mean', 'variance'])}
var<workgroup> part: array<vec2<f32>, ${CHANNEL_WORKGROUP}>;
${TREE_SUM}
@compute @workgroup_size(${CHANNEL_WORKGROUP})
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = group.x;
  let shift = x[c];
  var s = 0.0f;
  for (var r = lid; r < ${m}u; r = r + ${CHANNEL_WORKGROUP}u) { s = s + (x[r * ${c}u + c] - shift); }
  part[lid] = vec2<f32>(s, 0.0f);
  let mu = shift + treeSum(lid).x / ${f32(m)};
  var q = 0.0f;
  for (var r = lid; r < ${m}u; r = r + ${CHANNEL_WORKGROUP}u) {
    let d = x[r * ${c}u + c] - mu;
    q = q + d * d;
  }
  part[lid] = vec2<f32>(q, 0.0f);
  let total = treeSum(lid).x;
  if (lid == 0u) {
    mean[c] = mu;
    variance[c] = total / ${f32(m)};
  }
}
`;
}

/** Forward, dispatch 2: y = (x - mean) * invStd * gamma + beta, elementwise; then LeakyReLU(y, leak) when given. */
export function batchNormApplyShader(m: number, c: number, epsilon: number, leak?: number): string {
  const activate = leak === undefined ? '' : `v = select(v * ${f32(leak)}, v, v > 0.0f);`;
  return `${bindings(['x', 'mean', 'variance', 'gamma', 'beta'], ['y'])}
@compute @workgroup_size(${ELEMENT_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${ELEMENT_WORKGROUP}u;
  for (var i = id.x; i < ${m * c}u; i = i + stride) {
    let ch = i % ${c}u;
    let invStd = inverseSqrt(variance[ch] + ${f32(epsilon)});
    var v = ((x[i] - mean[ch]) * invStd) * gamma[ch] + beta[ch];
    ${activate}
    y[i] = v;
  }
}
`;
}

/** The upstream gradient at element i, through the activation when there is one (from its output y). */
function upstream(leak: number | undefined): string {
  return leak === undefined ? 'dy[i]' : `select(dy[i] * ${f32(leak)}, dy[i], y[i] > 0.0f)`;
}

/**
 * Backward, dispatch 1: dgamma = sum(dy * xhat) and dbeta = sum(dy) per column, and for dispatch 2
 * the column's (mean, invStd, dgamma, dbeta) side by side in coef [C, 4]: a buffer fewer to bind
 * there, which WebGPU's default of 8 storage buffers per shader needs with the activation's y.
 */
export function batchNormGradStatsShader(m: number, c: number, epsilon: number, leak?: number): string {
  return `${bindings(['x', 'dy', 'mean', 'variance', ...(leak === undefined ? [] : ['y'])], ['dgamma', 'dbeta', 'coef'])}
var<workgroup> part: array<vec2<f32>, ${CHANNEL_WORKGROUP}>;
${TREE_SUM}
@compute @workgroup_size(${CHANNEL_WORKGROUP})
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = group.x;
  let mu = mean[c];
  let invStd = inverseSqrt(variance[c] + ${f32(epsilon)});
  var s = vec2<f32>(0.0f);
  for (var r = lid; r < ${m}u; r = r + ${CHANNEL_WORKGROUP}u) {
    let i = r * ${c}u + c;
    let g = ${upstream(leak)};
    s = s + vec2<f32>(g * ((x[i] - mu) * invStd), g);
  }
  part[lid] = s;
  let total = treeSum(lid);
  if (lid == 0u) {
    dgamma[c] = total.x;
    dbeta[c] = total.y;
    coef[4u * c] = mu;
    coef[4u * c + 1u] = invStd;
    coef[4u * c + 2u] = total.x;
    coef[4u * c + 3u] = total.y;
  }
}
`;
}

/** Backward, dispatch 2: dx, elementwise. */
export function batchNormGradApplyShader(m: number, c: number, leak?: number): string {
  const y = leak === undefined ? [] : ['y'];
  return `${bindings(['x', 'dy', 'gamma', 'coef', ...y], ['dx'])}
@compute @workgroup_size(${ELEMENT_WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let stride = groups.x * ${ELEMENT_WORKGROUP}u;
  for (var i = id.x; i < ${m * c}u; i = i + stride) {
    let ch = i % ${c}u;
    let invStd = coef[4u * ch + 1u];
    let xhat = (x[i] - coef[4u * ch]) * invStd;
    let inner = (${upstream(leak)} * ${f32(m)} - coef[4u * ch + 3u]) - xhat * coef[4u * ch + 2u];
    dx[i] = inner * ((gamma[ch] * invStd) / ${f32(m)});
  }
}
`;
}

/** Rows M and channels C of an NHWC tensor. */
function rowsAndChannels(x: TensorInfo): { m: number; c: number } {
  const c = x.shape[x.shape.length - 1];
  return { m: x.shape.reduce((a, d) => a * d, 1) / c, c };
}

/** Records one dispatch of `code` reading `reads` and writing `writes` (all float32). */
function run(backend: WebGpuBackend, code: string, reads: TensorInfo[], writes: TensorInfo[], workgroups: number): void {
  const size = (t: TensorInfo) => 4 * t.shape.reduce((a, d) => a * d, 1);
  const buffers = [...reads, ...writes].map((t) => ({ buffer: bufferOf(backend, t), bytes: size(t) }));
  dispatch(backend, pipelineFor(backend, code), buffers, undefined, workgroups);
}

const elementGroups = (n: number) => Math.min(MAX_WORKGROUPS, Math.ceil(n / ELEMENT_WORKGROUP));

/** Registers both kernels for 'webgpu' (once). Float32 NHWC only, as batchNormTraining calls them. */
export function installWebGpuBatchNorm(tf: Tf): void {
  if (tf.getKernel(BATCH_NORM_KERNEL, 'webgpu')) return;
  // tfjs's submit rule, checked after both dispatches (see submitIfDue).
  const submit = (backend: WebGpuBackend) => submitIfDue(backend, tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number);
  tf.registerKernel({
    kernelName: BATCH_NORM_KERNEL,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { x, gamma, beta } = inputs as Record<string, TensorInfo>;
      const b = backend as unknown as WebGpuBackend;
      const { m, c } = rowsAndChannels(x);
      const { epsilon, leak } = attrs as unknown as Attrs;
      const [y, mean, variance] = [
        b.makeTensorInfo(x.shape, 'float32'),
        b.makeTensorInfo([c], 'float32'),
        b.makeTensorInfo([c], 'float32'),
      ];
      run(b, batchNormStatsShader(m, c), [x], [mean, variance], c);
      run(b, batchNormApplyShader(m, c, epsilon, leak), [x, mean, variance, gamma, beta], [y], elementGroups(m * c));
      submit(b);
      return [y, mean, variance];
    }) as tfType.KernelFunc,
  });
  tf.registerKernel({
    kernelName: BATCH_NORM_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { x, dy, gamma, mean, variance, y } = inputs as Record<string, TensorInfo>;
      const b = backend as unknown as WebGpuBackend;
      const { m, c } = rowsAndChannels(x);
      const { epsilon, leak } = attrs as unknown as Attrs;
      const activated = leak === undefined ? [] : [y];
      const [dx, dgamma, dbeta] = [
        b.makeTensorInfo(x.shape, 'float32'),
        b.makeTensorInfo([c], 'float32'),
        b.makeTensorInfo([c], 'float32'),
      ];
      const coef = b.makeTensorInfo([c, 4], 'float32');
      run(b, batchNormGradStatsShader(m, c, epsilon, leak), [x, dy, mean, variance, ...activated], [dgamma, dbeta, coef], c);
      run(b, batchNormGradApplyShader(m, c, leak), [x, dy, gamma, coef, ...activated], [dx], elementGroups(m * c));
      submit(b);
      // Released to tfjs's pool once the commands queued with it have run.
      b.disposeData(coef.dataId);
      return [dx, dgamma, dbeta];
    }) as tfType.KernelFunc,
  });
}
