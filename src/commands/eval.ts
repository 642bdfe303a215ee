/** `gan eval` and `gan classifier train`: the numbers that say what a generator learned. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBackend, type BackendChoice } from '../backends';
import { classifierDir, saveClassifier, trainClassifier } from '../eval/classifier';
import { parseIdx } from '../data/idx';
import { loadImages } from '../data/mnist';
import { DataError } from '../util/errors';
import { Evaluator, obtainClassifier, type EvalRow } from '../eval/evaluator';
import { newestRun } from '../run/run-dir';
import { sampleRun } from '../run/sample';
import { printLine } from './output';

export interface EvalCommandOptions {
  run?: string;
  samples?: string;
  n: number;
  seed: number;
  json: boolean;
  /** Evaluate the trained generator even when the run kept an EMA generator. */
  raw?: boolean;
  backend: BackendChoice;
  /** Threads of the wasm backend (default: all CPUs). */
  threads?: number;
  log?: (line: string) => void;
}

const HEADER = 'source                                   n      FID      IS  classes  KL(hist||U)  confidence';

export function formatEvalRow(r: EvalRow): string {
  return `${r.source.padEnd(36).slice(0, 36)} ${String(r.n).padStart(6)} ${r.fid.toFixed(3).padStart(8)} ${r.inception_score.toFixed(3).padStart(7)} ${String(r.classes_covered).padStart(8)} ${r.kl_to_uniform.toFixed(4).padStart(12)} ${r.mean_confidence.toFixed(4).padStart(11)}`;
}

function readSamplesFile(file: string, limit: number): { pixels: Uint8Array; n: number } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new DataError(`cannot read samples file ${file}`, 'Pass an MNIST-format IDX3 file (as gan sample --out x.idx writes)');
  }
  const idx = parseIdx(bytes, 3, file);
  if (idx.dims[1] !== 28 || idx.dims[2] !== 28) throw new DataError(`${file} holds ${idx.dims[1]}x${idx.dims[2]} images, not 28x28`);
  const n = Math.min(limit, idx.dims[0]);
  if (n < 2) throw new DataError(`${file} holds ${idx.dims[0]} image(s); evaluation needs at least 2`);
  return { pixels: idx.data, n };
}

export async function evalCommand(opts: EvalCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  const info = (line: string) => (opts.json ? process.stderr.write(line + '\n') : log(line));
  // Check inputs before the backend loads and before any long work.
  const samples = opts.samples !== undefined ? readSamplesFile(opts.samples, opts.n) : undefined;
  const runDir = samples !== undefined ? undefined : (opts.run ?? newestRun(undefined, { withCheckpoint: true }));

  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  info(backend.notice);
  const t0 = performance.now();
  const classifier = await obtainClassifier(backend.tf, backend.name, {
    onTrainStart: () => info(`training the evaluation classifier once (cached in ${classifierDir()})...`),
  });
  info(`classifier: MNIST test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`);
  const evaluator = new Evaluator(backend.tf, classifier);

  const rows: EvalRow[] = [];
  const real = loadImages({ limit: opts.n });
  rows.push(evaluator.evaluate(real.pixels, real.n, `real MNIST train (first ${real.n})`));
  if (samples) {
    rows.push(evaluator.evaluate(samples.pixels, samples.n, path.basename(opts.samples!)));
  } else {
    const s = sampleRun(backend.tf, runDir!, { n: opts.n, seed: opts.seed, raw: opts.raw });
    rows.push(evaluator.evaluate(s.pixels, s.n, `${path.basename(runDir!)} epoch ${s.epoch}${s.generator === 'ema' ? ' (EMA)' : ''}`));
  }
  const seconds = (performance.now() - t0) / 1000;
  if (opts.json) {
    for (const r of rows) log(JSON.stringify(r));
  } else {
    log(HEADER);
    for (const r of rows) log(formatEvalRow(r));
    const last = rows[rows.length - 1];
    log(`class histogram of ${last.source}: ${last.histogram.map((h, c) => `${c}:${(100 * h).toFixed(1)}%`).join(' ')}`);
    log(`FID against the 10,000 MNIST test images in the classifier's 128-d feature space; ${seconds.toFixed(1)} s in all`);
  }
}

export interface ClassifierCommandOptions {
  epochs: number;
  seed: number;
  backend: BackendChoice;
  /** Threads of the wasm backend (default: all CPUs). */
  threads?: number;
  log?: (line: string) => void;
}

export async function classifierTrainCommand(opts: ClassifierCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);
  const c = await trainClassifier(backend.tf, backend.name, {
    epochs: opts.epochs,
    seed: opts.seed,
    onProgress: (p) => {
      if (p.batch === p.batches || p.batch % 200 === 1)
        log(`epoch ${p.epoch}/${p.epochs}  batch ${p.batch}/${p.batches}  loss ${p.loss.toFixed(4)}`);
    },
  });
  await saveClassifier(backend.tf, classifierDir(), c);
  log(
    `classifier: test accuracy ${(100 * c.info.testAccuracy).toFixed(2)}% after ${c.info.epochs} epochs, ${c.info.trainSeconds.toFixed(1)} s; saved to ${classifierDir()}`,
  );
}
