/**
 * The child process of test/webgpu-kernels.test.ts: runs our WGSL kernels (src/backends/webgpu)
 * on the webgpu backend and prints one line `GAN_KERNELS <json>` with what the test checks.
 * A child because tfjs runs one backend per process and the test runner's is wasm.
 *
 *   node dist/test/webgpu-kernels.js
 */
import { loadBackend } from '../src/backends';
import { countWebGpuCalls } from '../src/backends/webgpu/counters';
import { Rng } from '../src/core/rng';
import { webGpuDenseBackward, type DenseActivation } from '../src/backends/webgpu/dense-backward';
import { webGpuDenseLeakyDropout } from '../src/backends/webgpu/dense-forward';
import { webGpuSigmoidBce } from '../src/backends/webgpu/sigmoid-bce';
import { Adam } from '../src/train/adam';
import type * as tfType from '@tensorflow/tfjs';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL } from '../src/backends/native/batchnorm';
import { ACTIVATION_GRAD_KERNEL } from '../src/backends/native/activations';
import { MOVING_STATS_KERNEL } from '../src/backends/webgpu/moving-stats';

export interface KernelResults {
  adam: {
    /** Largest |fused - float64 reference| over three steps of three variables. */
    worst: number;
    /** The same for tfjs's ops on this backend (the path it replaces). */
    worstOps: number;
    /** Calls of one apply() for the three variables. */
    calls: { dispatches: number; submits: number; bufferWrites: number };
    /** A tensor the first variable was assigned from, still alive: unchanged by the update? */
    sharedUnchanged: boolean;
    /** Tensors alive before and after three updates (after the first, which may copy a shared buffer). */
    tensors: [number, number];
  };
  /** Largest relative difference of each output of the fused loss from float64, and its calls. */
  sigmoidBce: {
    dLogits: number;
    loss: number;
    pOnes: number;
    pZeros: number;
    calls: { dispatches: number; submits: number; bufferWrites: number };
  };
  /**
   * The dense backward epilogue per case (DENSE_BACKWARD_CASES): the largest |fused - float64| of
   * dz and db, each over the largest |reference| (the scale of float32 rounding), and its calls.
   */
  /**
   * The dense forward with dropout per shape (DENSE_FORWARD_SHAPES): the largest |fused - float64|
   * over the sum of |terms| of its output element (the scale of a float32 dot product's rounding),
   * whether it equals tfjs's fused matmul then tf.mul by the mask bit for bit, and its calls.
   */
  denseForward: Array<{
    name: string;
    worst: number;
    sameAsOps: boolean;
    calls: { dispatches: number; submits: number; bufferWrites: number };
  }>;
  denseBackward: Array<{ name: string; dz: number; db: number; calls: { dispatches: number; submits: number; bufferWrites: number } }>;
  /**
   * Batch norm forward and backward per case (BATCH_NORM_CASES), through the registered kernels:
   * each output's largest |fused - float64| over its largest |float64|, and each direction's calls.
   */
  batchNorm: Array<{
    name: string;
    errors: Record<'y' | 'mean' | 'variance' | 'dx' | 'dgamma' | 'dbeta', number>;
    calls: { forward: Calls; backward: Calls };
  }>;
  /** The activation gradient (op 0 at leak 0.2, op 1) and the moving averages: the same measure, and calls. */
  activationGrad: Array<{ name: string; error: number; calls: Calls }>;
  movingStats: { mean: number; variance: number; calls: Calls };
}

type Calls = { dispatches: number; submits: number; bufferWrites: number };

/** [N, H, W, C] and the leak of the activation applied after it (none: plain batch norm). */
export const BATCH_NORM_CASES: Array<{ shape: [number, number, number, number]; leak?: number }> = [
  { shape: [3, 5, 5, 6] },
  { shape: [8, 16, 16, 3], leak: 0.2 },
  { shape: [4, 4, 4, 40], leak: 0 },
];
export const BATCH_NORM_EPSILON = 1e-5;

