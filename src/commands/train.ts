/**
 * `gan train`: decides what the command line asks for (a new run, a run started over in place,
 * or a resume: train-plan.ts), checks it before anything is loaded or created, then loads the
 * data and the backend, holds the run's lock while training, shows progress, and turns Ctrl-C /
 * SIGTERM into "finish this step, checkpoint, exit 130 / 143". The trainer never prints: every line the
 * user sees is written here.
 */
import * as path from 'node:path';
import { loadBackend, type BackendChoice, type LoadedBackend } from '../backends';
import type { TrainConfig } from '../config';
import { GanError, InterruptedError, IoError, describeError } from '../util/errors';
import { createNumberedRun, createOutDir, writeRunInfo, DEFAULT_RUNS_DIR } from '../run/run-dir';
import { lockRun } from '../run/lock';
import { train } from '../train/loop';
import type { TrainHooks, TrainOptions, TrainResult } from '../train/types';
import { Evaluator, obtainClassifier } from '../eval/evaluator';
import { classifierDir } from '../eval/classifier';
import { dataFingerprint, loadImages } from '../data/mnist';
import { checkWritable } from '../util/fs';
import { ganCommand } from '../util/invocation';
import { onOutputFailure, printLine } from './output';
import { ProgressDisplay, epochLine } from './progress';
import { checkMemory, checkRunData, planRun, prepareRunDir, type RunPlan } from './train-plan';
import { REPORT_FILE, writeReport } from '../report/report';

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
  const data = loadTrainingData(plan, opts.backend);
  checkWritable(plan.runDir ?? DEFAULT_RUNS_DIR);

  const backend = await loadBackend(opts.backend, { threads: opts.threads });
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
      throw new IoError(
        e.message,
        `${e.hint ? `${e.hint}, then r` : 'R'}esume with: ${ganCommand('train', '--resume', '--out', dir)}`,
        e.code,
      );
    throw e;
  } finally {
    progress.stop();
    stop.dispose();
    run.release();
  }
}

/**
 * Loads the training images (the trainer is handed them, so they are read once) and refuses,
 * before the backend loads and before anything is written, data that is not the run's own and
 * a run that does not fit in memory.
 */
