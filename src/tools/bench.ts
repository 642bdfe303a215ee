/**
 * `npm run bench`: times the training step `gan train` runs (GanTrainer.stepOnIndices, on the
 * dataset as the trainer holds it) on every backend that loads here, at batch 64 and 256, after
 * a warm-up; and one epoch of data loading and batching on its own.
 *
 *   npm run bench                      a table
 *   npm run bench -- --json            one JSON object per configuration
 *   npm run bench -- --backends wasm --batches 64 --iters 100
 *   npm run bench -- --archs dcgan --channels 32,128
 *   npm run bench -- --backends webgpu --batches 64,256,1024 --dcgan-backend webgpu --dcgan-batches 64,256,1024 --channels 128
 *   npm run bench -- --preset stable   each MLP/DCGAN row also with the preset's tricks, and the cost ratio
 *   npm run bench -- --backends webgpu --archs mlp --batches 64 --iters 5 --warmup 2   (SwiftShader: seconds a step)
 *
 * webgpu rows also count the WebGPU calls of a step: dispatches, submits and buffer writes
 * (src/backends/webgpu/counters.ts); they do not depend on the GPU.
 *
 * The MLP rows run every backend at batch 64 and 256; the DCGAN rows (the tutorials' network) run
 * on the wasm backend with all threads at batch 64, at the default width and the tutorial's 128.
 *
 * Each backend runs in a child process of its own: tfjs allows one active backend family per
 * process, and peak RSS is then the backend's own.
 */
import { spawnSync } from 'node:child_process';
import { defaultWasmThreads, loadBackend, type BackendName } from '../backends';
import { DEFAULT_TRAIN, applyPreset, resolveTrainConfig, type Arch, type ModelConfig } from '../config';
import { batchesPerEpoch, epochOrder, loadImages } from '../data/mnist';
import { ganSpec } from '../nets';
import { iterationFlops } from '../nets/spec';
import { GanTrainer } from '../train/trainer';
import { openDataset, setTensors } from '../train/dataset';
import { countWebGpuCalls, type WebGpuCallCounts } from '../backends/webgpu/counters';

const ALL_BACKENDS: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BenchRow {
  kind: 'train_step';
  arch: Arch;
  /** The --preset whose tricks were on (absent: the plain step). */
  preset?: string;
  /** DCGAN width C (absent for the MLP). */
  channels?: number;
  backend: BackendName;
  /** Threads of the wasm backend (1 for the others' own threading). */
  threads: number;
  batch_size: number;
  iterations: number;
  median_ms_per_iter: number;
  p10_ms: number;
  p90_ms: number;
  samples_per_s: number;
  gflop_per_iter: number;
  gflops: number;
  peak_rss_mb: number;
  /**
   * webgpu only: compute dispatches, queue submissions and buffer writes per timed step, the
   * step's read of its stats included (the bench waits for every step; gan train reads every 10).
   */
  webgpu_calls_per_iter?: { dispatches: number; submits: number; buffer_writes: number };
}

export interface DataBenchRow {
  kind: 'data';
  backend: BackendName;
  threads: number;
  images: number;
  read_ms: number;
  scale_and_upload_ms: number;
  epoch_batching_ms: number;
  batch_size: number;
}

