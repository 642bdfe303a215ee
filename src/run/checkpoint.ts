/**
 * Self-describing checkpoints, written atomically.
 *
 *   <run>/checkpoints/step-000000938/
 *     generator/model.json, generator/weights.bin          LayersModel format (tf.loadLayersModel)
 *     discriminator/model.json, discriminator/weights.bin  the same, with its dropout layers
 *     ema_generator/model.json, ema_generator/weights.bin  with --ema: the EMA of G's weights (what sampling uses)
 *     state.bin                                            Adam moments of both nets, the fixed noise, and the
 *                                                          tricks' state (historical averages, the replay ring)
 *     state.json                                           epoch, step, config, seed, Adam steps,
 *                                                          the state.bin manifest, sha256 of every file
 *
 * A checkpoint is built in a temporary folder beside the others, flushed, and renamed into place
 * in one step; state.json is written last and lists the hash of every other file, so a folder
 * under a final name is complete, and a damaged one is detected on load. The newest `keep`
 * checkpoints stay; older ones are removed only after a newer one is in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { NamedTensor, Tf } from '../backends/tf';
import { isInt, isNumberIn, isString, readStoredConfig, type Check, type TrainConfig } from '../config';
import { CheckpointError } from '../util/errors';
import { fsyncDir, ioError, sha256, writeFileDurable } from '../util/fs';
import { ganSpec } from '../nets';
import { exportMetadata, toLayersModel } from '../nets/export';
import type { Network } from '../nets/network';
import { paramSpecs, type ParamSpec } from '../nets/spec';

export const CHECKPOINTS_DIR = 'checkpoints';
/** The checkpoint with the lowest FID so far (with --eval-every), kept beside the latest. */
export const BEST_DIR = 'best';
export const STATE_FILE = 'state.json';
const FORMAT = 'gan-checkpoint';
/**
 * 3: state.json carries its own checksum and the data fingerprint. 2: the model family
 * (config.arch / channels / conditional, weights matched by name). 1: the MLP only. All are read.
 */
const VERSION = 3;

/** Which training images a run uses: their count and the sha256 of their bytes. */
export interface DataFingerprint {
  images: number;
  sha256: string;
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
  /** Manifest of state.bin (tf.io weight specs). */
  tensors: tfType.io.WeightsManifestEntry[];
  /** sha256 of every other file in the checkpoint, by relative path. */
  files: Record<string, string>;
  /** The training images the run started with; a resume on other data is refused. */
  data?: DataFingerprint;
  /** sha256 of this JSON without this field (as written: one-space indent), so edits and bit rot are caught. */
  checksum?: string;
}

export interface CheckpointContents {
  state: Omit<CheckpointState, 'format' | 'version' | 'files' | 'tensors' | 'savedAt' | 'checksum'>;
  generator: Network;
  discriminator: Network;
  /** With --ema: the exponential moving average of the generator, exported as ema_generator/. */
  emaGenerator?: Network;
  /** Extra named tensors: optimizer moments, the fixed noise. */
  tensors: NamedTensor[];
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  /** In paramSpecs order of the stored config's networks. */
  generatorWeights: tfType.Tensor[];
  discriminatorWeights: tfType.Tensor[];
  /** The EMA generator's weights, when the checkpoint has ema_generator/. */
  emaGeneratorWeights?: tfType.Tensor[];
  tensors: Record<string, tfType.Tensor>;
}

