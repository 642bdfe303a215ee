/**
 * The seeds' MLP GAN, and its conditional form (the tutorial's ConditionalGenerator).
 *
 *   generator      z [100] (+ Embedding(10, 10) of the label: [110])
 *                  -> 256 -> 512 -> 1024 (LeakyReLU 0.2) -> 784, tanh: an image in [-1, 1]
 *                  (side x side x channels values for other sizes and rgb, row-major, channels last)
 *   discriminator  x [784] (+ Embedding(10, 10) of the label: [794])
 *                  -> 512 -> 256 (LeakyReLU 0.2, dropout 0.3 after each) -> 1 logit
 *
 * Weights start as PyTorch's nn.Linear does (U(+-1/sqrt(fanIn)) for kernel and bias), the
 * embeddings as nn.Embedding does (N(0, 1)): the reference trainer's, known to train this model.
 * Dense-only, so training takes the hand-written backward pass (src/train/backprop.ts).
 */
import type { ModelConfig } from '../config/settings';
import type { Init, LayerSpec, NetworkSpec } from './spec';
import { imageChannels } from './image-shape';

const torchInit = (_layer: LayerSpec, _param: string, fanIn: number): Init => ({ kind: 'uniform', bound: 1 / Math.sqrt(fanIn) });
const EMBEDDING_INIT: Init = { kind: 'normal', mean: 0, std: 1 };
/** The tutorial's Embedding(10, 10). */
const LABEL_DIM = 10;

export function mlpGenerator(m: ModelConfig): NetworkSpec {
  const layers: LayerSpec[] = [];
  const widths = [...m.generatorHidden, m.imageSize * m.imageSize * imageChannels(m)];
  widths.forEach((units, i) => {
    const last = i === widths.length - 1;
    layers.push({ kind: 'dense', name: `g_dense_${i + 1}`, units, activation: last ? 'tanh' : 'linear' });
    if (!last) layers.push({ kind: 'activation', name: `g_leaky_${i + 1}`, activation: 'leakyrelu' });
  });
  return {
    name: 'generator',
    input: [m.latentDim],
    label: m.conditional
      ? { classes: m.classes, dim: LABEL_DIM, shape: [LABEL_DIM], layer: 'g_embedding', init: EMBEDDING_INIT }
      : undefined,
    layers,
    leak: m.leak,
    init: torchInit,
  };
}

export function mlpDiscriminator(m: ModelConfig): NetworkSpec {
  const layers: LayerSpec[] = [];
  const widths = [...m.discriminatorHidden, 1];
  widths.forEach((units, i) => {
    const last = i === widths.length - 1;
    layers.push({ kind: 'dense', name: `d_dense_${i + 1}`, units, activation: 'linear' });
    if (!last) {
      layers.push({ kind: 'activation', name: `d_leaky_${i + 1}`, activation: 'leakyrelu' });
      layers.push({ kind: 'dropout', name: `d_dropout_${i + 1}`, rate: m.dropout });
    }
  });
  return {
    name: 'discriminator',
    input: [m.imageSize * m.imageSize * imageChannels(m)],
    label: m.conditional
      ? { classes: m.classes, dim: LABEL_DIM, shape: [LABEL_DIM], layer: 'd_embedding', init: EMBEDDING_INIT }
      : undefined,
    layers,
    leak: m.leak,
    init: torchInit,
  };
}