function loadTrainingData(plan: RunPlan, backend: BackendChoice): TrainingData {
  const { config } = plan;
  const images = loadImages({ dir: config.data, limit: config.limit, labels: config.conditional });
  const fingerprint = dataFingerprint(images);
  checkRunData(plan, fingerprint);
  checkMemory(plan, images.n, backend);
  return { images, fingerprint };
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

// ---- Stopping early: signals and a failing stdout ----

interface StopRequests {
  /** Set by the first SIGINT / SIGTERM, or 'output' when stdout failed first; the run then stops after the step in flight. */
  readonly reason: NodeJS.Signals | 'output' | undefined;
  /** What failed when reason is 'output'. */
  readonly outputError: NodeJS.ErrnoException | undefined;
  /** Removes the process-wide handlers (they must not outlive the command). */
  dispose(): void;
}

/**
 * Ctrl-C once: finish the step in flight (the loop yields after every step), checkpoint, exit.
 * Twice: exit now, restoring the terminal (the last complete checkpoint is untouched, since
 * checkpoints are renamed into place whole). A closed or failing stdout stops the run the way
 * the first Ctrl-C does. SIGTERM is handled like Ctrl-C.
 */
function watchStopRequests(dir: string, progress: ProgressDisplay): StopRequests {
  let reason: NodeJS.Signals | 'output' | undefined;
  let outputError: NodeJS.ErrnoException | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (reason && reason !== 'output') {
      progress.stop();
      process.stderr.write(
        `${sig} again: quitting now. The last complete checkpoint is kept; resume with: ${ganCommand('train', '--resume', '--out', dir)}\n`,
      );
      process.exit(exitCodeFor(sig));
    }
    reason = sig;
    process.stderr.write(`\n${sig}: finishing this step and writing a checkpoint (again to quit at once)\n`);
  };
  const stopWatchingOutput = onOutputFailure((e) => {
    outputError = e;
    reason ??= 'output';
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get reason() {
      return reason;
    },
    get outputError() {
      return outputError;
    },
    dispose: () => {
      stopWatchingOutput();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The shell's convention for a process ended by a signal: 128 + the signal's number. */
function exitCodeFor(sig: NodeJS.Signals): number {
  return sig === 'SIGTERM' ? 143 : 130;
}

// ---- While training: evaluation, progress, epoch lines, the report ----

/** With --eval-every: the classifier (trained once and cached) and the evaluator the trainer calls. */
async function setUpEvaluation(opts: TrainCommandOptions, backend: LoadedBackend, log: Log): Promise<TrainOptions['evaluation']> {
  if (!opts.evalEvery) return undefined;
  const samples = opts.evalSamples ?? DEFAULT_EVAL_SAMPLES;
  const classifier = await obtainClassifier(backend.tf, backend.name, {
    onTrainStart: () => log(`training the evaluation classifier once (cached in ${classifierDir()})...`),
  });
  log(
    `evaluation every ${opts.evalEvery} epoch(s) on ${samples} samples; classifier test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`,
  );
  return { every: opts.evalEvery, n: samples, evaluator: new Evaluator(backend.tf, classifier) };
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
      if (s.resumedFrom) log(`resuming ${dir} from ${path.basename(s.resumedFrom)} (epoch ${s.epoch}, step ${s.step})`);
      for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
      // run.json keeps the target epochs, so that a later plain --resume goes on to it; a run
      // from before run.json held the data's fingerprint is given it.
      const info = plan.info;
      if (info && (info.config.epochs !== s.config.epochs || !info.data))
        writeRunInfo(dir, { ...info.config, epochs: s.config.epochs }, info.data ?? ctx.fingerprint, info.createdAt);
      log(
        `run ${dir}: ${s.images} images, ${s.itersPerEpoch} iterations of ${config.batchSize} per epoch, seed ${config.seed}, epochs ${s.epoch + 1}..${config.epochs}`,
      );
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

/**
 * The error to exit with when a signal or a failing stdout stopped the run (or came as it
 * finished), saying where it stopped and how to go on; undefined when nothing asked it to stop.
 */
function stoppedEarlyError(result: TrainResult, stop: StopRequests, dir: string): GanError | undefined {
  if (!stop.reason) return undefined;
  const resumeHint = `Resume with: ${ganCommand('train', '--resume', '--out', dir)}`;
  const where = result.stopped
    ? `stopped at step ${result.step}; checkpoint ${result.checkpoint}`
    : `the run had finished (${result.epoch} epochs; checkpoint ${result.checkpoint})`;
  if (stop.reason === 'output') {
    const e = stop.outputError!;
    // EPIPE: the reader went away (`gan train | head`), as a shell's SIGPIPE would: exit 141.
    if (e.code === 'EPIPE') return new InterruptedError(`output closed (EPIPE): ${where}`, result.stopped ? resumeHint : undefined, 141);
    return new GanError(
      `cannot write to standard output (${e.code ?? e.message}): ${where}`,
      result.stopped ? `Free space or send the output elsewhere, then ${resumeHint.toLowerCase()}` : undefined,
      1,
    );
  }
  const code = exitCodeFor(stop.reason);
  if (result.stopped)
    return new InterruptedError(`stopped by ${stop.reason} at step ${result.step}; checkpoint ${result.checkpoint}`, resumeHint, code);
  return new InterruptedError(
    `${stop.reason} came as the run finished: ${where}`,
    `Sample it with: ${ganCommand('sample', '--run', dir)}`,
    code,
  );
}

/** The lines after a run that trained to its end: where its checkpoint and report are, and what to do next. */
function printSummary(result: TrainResult, dir: string, report: ReportRefresher, log: Log): void {
  log(`done: ${result.epoch} epochs, ${result.step} steps; checkpoint ${result.checkpoint}`);
  if (report.seconds.length) {
    const mean = report.seconds.reduce((a, b) => a + b, 0) / report.seconds.length;
    log(`report: ${path.join(dir, REPORT_FILE)} (refreshed after every epoch, ${mean.toFixed(2)} s each on average)`);
  }
  log(`sample it with: ${ganCommand('sample', '--run', dir, '--n', '64', '--out', 'grid.png')}`);
}
