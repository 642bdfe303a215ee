/**
 * A network's files inside a checkpoint, in the LayersModel layout tf.loadLayersModel reads
 * (model.json + weights.bin), and reading them back with every path, hash and shape checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { TrainConfig } from '../config';
import { exportMetadata, toLayersModel } from '../nets/export';
import type { Network } from '../nets/network';
import type { ParamSpec } from '../nets/spec';
import { CheckpointError } from '../util/errors';
import { sha256 } from '../util/fs';
import { STATE_FILE } from './checkpoint-state';

export function joinWeightData(data: tfType.io.WeightData): Uint8Array {
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
export async function layersModelFiles(tf: Tf, config: TrainConfig, net: Network): Promise<{ modelJson: string; weights: Uint8Array }> {
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

export function readChecked(dir: string, rel: string, expected: Record<string, string>): Buffer {
  const file = path.join(dir, rel);
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    throw new CheckpointError(`checkpoint ${dir} is missing ${rel}`, 'It is incomplete; resume from an earlier checkpoint or retrain');
  }
  const want = expected[rel];
  if (want === undefined)
    throw new CheckpointError(`checkpoint ${dir}: ${rel} is not listed in ${STATE_FILE}`, 'The checkpoint was altered; use another one');
  if (sha256(data) !== want)
    throw new CheckpointError(
      `checkpoint ${dir}: ${rel} does not match its sha256 in ${STATE_FILE} (truncated or altered)`,
      'Use another checkpoint of the run, or retrain',
    );
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

/** A manifest group as tf.io writes it: weight files, and float32 weights of whole-number shapes. */
function isManifestGroup(g: unknown): g is { paths: unknown[]; weights: tfType.io.WeightsManifestEntry[] } {
  const group = g as { paths?: unknown; weights?: unknown } | null;
  return (
    typeof group === 'object' &&
    group !== null &&
    Array.isArray(group.paths) &&
    Array.isArray(group.weights) &&
    group.weights.every(
      (w: { name?: unknown; shape?: unknown; dtype?: unknown } | null) =>
        typeof w?.name === 'string' &&
        w.dtype === 'float32' &&
        Array.isArray(w.shape) &&
        w.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
    )
  );
}

/** A LayersModel's weight bytes and manifest, every path, hash and shape checked; no tensor made. */
export interface CheckedWeights {
  data: Buffer;
  specs: tfType.io.WeightsManifestEntry[];
  /** The parameter name of each manifest entry's weight (tf.layers may have suffixed it). */
  names: string[];
}

/** Checked weights as tensors, in paramSpecs order. */
export function decodeCheckedWeights(tf: Tf, checked: CheckedWeights, params: ParamSpec[]): tfType.Tensor[] {
  const { data, specs, names } = checked;
  const named = tf.io.decodeWeights(new Uint8Array(data).buffer, specs);
  const byParam = new Map(specs.map((s, i) => [names[i], named[s.name]]));
  return params.map((p) => byParam.get(p.name)!);
}

/**
 * Checks a LayersModel's files in a checkpoint without making a tensor: the weight paths stay
 * in the folder, every file matches its hash in state.json, and the weights have the shapes of
 * the stored config's network. What "the checkpoint verifies" means, for the loaders and for
 * `gan train` deciding whether a run can go on.
 */
export function checkLayersModelWeights(dir: string, which: string, files: Record<string, string>, params: ParamSpec[]): CheckedWeights {
  const json = readChecked(dir, `${which}/model.json`, files);
  let parsed: { weightsManifest?: Array<{ paths: string[]; weights: tfType.io.WeightsManifestEntry[] }> };
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    throw new CheckpointError(`checkpoint ${dir}: ${which}/model.json is not valid JSON`);
  }
  const manifest = parsed?.weightsManifest;
  if (!Array.isArray(manifest) || !manifest.every(isManifestGroup))
    throw new CheckpointError(`checkpoint ${dir}: ${which}/model.json has no valid weightsManifest`, 'Use another checkpoint of the run');
  const buffers: Buffer[] = [];
  const specs: tfType.io.WeightsManifestEntry[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      // Weight files must sit beside model.json: never follow a path out of the checkpoint.
      if (typeof p !== 'string' || p === '' || p.includes('/') || p.includes('\\') || p === '.' || p === '..') {
        throw new CheckpointError(
          `checkpoint ${dir}: ${which}/model.json names weight file '${p}' outside its folder`,
          'Refusing to read it; use a checkpoint written by gan',
        );
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
  if (
    JSON.stringify(gotShapes, Object.keys(expectShapes).sort()) !== JSON.stringify(expectShapes, Object.keys(expectShapes).sort()) ||
    specs.length !== params.length
  ) {
    throw new CheckpointError(
      `checkpoint ${dir}: the ${which}'s weight shapes ${JSON.stringify(specs.map((s) => s.shape))} do not match the architecture in ${STATE_FILE} ${JSON.stringify(params.map((p) => p.shape))}`,
      'The checkpoint comes from a different model; use a matching run',
    );
  }
  return { data, specs, names: specs.map((s) => paramName(s.name, known)) };
}
