/**
 * Training configuration: the settings (settings.ts, one record each, with the types and
 * defaults derived from them), the presets, and what is done with a config: resolving flags
 * onto the defaults, validating one read back from disk, and the conflicts of a resume. The
 * resolved config is stored in every checkpoint, so `gan sample` and `gan train --resume` need
 * only the run directory.
 */
import * as path from 'node:path';
import { ConfigError } from '../util/errors';
import { BACKEND_CHOICES, BackendChoice, parseBackendChoice } from '../backends';
import { oneOf } from './kinds';
import { memoryBudget, memoryProblem } from '../nets/memory';
import { DCGAN_IMAGE_SIZES } from '../nets/dcgan';
import {
  CONFIG_FIELDS,
  DEFAULT_TRAIN,
  FIXED_ON_RESUME,
  SETTINGS,
  type Arch,
  type FieldSpec,
  type Setting,
  type SettingKey,
  type TrainConfig,
  type TrickConfig,
} from './settings';

export * from './settings';
export * from './kinds';

/**
 * What a preset sets: tricks, and the learning rate they make usable (flags given beside it win).
 */
export type Preset = Partial<TrickConfig> & Partial<Pick<TrainConfig, 'lr'>>;

/**
 * `--preset stable`, per architecture: the combination measured best (docs/tricks.md, "What the tricks
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
  if (c.labelSmoothing > 0)
    out.push(
      `--label-smoothing ${c.labelSmoothing}${c.oneSided ? ' --one-sided' : ''}${c.smoothReal === 'uniform' ? ' --smooth-real uniform' : ''}`,
    );
  if (c.instanceNoise > 0) out.push(`--instance-noise ${c.instanceNoise}${c.noiseDecay !== 1 ? ` --noise-decay ${c.noiseDecay}` : ''}`);
  if (c.featureMatching) out.push('--feature-matching');
  if (c.replay > 0) out.push(`--replay ${c.replay} --replay-fraction ${c.replayFraction}`);
  if (c.historicalAveraging > 0) out.push(`--historical-averaging ${c.historicalAveraging}`);
  if (c.ema > 0) out.push(`--ema ${c.ema}`);
  if (c.dRealOnly) out.push('--debug-d-real-only');
  return out.join(' ');
}

/**
 * Validates a config read back from disk (run.json, state.json): every field present (or
 * optional), of the right type and range, nothing unknown. Returns the problems, each naming
 * the field, the value found and what it should be; empty when the config is usable.
 */
export function configProblems(raw: unknown): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return [`config is ${JSON.stringify(raw) ?? 'missing'}, not an object of settings`];
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
  for (const key of Object.keys(obj))
    if (!(key in CONFIG_FIELDS)) problems.push(`config.${key} is not a setting this version of gan knows`);
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
  // Each value in range, and together more than this machine holds: refused before anything is allocated.
  const tooBig = memoryProblem(config, memoryBudget('tensorflow'));
  if (tooBig) return { problems: [`config: ${tooBig}`] };
  return { config, problems };
}

/** `--preset NAME`: also checked where a preset arrives by another way than the flag. */
export const PRESET_KIND = oneOf(PRESET_NAMES, 'preset');
export const parsePreset = PRESET_KIND.parser('--preset');

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
    if (v !== undefined && !(k in SETTINGS)) {
      throw new ConfigError(`unknown training setting '${k}'`);
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const config: TrainConfig = { ...DEFAULT_TRAIN, seed: randomSeed(), ...defined };
  checkArchSettings(config, defined);
  // Stored absolute, so that the run resumes from any folder.
  if (config.data !== undefined) config.data = path.resolve(config.data);
  if (config.limit !== undefined && config.limit < 1) throw new ConfigError('--limit must be at least 1');
  if (config.oneSided && config.labelSmoothing === 0) throw new ConfigError('--one-sided needs --label-smoothing S (S > 0)');
  if (config.smoothReal === 'uniform' && config.labelSmoothing === 0)
    throw new ConfigError('--smooth-real uniform needs --label-smoothing S (S > 0)');
  if (config.featureMatching && config.dRealOnly) throw new ConfigError('--feature-matching and --debug-d-real-only cannot be combined');
  if (config.arch === 'dcgan' && !DCGAN_IMAGE_SIZES.includes(config.imageSize))
    throw new ConfigError(
      `--image-size ${config.imageSize}: the DCGAN doubles its images from 4x4, so it takes ${DCGAN_IMAGE_SIZES.join(', ')} (28 is padded to 32)`,
      'Pass one of those sizes, or --arch mlp (any size)',
    );
  return config;
}

/** A setting only the other architecture uses would be ignored without a word: refused instead. */
function checkArchSettings(config: TrainConfig, given: Partial<TrainConfig>): void {
  for (const key of Object.keys(given) as SettingKey[]) {
    const s = SETTINGS[key] as Setting<unknown>;
    if (s.arch === undefined || s.arch === config.arch) continue;
    const flag = s.flag?.split(' ')[0] ?? key;
    throw new ConfigError(
      `${flag} is a setting of --arch ${s.arch}; this run is --arch ${config.arch}, which would ignore it`,
      `Drop ${flag}, or pass --arch ${s.arch}`,
    );
  }
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