/** The folder of the EMA generator's LayersModel inside a checkpoint. */
export const EMA_GENERATOR_DIR = 'ema_generator';

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(9, '0')}`;
}

/** Final checkpoint folders of a run, newest (highest step) first. */
export function listCheckpoints(runDir: string, subdir = CHECKPOINTS_DIR): string[] {
  const dir = path.join(runDir, subdir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => /^step-\d{9}$/.test(n))
    .sort()
    .reverse()
    .map((n) => path.join(dir, n));
}

function joinWeightData(data: tfType.io.WeightData): Uint8Array {
  if (Array.isArray(data)) {
    const total = data.reduce((s, b) => s + b.byteLength, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const b of data) {
      out.set(new Uint8Array(b), off);
      off += b.byteLength;
    }
    return out;
  }
  return new Uint8Array(data);
}

/** model.json + weights.bin of a network, in the layout tf.loadLayersModel expects. */
async function layersModelFiles(tf: Tf, config: TrainConfig, net: Network): Promise<{ modelJson: string; weights: Uint8Array }> {
  const model = toLayersModel(tf, net, exportMetadata(net.spec, config.arch, config.imageSize));
  try {
    let artifacts: tfType.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error('tf.layers returned no weights');
    const modelJson = JSON.stringify({
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      userDefinedMetadata: artifacts.userDefinedMetadata,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    });
    return { modelJson, weights: joinWeightData(artifacts.weightData) };
  } finally {
    model.dispose();
  }
}

/**
 * Writes a checkpoint of the run at its step and prunes older ones down to `keep`.
 * Returns the checkpoint folder.
 */
export async function saveCheckpoint(tf: Tf, runDir: string, contents: CheckpointContents, keep = 2, subdir = CHECKPOINTS_DIR): Promise<string> {
  const parent = path.join(runDir, subdir);
  const finalDir = path.join(parent, checkpointName(contents.state.step));
  const tmpDir = path.join(parent, `.tmp-${checkpointName(contents.state.step)}-${process.pid}`);

  // Serialise everything before touching the disk, so a failure here changes nothing.
  const g = await layersModelFiles(tf, contents.state.config, contents.generator);
  const d = await layersModelFiles(tf, contents.state.config, contents.discriminator);
  const ema = contents.emaGenerator ? await layersModelFiles(tf, contents.state.config, contents.emaGenerator) : undefined;
  const encoded = await tf.io.encodeWeights(contents.tensors);
  const files: Array<[string, Uint8Array | string]> = [
    ['generator/model.json', g.modelJson],
    ['generator/weights.bin', g.weights],
    ['discriminator/model.json', d.modelJson],
    ['discriminator/weights.bin', d.weights],
    ...(ema
      ? ([
          [`${EMA_GENERATOR_DIR}/model.json`, ema.modelJson],
          [`${EMA_GENERATOR_DIR}/weights.bin`, ema.weights],
        ] as Array<[string, Uint8Array | string]>)
      : []),
    ['state.bin', joinWeightData(encoded.data)],
  ];
  const state: CheckpointState = {
    format: FORMAT,
    version: VERSION,
    ...contents.state,
    savedAt: new Date().toISOString(),
    tensors: encoded.specs,
    files: Object.fromEntries(files.map(([name, data]) => [name, sha256(data)])),
  };

  try {
    fs.mkdirSync(parent, { recursive: true });
    fs.rmSync(tmpDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(tmpDir, 'generator'), { recursive: true });
    fs.mkdirSync(path.join(tmpDir, 'discriminator'));
    if (ema) fs.mkdirSync(path.join(tmpDir, EMA_GENERATOR_DIR));
    for (const [name, data] of files) writeFileDurable(path.join(tmpDir, name), data);
    writeFileDurable(path.join(tmpDir, STATE_FILE), sealedStateJson(state));
    fsyncDir(path.join(tmpDir, 'generator'));
    fsyncDir(path.join(tmpDir, 'discriminator'));
    if (ema) fsyncDir(path.join(tmpDir, EMA_GENERATOR_DIR));
    fsyncDir(tmpDir);
    if (fs.existsSync(finalDir)) {
      // Saving the same step again (an interrupt right at an epoch end): move the old one aside
      // first, since rename cannot replace a non-empty folder.
      const aside = `${tmpDir}-old`;
      fs.renameSync(finalDir, aside);
      fs.renameSync(tmpDir, finalDir);
      fs.rmSync(aside, { recursive: true, force: true });
    } else {
      fs.renameSync(tmpDir, finalDir);
    }
    fsyncDir(parent);
  } catch (e) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw ioError(e, 'write checkpoint', finalDir);
  }

  // Only now that the new one is complete: drop the oldest and any debris of killed writes.
  for (const old of listCheckpoints(runDir, subdir).slice(keep)) fs.rmSync(old, { recursive: true, force: true });
  for (const n of fs.readdirSync(parent)) if (n.startsWith('.tmp-')) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  return finalDir;
}

function readChecked(dir: string, rel: string, expected: Record<string, string>): Buffer {
  const file = path.join(dir, rel);
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    throw new CheckpointError(`checkpoint ${dir} is missing ${rel}`, 'It is incomplete; resume from an earlier checkpoint or retrain');
  }
  const want = expected[rel];
  if (want === undefined) throw new CheckpointError(`checkpoint ${dir}: ${rel} is not listed in ${STATE_FILE}`, 'The checkpoint was altered; use another one');
  if (sha256(data) !== want) throw new CheckpointError(`checkpoint ${dir}: ${rel} does not match its sha256 in ${STATE_FILE} (truncated or altered)`, 'Use another checkpoint of the run, or retrain');
  return data;
}

/**
 * tf.layers makes weight names unique within a process by a suffix ("g_dense_1/kernel_1" when a
 * model of the same names was saved before): the parameter name is the name without it.
 */
function paramName(weightName: string, known: Set<string>): string {
  if (known.has(weightName)) return weightName;
  return weightName.replace(/_\d+$/, '');
}

/** Reads a LayersModel's weights (in paramSpecs order) after checking paths, hashes and shapes. */
function readLayersModelWeights(tf: Tf, dir: string, which: string, files: Record<string, string>, params: ParamSpec[]): tfType.Tensor[] {
  const json = readChecked(dir, `${which}/model.json`, files);
  let parsed: { weightsManifest?: Array<{ paths: string[]; weights: tfType.io.WeightsManifestEntry[] }> };
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw new CheckpointError(`checkpoint ${dir}: ${which}/model.json is not valid JSON`);
  }
  const manifest = parsed.weightsManifest;
  if (!Array.isArray(manifest)) throw new CheckpointError(`checkpoint ${dir}: ${which}/model.json has no weightsManifest`);
  const buffers: Buffer[] = [];
  const specs: tfType.io.WeightsManifestEntry[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      // Weight files must sit beside model.json: never follow a path out of the checkpoint.
      if (typeof p !== 'string' || p === '' || p.includes('/') || p.includes('\\') || p === '.' || p === '..') {
        throw new CheckpointError(`checkpoint ${dir}: ${which}/model.json names weight file '${p}' outside its folder`, 'Refusing to read it; use a checkpoint written by gan');
      }
      buffers.push(readChecked(dir, `${which}/${p}`, files));
    }
    specs.push(...group.weights);
  }
  const data = Buffer.concat(buffers);
  const expectedBytes = specs.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  if (data.length !== expectedBytes || specs.some((w) => w.dtype !== 'float32')) {
    throw new CheckpointError(`checkpoint ${dir}: ${which} weights hold ${data.length} bytes, the manifest needs ${expectedBytes}`);
  }
  // Architecture check: every parameter the stored config's network has, by name and shape.
  const known = new Set(params.map((p) => p.name));
  const gotShapes = Object.fromEntries(specs.map((s) => [paramName(s.name, known), s.shape]));
  const expectShapes = Object.fromEntries(params.map((p) => [p.name, p.shape]));
  if (JSON.stringify(gotShapes, Object.keys(expectShapes).sort()) !== JSON.stringify(expectShapes, Object.keys(expectShapes).sort()) || specs.length !== params.length) {
    throw new CheckpointError(
      `checkpoint ${dir}: the ${which}'s weight shapes ${JSON.stringify(specs.map((s) => s.shape))} do not match the architecture in ${STATE_FILE} ${JSON.stringify(params.map((p) => p.shape))}`,
      'The checkpoint comes from a different model; use a matching run',
    );
  }
  const named = tf.io.decodeWeights(new Uint8Array(data).buffer, specs);
  const byParam = new Map(specs.map((s) => [paramName(s.name, known), named[s.name]]));
  return params.map((p) => byParam.get(p.name)!);
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
const isObjectOf = (fields: Record<string, Check>): Check => (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'an object';
  for (const [k, check] of Object.entries(fields)) {
    const want = check((v as Record<string, unknown>)[k]);
    if (want) return `an object whose ${k} is ${want}`;
  }
  return undefined;
};
const optional = (check: Check): Check => (v) => (v === undefined ? undefined : check(v));

