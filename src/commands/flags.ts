/**
 * The flags of every command, as data: cli.ts turns each entry into a commander option. The
 * flags of `gan train` that set a training setting come from the setting records
 * (src/config/settings.ts); the tables here hold only the flags that are no setting.
 */
import {
  BACKEND_CHOICES,
  DEFAULT_TRICKS,
  PRESETS,
  PRESET_KIND,
  SETTING_LIST,
  SETTINGS,
  describeTricks,
  int,
  parseBackendChoice,
  pathKind,
  type Arch,
  type Kind,
  type Setting,
  type SettingKey,
  type TrainConfig,
} from '../config';
import { ConfigError } from '../util/errors';
import { RUN_FILES_BELOW } from '../run/run-dir';

export interface FlagSpec {
  /** Commander's spelling: '--n <n>', or '--json' for a switch. */
  flags: string;
  description: string;
  /** The argument's kind; its parser reads the flag's text and names the flag when it refuses it. */
  kind?: Kind<unknown>;
  /** A parser that is no kind's, for the few flags whose wording of a refusal differs. */
  parse?: (text: string) => unknown;
  default?: unknown;
  /** Left out of --help: test knobs. */
  hidden?: boolean;
  /** The training setting the flag sets (gan train). */
  setting?: SettingKey;
}

/** The long name of a spelling: '--batch-size <n>' -> '--batch-size'. */
export const longName = (flags: string): string => flags.split(' ')[0];

/** The argument parser commander should call, if the flag takes an argument. */
export function flagParser(spec: FlagSpec): ((text: string) => unknown) | undefined {
  return spec.parse ?? spec.kind?.parser(longName(spec.flags));
}

/** A setting's help text with its default and choices filled in. */
export function settingHelp(s: Setting<unknown>): string {
  return (s.help ?? '')
    .replace('{default}', () => (s.default === undefined ? missing('default') : s.kind.format(s.default)))
    .replace('{choices}', () => (s.kind.range.type === 'oneOf' ? s.kind.range.values.join(', ') : missing('choices')));
  function missing(what: string): never {
    throw new Error(`the help of ${s.flag} names {${what}}, which the setting has none of`);
  }
}

const settingFlag = ([key, s]: [SettingKey, Setting<unknown>]): FlagSpec => ({
  flags: s.flag!,
  description: settingHelp(s),
  // A switch takes no argument: commander sets it to true.
  kind: s.flag!.includes('<') ? (s.flagKind ?? s.kind) : undefined,
  hidden: s.hidden,
  setting: key,
});

/** Files and folders: an empty one is refused, not taken as "not given". */
const PATH = pathKind();
/** A folder that gan fills (a run, an exported page): long enough paths are refused at once. */
const FOLDER_TO_FILL = pathKind(RUN_FILES_BELOW);

/** What a preset sets, as flags. */
function describePreset(arch: Arch): string {
  const { lr, ...tricks } = PRESETS.stable[arch];
  return [lr === undefined ? '' : `--lr ${lr}`, describeTricks({ ...DEFAULT_TRICKS, ...tricks })].filter(Boolean).join(' ');
}

/** The flags of `gan train` that are no setting: where the run goes, how it reports, and the preset. */
const TRAIN_RUN_FLAGS: FlagSpec[] = [
  { flags: '--out <dir>', description: 'run directory (default: a new checkpoints/run-NNN)', kind: FOLDER_TO_FILL },
  {
    flags: '--log-every <steps>',
    description: 'when output is not a terminal, also print a progress line every N steps (default: one line per epoch)',
    kind: int(1, Number.MAX_SAFE_INTEGER),
  },
  {
    flags: '--checkpoint-every <steps>',
    description: 'also write a checkpoint every N steps inside epochs (default: after each epoch)',
    kind: int(1, Number.MAX_SAFE_INTEGER),
  },
  {
    flags: '--eval-every <epochs>',
    description:
      'measure FID, Inception Score and mode coverage every K epochs (into metrics.jsonl) and keep the best checkpoint by FID in best/',
    kind: int(1, Number.MAX_SAFE_INTEGER),
  },
  // Two samples at least: FID needs a covariance.
  { flags: '--eval-samples <n>', description: 'samples per evaluation, 2 to 60000 (default: 10000)', kind: int(2, 60000) },
  { flags: '--resume', description: 'continue the run in --out (default: the newest run) from its latest checkpoint' },
  // The stabilising tricks (src/train/tricks.ts), each off by default; docs/tricks.md.
  {
    flags: '--preset <name>',
    description: `recommended: --preset stable, the measured best recipe: MLP ${describePreset('mlp')}; DCGAN ${describePreset('dcgan')}; flags given beside it win`,
    kind: PRESET_KIND,
  },
];

/**
 * `gan train`'s flags in help order: the settings' flags in record order, with the run's own
 * flags and --preset before the first trick's (the preset sets tricks).
 */
export function trainFlags(): FlagSpec[] {
  const settings = SETTING_LIST.filter(([, s]) => s.flag).map(settingFlag);
  const tricksAt = settings.findIndex((f) => SETTINGS[f.setting!].group === 'trick');
  return [...settings.slice(0, tricksAt), ...TRAIN_RUN_FLAGS, ...settings.slice(tricksAt)];
}

const seedKind = int(0, 0xffffffff);

function parseDigit(text: string): number {
  if (!/^\s*\d\s*$/.test(text)) throw new ConfigError(`--digit must be a digit from 0 to 9, got '${text}'`);
  return Number(text);
}

/** The run a command reads: sample, report and export share it. */
const RUN_FLAG: FlagSpec = { flags: '--run <dir>', description: 'run directory (default: the newest run under checkpoints/)', kind: PATH };

