/** `gan eval` and `gan classifier train`: the numbers that say what a generator learned. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifierBackend, loadBackend, type BackendChoice, type LoadedBackend } from '../backends';
import { classifierDir, saveClassifier, trainClassifier, type Classifier, type ClassifierProgress } from '../eval/classifier';
import { parseIdx } from '../data/idx';
import { loadImages } from '../data/mnist';
import { DataError, GanError, describeError } from '../util/errors';
import { Evaluator, obtainClassifier, type EvalRow } from '../eval/evaluator';
import { obtainDataClassifier, classNamesOf } from '../eval/data-classifier';
import { isMnistLike, loadTrainingSet } from '../data/dataset';
import { gatherRows } from '../data/image-set';
import type { ImageSet } from '../data/mnist';
import { Rng, Stream, permutation } from '../core/rng';
import { runToRead } from '../run/run-dir';
import { newestVerifiedCheckpoint } from '../run/checkpoint';
import { sampleRun, type Samples } from '../run/sample';
import { appendEval } from '../report/evals-log';
import { REPORT_FILE, writeReport } from '../report/report';
import { ganCommand } from '../util/invocation';
import { printLine } from './output';
import { TaskProgress } from './progress';
import { plural } from '../util/text';

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
    throw new DataError(
      `cannot read samples file ${file}`,
      `Pass an MNIST-format IDX3 file, as this writes: ${ganCommand('sample', '--out', 'samples.idx')}`,
    );
  }
  const idx = parseIdx(bytes, 3, file);
  if (idx.dims[1] !== 28 || idx.dims[2] !== 28) throw new DataError(`${file} holds ${idx.dims[1]}x${idx.dims[2]} images, not 28x28`);
  const n = Math.min(limit, idx.dims[0]);
  if (n < 2) throw new DataError(`${file} holds ${idx.dims[0]} image(s); evaluation needs at least 2`);
  return { pixels: idx.data, n };
}

/** The most reference images FID compares against on a run's own data (MNIST's test set holds 10,000). */
const MAX_REFERENCE = 10000;

/**
 * A run's own data when it is not MNIST-format: the labelled images its classifier is trained on.
 * Unlabelled data is refused in one line that says why there is no FID and what would give one.
 */
async function runOwnData(runDir: string, info: (line: string) => void): Promise<{ images: ImageSet; source: string } | undefined> {
  // The newest checkpoint's config, as gan sample rebuilds the run from (no checkpoint: gan sample's refusal later).
  const config = newestVerifiedCheckpoint(runDir)?.state.config;
  if (!config) return undefined;
  // MNIST-format 28x28 gray: the MNIST classifier. At another size or in colour, a classifier of its own.
  if (isMnistLike(config)) return undefined;
  const source = config.data ?? 'MNIST';
  const images = await loadTrainingSet(
    { data: config.data, imageSize: config.imageSize, limit: undefined, conditional: false },
    { color: config.color, labels: true, log: info },
  );
  if (!images.labels || classNamesOf(images).length < 2)
    throw new GanError(
      `no FID for ${runDir}: its data ${source} has no classes, and FID needs a feature space made for the data (a classifier trained on it; MNIST's would measure other images)`,
      'Sort the images into one subfolder per class (DIR/CLASS/*.png, two classes at least): gan eval then trains a classifier on them once and measures FID, IS and coverage in its features',
    );
  return { images, source };
}

/** A classifier's training progress as one bar (lines when not a terminal), made at its first report. */
function classifierProgress(
  log: (line: string) => void,
  stream?: NodeJS.WriteStream,
): { onProgress: (p: ClassifierProgress) => void; stop(): void } {
  let bar: TaskProgress | undefined;
  return {
    onProgress: (p) => {
      bar ??= new TaskProgress('classifier', p.epochs * p.batches, log, stream);
      bar.update((p.epoch - 1) * p.batches + p.batch, `epoch ${p.epoch}/${p.epochs}, loss ${p.loss.toFixed(4)}`);
    },
    stop: () => bar?.stop(),
  };
}

/** n of the images in a seeded random order (a folder's come sorted by class), as one block of bytes. */
function randomImages(images: ImageSet, n: number, seed: number): { pixels: Uint8Array; n: number } {
  const per = images.rows * images.cols * (images.channels ?? 1);
  const count = Math.min(n, images.n);
  const order = permutation(images.n, Rng.for(seed, Stream.shuffle, 4000));
  return { pixels: gatherRows(images.pixels, order.subarray(0, count), per), n: count };
}

