/**
 * The tutorials' DCGAN (PyTorch's dcgan example at 32 x 32), with width C = --channels
 * (the tutorial's C is 128), no biases, batch norm in both networks:
 *
 *   generator      z [100] (+ Embedding(10, 10) of the label: [110]) -> reshape [1, 1, 100]
 *                  ConvT(4C, 4x4, stride 1, pad 0)  BN ReLU  -> [4, 4, 4C]
 *                  ConvT(2C, 4x4, stride 2, pad 1)  BN ReLU  -> [8, 8, 2C]
 *                  ConvT(C, 4x4, stride 2, pad 1)   BN ReLU  -> [16, 16, C]
 *                  ConvT(1, 4x4, stride 2, pad 1)   tanh     -> [32, 32, 1]
 *   discriminator  x [32, 32, 1] (+ the label's Embedding(10, 1024) as a second image plane:
 *                  [32, 32, 2])
 *                  Conv(C, 4x4, stride 2, pad 1)      LeakyReLU 0.2  -> [16, 16, C]
 *                  Conv(2C, 4x4, stride 2, pad 1) BN  LeakyReLU 0.2  -> [8, 8, 2C]
 *                  Conv(4C, 4x4, stride 2, pad 1) BN  LeakyReLU 0.2  -> [4, 4, 4C]
 *                  Conv(1, 4x4, stride 1, pad 0)                     -> [1, 1, 1] -> one logit
 *
 * MNIST is padded to 32 x 32 with the background value; users only ever see the 28 x 28 centre.
 * PyTorch's padding 1 at kernel 4, stride 2 is tf's 'same' for these even sizes (1 on each side),
 * and its transposed form likewise; test/conv-kernels.test.ts checks it numerically.
 *
 * Conditional D: the label becomes a learned 32 x 32 plane beside the image (an Embedding(10,
 * 1024) reshaped), so the first convolution sees digit and label at every position; stock
 * layers (Embedding, Reshape, Concatenate) export it for tf.loadLayersModel.
 *
 * Weights start as the tutorial's weights_init: convolutions N(0, 0.02), batch-norm scale
 * N(1, 0.02) and shift 0; embeddings N(0, 1) as nn.Embedding.
 */
import type { ModelConfig } from '../config/settings';
import type { Init, LayerSpec, NetworkSpec } from './spec';
import { LABEL_CLASSES } from '../core/labels';

/** The DCGAN works on MNIST padded from 28 to this. */
export const DCGAN_SIZE = 32;

function dcganInit(layer: LayerSpec, param: string): Init {
  if (layer.kind === 'batchNorm') {
    if (param === 'gamma') return { kind: 'normal', mean: 1, std: 0.02 };
    return { kind: 'constant', value: param === 'moving_variance' ? 1 : 0 };
  }
  return { kind: 'normal', mean: 0, std: 0.02 };
}
const EMBEDDING_INIT: Init = { kind: 'normal', mean: 0, std: 1 };
const BN = { epsilon: 1e-5, momentum: 0.1 }; // PyTorch's BatchNorm2d defaults

export function dcganGenerator(m: ModelConfig): NetworkSpec {
  const c = m.channels;
  const zIn = m.latentDim + (m.conditional ? 10 : 0);
  const layers: LayerSpec[] = [{ kind: 'reshape', name: 'g_reshape', shape: [1, 1, zIn] }];
  const widths = [4 * c, 2 * c, c];
  widths.forEach((filters, i) => {
    layers.push({
      kind: 'convTranspose',
      name: `g_convt_${i + 1}`,
      filters,
      kernel: 4,
      stride: i === 0 ? 1 : 2,
      padding: i === 0 ? 'valid' : 'same',
    });
    layers.push({ kind: 'batchNorm', name: `g_bn_${i + 1}` });
    layers.push({ kind: 'activation', name: `g_relu_${i + 1}`, activation: 'relu' });
  });
  layers.push({ kind: 'convTranspose', name: 'g_convt_4', filters: 1, kernel: 4, stride: 2, padding: 'same' });
  layers.push({ kind: 'activation', name: 'g_tanh', activation: 'tanh' });
  return {
    name: 'generator',
    input: [m.latentDim],
    label: m.conditional ? { classes: LABEL_CLASSES, dim: 10, shape: [10], layer: 'g_embedding', init: EMBEDDING_INIT } : undefined,
    layers,
    leak: m.leak,
    batchNorm: BN,
    init: dcganInit,
  };
}

export function dcganDiscriminator(m: ModelConfig): NetworkSpec {
  const c = m.channels;
  const layers: LayerSpec[] = [];
  [c, 2 * c, 4 * c].forEach((filters, i) => {
    layers.push({ kind: 'conv', name: `d_conv_${i + 1}`, filters, kernel: 4, stride: 2, padding: 'same' });
    if (i > 0) layers.push({ kind: 'batchNorm', name: `d_bn_${i + 1}` });
    layers.push({ kind: 'activation', name: `d_leaky_${i + 1}`, activation: 'leakyrelu' });
  });
  layers.push({ kind: 'conv', name: 'd_conv_4', filters: 1, kernel: 4, stride: 1, padding: 'valid' });
  layers.push({ kind: 'flatten', name: 'd_flatten' });
  const plane = DCGAN_SIZE * DCGAN_SIZE;
  return {
    name: 'discriminator',
    input: [DCGAN_SIZE, DCGAN_SIZE, 1],
    label: m.conditional
      ? { classes: LABEL_CLASSES, dim: plane, shape: [DCGAN_SIZE, DCGAN_SIZE, 1], layer: 'd_embedding', init: EMBEDDING_INIT }
      : undefined,
    layers,
    leak: m.leak,
    batchNorm: BN,
    init: dcganInit,
  };
}
