/**
 * `gan train`: resolves the run directory and config, loads the backend, shows progress, and
 * turns Ctrl-C / SIGTERM into "finish this step, checkpoint, exit 130 / 143".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadBackend, type BackendChoice } from '../backend';
import { resolveTrainConfig, resumeConflicts, withModelDefaults, type TrainConfig } from '../config';
import { ConfigError, CheckpointError, InterruptedError, describeError } from '../errors';
import { checkOutDir, createNumberedRun, createOutDir, isRunDir, newestRun, writeRunInfo, RUN_FILE, type RunInfo } from '../run-dir';
import { train, type EpochMetrics, type TrainOptions } from '../train';
import { Evaluator, obtainClassifier } from '../eval';
import { peekLatestState } from '../checkpoint';
import { loadImages } from '../data/mnist';
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

/** Reads the stored config of a run to resume and applies what the user may change (epochs). */
function resumeConfig(runDir: string, overrides: Partial<TrainConfig>): TrainConfig {
  let info: RunInfo;
  try {
    info = JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILE), 'utf8'));
  } catch {
    throw new CheckpointError(`${runDir} holds no readable ${RUN_FILE}`, 'Pass --out DIR of a run made by gan train');
  }
  const conflicts = resumeConflicts(info.config, overrides);
  if (conflicts.length) {
    throw new ConfigError(`cannot resume ${runDir} with other settings: ${conflicts.join('; ')}`, 'Drop those flags (the run keeps its own), or start a new run');
  }
  return { ...withModelDefaults(info.config), epochs: overrides.epochs ?? info.config.epochs };
}

/** A finished run resumes only with more epochs. */
function checkWorkLeft(runDir: string, config: TrainConfig): void {
  const latest = peekLatestState(runDir);
  if (latest && latest.epoch >= config.epochs && latest.iteration === 0) {
    throw new ConfigError(`${runDir} already finished ${latest.epoch} of ${config.epochs} epochs`, `Pass --epochs N with N > ${latest.epoch} to train it further`);
  }
}

export async function trainCommand(opts: TrainCommandOptions): Promise<void> {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  // Check everything that can be wrong before the backend loads and before anything is created.
  let runDir: string | undefined;
  let config: TrainConfig;
  if (opts.resume) {
    runDir = opts.out ?? newestRun();
    if (!isRunDir(runDir)) throw new CheckpointError(`${runDir} is not a run directory`, 'Pass --out DIR of a run made by gan train');
    config = resumeConfig(runDir, opts.overrides);
    checkWorkLeft(runDir, config);
  } else {
    config = resolveTrainConfig(opts.overrides);
    if (opts.out) checkOutDir(opts.out);
  }
  loadImages({ dir: config.data, limit: 1, labels: config.conditional });

  const backend = await loadBackend(opts.backend, { threads: opts.threads });
  log(backend.notice);
  if (!runDir) {
    runDir = opts.out ? createOutDir(opts.out) : createNumberedRun();
    writeRunInfo(runDir, config);
  }
  const dir = runDir;

  // Ctrl-C once: finish the steps in flight (the loop looks at the flag every 10 steps, when
  // it yields to the event loop), checkpoint, exit. Twice: exit now (the last complete
  // checkpoint is untouched, since checkpoints are renamed into place whole).
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopSignal) process.exit(sig === 'SIGTERM' ? 143 : 130);
    stopSignal = sig;
    process.stderr.write(`\n${sig}: finishing this step and writing a checkpoint (again to quit at once)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let evaluation: TrainOptions['evaluation'];
  if (opts.evalEvery) {
    const classifier = await obtainClassifier(backend.tf, backend.name, { onTrainStart: () => log('training the evaluation classifier once (cached in data/classifier/)...') });
    log(`evaluation every ${opts.evalEvery} epoch(s) on ${opts.evalSamples ?? 10000} samples; classifier test accuracy ${(100 * classifier.info.testAccuracy).toFixed(2)}%`);
    evaluation = { every: opts.evalEvery, n: opts.evalSamples ?? 10000, evaluator: new Evaluator(backend.tf, classifier) };
  }

  const interactive = process.stdout.isTTY === true;
  let bar: SingleBar | undefined;
  let lastLogged = 0;
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
  try {
    const result = await train(
      { tf: backend.tf, backend: backend.name, config, runDir: dir, resume: opts.resume, checkpointEvery: opts.checkpointEvery, evaluation },
      {
        onStart: (s) => {
          if (s.resumedFrom) log(`resuming ${dir} from ${path.basename(s.resumedFrom)} (epoch ${s.epoch}, step ${s.step})`);
          for (const why of s.skipped) log(`skipped a damaged checkpoint: ${why}`);
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
          refreshReport();
        },
        shouldStop: () => stopSignal !== undefined,
      },
    );
    bar?.stop();
    if (result.stopped) {
      const code = stopSignal === 'SIGTERM' ? 143 : 130;
      throw new InterruptedError(
        `stopped by ${stopSignal} at step ${result.step}; checkpoint ${result.checkpoint}`,
        `Resume with: gan train --resume --out ${dir}`,
        code,
      );
    }
    log(`done: ${result.epoch} epochs, ${result.step} steps; checkpoint ${result.checkpoint}`);
    if (reportTimes.length) {
      const mean = reportTimes.reduce((a, b) => a + b, 0) / reportTimes.length;
      log(`report: ${path.join(dir, REPORT_FILE)} (refreshed after every epoch, ${mean.toFixed(2)} s each on average)`);
    }
    log(`sample it with: gan sample --run ${dir} --n 64 --out grid.png`);
  } finally {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
