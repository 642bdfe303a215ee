/**
 * A standalone timing of the tutorials' DCGAN training step (lesson 003), independent of the
 * trainer: the yardstick for the convolution and batch-norm kernels in src/backends/native/, and the
 * twin of the PyTorch step script behind docs/performance.md's paired figures (same layers, same step, same optimiser).
 *
 * One iteration: (1) D step on a real batch (labels 1) and a detached generated batch (labels 0),
 * each through D as its own batch (batch statistics); (2) G step with the non-saturating loss on
 * fresh noise. Sigmoid cross-entropy on logits; gradients by tf.variableGrads; Adam 2e-4 / 0.5
 * (src/train/adam.ts, PyTorch's formulation). The "real" batch is uniform noise in [-1, 1] as in the
 * PyTorch script: the data path is not what this times.
 *
 *   node dist/src/tools/bench-dcgan.js [--channels 32] [--batch 64] [--iters 15] [--warmup 3]
 *                                [--threads 2] [--profile | --profile-cpu] [--json]
 * --profile adds the milliseconds per iteration spent in each tfjs kernel (inclusive of kernels
 * it calls), measured by wrapping every registered wasm kernel with a timer; --profile-cpu the
 * same in process CPU time, which a busy machine inflates far less than wall-clock time (with
 * --threads 1 it is the kernel's own cost).
 */
import type * as tfType from '@tensorflow/tfjs';
import { defaultWasmThreads, loadBackend, type Tf } from '../backends';
import { Adam } from '../train/adam';
import { batchNormTraining } from '../backends/native/batchnorm';
import { Rng } from '../core/rng';

type Tensor = tfType.Tensor;
type Tensor4D = tfType.Tensor4D;
type Variable = tfType.Variable;

const LATENT = 100;
const EPS = 1e-5;
const PAD1: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

export interface DcganBenchRow {
  kind: 'dcgan_step';
  channels: number;
  batch_size: number;
  threads: number;
  iterations: number;
  median_ms_per_iter: number;
  p10_ms: number;
  p90_ms: number;
  gflop_per_iter: number;
  /** CPU time of the process per iteration (all threads), median over iterations. */
  cpu_ms_per_iter: number;
  peak_rss_mb: number;
  /** kernel name -> ms per iteration (with --profile: wall clock; --profile-cpu: process CPU time). */
  kernels?: Record<string, number>;
}

/**
 * 2 x multiply-adds of one iteration, roughly: G forward for the D step, D forward + both
 * gradients on two batches; G forward + both gradients and D forward + dx for the G step.
 */
export function dcganFlopsPerIteration(c: number, batch: number): number {
  // ConvTranspose: inH*inW*k*k*inC*outC; Conv: outH*outW*k*k*inC*outC (per image, k = 4).
  const gMacs = 16 * (LATENT * 4 * c + 4 * 4 * 4 * c * 2 * c + 8 * 8 * 2 * c * c + 16 * 16 * c);
  const dMacs = 16 * (16 * 16 * c + 8 * 8 * c * 2 * c + 4 * 4 * 2 * c * 4 * c + 4 * c);
  return 2 * batch * (gMacs + 2 * 3 * dMacs + 3 * gMacs + 2 * dMacs);
}

interface Layer {
  w: Variable;
  gamma?: Variable;
  beta?: Variable;
}

function uniformInit(tf: Tf, shape: number[], fanIn: number, rng: Rng): Variable {
  // PyTorch's default conv init (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
  const bound = 1 / Math.sqrt(fanIn);
  const values = rng.fillUniform(new Float32Array(shape.reduce((a, b) => a * b)), -bound, bound);
  return tf.variable(tf.tensor(values, shape));
}

/** The DCGAN's variables; ConvTranspose filters are [k, k, out, in] (tfjs conv2dTranspose). */
export function makeDcgan(tf: Tf, c: number, seed = 0): { g: Layer[]; d: Layer[] } {
  const rng = Rng.for(seed, 1);
  const bn = (n: number) => ({ gamma: tf.variable(tf.ones([n])), beta: tf.variable(tf.zeros([n])) });
  const gShapes: Array<[number, number]> = [
    [LATENT, 4 * c],
    [4 * c, 2 * c],
    [2 * c, c],
    [c, 1],
  ];
  // PyTorch's ConvTranspose2d fan-in is weight.size(1) * k * k = out * 16.
  const g = gShapes.map(([i, o], k) => ({ w: uniformInit(tf, [4, 4, o, i], o * 16, rng), ...(k < 3 ? bn(o) : {}) }));
  const dShapes: Array<[number, number]> = [
    [1, c],
    [c, 2 * c],
    [2 * c, 4 * c],
    [4 * c, 1],
  ];
  const d = dShapes.map(([i, o], k) => ({ w: uniformInit(tf, [4, 4, i, o], i * 16, rng), ...(k === 1 || k === 2 ? bn(o) : {}) }));
  return { g, d };
}