export async function evalCommand(opts: EvalCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  const info = (line: string) => (opts.json ? process.stderr.write(line + '\n') : log(line));
  // Check inputs before the backend loads and before any long work.
  const samples = opts.samples !== undefined ? readSamplesFile(opts.samples, opts.n) : undefined;
  const runDir = samples !== undefined ? undefined : runToRead(opts.run);
  const own = runDir !== undefined ? await runOwnData(runDir, info) : undefined;
  if (own) return evalOnOwnData(opts, runDir!, own, log, info);

  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  info(backend.notice);
  const t0 = performance.now();
  const classifier = await obtainClassifierShowingProgress(backend, info, opts.json ? process.stderr : process.stdout);
  info(`classifier: MNIST test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`);
  const evaluator = new Evaluator(backend.tf, classifier, undefined, classifierBackend(backend).run);
  const { rows, sampled } = await measureRows(evaluator, opts, samples ? { samples } : { runDir: runDir! }, info);
  const seconds = (performance.now() - t0) / 1000;
  if (opts.json) {
    for (const r of rows) log(JSON.stringify(r));
  } else {
    log(HEADER);
    for (const r of rows) log(formatEvalRow(r));
    const last = rows[rows.length - 1];
    log(`class histogram of ${last.source}: ${last.histogram.map((h, c) => `${c}:${(100 * h).toFixed(1)}%`).join(' ')}`);
    log(
      `FID against the 10,000 MNIST test images in the MNIST classifier's 128-d feature space (feature space 'mnist'); ${seconds.toFixed(1)} s in all`,
    );
  }
  if (sampled) recordInRun(runDir!, sampled, rows[rows.length - 1], opts.seed, info);
}

/**
 * Keeps a run's result in its evals.jsonl, and refreshes its report if it has one, so that
 * gan report shows it. The measurement stands without them: a run folder that cannot be
 * written to (someone else's, read-only) gets a line saying so.
 */
function recordInRun(
  runDir: string,
  s: Samples,
  r: EvalRow,
  seed: number,
  info: (line: string) => void,
  space?: { id: string; classes: number },
): void {
  let file: string;
  try {
    file = appendEval(runDir, {
      time: new Date().toISOString(),
      checkpoint: path.relative(runDir, s.checkpoint),
      epoch: s.epoch,
      step: s.step,
      generator: s.generator,
      n: s.n,
      seed,
      fid: r.fid,
      inception_score: r.inception_score,
      classes_covered: r.classes_covered,
      kl_to_uniform: r.kl_to_uniform,
      mean_confidence: r.mean_confidence,
      feature_space: space?.id ?? 'mnist',
      ...(space ? { classes: space.classes } : {}),
    });
  } catch (e) {
    info(`not recorded in the run: ${describeError(e)}`);
    return;
  }
  if (!fs.existsSync(path.join(runDir, REPORT_FILE)))
    return info(`recorded in ${file}; see it in the report: ${ganCommand('report', '--run', runDir)}`);
  try {
    writeReport(runDir);
    info(`recorded in ${file}; ${path.join(runDir, REPORT_FILE)} refreshed`);
  } catch (e) {
    info(`recorded in ${file}; report not refreshed: ${describeError(e)}`);
  }
}

/**
 * The evaluation classifier, trained first (a few minutes, once per machine) with a progress bar
 * on a terminal, progress lines elsewhere. Shared by gan train --eval-every and gan eval.
 */
export async function obtainClassifierShowingProgress(
  backend: LoadedBackend,
  log: (line: string) => void,
  stream: NodeJS.WriteStream = process.stdout,
): Promise<Classifier> {
  const progress = classifierProgress(log, stream);
  const where = classifierBackend(backend);
  try {
    return await where.run(() =>
      obtainClassifier(backend.tf, where.name, {
        onTrainStart: () => log(`training the evaluation classifier, once for this machine (cached in ${classifierDir()}):`),
        train: { onProgress: progress.onProgress },
      }),
    );
  } finally {
    progress.stop();
  }
}

/**
 * The two rows: n real training images (for scale), then the run's samples or the IDX file's,
 * each against the test set's features, with the stage under way shown as it goes (tens of
 * seconds on a CPU).
 */
async function measureRows(
  evaluator: Evaluator,
  opts: EvalCommandOptions,
  what: { samples: { pixels: Uint8Array; n: number } } | { runDir: string },
  info: (line: string) => void,
): Promise<{ rows: EvalRow[]; sampled?: Samples }> {
  const generate = 'runDir' in what;
  const total = TEST_IMAGES + opts.n * (generate ? 3 : 2);
  const progress = new TaskProgress('evaluating', total, info, opts.json ? process.stderr : process.stdout, true);
  try {
    progress.update(0, `features of the ${TEST_IMAGES} test images`);
    await evaluator.referenceStats();
    const real = loadImages({ limit: opts.n });
    progress.update(TEST_IMAGES, `${real.n} real training images`);
    const rows = [await evaluator.evaluate(real.pixels, real.n, `real MNIST train (first ${real.n})`)];
    let sampled: Samples | undefined;
    if (!generate) {
      progress.update(TEST_IMAGES + opts.n, `the ${what.samples.n} images of ${path.basename(opts.samples!)}`);
      rows.push(await evaluator.evaluate(what.samples.pixels, what.samples.n, path.basename(opts.samples!)));
    } else {
      progress.update(TEST_IMAGES + opts.n, `generating ${opts.n} samples`);
      const s = await sampleRun(evaluator.tf, what.runDir, { n: opts.n, seed: opts.seed, raw: opts.raw });
      progress.update(TEST_IMAGES + 2 * opts.n, `the ${s.n} samples`);
      const source = `${path.basename(what.runDir)} epoch ${s.epoch}${s.generator === 'ema' ? ' (EMA)' : ''}`;
      rows.push(await evaluator.evaluate(s.pixels, s.n, source));
      sampled = s;
    }
    progress.update(total);
    return { rows, sampled };
  } finally {
    progress.stop();
  }
}

