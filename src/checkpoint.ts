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
/** A tensor with a name, as tf.io.encodeWeights takes it. */
type NamedTensor = { name: string; tensor: tfType.Tensor };
import type { Tf } from './backend';
import { withModelDefaults, type TrainConfig } from './config';
import { CheckpointError } from './errors';
import { fsyncDir, ioError, sha256, writeFileDurable } from './fsutil';
import { ganSpec } from './nets';
import { exportMetadata, toLayersModel } from './nets/export';
import type { Network } from './nets/network';
import { paramSpecs, type ParamSpec } from './nets/spec';

export const CHECKPOINTS_DIR = 'checkpoints';
/** The checkpoint with the lowest FID so far (with --eval-every), kept beside the latest. */
export const BEST_DIR = 'best';
export const STATE_FILE = 'state.json';
const FORMAT = 'gan-checkpoint';
/** 2: the model family (config.arch / channels / conditional, weights matched by name). 1: the MLP only; still read. */
const VERSION = 2;

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
}

export interface CheckpointContents {
  state: Omit<CheckpointState, 'format' | 'version' | 'files' | 'tensors' | 'savedAt'>;
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
    writeFileDurable(path.join(tmpDir, STATE_FILE), JSON.stringify(state, null, 1));
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

/** Loads and verifies one checkpoint folder. Throws CheckpointError on any damage. */
export function loadCheckpoint(tf: Tf, dir: string): LoadedCheckpoint {
  let state: CheckpointState;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CheckpointError(`checkpoint ${dir}: ${STATE_FILE} is ${missing ? 'missing' : 'not valid JSON'}`, 'It is incomplete or damaged; use an earlier checkpoint or retrain');
  }
  if (state.format !== FORMAT || typeof state.version !== 'number' || state.version > VERSION || !state.config || !state.files) {
    throw new CheckpointError(`checkpoint ${dir} is not a gan checkpoint of a version this program reads`, 'Update gan, or use a checkpoint written by this version');
  }
  // Version 1 checkpoints predate the model family: their config lacks its keys.
  state.config = withModelDefaults(state.config);
  const spec = ganSpec(state.config);
  const generatorWeights = readLayersModelWeights(tf, dir, 'generator', state.files, paramSpecs(spec.generator));
  const discriminatorWeights = readLayersModelWeights(tf, dir, 'discriminator', state.files, paramSpecs(spec.discriminator));
  const emaGeneratorWeights =
    `${EMA_GENERATOR_DIR}/model.json` in state.files ? readLayersModelWeights(tf, dir, EMA_GENERATOR_DIR, state.files, paramSpecs(spec.generator)) : undefined;
  const bin = readChecked(dir, 'state.bin', state.files);
  const tensors = tf.io.decodeWeights(new Uint8Array(bin).buffer, state.tensors);
  return { dir, state, generatorWeights, discriminatorWeights, emaGeneratorWeights, tensors };
}

export function disposeLoaded(c: LoadedCheckpoint): void {
  for (const t of [...c.generatorWeights, ...c.discriminatorWeights, ...(c.emaGeneratorWeights ?? []), ...Object.values(c.tensors)]) t.dispose();
}

/** Where the newest checkpoint with a readable state.json stands (not verified: a quick look). */
export function peekLatestState(runDir: string): { epoch: number; iteration: number; step: number } | undefined {
  for (const dir of listCheckpoints(runDir)) {
    try {
      const s = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as CheckpointState;
      if (typeof s.epoch === 'number') return { epoch: s.epoch, iteration: s.iteration, step: s.step };
    } catch {
      // damaged: look at the one before
    }
  }
  return undefined;
}

/**
 * The newest checkpoint of a run that verifies. Damaged newer ones are skipped and reported
 * in `skipped`, so a run killed while writing still resumes from the one before.
 */
export function loadLatestCheckpoint(tf: Tf, runDir: string): { checkpoint: LoadedCheckpoint; skipped: string[] } {
  const skipped: string[] = [];
  for (const dir of listCheckpoints(runDir)) {
    try {
      return { checkpoint: loadCheckpoint(tf, dir), skipped };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      skipped.push(e.message);
    }
  }
  throw new CheckpointError(
    skipped.length ? `no usable checkpoint in ${runDir} (${skipped.join('; ')})` : `no checkpoint in ${runDir}`,
    skipped.length ? 'Every checkpoint is damaged; retrain' : 'Train first with `gan train`, or pass --run DIR of a run that has finished an epoch',
  );
}