export function generator(tf: Tf, g: Layer[], z: Tensor4D): Tensor4D {
  const b = z.shape[0];
  let x = z;
  const sizes = [4, 8, 16, 32];
  for (let i = 0; i < 4; i++) {
    const outC = g[i].w.shape[2] as number;
    // state size: [b, sizes[i], sizes[i], outC]
    x = tf.conv2dTranspose(x, g[i].w as Tensor4D, [b, sizes[i], sizes[i], outC], i === 0 ? 1 : 2, i === 0 ? 'valid' : 'same');
    if (i < 3) x = tf.relu(batchNormTraining(tf, x, g[i].gamma as tfType.Tensor1D, g[i].beta as tfType.Tensor1D, EPS).y);
  }
  return tf.tanh(x);
}

export function discriminator(tf: Tf, d: Layer[], img: Tensor4D): tfType.Tensor1D {
  let x = img;
  for (let i = 0; i < 3; i++) {
    // [b, 32/2^(i+1), ., C * 2^i]
    x = tf.conv2d(x, d[i].w as Tensor4D, 2, PAD1);
    if (d[i].gamma) x = batchNormTraining(tf, x, d[i].gamma as tfType.Tensor1D, d[i].beta as tfType.Tensor1D, EPS).y;
    x = tf.leakyRelu(x, 0.2);
  }
  const logit = tf.conv2d(x, d[3].w as Tensor4D, 1, 'valid'); // [b, 1, 1, 1]
  return tf.reshape(logit, [-1]);
}

/** Mean sigmoid cross-entropy of logits against a constant label 1 or 0: softplus(-l) or softplus(l). */
function bce(tf: Tf, logits: Tensor, label: 0 | 1): tfType.Scalar {
  return tf.mean(tf.softplus(label === 1 ? tf.neg(logits) : logits));
}

export class DcganBenchStep {
  readonly g: Layer[];
  readonly d: Layer[];
  private readonly gVars: Variable[];
  private readonly dVars: Variable[];
  private readonly optG: Adam;
  private readonly optD: Adam;
  private readonly real: Tensor4D;

  constructor(
    private readonly tf: Tf,
    readonly channels: number,
    readonly batch: number,
  ) {
    ({ g: this.g, d: this.d } = makeDcgan(tf, channels));
    const vars = (ls: Layer[]) => ls.flatMap((l) => [l.w, l.gamma, l.beta].filter((v): v is Variable => !!v));
    this.gVars = vars(this.g);
    this.dVars = vars(this.d);
    const adam = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
    this.optG = new Adam(tf, this.gVars, adam);
    this.optD = new Adam(tf, this.dVars, adam);
    this.real = tf.tensor4d(Rng.for(0, 2).fillUniform(new Float32Array(batch * 32 * 32), -1, 1), [batch, 32, 32, 1]);
  }

  /** One iteration; returns [d_loss, g_loss] as a tensor the caller reads (and so waits for). */
  step(k: number): Tensor {
    const tf = this.tf;
    return tf.tidy(() => {
      const noise = () => tf.tensor4d(Rng.for(k, 3).fillNormal(new Float32Array(this.batch * LATENT)), [this.batch, 1, 1, LATENT]);
      // (1) Update D: real labelled 1, detached fake labelled 0, as two batches.
      const fake = generator(tf, this.g, noise());
      const dStep = tf.variableGrads(
        () => tf.add(bce(tf, discriminator(tf, this.d, this.real), 1), bce(tf, discriminator(tf, this.d, fake), 0)) as tfType.Scalar,
        this.dVars,
      );
      this.optD.apply(this.dVars.map((v) => dStep.grads[v.name]));
      // (2) Update G: non-saturating loss on fresh noise.
      const z = noise();
      const gStep = tf.variableGrads(() => bce(tf, discriminator(tf, this.d, generator(tf, this.g, z)), 1), this.gVars);
      this.optG.apply(this.gVars.map((v) => gStep.grads[v.name]));
      return tf.stack([dStep.value, gStep.value]);
    });
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
    this.tf.dispose([...this.gVars, ...this.dVars, this.real]);
  }
}