/** FLOPs of one training iteration of a model, from its network specs (src/nets/spec.ts). */
export function flopsPerIteration(batch: number, model: Partial<ModelConfig> = {}): number {
  const spec = ganSpec(resolveTrainConfig({ seed: 0, ...model }));
  return iterationFlops(spec.generator, spec.discriminator, batch);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** In a child: time the train step on one backend and batch size. */
async function benchStep(
  backend: BackendName,
  batch: number,
  iters: number,
  warmup: number,
  threads: number | undefined,
  model: Pick<ModelConfig, 'arch'> & Partial<Pick<ModelConfig, 'channels'>>,
  preset?: string,
): Promise<BenchRow> {
  const { tf } = await loadBackend(backend, { threads });
  let calls: ReturnType<typeof countWebGpuCalls> | undefined;
  const config = resolveTrainConfig(applyPreset({ seed: 0, batchSize: batch, ...model }, preset));
  const images = loadImages({ limit: Math.max(batch * 16, 4096) });
  const trainer = new GanTrainer(tf, config);
  const dataset = openDataset(tf, images, trainer.model.spec.workSize);
  const order = epochOrder(images.n, 0, 1);
  const nb = Math.floor(images.n / batch);
  const times: number[] = [];
  for (let k = 0; k < warmup + iters; k++) {
    const b = k % nb;
    // Counted over the timed steps only: the warm-up's first steps also compile the kernels.
    if (k === warmup && backend === 'webgpu') calls = countWebGpuCalls(tf.backend());
    const t0 = performance.now();
    const stats = trainer.stepOnIndices(dataset, order.subarray(b * batch, (b + 1) * batch), k);
    // Wait for the device: each iteration is timed to completion. An async read, because the
    // webgpu backend cannot read synchronously in Node (on the CPU backends it is the same).
    await stats.data();
    stats.dispose();
    if (k >= warmup) times.push(performance.now() - t0);
  }
  calls?.restore();
  trainer.dispose();
  dataset.dispose();
  times.sort((a, b) => a - b);
  const median = quantile(times, 0.5);
  const flops = flopsPerIteration(batch, model);
  return {
    kind: 'train_step',
    arch: model.arch,
    preset,
    channels: model.arch === 'mlp' ? undefined : model.channels,
    backend,
    threads: threads ?? 1,
    batch_size: batch,
    iterations: iters,
    median_ms_per_iter: +median.toFixed(2),
    p10_ms: +quantile(times, 0.1).toFixed(2),
    p90_ms: +quantile(times, 0.9).toFixed(2),
    samples_per_s: +((batch * 1000) / median).toFixed(1),
    gflop_per_iter: +(flops / 1e9).toFixed(3),
    gflops: +(flops / 1e6 / median).toFixed(1),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    webgpu_calls_per_iter: calls && perIteration(calls.counts, iters),
  };
}

function perIteration(c: WebGpuCallCounts, iters: number): BenchRow['webgpu_calls_per_iter'] {
  const per = (n: number) => +(n / Math.max(1, iters)).toFixed(1);
  return { dispatches: per(c.dispatches), submits: per(c.submits), buffer_writes: per(c.bufferWrites) };
}

/** The table's note on a webgpu row: the calls a step makes. */
function callsNote(r: BenchRow): string {
  const c = r.webgpu_calls_per_iter;
  return c ? `  per step: ${c.dispatches} dispatches, ${c.submits} submits, ${c.buffer_writes} buffer writes` : '';
}

/** In a child: one epoch of data work alone: read + scale, upload, and every batch's gather. */
async function benchData(backend: BackendName, batch: number, threads?: number): Promise<DataBenchRow> {
  const { tf } = await loadBackend(backend, { threads });
  const t0 = performance.now();
  const images = loadImages();
  const t1 = performance.now();
  const dataset = setTensors(tf, images).images;
  await dataset.data();
  const t2 = performance.now();
  const start = performance.now();
  const order = epochOrder(images.n, 0, 1);
  for (let b = 0; b < batchesPerEpoch(images.n, batch); b++) {
    const batchT = tf.tidy(() => tf.gather(dataset, tf.tensor1d(order.subarray(b * batch, (b + 1) * batch), 'int32')));
    await batchT.data();
    batchT.dispose();
  }
  const end = performance.now();
  dataset.dispose();
  return {
    kind: 'data',
    backend,
    threads: threads ?? 1,
    images: images.n,
    read_ms: +(t1 - t0).toFixed(1),
    scale_and_upload_ms: +(t2 - t1).toFixed(1),
    epoch_batching_ms: +(end - start).toFixed(1),
    batch_size: batch,
  };
}

function parseList(args: string[], flag: string, fallback: string[]): string[] {
  const i = args.indexOf(flag);
  return i >= 0 && args[i + 1] ? args[i + 1].split(',') : fallback;
}

function parseNum(args: string[], flag: string, fallback: number): number {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function child(args: string[]): Promise<void> {
  const backend = parseList(args, '--backend', ['wasm'])[0] as BackendName;
  const batch = parseNum(args, '--batch', 64);
  const threads = parseNum(args, '--threads', 1);
  const row = args.includes('--data')
    ? await benchData(backend, batch, threads)
    : await benchStep(
        backend,
        batch,
        parseNum(args, '--iters', 50),
        parseNum(args, '--warmup', 10),
        threads,
        modelOf(args),
        presetOf(args),
      );
  process.stdout.write(JSON.stringify(row) + '\n');
}

/** The child's model: --channels only for the DCGAN (the config refuses a setting the MLP would ignore). */
function modelOf(args: string[]): Pick<ModelConfig, 'arch'> & Partial<Pick<ModelConfig, 'channels'>> {
  const arch = parseList(args, '--arch', ['mlp'])[0] as Arch;
  return arch === 'dcgan' ? { arch, channels: parseNum(args, '--channels', DEFAULT_TRAIN.channels) } : { arch };
}

function presetOf(args: string[]): string | undefined {
  const i = args.indexOf('--preset');
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * With --preset: the same configuration again with the preset's tricks, right after the plain
 * one (a paired measurement on a noisy machine), and its cost as a ratio of the plain step.
 */
function presetRow(
  childArgs: string[],
  plain: BenchRow,
  preset: string | undefined,
  json: boolean,
  out: (s: string) => void,
  line: (r: BenchRow) => string,
  indent = '',
): void {
  if (!preset) return;
  const { row, error } = runChild([...childArgs, '--preset', preset]);
  if (!row)
    return out(json ? JSON.stringify({ kind: 'train_step', preset, skipped: error }) : `${indent}--preset ${preset}: failed: ${error}`);
  const r = row as BenchRow;
  const ratio = r.median_ms_per_iter / plain.median_ms_per_iter;
  out(
    json
      ? JSON.stringify({ ...r, cost_vs_plain: +ratio.toFixed(3) })
      : `${indent}${line(r)}  --preset ${preset}: ${ratio.toFixed(2)}x the plain step`,
  );
}

function runChild(args: string[]): { row?: BenchRow | DataBenchRow; error?: string } {
  const r = spawnSync(process.execPath, [__filename, '--child', ...args], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { row: JSON.parse(line) };
  } catch {
    const why =
      (r.stderr || r.stdout)
        .trim()
        .split('\n')
        .find((l) => l.includes('error')) ?? `exit ${r.status}`;
    return { error: why };
  }
}

async function main(args: string[]): Promise<void> {
  if (args.includes('--child')) return child(args);
  const json = args.includes('--json');
  const backends = parseList(args, '--backends', ALL_BACKENDS);
  const batches = parseList(args, '--batches', ['64', '256']).map(Number);
  const iters = parseNum(args, '--iters', 0);
  // wasm is timed on one thread and on all CPUs: what threads buy is part of the answer.
  const threadCounts = parseList(args, '--threads', ['1', String(defaultWasmThreads())]).map(Number);
  const configs = backends.flatMap((b) =>
    b === 'wasm'
      ? [...new Set(threadCounts)].map((t) => ({ backend: b as BackendName, threads: t }))
      : [{ backend: b as BackendName, threads: 1 }],
  );
  const archs = parseList(args, '--archs', ['mlp', 'dcgan']);
  const out = (s: string) => process.stdout.write(s + '\n');
  const line = (r: BenchRow) =>
    `${r.backend.padEnd(16)} ${String(r.threads).padStart(7)}  ${String(r.batch_size).padStart(5)}  ${r.median_ms_per_iter.toFixed(1).padStart(12)}  ${`${r.p10_ms.toFixed(1)}-${r.p90_ms.toFixed(1)}`.padEnd(14)} ${r.samples_per_s.toFixed(0).padStart(9)}  ${r.gflops.toFixed(1).padStart(7)}  ${String(r.peak_rss_mb).padStart(11)}${callsNote(r)}`;
  if (!json) out('backend          threads  batch  median ms/it  p10-p90 ms      samples/s  GFLOP/s  peak RSS MB');
  if (!archs.includes('mlp')) configs.length = 0;
  for (const { backend, threads } of configs) {
    let loaded = true;
    for (const batch of batches) {
      // The pure-JS backend takes seconds per step: fewer iterations keep the bench short.
      const n = iters || (backend === 'cpu' ? 5 : batch >= 256 ? 20 : 50);
      const childArgs = [
        '--backend',
        backend,
        '--threads',
        String(threads),
        '--batch',
        String(batch),
        '--iters',
        String(n),
        '--warmup',
        String(parseNum(args, '--warmup', backend === 'cpu' ? 2 : 10)),
      ];
      const { row, error } = runChild(childArgs);
      if (!row) {
        if (json) out(JSON.stringify({ kind: 'train_step', backend, threads, batch_size: batch, skipped: error }));
        else out(`${backend.padEnd(16)} ${String(threads).padStart(7)}  ${String(batch).padStart(5)}  not available: ${error}`);
        loaded = false;
        break;
      }
      const r = row as BenchRow;
      if (json) out(JSON.stringify(r));
      else out(line(r));
      presetRow(childArgs, r, presetOf(args), json, out, line);
    }
    if (loaded && backend !== 'cpu') {
      const { row } = runChild(['--backend', backend, '--threads', String(threads), '--batch', '64', '--data']);
      if (row) {
        const d = row as DataBenchRow;
        if (json) out(JSON.stringify(d));
        else
          out(
            `${backend.padEnd(16)} ${String(threads).padStart(7)}  data: read ${d.images} images ${d.read_ms.toFixed(0)} ms, scale+upload ${d.scale_and_upload_ms.toFixed(0)} ms, one epoch of batch-${d.batch_size} gathers ${d.epoch_batching_ms.toFixed(0)} ms`,
          );
      }
    }
  }
  if (archs.includes('dcgan')) dcganRows(args, json, out, line);
}

/**
 * DCGAN rows: the wasm backend on all threads (or --dcgan-backend, e.g. webgpu on a GPU machine),
 * at each asked width (default and the tutorial's 128), batch 64 (or --dcgan-batches).
 */
function dcganRows(args: string[], json: boolean, out: (s: string) => void, line: (r: BenchRow) => string): void {
  const backend = parseList(args, '--dcgan-backend', ['wasm'])[0];
  const threads = backend === 'wasm' ? defaultWasmThreads() : 1;
  const widths = parseList(args, '--channels', [String(DEFAULT_TRAIN.channels), '128']).map(Number);
  const batches = parseList(args, '--dcgan-batches', ['64']);
  if (!json) out(`DCGAN (the tutorials' network), ${backend}, batch ${batches.join(', ')}:`);
  for (const c of widths)
    for (const batch of batches) {
      // A step at C = 128 takes seconds on 2 cores: few iterations keep the bench short.
      const iters = parseNum(args, '--iters', 0) || (c >= 96 && backend === 'wasm' ? 4 : 15);
      const childArgs = [
        '--backend',
        backend,
        '--threads',
        String(threads),
        '--batch',
        batch,
        '--iters',
        String(iters),
        '--warmup',
        '2',
        '--arch',
        'dcgan',
        '--channels',
        String(c),
      ];
      const { row, error } = runChild(childArgs);
      if (!row)
        out(json ? JSON.stringify({ kind: 'train_step', arch: 'dcgan', channels: c, skipped: error }) : `  C = ${c}: failed: ${error}`);
      else {
        out(json ? JSON.stringify(row) : `  C = ${String(c).padEnd(4)} ${line(row as BenchRow)}`);
        presetRow(childArgs, row as BenchRow, presetOf(args), json, out, line, `  C = ${String(c).padEnd(4)} `);
      }
    }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`bench: error: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}
