/**
 * Run directories: where a run's checkpoints, grids and metrics live.
 *
 *   <run>/run.json        what this folder is: the config and when the run began
 *   <run>/metrics.jsonl   one JSON line per epoch
 *   <run>/samples/        epoch-0001.png, ...: the fixed-noise grid after each epoch
 *   <run>/checkpoints/    step-NNNNNNNNN/: the newest two checkpoints (see checkpoint.ts)
 *   <run>/train.lock      while a `gan train` writes to the run (see run-lock.ts)
 *
 * A run that stopped before its first checkpoint (killed, a full disk, a closed pipe) is not a
 * dead end: `gan train --resume` starts it from step 0 with its stored settings, and
 * `gan train --out` starts it over in place.
 *
 * Without --out, runs are numbered folders under ./checkpoints (run-001, run-002, ...).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, ConfigError } from '../util/errors';
import { ioError, writeFileAtomic } from '../util/fs';
import { readStoredConfig, type TrainConfig } from '../config';
import { ganCommand } from '../util/invocation';
import { listCheckpoints, newestVerifiedCheckpoint, type DataFingerprint } from './checkpoint';
import { LOCK_FILE, checkNotLocked } from './lock';

export const RUN_FILE = 'run.json';
export const METRICS_FILE = 'metrics.jsonl';
export const SAMPLES_DIR = 'samples';
export const DEFAULT_RUNS_DIR = 'checkpoints';
/**
 * Bytes of names a run writes below its folder, with room to spare: the deepest is about 100
 * (damaged-N/checkpoints/.tmp-step-NNNNNNNNN-PID/discriminator/.weights.bin.tmp-PID-HEX).
 */
export const RUN_FILES_BELOW = 160;

/** A run folder: it has run.json or, run.json lost, checkpoints of its own (from which run.json is rebuilt). */
export function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILE)) || listCheckpoints(dir).length > 0;
}