/** The fields of state.json other than config (validated by config.ts's table), and their checks. */
const STATE_FIELDS: Record<string, Check> = {
  epoch: isCount,
  iteration: isCount,
  step: isCount,
  backend: isString,
  savedAt: isString,
  adamSteps: isObjectOf({ generator: isCount, discriminator: isCount }),
  partialEpoch: isObjectOf({
    sums: (v) => (Array.isArray(v) && v.length === 4 && v.every(Number.isFinite) ? undefined : 'a list of 4 finite numbers'),
    iterations: isCount,
    seconds: isNumberIn(0, Infinity, true),
  }),
  bestFid: optional(isNumberIn(0, Infinity, true)),
  tensors: (v) =>
    // int32: the digits of a conditional run's replay ring (--replay).
    Array.isArray(v) && v.every((t) => isObjectOf({ name: isString, dtype: (d) => (d === 'float32' || d === 'int32' ? undefined : "'float32' or 'int32'"), shape: (sh) => (Array.isArray(sh) && sh.every((x) => isCount(x) === undefined) ? undefined : 'a list of sizes') })(t) === undefined)
      ? undefined
      : 'a list of float32 or int32 tensor specs {name, shape, dtype}',
  files: (v) => (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((h) => isHash(h) === undefined) ? undefined : 'a map of file names to sha256 hashes'),
  data: optional(isObjectOf({ images: isInt(1, Number.MAX_SAFE_INTEGER), sha256: isHash })),
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
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} is ${missing ? 'missing' : `unreadable (${(e as Error).message})`}`, 'It is incomplete or damaged; use an earlier checkpoint or retrain');
  }
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} is not valid JSON`, 'It is damaged; use an earlier checkpoint or retrain');
  }
  if (typeof raw !== 'object' || raw === null || raw.format !== FORMAT || typeof raw.version !== 'number' || raw.version > VERSION) {
    throw new CheckpointError(`checkpoint ${dir} is not a gan checkpoint of a version this program reads`, 'Update gan, or use a checkpoint written by this version');
  }
  const { checksum, ...unsealed } = raw;
  if (raw.version >= 3 && (typeof checksum !== 'string' || checksum !== stateChecksum(unsealed as Omit<CheckpointState, 'checksum'>))) {
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} does not match its checksum (altered or damaged)`, 'Use another checkpoint of the run, or retrain');
  }
  const problems: string[] = [];
  for (const [key, check] of Object.entries(STATE_FIELDS)) {
    const want = check(raw[key]);
    if (want) problems.push(`${key} is ${JSON.stringify(raw[key]) ?? 'missing'}, not ${want}`);
  }
  const stored = readStoredConfig(raw.config);
  problems.push(...stored.problems);
  if (problems.length) {
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} is not valid: ${problems.join('; ')}`, 'Use another checkpoint of the run, or retrain');
  }
  return { ...(raw as unknown as CheckpointState), config: stored.config! };
}

