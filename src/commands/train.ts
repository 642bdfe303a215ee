/**
 * `gan train`: decides what the command line asks for (a new run, a dead end started over in
 * place, or a resume), checks it before anything is loaded or created, then loads the data and
 * the backend, holds the run's lock while training, shows progress, and turns Ctrl-C / SIGTERM
 * into "finish this step, checkpoint, exit 130 / 143". The trainer never prints: every line the
 * user sees is written here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifierBackend, loadBackend, type BackendChoice, type LoadedBackend } from '../backends';
import type { TrainConfig } from '../config';
import type { Workload } from '../backends/auto';
import { ConfigError, DataError, IoError, describeError } from '../util/errors';
import { createNumberedRun, createOutDir, writeRunInfo, DEFAULT_RUNS_DIR } from '../run/run-dir';
import { lockRun } from '../run/lock';
import { train } from '../train/loop';
import type { TrainHooks, TrainOptions, TrainResult } from '../train/types';
import { Evaluator } from '../eval/evaluator';
import { obtainClassifierShowingProgress } from './eval';
import { dataFingerprint } from '../data/mnist';
import { dataKind, isMnistLike, loadTrainingSet } from '../data/dataset';
import { ganSpec } from '../nets';
import { dataBudgets, dataPlacement } from '../train/dataset';
import { checkWritable } from '../util/fs';
import { printLine } from './output';
import { ProgressDisplay, TaskProgress, epochLine } from './progress';
import { checkMemory, checkRunData, planRun, prepareRunDir, type RunPlan } from './train-plan';
import { resumeCommand, stoppedEarlyError, watchStopRequests, type StopRequests } from './stop-requests';
import { plural } from '../util/text';
import { REPORT_FILE, writeReport } from '../report/report';
import { ganCommand } from '../util/invocation';

type Log = (line: string) => void;

export interface TrainCommandOptions {
  overrides: Partial<TrainConfig>;
  out?: string;
  backend: BackendChoice;
  /** Threads of the wasm backend (default: all CPUs). */
  threads?: number;
  resume: boolean;
  /** When output is not a terminal: also print a plain progress line every this many steps. */
  logEvery?: number;
  /** Checkpoint every this many steps inside epochs too. */
  checkpointEvery?: number;
  /** Evaluate (FID, IS, coverage) every this many epochs, on evalSamples samples. */
  evalEvery?: number;
  evalSamples?: number;
  /** Where to print: stdout lines (tests capture them). */
  log?: Log;
}

type TrainingData = NonNullable<TrainOptions['data']>;

/** Samples per evaluation when --eval-samples is not given (the help text says so too). */
const DEFAULT_EVAL_SAMPLES = 10000;

export async function trainCommand(opts: TrainCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  // Check everything that can be wrong before the backend loads and before anything is created.
  const plan = planRun(opts);
  const { config } = plan;
  checkEvaluable(plan, opts);
  const data = await loadTrainingData(plan, opts, log);
  checkWritable(plan.runDir ?? DEFAULT_RUNS_DIR);

  const backend = await loadBackend(opts.backend, {
    threads: opts.threads,
    workload: workloadOf(config),
    // On stderr: the first line on stdout stays the one that says which backend runs, and why.
    onCalibrate: (w) =>
      process.stderr.write(`calibrating webgpu against wasm (${w.arch}, batch ${w.batchSize}): a few steps each, once here\n`),
  });
  log(backend.notice);

  const run = openRun(plan);
  const { dir } = run;
  const progress = new ProgressDisplay(config.epochs, opts.logEvery, log);
  const stop = watchStopRequests(dir, progress);
  try {
    prepareRunDir(plan, dir, data.fingerprint, log);
    const evaluation = await setUpEvaluation(opts, backend, log);
    const report = new ReportRefresher(dir, log);
    const result = await train(
      {
        tf: backend.tf,
        backend: backend.name,
        config,
        runDir: dir,
        resume: plan.kind === 'resume',
        data,
        checkpointEvery: opts.checkpointEvery,
        evaluation,
      },
      trainHooks({ plan, dir, fingerprint: data.fingerprint, progress, report, stop, log }),
    );
    progress.stop();
    const stoppedEarly = stoppedEarlyError(result, stop, dir);
    if (stoppedEarly) throw stoppedEarly;
    printSummary(result, dir, report, log);
  } catch (e) {
    // An I/O failure while training leaves the last complete checkpoint (or a run that resumes
    // from step 0): say how to go on.
    if (e instanceof IoError)
      throw new IoError(e.message, `${e.hint ? `${e.hint}, then r` : 'R'}esume with: ${resumeCommand(dir)}`, e.code);
    throw e;
  } finally {
    progress.stop();
    stop.dispose();
    run.release();
  }
}