/** The MNIST test set, against which FID is measured. */
const TEST_IMAGES = 10000;

/**
 * gan eval on a run whose data is not MNIST-format (class folders, CIFAR-10): FID, IS and
 * coverage in the feature space of a classifier trained on that data (once, cached by the data's
 * fingerprint, size and colour), against up to 10,000 of its images; said so in every line, and
 * recorded as that feature space in evals.jsonl.
 */
async function evalOnOwnData(
  opts: EvalCommandOptions,
  runDir: string,
  own: { images: ImageSet; source: string },
  log: (line: string) => void,
  info: (line: string) => void,
): Promise<void> {
  const { images, source } = own;
  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  info(backend.notice);
  const t0 = performance.now();
  const stream = opts.json ? process.stderr : process.stdout;
  const progress = classifierProgress(info, stream);
  let classifier: Classifier;
  const where = classifierBackend(backend);
  try {
    classifier = await where.run(() =>
      obtainDataClassifier(backend.tf, where.name, images, source, {
        onTrainStart: (dir) => info(`training a classifier on ${source}, once for this data (cached in ${dir}):`),
        train: { onProgress: progress.onProgress },
      }),
    );
  } finally {
    progress.stop();
  }
  const d = classifier.info.data!;
  const colour = d.channels === 3 ? 'rgb' : 'gray';
  info(
    `classifier: trained on ${source} (${plural(d.images, 'image')}, ${d.classNames.length} classes, ${d.size}x${d.size} ${colour}), accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}% on its ${d.heldOut} held-out images`,
  );
  const reference = randomImages(images, MAX_REFERENCE, 0);
  const evaluator = new Evaluator(backend.tf, classifier, reference, where.run);
  const total = reference.n + opts.n * 3;
  const bar = new TaskProgress('evaluating', total, info, stream, true);
  let rows: EvalRow[];
  let s: Samples;
  try {
    bar.update(0, `features of ${reference.n} images of ${path.basename(source)}`);
    await evaluator.referenceStats();
    const real = randomImages(images, opts.n, 1);
    bar.update(reference.n, `${real.n} real images`);
    rows = [await evaluator.evaluate(real.pixels, real.n, `real ${path.basename(path.resolve(source))} (${real.n} random)`)];
    bar.update(reference.n + opts.n, `generating ${opts.n} samples`);
    s = await sampleRun(backend.tf, runDir, { n: opts.n, seed: opts.seed, raw: opts.raw });
    bar.update(reference.n + 2 * opts.n, `the ${s.n} samples`);
    rows.push(await evaluator.evaluate(s.pixels, s.n, `${path.basename(runDir)} epoch ${s.epoch}${s.generator === 'ema' ? ' (EMA)' : ''}`));
    bar.update(total);
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const space = { id: `data:${d.key.slice(0, 12)}`, classes: d.classNames.length };
  if (opts.json) {
    for (const r of rows) log(JSON.stringify({ ...r, feature_space: space.id, classes: space.classes }));
  } else {
    log(HEADER);
    for (const r of rows) log(formatEvalRow(r));
    const last = rows[rows.length - 1];
    log(`class histogram of ${last.source}: ${last.histogram.map((h, c) => `${d.classNames[c]}:${(100 * h).toFixed(1)}%`).join(' ')}`);
    log(
      `FID against ${plural(reference.n, 'image')} of ${source} in the 128-d feature space of a classifier trained on that data (${space.id}), not MNIST's: not comparable with MNIST FIDs nor another dataset's; IS at best ${d.classNames.length}; ${seconds.toFixed(1)} s in all`,
    );
  }
  recordInRun(runDir, s, rows[rows.length - 1], opts.seed, info, space);
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
  const progress = classifierProgress(log);
  const c = await trainClassifier(backend.tf, backend.name, { epochs: opts.epochs, seed: opts.seed, onProgress: progress.onProgress });
  progress.stop();
  await saveClassifier(backend.tf, classifierDir(), c);
  log(
    `classifier: test accuracy ${(100 * c.info.testAccuracy).toFixed(2)}% after ${plural(c.info.epochs, 'epoch')}, ${c.info.trainSeconds.toFixed(1)} s; saved to ${classifierDir()}`,
  );
}