/** Training-mode batch norm (+ LeakyReLU) and its gradient in float64, x [M, C] channels last. */
export function batchNormReference(x: Float32Array, gamma: Float32Array, beta: Float32Array, dy: Float32Array, c: number, leak?: number) {
  const m = x.length / c;
  const col = (f: (r: number) => number) => {
    let s = 0;
    for (let r = 0; r < m; r++) s += f(r);
    return s;
  };
  const mean = Array.from({ length: c }, (_, j) => col((r) => x[r * c + j]) / m);
  const variance = Array.from({ length: c }, (_, j) => col((r) => (x[r * c + j] - mean[j]) ** 2) / m);
  const invStd = variance.map((v) => 1 / Math.sqrt(v + BATCH_NORM_EPSILON));
  const xhat = Array.from(x, (v, i) => (v - mean[i % c]) * invStd[i % c]);
  const pre = xhat.map((h, i) => h * gamma[i % c] + beta[i % c]);
  const y = pre.map((v) => (leak === undefined || v > 0 ? v : v * leak));
  const dz = Array.from(dy, (g, i) => (leak === undefined || pre[i] > 0 ? g : g * leak));
  const dbeta = Array.from({ length: c }, (_, j) => col((r) => dz[r * c + j]));
  const dgamma = Array.from({ length: c }, (_, j) => col((r) => dz[r * c + j] * xhat[r * c + j]));
  const dx = dz.map((g, i) => ((gamma[i % c] * invStd[i % c]) / m) * (m * g - dbeta[i % c] - xhat[i] * dgamma[i % c]));
  return { y, mean, variance, dx, dgamma, dbeta };
}

/** max |got - want| / max |want|: float32 rounding measured against the output's scale. */
function scaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let top = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) top = Math.max(top, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return worst / top;
}

/**
 * [rows, inner, cols] of the dense forward test: D's first layer at 2B = 8 and at 2B = 128 (tfjs
 * picks its matmul program by output size), and odd sizes (no vec4 code).
 */
export const DENSE_FORWARD_SHAPES: Array<[number, number, number]> = [
  [8, 784, 512],
  [128, 784, 512],
  [130, 33, 70],
];

/** Rows and columns of the dense backward test: more columns than a 64-thread workgroup, rows 2B at B = 65. */
export const DENSE_ROWS = 130;
export const DENSE_COLS = 70;
export const DENSE_LEAK = 0.2;
/** The layer kinds the MLPs have: D's hidden layers (LeakyReLU, dropout) in D's and G's steps, G's hidden and tanh layers. */
export const DENSE_BACKWARD_CASES: Array<{ name: string; activation: DenseActivation; masked: boolean; biasGrad: boolean }> = [
  { name: 'leakyrelu+mask+db', activation: 'leakyrelu', masked: true, biasGrad: true },
  { name: 'leakyrelu+mask', activation: 'leakyrelu', masked: true, biasGrad: false },
  { name: 'leakyrelu+db', activation: 'leakyrelu', masked: false, biasGrad: true },
  { name: 'tanh+db', activation: 'tanh', masked: false, biasGrad: true },
  { name: 'linear+mask+db', activation: 'linear', masked: true, biasGrad: true },
];

/** dz = d * m * act'(a) and db = column sums of dz, in float64 from float32 inputs. */
export function denseBackwardReference(
  d: Float32Array,
  a: Float32Array,
  m: Float32Array | undefined,
  activation: DenseActivation,
  leak: number,
  cols: number,
) {
  const dz = Array.from(d, (g, i) => {
    const x = a[i];
    const deriv = activation === 'leakyrelu' ? (x > 0 ? 1 : Math.fround(leak)) : activation === 'tanh' ? 1 - x * x : 1;
    return g * (m ? m[i] : 1) * deriv;
  });
  const db = new Array<number>(cols).fill(0);
  dz.forEach((v, i) => (db[i % cols] += v));
  return { dz, db };
}

/** Rows of the fused loss's test: 2B at batch 300 (more than a workgroup's 256 threads), the first B labelled 1. */
export const BCE_ROWS = 600;

/** The fused loss's outputs in float64: logits, the first `ones` labelled 1, sums times `scale`. */
export function sigmoidBceReference(l: Float32Array, ones: number, scale: number) {
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
  let loss = 0;
  let pOnes = 0;
  let pZeros = 0;
  const dLogits = Array.from(l, (x, i) => {
    const t = i < ones ? 1 : 0;
    loss += softplus(t ? -x : x);
    if (t) pOnes += sigmoid(x);
    else pZeros += sigmoid(x);
    return (t ? -sigmoid(-x) : sigmoid(x)) * scale; // sigmoid(x) - t without cancellation
  });
  return { dLogits, loss: loss * scale, pOnes: pOnes * scale, pZeros: pZeros * scale };
}