/** What auto's calibration times: the model and batch size this run trains (src/backends/auto.ts). */
export function workloadOf(config: TrainConfig): Workload {
  return config.arch === 'dcgan'
    ? { arch: config.arch, channels: config.channels, conditional: config.conditional, batchSize: config.batchSize }
    : {
        arch: config.arch,
        generatorHidden: config.generatorHidden,
        discriminatorHidden: config.discriminatorHidden,
        conditional: config.conditional,
        batchSize: config.batchSize,
      };
}

/**
 * Loads the training images (the trainer is handed them, so they are read once; a folder of
 * images is decoded into the cache the first time, with progress) and refuses, before the
 * backend loads and before anything is written, data that is not the run's own and a run that
 * does not fit in memory. A new run on a folder takes the folder's colour (unless --color was
 * given) and its class subfolders' count into its config.
 */
async function loadTrainingData(plan: RunPlan, opts: TrainCommandOptions, log: Log): Promise<TrainingData> {
  const { config } = plan;
  const fresh = plan.kind === 'new' || plan.kind === 'restart';
  const ownColor = fresh && opts.overrides.color === undefined && dataKind(config.data) === 'images';
  let progress: TaskProgress | undefined;
  let images;
  try {
    images = await loadTrainingSet(config, {
      streamAbove: dataBudgets().hostBytes,
      color: ownColor ? undefined : config.color,
      log,
      onProgress: (done, total, task) => {
        progress ??= new TaskProgress(task, total, log);
        progress.update(done);
      },
    });
  } finally {
    progress?.stop();
  }
  if (ownColor) config.color = images.channels === 3 ? 'rgb' : 'gray';
  if (fresh && config.conditional && images.classNames) config.classes = images.classNames.length;
  if (config.conditional && images.classNames && images.classNames.length !== config.classes)
    throw new DataError(
      `${config.data} has ${plural(images.classNames.length, 'class folder')} (${images.classNames.join(', ')}); the run has ${config.classes} classes`,
      'Give the run its own data, or start a new run',
    );
  const fingerprint = dataFingerprint(images);
  checkRunData(plan, fingerprint);
  // Only a set held on the device counts against the backend's memory.
  const onDevice = dataPlacement(images, ganSpec(config).workSize, dataBudgets()) === 'device';
  checkMemory(plan, onDevice ? images.n : 0, opts.backend);
  return { images, fingerprint };
}

/** FID and its kin are measured in the MNIST classifier's feature space: other data has none yet, and is refused rather than compared silently. */
function checkEvaluable(plan: RunPlan, opts: TrainCommandOptions): void {
  if (!opts.evalEvery || isMnistLike(plan.config)) return;
  throw new ConfigError(
    "--eval-every measures FID in the MNIST classifier's feature space, which says nothing about images that are not 28x28 gray digits",
    'Drop --eval-every for this data',
  );
}

// ---- The run's folder and lock ----

/**
 * Creates the run's folder (a new numbered one under runs/ without --out) and takes its lock:
 * one writer per run, taken before anything is written in it. The lock is also released if the
 * process exits without unwinding (a second Ctrl-C).
 */
function openRun(plan: RunPlan): { dir: string; release(): void } {
  const dir = plan.runDir ? createOutDir(plan.runDir) : createNumberedRun();
  const lock = lockRun(dir);
  const releaseOnExit = () => lock.release();
  process.on('exit', releaseOnExit);
  return {
    dir,
    release: () => {
      lock.release();
      process.off('exit', releaseOnExit);
    },
  };
}

// ---- While training: evaluation, progress, epoch lines, the report ----

