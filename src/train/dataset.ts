/**
 * The training set as the loop holds it, and the per-epoch grid. A set is held in one of three
 * ways, by its size: as float32 on the backend (a batch is a gather there); as bytes on the host
 * (a batch's rows are scaled and uploaded each step); or left in its cache file (a batch's rows
 * are read from it each step). The floats a step sees are the same bytes the same way scaled
 * whichever way holds them, so a run's weights do not depend on it.
 */
import * as os from 'node:os';
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { TrainConfig } from '../config';
import { gridPng } from '../core/image/grid';
import { sampleLabels } from '../core/labels';
import { CacheRowReader } from '../data/image-cache';
import { isStreamed, scaleToSigned, type ImageSet, type TrainingImages } from '../data/mnist';
import { gatherRows } from '../data/image-set';
export { gatherRows } from '../data/image-set';
import { padCenter, pixelsFromNoise, type GanModel } from '../nets/gan-model';
import { ConfigError } from '../util/errors';
import type { BatchTensors, Dataset, DataPlacement } from './types';

const MB = 2 ** 20;

/** How many bytes of the training set may be held where. */
export interface DataBudgets {
  /** The float32 set at the network's working size, on the backend. */
  deviceBytes: number;
  /** The set's bytes on the host; a folder's larger set is read from its cache file instead. */
  hostBytes: number;
}

/**
 * Defaults. On the device, float32 up to 1 GiB: the wasm heap holds 4 GiB at most and the model,
 * Adam's moments and a step's activations share it, and building the tensor briefly takes twice
 * as much on the host (MNIST's 188 MB and CIFAR-10's 614 MB fit; 60,000 64x64 RGB images'
 * 2.9 GB do not). On the host, the bytes up to 1 GiB (an eighth of the machine's memory when
 * that is less), so that a run's peak stays under about 2 GB whatever the data. Environment
 * variables GAN_DEVICE_DATA_MB and GAN_HOST_DATA_MB (in MiB; 0 forces the next way) override them.
 */
export function dataBudgets(env: NodeJS.ProcessEnv = process.env, totalMemory = os.totalmem()): DataBudgets {
  return {
    deviceBytes: budgetFromEnv(env, 'GAN_DEVICE_DATA_MB') ?? 1024 * MB,
    hostBytes: budgetFromEnv(env, 'GAN_HOST_DATA_MB') ?? Math.min(1024 * MB, Math.floor(totalMemory / 8)),
  };
}

function budgetFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const mb = Number(text);
  if (!Number.isFinite(mb) || mb < 0)
    throw new ConfigError(`${name}=${text} is not a size in MiB`, `Set ${name} to a number, 0 or more, or unset it`);
  return mb * MB;
}

/**
 * Where a set is held: on the device when its float32 at the working size fits there, else on
 * the host; a set the loader left in its cache file (its bytes exceeded the host's budget) is
 * streamed from there. IDX and CIFAR-10 data have no cache file: at most held on the host.
 */
export function dataPlacement(images: TrainingImages, workSize: number, budgets: Pick<DataBudgets, 'deviceBytes'>): DataPlacement {
  if (isStreamed(images)) return 'stream';
  const floats = images.n * workSize * workSize * (images.channels ?? 1);
  return floats * 4 <= budgets.deviceBytes ? 'device' : 'host';
}

/** The run's line on where its data is, when it is not on the device. */
export function placementLine(images: TrainingImages, where: DataPlacement): string | undefined {
  const bytes = images.n * images.rows * images.cols * (images.channels ?? 1);
  const size = bytes < 1e6 ? `${Math.ceil(bytes / 1e3)} kB` : `${Math.round(bytes / 1e6)} MB`;
  if (where === 'host') return `data: ${images.n} images held on the host (${size}), each batch uploaded per step`;
  if (where === 'stream' && isStreamed(images))
    return `data: ${images.n} images streamed from the cache file ${images.file} (${size}), each batch read per step`;
  return undefined;
}

