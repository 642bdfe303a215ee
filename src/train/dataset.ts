/** The training set and the per-epoch grid, as the loop puts them on the backend. */
import type * as tfType from '@tensorflow/tfjs';
import type { Tf } from '../backends/tf';
import type { TrainConfig } from '../config';
import { gridPng } from '../core/image/grid';
import { sampleLabels } from '../core/labels';
import { scaleToSigned, type ImageSet } from '../data/mnist';
import { padCenter, pixelsFromNoise, type GanModel } from '../nets/gan-model';
import type { Dataset } from './types';

/**
 * The whole training set on the backend, once: images [N, work * work * channels] in [-1, 1]
 * (padded with the background to the network's working size), and the labels when the run is
 * conditional. A batch is then a gather, not an upload.
 */
export function datasetTensor(tf: Tf, images: ImageSet, workSize = images.rows): Dataset {
  const c = images.channels ?? 1;
  const signed = padCenter(scaleToSigned(images.pixels), images.n, images.rows, workSize, -1, c);
  return {
    images: tf.tensor2d(signed, [images.n, workSize * workSize * c]),
    labels: images.labels ? tf.tensor1d(Int32Array.from(images.labels), 'int32') : undefined,
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