/** Milliseconds of this process's CPU time (all its threads): what a busy machine does not inflate. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Wraps every kernel registered on `backend` with a timer (wall clock, or `clock`); returns the
 * totals (ms) and an undo.
 */
export function timeKernels(
  tf: Tf,
  backend = 'wasm',
  clock: () => number = () => performance.now(),
): { totals: Map<string, number>; restore: () => void } {
  const totals = new Map<string, number>();
  const originals = tf.getKernelsForBackend(backend);
  for (const k of originals) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: ((args: Parameters<tfType.KernelFunc>[0]) => {
        const t0 = clock();
        try {
          return inner(args);
        } finally {
          totals.set(k.kernelName, (totals.get(k.kernelName) ?? 0) + clock() - t0);
        }
      }) as tfType.KernelFunc,
    });
  }
  return {
    totals,
    restore: () => {
      for (const k of originals) {
        tf.unregisterKernel(k.kernelName, backend);
        tf.registerKernel(k);
      }
    },
  };
}

export async function benchDcgan(opts: {
  channels: number;
  batch: number;
  iters: number;
  warmup: number;
  threads: number;
  profile?: 'wall' | 'cpu';
}): Promise<DcganBenchRow> {
  const { tf } = await loadBackend('wasm', { threads: opts.threads });
  const step = new DcganBenchStep(tf, opts.channels, opts.batch);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let timer: ReturnType<typeof timeKernels> | undefined;
  for (let k = 0; k < opts.warmup + opts.iters; k++) {
    if (opts.profile && k === opts.warmup) timer = timeKernels(tf, 'wasm', opts.profile === 'cpu' ? cpuMs : undefined);
    const t0 = performance.now();
    const c0 = cpuMs();
    const out = step.step(k);
    // Waits for the step to finish; an async read, as every read in src (the webgpu backend has no sync one in Node).
    await out.data();
    out.dispose();
    if (k >= opts.warmup) {
      times.push(performance.now() - t0);
      cpuTimes.push(cpuMs() - c0);
    }
  }
  timer?.restore();
  step.dispose();
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  const row: DcganBenchRow = {
    kind: 'dcgan_step',
    channels: opts.channels,
    batch_size: opts.batch,
    threads: opts.threads,
    iterations: opts.iters,
    median_ms_per_iter: +q(0.5).toFixed(1),
    p10_ms: +q(0.1).toFixed(1),
    p90_ms: +q(0.9).toFixed(1),
    gflop_per_iter: +(dcganFlopsPerIteration(opts.channels, opts.batch) / 1e9).toFixed(2),
    cpu_ms_per_iter: +cpuTimes[Math.floor(cpuTimes.length / 2)].toFixed(1),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (timer) {
    const sorted = [...timer.totals.entries()].sort((a, b) => b[1] - a[1]);
    row.kernels = Object.fromEntries(sorted.map(([name, ms]) => [name, +(ms / opts.iters).toFixed(2)]));
  }
  return row;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const num = (flag: string, fallback: number) => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  benchDcgan({
    channels: num('--channels', 32),
    batch: num('--batch', 64),
    iters: num('--iters', 15),
    warmup: num('--warmup', 3),
    threads: num('--threads', defaultWasmThreads()),
    profile: args.includes('--profile-cpu') ? 'cpu' : args.includes('--profile') ? 'wall' : undefined,
  }).then(
    (row) => {
      if (args.includes('--json')) {
        process.stdout.write(JSON.stringify(row) + '\n');
        return;
      }
      process.stdout.write(
        `DCGAN C=${row.channels} batch ${row.batch_size}, ${row.threads} threads: median ${row.median_ms_per_iter} ms/iter (p10 ${row.p10_ms}, p90 ${row.p90_ms}), CPU ${row.cpu_ms_per_iter} ms/iter, ${row.gflop_per_iter} GFLOP/iter, peak RSS ${row.peak_rss_mb} MB\n`,
      );
      if (row.kernels)
        for (const [name, ms] of Object.entries(row.kernels))
          process.stdout.write(`  ${name.padEnd(28)} ${ms.toFixed(2).padStart(9)} ms/iter\n`);
    },
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exitCode = 1;
    },
  );
}
