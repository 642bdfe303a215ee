/**
 * A checkpoint's state.json: what it holds, its checksum, and the validation of every field
 * when it is read back (the config against src/config's table). Everything read from disk is
 * untrusted until it passes here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { isInt, isNumberIn, isString, readStoredConfig, type Check, type TrainConfig } from '../config';
import { CheckpointError } from '../util/errors';
import { sha256 } from '../util/fs';

export const STATE_FILE = 'state.json';
export const FORMAT = 'gan-checkpoint';
/**
 * 3: state.json carries its own checksum and the data fingerprint. 2: the model family
 * (config.arch / channels / conditional, weights matched by name). 1: the MLP only. All are read.
 */
export const VERSION = 3;

/** Which training images a run uses: their count and the sha256 of their bytes (and the names of their classes, for a folder of class subfolders). */
export interface DataFingerprint {
  images: number;
  sha256: string;
  classes?: string[];
}

export interface CheckpointState {
  format: typeof FORMAT;
  version: number;
  /** Epochs completed. */
  epoch: number;
  /** Batches already done in epoch `epoch + 1` (0 at an epoch boundary). */
  iteration: number;
  /** Training iterations done in the whole run. */
  step: number;
  config: TrainConfig;
  backend: string;
  savedAt: string;
  /** Updates applied by each optimizer (Adam's bias correction needs them). */
  adamSteps: { generator: number; discriminator: number };
  /** Running sums of the current partial epoch, so its averages survive an interrupt. */
  partialEpoch: { sums: number[]; iterations: number; seconds: number; sumsSq?: number[] };
  /** Lowest FID measured so far in the run (with --eval-every), for keeping best/. */
  bestFid?: number;
  /** Sums of the steps.jsonl window in progress (src/report/steps-log.ts); absent in checkpoints from before steps.jsonl. */
  metricsWindow?: { sums: number[]; steps: number; seconds: number };
  /** Manifest of state.bin (tf.io weight specs). */
  tensors: tfType.io.WeightsManifestEntry[];
  /** sha256 of every other file in the checkpoint, by relative path. */
  files: Record<string, string>;
  /** The training images the run started with; a resume on other data is refused. */
  data?: DataFingerprint;
  /** sha256 of this JSON without this field (as written: one-space indent), so edits and bit rot are caught. */
  checksum?: string;
}

/** sha256 of a state as state.json holds it, without its checksum field. */
function stateChecksum(state: Omit<CheckpointState, 'checksum'>): string {
  return sha256(JSON.stringify(state, null, 1));
}

/** The text of state.json for a state: the state with its checksum (any old one replaced). */
export function sealedStateJson(state: CheckpointState | Omit<CheckpointState, 'checksum'>): string {
  const { checksum: _old, ...unsealed } = state as CheckpointState;
  return JSON.stringify({ ...unsealed, checksum: stateChecksum(unsealed) }, null, 1);
}

const isHash: Check = (v) => (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? undefined : 'a sha256 in hex');
const isCount = isInt(0, Number.MAX_SAFE_INTEGER);
const isObjectOf =
  (fields: Record<string, Check>): Check =>
  (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'an object';
    for (const [k, check] of Object.entries(fields)) {
      const want = check((v as Record<string, unknown>)[k]);
      if (want) return `an object whose ${k} is ${want}`;
    }
    return undefined;
  };
const isNameList: Check = (v) =>
  Array.isArray(v) && v.length <= 256 && v.every((x) => typeof x === 'string' && x !== '') ? undefined : 'a list of class names';
const fourFinite: Check = (v) =>
  Array.isArray(v) && v.length === 4 && v.every(Number.isFinite) ? undefined : 'a list of 4 finite numbers';
const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined ? undefined : check(v);

/** The fields of state.json other than config (validated by config.ts's table), and their checks. */
const STATE_FIELDS: Record<string, Check> = {
  epoch: isCount,
  iteration: isCount,
  step: isCount,
  backend: isString,
  savedAt: isString,
  adamSteps: isObjectOf({ generator: isCount, discriminator: isCount }),
  partialEpoch: isObjectOf({
    sums: fourFinite,
    iterations: isCount,
    seconds: isNumberIn(0, Infinity, true),
  }),
  bestFid: optional(isNumberIn(0, Infinity, true)),
  metricsWindow: optional(
    isObjectOf({
      sums: fourFinite,
      steps: isCount,
      seconds: isNumberIn(0, Infinity, true),
    }),
  ),
  tensors: (v) =>
    // int32: the digits of a conditional run's replay ring (--replay).
    Array.isArray(v) &&
    v.every(
      (t) =>
        isObjectOf({
          name: isString,
          dtype: (d) => (d === 'float32' || d === 'int32' ? undefined : "'float32' or 'int32'"),
          shape: (sh) => (Array.isArray(sh) && sh.every((x) => isCount(x) === undefined) ? undefined : 'a list of sizes'),
        })(t) === undefined,
    )
      ? undefined
      : 'a list of float32 or int32 tensor specs {name, shape, dtype}',
  files: (v) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((h) => isHash(h) === undefined)
      ? undefined
      : 'a map of file names to sha256 hashes',
  data: optional(isObjectOf({ images: isInt(1, Number.MAX_SAFE_INTEGER), sha256: isHash, classes: optional(isNameList) })),
};

/**
 * Reads and validates a checkpoint's state.json: its checksum (version 3 on), every field's
 * type and range, and its config against config.ts's table. Throws CheckpointError naming what
 * is wrong.
 */
export function readCheckpointState(dir: string): CheckpointState {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  let raw: Record<string, unknown>;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(
      `checkpoint ${dir}: ${STATE_FILE} is ${missing ? 'missing' : `unreadable (${(e as Error).message})`}`,
      'It is incomplete or damaged; use an earlier checkpoint or retrain',
    );
  }
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} is not valid JSON`, 'It is damaged; use an earlier checkpoint or retrain');
  }
  if (typeof raw !== 'object' || raw === null || raw.format !== FORMAT || typeof raw.version !== 'number' || raw.version > VERSION) {
    throw new CheckpointError(
      `checkpoint ${dir} is not a gan checkpoint of a version this program reads`,
      'Update gan, or use a checkpoint written by this version',
    );
  }
  const { checksum, ...unsealed } = raw;
  if (raw.version >= 3 && (typeof checksum !== 'string' || checksum !== stateChecksum(unsealed as Omit<CheckpointState, 'checksum'>))) {
    throw new CheckpointError(
      `checkpoint ${dir}: ${STATE_FILE} does not match its checksum (altered or damaged)`,
      'Use another checkpoint of the run, or retrain',
    );
  }
  const problems: string[] = [];
  for (const [key, check] of Object.entries(STATE_FIELDS)) {
    const want = check(raw[key]);
    if (want) problems.push(`${key} is ${JSON.stringify(raw[key]) ?? 'missing'}, not ${want}`);
  }
  const stored = readStoredConfig(raw.config);
  problems.push(...stored.problems);
  if (problems.length) {
    throw new CheckpointError(
      `checkpoint ${dir}: ${STATE_FILE} is not valid: ${problems.join('; ')}`,
      'Use another checkpoint of the run, or retrain',
    );
  }
  return { ...(raw as unknown as CheckpointState), config: stored.config! };
}