/** Loads and verifies one checkpoint folder. Throws CheckpointError on any damage. */
export function loadCheckpoint(tf: Tf, dir: string): LoadedCheckpoint {
  const state = readCheckpointState(dir);
  const spec = ganSpec(state.config);
  const generatorWeights = readLayersModelWeights(tf, dir, 'generator', state.files, paramSpecs(spec.generator));
  const discriminatorWeights = readLayersModelWeights(tf, dir, 'discriminator', state.files, paramSpecs(spec.discriminator));
  const emaGeneratorWeights =
    `${EMA_GENERATOR_DIR}/model.json` in state.files ? readLayersModelWeights(tf, dir, EMA_GENERATOR_DIR, state.files, paramSpecs(spec.generator)) : undefined;
  const bin = readChecked(dir, 'state.bin', state.files);
  const binBytes = state.tensors.reduce((sum, t) => sum + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
  if (bin.length !== binBytes) throw new CheckpointError(`checkpoint ${dir}: state.bin holds ${bin.length} bytes, ${STATE_FILE} lists ${binBytes}`, 'Use another checkpoint of the run, or retrain');
  const tensors = tf.io.decodeWeights(new Uint8Array(bin).buffer, state.tensors);
  return { dir, state, generatorWeights, discriminatorWeights, emaGeneratorWeights, tensors };
}

export function disposeLoaded(c: LoadedCheckpoint): void {
  for (const t of [...c.generatorWeights, ...c.discriminatorWeights, ...(c.emaGeneratorWeights ?? []), ...Object.values(c.tensors)]) t.dispose();
}

/**
 * The newest checkpoint whose state.json is valid (weights not verified: a quick look), with
 * the messages of newer ones skipped; undefined when there is none.
 */
export function peekLatestState(runDir: string): { dir: string; state: CheckpointState; skipped: string[] } | undefined {
  const skipped: string[] = [];
  for (const dir of listCheckpoints(runDir)) {
    try {
      return { dir, state: readCheckpointState(dir), skipped };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      skipped.push(e.message);
    }
  }
  return undefined;
}

/**
 * The newest checkpoint of a run that verifies. Damaged newer ones are skipped and reported
 * in `skipped`, so a run killed while writing still resumes from the one before.
 */
export function loadLatestCheckpoint(tf: Tf, runDir: string): { checkpoint: LoadedCheckpoint; skipped: string[] } {
  let skipped: string[] = [];
  // A run being trained prunes old checkpoints while we read: if every one we listed failed and
  // the list has changed meanwhile, look again.
  for (let attempt = 0; attempt < 3; attempt++) {
    skipped = [];
    const listed = listCheckpoints(runDir);
    for (const dir of listed) {
      try {
        return { checkpoint: loadCheckpoint(tf, dir), skipped };
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        skipped.push(e.message);
      }
    }
    if (JSON.stringify(listCheckpoints(runDir)) === JSON.stringify(listed)) break;
  }
  throw new CheckpointError(
    skipped.length ? `no usable checkpoint in ${runDir} (${skipped.join('; ')})` : `no checkpoint in ${runDir}`,
    skipped.length ? 'Every checkpoint is damaged; retrain' : 'Train first with `gan train`, or pass --run DIR of a run that has written a checkpoint',
  );
}