function runNumbers(base: string): number[] {
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base)
    .map((n) => /^run-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** Creates the next free run-NNN under base. mkdir without `recursive` fails if taken: no races. */
export function createNumberedRun(base = DEFAULT_RUNS_DIR): string {
  try {
    fs.mkdirSync(base, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', base);
  }
  let next = (runNumbers(base).at(-1) ?? 0) + 1;
  for (;;) {
    const dir = path.join(base, `run-${String(next).padStart(3, '0')}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(e, 'create', dir);
      next++;
    }
  }
}

/** A run folder with run.json and no checkpoint folder at all: it stopped before its first checkpoint. */
export function isDeadEnd(dir: string): boolean {
  return isRunDir(dir) && listCheckpoints(dir).length === 0;
}

/**
 * What `gan train --out DIR` may do with DIR: 'new' (absent, empty, or holding only a stale
 * lock) or 'restart' (a run that stopped before its first checkpoint, or whose every checkpoint
 * fails to verify: started over in place, the damaged files set aside). Refuses anything else,
 * a run that can go on above all; changes nothing on disk.
 */
export function checkOutDir(out: string): 'new' | 'restart' {
  if (out === '')
    throw new ConfigError('--out must be a non-empty path', 'Name the run folder, or leave --out out for a new checkpoints/run-NNN');
  if (!fs.existsSync(out)) return 'new';
  if (!fs.statSync(out).isDirectory()) throw new ConfigError(`--out ${out} is a file, not a folder`, 'Choose a folder path for --out');
  checkNotLocked(out);
  if (isRunDir(out)) {
    if (isDeadEnd(out) || !newestVerifiedCheckpoint(out)) return 'restart';
    throw new ConfigError(
      `${out} already holds a run`,
      `Continue it with: ${ganCommand('train', '--resume', '--out', out)}; or choose another --out`,
    );
  }
  if (fs.readdirSync(out).some((n) => n !== LOCK_FILE))
    throw new ConfigError(`${out} is not empty and is not a run`, 'Choose an empty or new folder for --out');
  return 'new';
}

/** Where setAsideDamagedRun() keeps the files of a run started over in place. */
const DAMAGED = /^damaged-\d+$/;

/**
 * Before a run whose every checkpoint is damaged starts over in place: its files (checkpoints,
 * run.json, metrics, grids, report) move into DIR/damaged-N, so nothing is lost and the new run
 * finds a clean folder. Returns that folder.
 */
export function setAsideDamagedRun(dir: string): string {
  let n = 1;
  while (fs.existsSync(path.join(dir, `damaged-${n}`))) n++;
  const aside = path.join(dir, `damaged-${n}`);
  try {
    fs.mkdirSync(aside);
    for (const name of fs.readdirSync(dir))
      if (name !== LOCK_FILE && name !== path.basename(aside) && !DAMAGED.test(name))
        fs.renameSync(path.join(dir, name), path.join(aside, name));
  } catch (e) {
    throw ioError(e, 'set aside the damaged files of', dir);
  }
  return aside;
}

/** Creates `out` for a new run (mkdir -p). */
export function createOutDir(out: string): string {
  try {
    fs.mkdirSync(out, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', out);
  }
  return out;
}

/**
 * The newest numbered run under base (what `gan sample`, `gan eval` and `--resume` use without a
 * path). `withCheckpoint`: the newest that has a checkpoint to read (one still in its first
 * epoch, or stopped before its first checkpoint, has nothing to sample).
 */
export function newestRun(base = DEFAULT_RUNS_DIR, opts: { withCheckpoint?: boolean } = {}): string {
  const dirs = runNumbers(base)
    .map((n) => path.join(base, `run-${String(n).padStart(3, '0')}`))
    .filter((d) => isRunDir(d) && (!opts.withCheckpoint || listCheckpoints(d).length > 0));
  if (dirs.length === 0) {
    throw new CheckpointError(
      opts.withCheckpoint ? `no run in ${base}/ has a checkpoint yet` : `no runs in ${base}/`,
      opts.withCheckpoint
        ? `Train one (a checkpoint is written after each epoch) with: ${ganCommand('train')}; or pass --run DIR`
        : `Train one with: ${ganCommand('train')}; or pass --run DIR`,
    );
  }
  return dirs[dirs.length - 1];
}

/**
 * The run a reading command (sample, eval, export, serve) reads: `run` when given, else the newest
 * with a checkpoint. Checked now, from the folder alone, so that a wrong --run is said in one
 * line before a backend loads or a classifier trains (minutes); loading then verifies the files.
 */
export function runToRead(run: string | undefined): string {
  if (run === undefined) return newestRun(undefined, { withCheckpoint: true });
  const trainHint = `Pass --run DIR of a trained run (${ganCommand('train')} writes them under ${DEFAULT_RUNS_DIR}/)`;
  if (!fs.existsSync(run)) throw new CheckpointError(`run folder ${run} does not exist`, trainHint);
  if (!fs.statSync(run).isDirectory()) throw new CheckpointError(`--run ${run} is a file, not a run folder`, trainHint);
  if (listCheckpoints(run).length > 0) return run;
  if (!isRunDir(run)) throw new CheckpointError(`${run} is not a run folder (it holds no ${RUN_FILE} and no checkpoints)`, trainHint);
  throw new CheckpointError(
    `${run} has no checkpoint yet (one is written after each epoch)`,
    `Train it further with: ${ganCommand('train', '--resume', '--out', run)}; or pass --run DIR of a run that has written a checkpoint`,
  );
}

export interface RunInfo {
  format: 'gan-run';
  version: 1;
  createdAt: string;
  config: TrainConfig;
  /** The training images the run started with (older runs lack it). */
  data?: DataFingerprint;
}

/** Reads and validates run.json (its config against config.ts's table). Throws CheckpointError. */
export function readRunInfo(dir: string): RunInfo {
  const file = path.join(dir, RUN_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(
      `${dir} ${missing ? `holds no ${RUN_FILE}: it is not a run directory` : `has a damaged ${RUN_FILE} (not valid JSON)`}`,
      missing ? 'Pass --out DIR of a run made by gan train' : `Restore ${file}, or start a new run with another --out`,
    );
  }
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || raw.format !== 'gan-run') problems.push("format is not 'gan-run'");
  const stored = readStoredConfig(raw?.config);
  problems.push(...stored.problems);
  const data = raw?.data as DataFingerprint | undefined;
  if (data !== undefined && (!Number.isSafeInteger(data?.images) || typeof data?.sha256 !== 'string'))
    problems.push('data is not {images, sha256}');
  if (problems.length) {
    throw new CheckpointError(
      `${file} is not valid: ${problems.join('; ')}`,
      `Restore it (it was altered or damaged), or start a new run with another --out`,
    );
  }
  return { format: 'gan-run', version: 1, createdAt: String(raw.createdAt ?? ''), config: stored.config!, data };
}

/** Writes run.json atomically; `createdAt` is kept when the run already had one. */
export function writeRunInfo(dir: string, config: TrainConfig, data?: DataFingerprint, createdAt = new Date().toISOString()): void {
  const info: RunInfo = { format: 'gan-run', version: 1, createdAt, config, data };
  writeFileAtomic(path.join(dir, RUN_FILE), JSON.stringify(info, null, 1) + '\n');
}

/**
 * Before (re)starting at `epoch`: metrics lines and grids of later epochs are from work being
 * redone, and temporary files left by a killed write are debris; both go.
 */
export function dropOutputsAfter(runDir: string, epoch: number): void {
  const metrics = path.join(runDir, METRICS_FILE);
  if (fs.existsSync(metrics)) {
    const lines = fs
      .readFileSync(metrics, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const kept = lines.filter((l) => {
      try {
        return (JSON.parse(l) as { epoch: number }).epoch <= epoch;
      } catch {
        return false; // a line cut short by a kill
      }
    });
    if (kept.length !== lines.length) writeFileAtomic(metrics, kept.map((l) => l + '\n').join(''));
  }
  const samples = path.join(runDir, SAMPLES_DIR);
  const plots = path.join(runDir, 'plots'); // the report's (src/report)
  for (const [dir, names] of [
    [runDir, safeList(runDir)],
    [samples, safeList(samples)],
    [plots, safeList(plots)],
  ] as const) {
    for (const name of names) {
      const later = /^epoch-(\d+)\.png$/.exec(name);
      const debris = /^\..*\.tmp-\d+-[0-9a-f]+$/.test(name);
      if (debris || (dir === samples && later && Number(later[1]) > epoch)) fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Ensures samples/ exists. */
export function samplesDir(runDir: string): string {
  const dir = path.join(runDir, SAMPLES_DIR);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', dir);
  }
  return dir;
}

export function epochGridPath(runDir: string, epoch: number): string {
  return path.join(runDir, SAMPLES_DIR, `epoch-${String(epoch).padStart(4, '0')}.png`);
}
