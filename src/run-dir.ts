/**
 * Run directories: where a run's checkpoints, grids and metrics live.
 *
 *   <run>/run.json        what this folder is: the config and when the run began
 *   <run>/metrics.jsonl   one JSON line per epoch
 *   <run>/samples/        epoch-0001.png, ...: the fixed-noise grid after each epoch
 *   <run>/checkpoints/    step-NNNNNNNNN/: the newest two checkpoints (see checkpoint.ts)
 *
 * Without --out, runs are numbered folders under ./checkpoints (run-001, run-002, ...).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, ConfigError } from './errors';
import { ioError, writeFileAtomic } from './fsutil';
import type { TrainConfig } from './config';

export const RUN_FILE = 'run.json';
export const METRICS_FILE = 'metrics.jsonl';
export const SAMPLES_DIR = 'samples';
export const DEFAULT_RUNS_DIR = 'checkpoints';

export function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, RUN_FILE));
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

/** Refuses an `out` that already holds something; changes nothing on disk. */
export function checkOutDir(out: string): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory()) throw new ConfigError(`--out ${out} is a file, not a folder`, 'Choose a folder path for --out');
  if (isRunDir(out)) throw new ConfigError(`${out} already holds a run`, `Continue it with: gan train --resume --out ${out}; or choose another --out`);
  if (fs.readdirSync(out).length > 0) throw new ConfigError(`${out} is not empty and is not a run`, 'Choose an empty or new folder for --out');
}

/** Creates `out` for a new run after checkOutDir() approved it. */
export function createOutDir(out: string): string {
  checkOutDir(out);
  try {
    fs.mkdirSync(out, { recursive: true });
  } catch (e) {
    throw ioError(e, 'create', out);
  }
  return out;
}

/** The newest numbered run under base (what `gan sample` and `--resume` use without a path). */
export function newestRun(base = DEFAULT_RUNS_DIR): string {
  const runs = runNumbers(base).filter((n) => isRunDir(path.join(base, `run-${String(n).padStart(3, '0')}`)));
  if (runs.length === 0) throw new CheckpointError(`no runs in ${base}/`, 'Train one with `gan train`, or pass --run DIR');
  return path.join(base, `run-${String(runs.at(-1)).padStart(3, '0')}`);
}

export interface RunInfo {
  format: 'gan-run';
  version: 1;
  createdAt: string;
  config: TrainConfig;
}

export function writeRunInfo(dir: string, config: TrainConfig): void {
  const info: RunInfo = { format: 'gan-run', version: 1, createdAt: new Date().toISOString(), config };
  writeFileAtomic(path.join(dir, RUN_FILE), JSON.stringify(info, null, 1) + '\n');
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