export const SAMPLE_FLAGS: FlagSpec[] = [
  {
    flags: '--n <n>',
    description:
      'number of samples, up to 10000 (default: 64; with --interpolate: walks side by side, default 16); conditional runs: ten of every digit by default, and N rounded up to a multiple of 10',
    kind: int(1, 10000),
  },
  {
    flags: '--out <file>',
    description:
      'output: .png for a grid, DIR/ (a trailing slash, or an existing folder) for one PNG per sample (sample-0000.png, ...), .idx or -idx3-ubyte for an MNIST-format IDX3 file (28x28 gray runs), .gif for a latent walk (default: grid.png, or walk.gif with --interpolate; numbered grid-2.png, ... when it exists)',
    kind: PATH,
  },
  {
    flags: '--interpolate <k>',
    description: 'write a GIF of a smooth latent walk (spherical interpolation) through K random points and back',
    kind: int(2, 100),
  },
  { flags: '--frames <n>', description: 'with --interpolate: frames between two points (default: 12)', kind: int(1, 240) },
  RUN_FLAG,
  { flags: '--seed <n>', description: 'seed of the noise', kind: seedKind, default: 0 },
  {
    flags: '--nrow <n>',
    description: 'images per row of the grid (default: near-square; conditional runs: one row per digit)',
    kind: int(1, 10000),
  },
  {
    flags: '--digit <d>',
    description: 'conditional runs: draw only this digit, 0-9 (default: every digit in equal shares, in rows)',
    parse: parseDigit,
  },
  {
    flags: '--class <name>',
    description: "conditional runs: draw only this class, by name (a class folder of the run's data; the digits 0-9 for MNIST)",
    parse: (text: string) => text,
  },
  {
    flags: '--raw-generator',
    description: 'sample the trained generator even when the run kept an EMA generator (--ema; used by default)',
  },
];

export const EVAL_FLAGS: FlagSpec[] = [
  { flags: '--run <dir>', description: 'run to evaluate (default: the newest run under checkpoints/)', kind: PATH },
  { flags: '--samples <file>', description: 'evaluate an MNIST-format IDX3 file of samples instead of a run', kind: PATH },
  { flags: '--n <n>', description: 'samples to generate and real images to compare, 2 to 60000', kind: int(2, 60000), default: 10000 },
  { flags: '--seed <n>', description: 'seed of the generated noise', kind: seedKind, default: 0 },
  { flags: '--json', description: 'one JSON object per row instead of a table' },
  {
    flags: '--raw-generator',
    description: 'evaluate the trained generator even when the run kept an EMA generator (--ema; used by default)',
  },
];

export const CLASSIFIER_FLAGS: FlagSpec[] = [
  { flags: '--epochs <n>', description: 'training epochs', kind: int(1, 100), default: 2 },
  { flags: '--seed <n>', description: 'seed of initial weights and data order', kind: seedKind, default: 0 },
];

const VERBOSE_FLAG: FlagSpec = { flags: '--verbose', description: 'print stack traces of errors' };

// Report loads no backend: of the common flags it takes --verbose only.
export const REPORT_FLAGS: FlagSpec[] = [RUN_FLAG, VERBOSE_FLAG];

export const EXPORT_FLAGS: FlagSpec[] = [
  {
    flags: '--web <dir>',
    description: 'folder for a static site that runs the generator in a browser (replaced if it holds an earlier export)',
    kind: FOLDER_TO_FILL,
  },
  RUN_FLAG,
  VERBOSE_FLAG,
];

export const SERVE_FLAGS: FlagSpec[] = [
  {
    flags: '--run <dir>',
    description: 'run directory (default: the newest run under checkpoints/); its site is (re)written to RUN/web',
    kind: PATH,
  },
  { flags: '--web <dir>', description: 'serve this earlier gan export --web DIR as it is, instead of a run', kind: PATH },
  { flags: '--port <n>', description: 'port to listen on (0: any free port)', kind: int(0, 65535), default: 8080 },
  {
    flags: '--host <address>',
    description: 'address to listen on; one that other machines can reach (0.0.0.0, a network address) needs --public',
    default: '127.0.0.1',
  },
  { flags: '--public', description: 'mean it: serve on a --host that other machines can reach' },
  VERBOSE_FLAG,
];

export const DOCTOR_FLAGS: FlagSpec[] = [{ flags: '--json', description: 'one JSON object instead of text' }];

/** The flags of every command that loads a backend, after its own. */
export const COMMON_FLAGS: FlagSpec[] = [
  { flags: '--backend <name>', description: `tfjs backend: ${BACKEND_CHOICES.join(', ')}`, parse: parseBackendChoice, default: 'auto' },
  { flags: '--threads <n>', description: 'threads of the wasm backend (default: all CPUs, at most 8)', kind: int(1, 8) },
  VERBOSE_FLAG,
];

/**
 * The `gan train` flags that give a config's settings again (those that differ from the
 * defaults, and the seed): how a run is started over with its own settings. Settings that have
 * no flag cannot differ in a run the command line made, and are left out.
 */
export function flagsOfConfig(config: TrainConfig): string[] {
  const out: string[] = [];
  for (const [key, s] of SETTING_LIST) {
    const v = config[key];
    if (!s.flag || v === undefined || (s.arch && s.arch !== config.arch)) continue;
    if (key !== 'seed' && JSON.stringify(v) === JSON.stringify(s.default)) continue;
    if (s.flag.includes('<')) out.push(longName(s.flag), s.kind.format(v));
    else if (v === true) out.push(longName(s.flag));
  }
  return out;
}