export const ADAM_SETTINGS = { lr: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
/** Sizes: a bias, a weight matrix, one larger than a workgroup's reach many times over. */
export const ADAM_SIZES = [10, 1000, 70_001];

/** PyTorch's Adam in float64 (as test/adam.test.ts). */
export function adamReference(p0: Float32Array, grads: Float32Array[], s = ADAM_SETTINGS): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = s.beta1 * m[i] + (1 - s.beta1) * g[i];
      v[i] = s.beta2 * v[i] + (1 - s.beta2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - s.beta2 ** t) + s.epsilon;
      p[i] -= (s.lr / (1 - s.beta1 ** t)) * (m[i] / denom);
    }
  });
  return p;
}

async function main(): Promise<void> {
  const { tf } = await loadBackend('webgpu', { webgpuAdapterProbe: false });
  const p0 = ADAM_SIZES.map((n, j) => Rng.for(1, 100 + j).fillUniform(new Float32Array(n), -1, 1));
  const grads = [1, 2, 3].map((k) => ADAM_SIZES.map((n, j) => Rng.for(k, j).fillNormal(new Float32Array(n))));
  const want = p0.map((p, j) =>
    adamReference(
      p,
      grads.map((g) => g[j]),
    ),
  );

  const run = async (fused: boolean) => {
    const initial = p0.map((p) => tf.tensor1d(p));
    const params = initial.map((t) => tf.variable(t));
    const adam = new Adam(tf, params, ADAM_SETTINGS);
    if (!fused) (adam as unknown as { fusedGpu: undefined }).fusedGpu = undefined;
    let calls = { dispatches: 0, submits: 0, bufferWrites: 0 };
    const tensors: number[] = [];
    for (const [k, g] of grads.entries()) {
      // Read the params first: tfjs then caches their values on the CPU, which the update must drop.
      await Promise.all(params.map((p) => p.data()));
      const counter = k === 1 ? countWebGpuCalls(tf.backend()) : undefined;
      tf.tidy(() => adam.apply(g.map((x) => tf.tensor1d(x))));
      if (counter) {
        counter.restore();
        calls = { ...counter.counts };
      }
      tensors.push(tf.memory().numTensors);
    }
    let worst = 0;
    for (const [j, p] of params.entries()) {
      const got = (await p.data()) as Float32Array;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[j][i]));
    }
    const kept = (await initial[0].data()) as Float32Array;
    const sharedUnchanged = kept.every((x, i) => x === p0[0][i]);
    adam.dispose();
    for (const t of [...params, ...initial]) t.dispose();
    return { worst, calls, sharedUnchanged, tensors: [tensors[0], tensors[2]] as [number, number] };
  };
  const fused = await run(true);
  const ops = await run(false);

  // Logits up to +-40: softplus and sigmoid at both ends of their range.
  const logits = Rng.for(5, 0).fillUniform(new Float32Array(BCE_ROWS), -40, 40);
  const scale = 2 / BCE_ROWS;
  const wantBce = sigmoidBceReference(logits, BCE_ROWS / 2, scale);
  const bce = webGpuSigmoidBce(tf)!;
  const input = tf.tensor2d(logits, [BCE_ROWS, 1]);
  (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(input.dataId); // before counting
  const counter = countWebGpuCalls(tf.backend());
  const got = bce(input, BCE_ROWS / 2, scale);
  counter.restore();
  const relative = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
    return worst;
  };
  const read = async (t: { data(): Promise<unknown> }) => Array.from((await t.data()) as Float32Array);
  const sigmoidBce = {
    dLogits: relative(await read(got.dLogits), wantBce.dLogits),
    loss: relative(await read(got.loss), [wantBce.loss]),
    pOnes: relative(await read(got.pOnes), [wantBce.pOnes]),
    pZeros: relative(await read(got.pZeros), [wantBce.pZeros]),
    calls: { ...counter.counts },
  };
  const denseForward: KernelResults['denseForward'] = [];
  const fusedForward = webGpuDenseLeakyDropout(tf)!;
  for (const [k, [rows, inner, cols]] of DENSE_FORWARD_SHAPES.entries()) {
    const x = Rng.for(10, k).fillNormal(new Float32Array(rows * inner));
    const w = Rng.for(11, k).fillUniform(new Float32Array(inner * cols), -0.05, 0.05);
    const b = Rng.for(12, k).fillUniform(new Float32Array(cols), -0.05, 0.05);
    const m = Rng.for(13, k)
      .fillUniform(new Float32Array(rows * cols), 0, 1)
      .map((u) => (u < 0.3 ? 0 : 1 / 0.7));
    const [xT, wT, mT] = [tf.tensor2d(x, [rows, inner]), tf.tensor2d(w, [inner, cols]), tf.tensor2d(m, [rows, cols])];
    const bT = tf.tensor1d(b);
    for (const t of [xT, wT, mT, bT]) (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(t.dataId);
    const forwardCounter = countWebGpuCalls(tf.backend());
    const y = fusedForward(xT, wT, bT, mT, DENSE_LEAK);
    forwardCounter.restore();
    const ops = tf.tidy(() => tf.mul(tf.fused.matMul({ a: xT, b: wT, bias: bT, activation: 'leakyrelu', leakyreluAlpha: DENSE_LEAK }), mT));
    const got = await read(y);
    const same = await read(ops);
    let worst = 0;
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        let z = b[c];
        let size = Math.abs(b[c]);
        for (let i = 0; i < inner; i++) {
          z += x[r * inner + i] * w[i * cols + c];
          size += Math.abs(x[r * inner + i] * w[i * cols + c]);
        }
        const mi = m[r * cols + c];
        const want = (z < 0 ? Math.fround(DENSE_LEAK) * z : z) * mi;
        worst = Math.max(worst, Math.abs(got[r * cols + c] - want) / (size * Math.max(1, mi)));
      }
    denseForward.push({
      name: `${rows}x${inner}x${cols}`,
      worst,
      sameAsOps: got.every((v, i) => Object.is(v, same[i])),
      calls: { ...forwardCounter.counts },
    });
    for (const t of [xT, wT, mT, bT, y, ops]) t.dispose();
  }
  const denseBackward: KernelResults['denseBackward'] = [];
  const fusedBackward = webGpuDenseBackward(tf)!;
  const n = DENSE_ROWS * DENSE_COLS;
  const shape: [number, number] = [DENSE_ROWS, DENSE_COLS];
  for (const [k, c] of DENSE_BACKWARD_CASES.entries()) {
    const d = Rng.for(7, k).fillNormal(new Float32Array(n));
    // a: LeakyReLU outputs (either sign, some exactly 0), or tanh outputs in (-1, 1)
    const a = Rng.for(8, k)
      .fillUniform(new Float32Array(n), -1, 1)
      .map((x, i) => (i % 17 === 0 ? 0 : c.activation === 'tanh' ? Math.tanh(3 * x) : x));
    // inverted dropout at 0.3: 0 or 1/0.7
    const m = c.masked
      ? Rng.for(9, k)
          .fillUniform(new Float32Array(n), 0, 1)
          .map((u) => (u < 0.3 ? 0 : 1 / 0.7))
      : undefined;
    const want = denseBackwardReference(d, a, m, c.activation, DENSE_LEAK, DENSE_COLS);
    const [dT, aT, mT] = [d, a, m].map((x) => x && tf.tensor2d(x, shape));
    for (const t of [dT, aT, mT]) if (t) (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(t.dataId);
    const backwardCounter = countWebGpuCalls(tf.backend());
    const r = fusedBackward(dT!, aT!, mT, c.activation, DENSE_LEAK, c.biasGrad);
    backwardCounter.restore();
    const scaled = (got: ArrayLike<number>, ref: number[]) => {
      const top = Math.max(...ref.map(Math.abs));
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / top);
      return worst;
    };
    denseBackward.push({
      name: c.name,
      dz: scaled(await read(r.dz), want.dz),
      db: c.biasGrad ? scaled(await read(r.db!), want.db) : r.db === undefined ? 0 : 1,
      calls: { ...backwardCounter.counts },
    });
    for (const t of [dT, aT, mT, r.dz, r.db]) t?.dispose();
  }
  const upload = (...ts: Array<{ dataId: object }>) => {
    for (const t of ts) (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(t.dataId);
  };
  const counted = <T>(f: () => T): { value: T; calls: Calls } => {
    const counter = countWebGpuCalls(tf.backend());
    const value = f();
    counter.restore();
    return { value, calls: { ...counter.counts } };
  };
  const batchNorm: KernelResults['batchNorm'] = [];
  for (const [k, { shape, leak }] of BATCH_NORM_CASES.entries()) {
    const c = shape[3];
    const size = shape.reduce((a, d) => a * d, 1);
    // An offset of 3 against a spread of 1: the mean's sum must not cancel.
    const x = Rng.for(20, k)
      .fillNormal(new Float32Array(size))
      .map((v) => v + 3);
    const gamma = Rng.for(21, k).fillUniform(new Float32Array(c), 0.5, 1.5);
    const beta = Rng.for(22, k).fillUniform(new Float32Array(c), -0.5, 0.5);
    const dy = Rng.for(23, k).fillNormal(new Float32Array(size));
    const want = batchNormReference(x, gamma, beta, dy, c, leak);
    const [xT, dyT] = [tf.tensor4d(x, shape), tf.tensor4d(dy, shape)];
    const [gT, bT] = [tf.tensor1d(gamma), tf.tensor1d(beta)];
    upload(xT, dyT, gT, bT);
    const attrs: tfType.NamedAttrMap = leak === undefined ? { epsilon: BATCH_NORM_EPSILON } : { epsilon: BATCH_NORM_EPSILON, leak };
    const forward = counted(() => tf.engine().runKernel(BATCH_NORM_KERNEL, { x: xT, gamma: gT, beta: bT }, attrs) as tfType.Tensor[]);
    const [y, mean, variance] = forward.value;
    const backward = counted(
      () =>
        tf
          .engine()
          .runKernel(
            BATCH_NORM_GRAD_KERNEL,
            { x: xT, dy: dyT, gamma: gT, mean, variance, ...(leak === undefined ? {} : { y }) },
            attrs,
          ) as tfType.Tensor[],
    );
    const [dx, dgamma, dbeta] = backward.value;
    batchNorm.push({
      name: `[${shape}]${leak === undefined ? '' : ` + LeakyReLU ${leak}`}`,
      errors: {
        y: scaledError(await read(y), want.y),
        mean: scaledError(await read(mean), want.mean),
        variance: scaledError(await read(variance), want.variance),
        dx: scaledError(await read(dx), want.dx),
        dgamma: scaledError(await read(dgamma), want.dgamma),
        dbeta: scaledError(await read(dbeta), want.dbeta),
      },
      calls: { forward: forward.calls, backward: backward.calls },
    });
    for (const t of [xT, dyT, gT, bT, ...forward.value, ...backward.value]) t.dispose();
  }
  const activationGrad: KernelResults['activationGrad'] = [];
  for (const [op, alpha, name] of [
    [0, 0.2, 'LeakyReLU 0.2'],
    [1, 0, 'tanh'],
  ] as const) {
    const dy = Rng.for(30, op).fillNormal(new Float32Array(1000));
    const x = Rng.for(31, op).fillUniform(new Float32Array(1000), -1, 1);
    const want = Array.from(dy, (g, i) => (op === 1 ? g * (1 - x[i] * x[i]) : x[i] > 0 ? g : g * alpha));
    const [dyT, xT] = [tf.tensor1d(dy), tf.tensor1d(x)];
    upload(dyT, xT);
    const r = counted(() => tf.engine().runKernel(ACTIVATION_GRAD_KERNEL, { dy: dyT, x: xT }, { op, alpha }) as tfType.Tensor);
    activationGrad.push({ name, error: scaledError(await read(r.value), want), calls: r.calls });
    for (const t of [dyT, xT, r.value]) t.dispose();
  }
  const stats = [40, 41, 42, 43].map((k) => Rng.for(k, 0).fillUniform(new Float32Array(37), 0.1, 2));
  const statsT = stats.map((v) => tf.tensor1d(v));
  upload(...statsT);
  const momentum = 0.1;
  const count = 200;
  const factor = (momentum * count) / (count - 1);
  const moved = counted(
    () =>
      tf
        .engine()
        .runKernel(
          MOVING_STATS_KERNEL,
          { movingMean: statsT[0], movingVariance: statsT[1], mean: statsT[2], variance: statsT[3] },
          { keep: 1 - momentum, momentum, varianceFactor: factor },
        ) as tfType.Tensor[],
  );
  const movingStats = {
    mean: scaledError(
      await read(moved.value[0]),
      stats[0].map((v, i) => v * (1 - momentum) + stats[2][i] * momentum),
    ),
    variance: scaledError(
      await read(moved.value[1]),
      stats[1].map((v, i) => v * (1 - momentum) + stats[3][i] * factor),
    ),
    calls: moved.calls,
  };
  const out: KernelResults = {
    adam: { ...fused, worstOps: ops.worst },
    sigmoidBce,
    denseForward,
    denseBackward,
    batchNorm,
    activationGrad,
    movingStats,
  };
  process.stdout.write(`GAN_KERNELS ${JSON.stringify(out)}\n`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
}