/** With --eval-every: the classifier (trained once and cached) and the evaluator the trainer calls. */
async function setUpEvaluation(opts: TrainCommandOptions, backend: LoadedBackend, log: Log): Promise<TrainOptions['evaluation']> {
  if (!opts.evalEvery) return undefined;
  const samples = opts.evalSamples ?? DEFAULT_EVAL_SAMPLES;
  const classifier = await obtainClassifierShowingProgress(backend, log);
  log(
    `evaluation every ${plural(opts.evalEvery, 'epoch')} on ${samples} samples; classifier test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`,
  );
  return { every: opts.evalEvery, n: samples, evaluator: new Evaluator(backend.tf, classifier, undefined, classifierBackend(backend).run) };
}

/** Where a resumed run stands, with epochs counted from 1 as everywhere else. */
function position(s: { epoch: number; iteration: number; itersPerEpoch: number; step: number }): string {
  if (s.iteration === 0) return `epoch ${s.epoch} done, step ${s.step}`;
  return `in epoch ${s.epoch + 1}, batch ${s.iteration}/${s.itersPerEpoch}, step ${s.step}`;
}

/** The trainer's callbacks: what the command prints, and when it asks the trainer to stop. */
function trainHooks(ctx: {
  plan: RunPlan;
  dir: string;
  fingerprint: TrainingData['fingerprint'];
  progress: ProgressDisplay;
  report: ReportRefresher;
  stop: StopRequests;
  log: Log;
}): TrainHooks {
  const { plan, dir, progress, log } = ctx;
  const { config } = plan;
  let lastDiagnosis: string | undefined;
  return {
    onStart: (s) => {
      if (s.resumedFrom) log(`resuming ${dir} from ${path.basename(s.resumedFrom)} (${position(s)})`);
      for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
      // run.json keeps the target epochs, so that a later plain --resume goes on to it; a run
      // from before run.json held the data's fingerprint is given it.
      const info = plan.info;
      if (info && (info.config.epochs !== s.config.epochs || !info.data))
        writeRunInfo(dir, { ...info.config, epochs: s.config.epochs }, info.data ?? ctx.fingerprint, info.createdAt);
      log(
        `run ${dir}: ${s.images} images, ${s.itersPerEpoch} iterations of ${config.batchSize} per epoch, seed ${config.seed}, epochs ${s.epoch + 1}..${config.epochs}`,
      );
      if (s.dataLine) log(s.dataLine);
    },
    onProgress: (p) => progress.update(p),
    onEpoch: (m, files) => {
      progress.stop();
      log(`${epochLine(m, config.epochs)}  -> ${files.grid}`);
      // A failure mode is announced when it first shows (metrics.jsonl has it every epoch it holds).
      if (m.diagnosis && m.diagnosis.mode !== lastDiagnosis) log(`warning: ${m.diagnosis.message}`);
      lastDiagnosis = m.diagnosis?.mode;
      ctx.report.refresh();
    },
    shouldStop: () => ctx.stop.reason !== undefined,
  };
}

/**
 * The report (report.html, plots/, timeline.gif) is rewritten after every epoch. It is a view of
 * files already saved, so a failure to write it is reported and training goes on.
 */
class ReportRefresher {
  /** Seconds each refresh took (for the summary's average). */
  readonly seconds: number[] = [];

  constructor(
    private readonly dir: string,
    private readonly log: Log,
  ) {}

  refresh(): void {
    try {
      this.seconds.push(writeReport(this.dir).seconds);
    } catch (e) {
      this.log(`report not refreshed: ${describeError(e)}`);
    }
  }
}

// ---- The end ----

/** The lines after a run that trained to its end: where its checkpoint and report are, and what to do next. */
function printSummary(result: TrainResult, dir: string, report: ReportRefresher, log: Log): void {
  log(`done: ${plural(result.epoch, 'epoch')}, ${plural(result.step, 'step')}; checkpoint ${result.checkpoint}`);
  if (report.seconds.length) {
    const mean = report.seconds.reduce((a, b) => a + b, 0) / report.seconds.length;
    log(`report: ${path.join(dir, REPORT_FILE)} (refreshed after every epoch, ${mean.toFixed(2)} s each on average)`);
  }
  log(`sample it with: ${ganCommand('sample', '--run', dir)}`);
}
