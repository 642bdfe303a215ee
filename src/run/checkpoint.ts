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
 *
 * state.json's format and validation: src/run/checkpoint-state.ts; the networks' LayersModel
 * files: src/run/layers-model-files.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { NamedTensor, Tf } from '../backends/tf';
import { CheckpointError } from '../util/errors';
import { ganCommand } from '../util/invocation';
import { fsyncDir, ioError, sha256, writeFileDurable } from '../util/fs';
import { ganSpec } from '../nets';
import type { Network } from '../nets/network';
import { paramSpecs } from '../nets/spec';
import { FORMAT, STATE_FILE, VERSION, readCheckpointState, sealedStateJson, type CheckpointState } from './checkpoint-state';
import {
  checkLayersModelWeights,
  decodeCheckedWeights,
  joinWeightData,
  layersModelFiles,
  readChecked,
  type CheckedWeights,
} from './layers-model-files';

export { STATE_FILE, readCheckpointState, sealedStateJson, type CheckpointState, type DataFingerprint } from './checkpoint-state';

export const CHECKPOINTS_DIR = 'checkpoints';
/** The checkpoint with the lowest FID so far (with --eval-every), kept beside the latest. */
export const BEST_DIR = 'best';
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

/**
 * Writes a checkpoint of the run at its step and prunes older ones down to `keep`.
 * Returns the checkpoint folder.
 */
export async function saveCheckpoint(
  tf: Tf,
  runDir: string,
  contents: CheckpointContents,
  keep = 2,
  subdir = CHECKPOINTS_DIR,
): Promise<string> {
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

/** A checkpoint whose every file was checked: its state and the weight bytes, no tensor made yet. */
export interface VerifiedCheckpoint {
  dir: string;
  state: CheckpointState;
  generator: CheckedWeights;
  discriminator: CheckedWeights;
  emaGenerator?: CheckedWeights;
  stateBin: Buffer;
}

/**
 * Checks one checkpoint folder without making a tensor (no backend needed): state.json and its
 * checksum, every file against its hash, the weights against the stored config's networks, the
 * size of state.bin, and a position that fits the run's data. Throws CheckpointError naming the
 * damage. "A checkpoint verifies" means this passes.
 */
export function verifyCheckpoint(dir: string): VerifiedCheckpoint {
  const state = readCheckpointState(dir);
  const spec = ganSpec(state.config);
  const generator = checkLayersModelWeights(dir, 'generator', state.files, paramSpecs(spec.generator));
  const discriminator = checkLayersModelWeights(dir, 'discriminator', state.files, paramSpecs(spec.discriminator));
  const emaGenerator =
    `${EMA_GENERATOR_DIR}/model.json` in state.files
      ? checkLayersModelWeights(dir, EMA_GENERATOR_DIR, state.files, paramSpecs(spec.generator))
      : undefined;
  const stateBin = readChecked(dir, 'state.bin', state.files);
  const binBytes = state.tensors.reduce((sum, t) => sum + 4 * t.shape.reduce((a, b) => a * b, 1), 0);
  if (stateBin.length !== binBytes)
    throw new CheckpointError(
      `checkpoint ${dir}: state.bin holds ${stateBin.length} bytes, ${STATE_FILE} lists ${binBytes}`,
      'Use another checkpoint of the run, or retrain',
    );
  checkPosition(dir, state);
  return { dir, state, generator, discriminator, emaGenerator, stateBin };
}

/** Epoch, iteration and step must agree with the batches per epoch of the data the checkpoint names. */
function checkPosition(dir: string, s: CheckpointState): void {
  if (!s.data) return; // older checkpoints: the loop checks against the data it loads
  const perEpoch = Math.ceil(s.data.images / s.config.batchSize);
  if (s.iteration >= perEpoch || s.step !== s.epoch * perEpoch + s.iteration)
    throw new CheckpointError(
      `checkpoint ${dir}: epoch ${s.epoch}, iteration ${s.iteration} and step ${s.step} do not fit ${perEpoch} iterations per epoch`,
      'It was altered; use another checkpoint of the run',
    );
}

/** Loads and verifies one checkpoint folder. Throws CheckpointError on any damage. */
export function loadCheckpoint(tf: Tf, dir: string): LoadedCheckpoint {
  const v = verifyCheckpoint(dir);
  const spec = ganSpec(v.state.config);
  return {
    dir,
    state: v.state,
    generatorWeights: decodeCheckedWeights(tf, v.generator, paramSpecs(spec.generator)),
    discriminatorWeights: decodeCheckedWeights(tf, v.discriminator, paramSpecs(spec.discriminator)),
    emaGeneratorWeights: v.emaGenerator && decodeCheckedWeights(tf, v.emaGenerator, paramSpecs(spec.generator)),
    tensors: tf.io.decodeWeights(new Uint8Array(v.stateBin).buffer, v.state.tensors),
  };
}

export function disposeLoaded(c: LoadedCheckpoint): void {
  for (const t of [...c.generatorWeights, ...c.discriminatorWeights, ...(c.emaGeneratorWeights ?? []), ...Object.values(c.tensors)])
    t.dispose();
}

/**
 * The newest checkpoint of a run that verifies (every file checked, no tensor made), with the
 * messages of newer ones skipped; undefined when none does.
 */
export function newestVerifiedCheckpoint(runDir: string): { dir: string; state: CheckpointState; skipped: string[] } | undefined {
  const skipped: string[] = [];
  for (const dir of listCheckpoints(runDir)) {
    try {
      return { dir, state: verifyCheckpoint(dir).state, skipped };
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
    skipped.length
      ? 'Every checkpoint is damaged; retrain'
      : `Train it with: ${ganCommand('train', '--resume', '--out', runDir)}; or pass --run DIR of a run that has written a checkpoint`,
  );
}