/** The training set, held where dataPlacement says. */
export function openDataset(tf: Tf, images: TrainingImages, workSize = images.rows, budgets = dataBudgets()): Dataset {
  if (isStreamed(images)) {
    const reader = new CacheRowReader(images);
    return bytesDataset(
      tf,
      'stream',
      images,
      workSize,
      (rows) => reader.read(rows),
      () => reader.close(),
    );
  }
  if (dataPlacement(images, workSize, budgets) === 'device') return deviceDataset(tf, images, workSize);
  const per = images.rows * images.cols * (images.channels ?? 1);
  return bytesDataset(tf, 'host', images, workSize, (rows) => gatherRows(images.pixels, rows, per));
}

/**
 * A whole set in memory as tensors: images [N, work * work * channels] in [-1, 1] (padded with
 * the background to the network's working size), and labels [N] when it has them. The device
 * way's storage; tests take a small set as one batch.
 */
export function setTensors(tf: Tf, images: ImageSet, workSize = images.rows): BatchTensors {
  return {
    images: tf.tensor2d(signedImages(images.pixels, images.n, images.rows, workSize, images.channels ?? 1), [
      images.n,
      workSize * workSize * (images.channels ?? 1),
    ]),
    labels: images.labels ? tf.tensor1d(Int32Array.from(images.labels), 'int32') : undefined,
  };
}

/** n images of bytes as the networks take them: floats in [-1, 1], padded with -1 to the working size. */
export function signedImages(pixels: Uint8Array, n: number, size: number, workSize: number, channels: number): Float32Array {
  return padCenter(scaleToSigned(pixels), n, size, workSize, -1, channels);
}

/** The set on the device once: a batch is a gather, not an upload. */
function deviceDataset(tf: Tf, images: ImageSet, workSize: number): Dataset {
  const all = setTensors(tf, images, workSize);
  return {
    held: 'device',
    batch: (indices) =>
      tf.tidy(() => {
        const rows = tf.tensor1d(indices, 'int32');
        return {
          images: tf.gather(all.images, rows) as tfType.Tensor2D,
          labels: all.labels ? (tf.gather(all.labels, rows) as tfType.Tensor1D) : undefined,
        };
      }),
    dispose: () => {
      all.images.dispose();
      all.labels?.dispose();
    },
  };
}

/** The set's bytes elsewhere (the host, or its cache file): each batch's rows scaled and uploaded. */
function bytesDataset(
  tf: Tf,
  held: DataPlacement,
  images: TrainingImages,
  workSize: number,
  rowsOf: (indices: Int32Array) => Uint8Array,
  close?: () => void,
): Dataset {
  const c = images.channels ?? 1;
  return {
    held,
    batch: (indices) => {
      const b = indices.length;
      const floats = signedImages(rowsOf(indices), b, images.rows, workSize, c);
      return {
        images: tf.tensor2d(floats, [b, workSize * workSize * c]),
        labels: images.labels
          ? tf.tensor1d(
              Int32Array.from(indices, (i) => images.labels![i]),
              'int32',
            )
          : undefined,
      };
    },
    dispose: () => close?.(),
  };
}

/**
 * The per-epoch grid: `gridSize` samples in a near-square grid, or for a conditional run one
 * row per class (digit 0-9; as many columns as a near-square grid of gridSize has).
 */
export function epochGridLayout(config: TrainConfig): { n: number; cols?: number; labels?: Int32Array } {
  if (!config.conditional) return { n: config.gridSize };
  const cols = Math.ceil(Math.sqrt(config.gridSize));
  const k = config.classes;
  return { n: k * cols, cols, labels: sampleLabels(k * cols, undefined, k) };
}

/** PNG of the generator's images for a noise batch (and the grid's labels), in the grid's layout. */
export async function gridFromNoise(
  model: GanModel,
  noise: tfType.Tensor2D,
  grid: { cols?: number; labels?: Int32Array },
): Promise<Buffer> {
  const size = model.spec.imageSize;
  const bytes = await pixelsFromNoise(model.tf, model, noise, grid.labels);
  return gridPng(bytes, noise.shape[0], size, size, { cols: grid.cols, channels: model.spec.imageChannels });
}
