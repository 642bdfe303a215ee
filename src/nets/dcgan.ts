/**
 * The tutorials' DCGAN (PyTorch's dcgan example), with width C = --channels (the tutorial's C is
 * 128), no biases, batch norm in both networks. Its number of up/down blocks follows the image
 * side: one block per doubling from 4 x 4, so at 32 x 32 (MNIST's 28 padded):
 *
 *   generator      z [100] (+ Embedding(K, 10) of the label: [110]) -> reshape [1, 1, 100]
 *                  ConvT(4C, 4x4, stride 1, pad 0)  BN ReLU  -> [4, 4, 4C]
 *                  ConvT(2C, 4x4, stride 2, pad 1)  BN ReLU  -> [8, 8, 2C]
 *                  ConvT(C, 4x4, stride 2, pad 1)   BN ReLU  -> [16, 16, C]
 *                  ConvT(nc, 4x4, stride 2, pad 1)  tanh     -> [32, 32, nc]
 *   discriminator  x [32, 32, nc] (+ the label's Embedding(K, 1024) as one more image plane:
 *                  [32, 32, nc + 1])
 *                  Conv(C, 4x4, stride 2, pad 1)      LeakyReLU 0.2  -> [16, 16, C]
 *                  Conv(2C, 4x4, stride 2, pad 1) BN  LeakyReLU 0.2  -> [8, 8, 2C]
 *                  Conv(4C, 4x4, stride 2, pad 1) BN  LeakyReLU 0.2  -> [4, 4, 4C]
 *                  Conv(1, 4x4, stride 1, pad 0)                     -> [1, 1, 1] -> one logit
 *
 * and at 64 x 64 the example's own network (ngf = ndf = C): G 8C at 4 x 4 -> 4C -> 2C -> C ->
 * [64, 64, nc]; D C at 32 x 32 -> 2C -> 4C -> 8C at 4 x 4 -> one logit. nc is 1 (gray) or 3 (rgb).
 *
 * MNIST is padded to 32 x 32 with the background value; users only ever see the 28 x 28 centre.
 * PyTorch's padding 1 at kernel 4, stride 2 is tf's 'same' for these even sizes (1 on each side),
 * and its transposed form likewise; test/conv-kernels.test.ts checks it numerically.
 *
 * Conditional D: the label becomes a learned plane beside the image (an Embedding(K, side^2)
 * reshaped), so the first convolution sees image and label at every position; stock layers
 * (Embedding, Reshape, Concatenate) export it for tf.loadLayersModel.
 *
 * Weights start as the tutorial's weights_init: convolutions N(0, 0.02), batch-norm scale
 * N(1, 0.02) and shift 0; embeddings N(0, 1) as nn.Embedding.
 */
import type { ModelConfig } from '../config/settings';
import type { Init, LayerSpec, NetworkSpec } from './spec';
import { imageChannels } from './image-shape';

/** The DCGAN works on MNIST padded from 28 to this. */
export const DCGAN_SIZE = 32;
/** The image sides the DCGAN takes: 28 (padded to 32) and the powers of two it doubles up to from 4 x 4. */
export const DCGAN_IMAGE_SIZES = [28, 16, 32, 64, 128, 256];

/** The side the DCGAN works at: the image's, or MNIST's 28 padded to 32. */
export function dcganWorkSize(imageSize: number): number {
  if (!DCGAN_IMAGE_SIZES.includes(imageSize))
    throw new Error(`the DCGAN takes images of side ${DCGAN_IMAGE_SIZES.join(', ')}, not ${imageSize}`);
  return imageSize === 28 ? DCGAN_SIZE : imageSize;
}

/** Up (G) or down (D) blocks between 4 x 4 and the working side: 3 at 32, 4 at 64. */
const blocks = (m: ModelConfig) => Math.log2(dcganWorkSize(m.imageSize)) - 2;

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
  const k = blocks(m);
  // 4C, 2C, C at 32 x 32; 8C, 4C, 2C, C at 64 x 64.
  const widths = Array.from({ length: k }, (_, i) => c * 2 ** (k - 1 - i));
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
  layers.push({ kind: 'convTranspose', name: `g_convt_${k + 1}`, filters: imageChannels(m), kernel: 4, stride: 2, padding: 'same' });
  layers.push({ kind: 'activation', name: 'g_tanh', activation: 'tanh' });
  return {
    name: 'generator',
    input: [m.latentDim],
    label: m.conditional ? { classes: m.classes, dim: 10, shape: [10], layer: 'g_embedding', init: EMBEDDING_INIT } : undefined,
    layers,
    leak: m.leak,
    batchNorm: BN,
    init: dcganInit,
  };
}

export function dcganDiscriminator(m: ModelConfig): NetworkSpec {
  const c = m.channels;
  const layers: LayerSpec[] = [];
  const k = blocks(m);
  // C, 2C, 4C at 32 x 32; C, 2C, 4C, 8C at 64 x 64.
  Array.from({ length: k }, (_, i) => c * 2 ** i).forEach((filters, i) => {
    layers.push({ kind: 'conv', name: `d_conv_${i + 1}`, filters, kernel: 4, stride: 2, padding: 'same' });
    if (i > 0) layers.push({ kind: 'batchNorm', name: `d_bn_${i + 1}` });
    layers.push({ kind: 'activation', name: `d_leaky_${i + 1}`, activation: 'leakyrelu' });
  });
  layers.push({ kind: 'conv', name: `d_conv_${k + 1}`, filters: 1, kernel: 4, stride: 1, padding: 'valid' });
  layers.push({ kind: 'flatten', name: 'd_flatten' });
  const side = dcganWorkSize(m.imageSize);
  return {
    name: 'discriminator',
    input: [side, side, imageChannels(m)],
    label: m.conditional
      ? { classes: m.classes, dim: side * side, shape: [side, side, 1], layer: 'd_embedding', init: EMBEDDING_INIT }
      : undefined,
    layers,
    leak: m.leak,
    batchNorm: BN,
    init: dcganInit,
  };
}
